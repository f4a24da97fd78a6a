"""The Python API: ``await massgen.run(...)``, ``massgen.build_config(...)``, ``massgen.stream``.

Every call builds its own agents and event bus, so runs are independent and may run
concurrently (``asyncio.gather``) or inside an already running loop (Jupyter).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from massgen.config.schema import MassGenConfig, OrchestratorConfig
from massgen.errors import ConfigurationError, RunFailedError

History = Sequence[tuple[str, str]] | Sequence[dict[str, str]]


def build_config(
    models: Sequence[str] | None = None,
    model: str | None = None,
    num_agents: int | None = None,
    enable_filesystem: bool = True,
    context_paths: Sequence[Any] | None = None,
    use_docker: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """A config dict with one agent per model (``provider/model`` or a bare name whose
    provider is obvious). ``model`` with ``num_agents`` repeats one model. ``overrides`` set
    orchestrator fields (e.g. ``timeout_seconds=120``)."""
    from massgen.config.models import config_for_models

    overrides = {**_file_options(enable_filesystem, context_paths, use_docker), **overrides}
    if models and model:
        raise ConfigurationError("give either models or model, not both")
    names = list(models or ([model] * (num_agents or 1) if model else []))
    if not names:
        raise ConfigurationError("build_config needs models=[...] or model=...")
    config = config_for_models(names)
    _apply_overrides(config, overrides)
    return config.model_dump(mode="json", exclude_defaults=True, exclude={"agent"})


@dataclass
class Prepared:
    config: MassGenConfig
    source: str


def prepare(
    config: str | Path | dict[str, Any] | None = None,
    model: str | None = None,
    models: Sequence[str] | None = None,
    num_agents: int | None = None,
    enable_filesystem: bool = True,
    context_paths: Sequence[Any] | None = None,
    use_docker: bool = False,
    **overrides: Any,
) -> Prepared:
    """Resolve what to run exactly as the CLI does: a config (path, built-in or saved name,
    or dict), else models, else the default (docs/architecture.md, "Config")."""
    from massgen.config.env import load_env_files
    from massgen.config.loader import load_config, load_config_dict
    from massgen.config.resolve import resolve_config, resolve_default

    files = _file_options(enable_filesystem, context_paths, use_docker)
    load_env_files()
    if config is not None and (model or models):
        raise ConfigurationError("give either config or model(s), not both")
    if isinstance(config, dict):
        loaded, source = load_config_dict(config).config, "<dict>"
    elif config is not None:
        path = resolve_config(str(config))
        loaded, source = load_config(path).config, str(path)
    elif model or models:
        data = build_config(models=models, model=model, num_agents=num_agents)
        loaded, source = load_config_dict(data).config, ",".join(models or [model or ""])
    else:
        default = resolve_default()
        if default.data is not None:
            loaded, source = load_config_dict(default.data).config, "team from your keys"
        else:
            assert default.path is not None
            loaded, source = load_config(default.path).config, str(default.path)
    _apply_overrides(loaded, {**_only_given(files, loaded), **overrides})
    return Prepared(loaded, source)


async def run(
    query: str,
    config: str | Path | dict[str, Any] | None = None,
    model: str | None = None,
    models: Sequence[str] | None = None,
    num_agents: int | None = None,
    enable_filesystem: bool = True,
    enable_logging: bool = False,
    output_file: str | Path | None = None,
    context_paths: Sequence[Any] | None = None,
    conversation_history: History | None = None,
    log_dir: str | Path | None = None,
    use_docker: bool = False,
    images: Sequence[Any] | None = None,
    tools: Sequence[Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Coordinate ``query`` and return the result as a dict (``final_answer``,
    ``selected_agent``, ``vote_results``, ``answers``, ``usage``, ...). With
    ``enable_logging`` the run is recorded as a session (``massgen logs``; under ``log_dir``
    when given) and ``session_id`` / ``session_dir`` name it. ``images`` (file paths,
    ``http(s)``/``data:`` URLs or bytes) go with the question to every agent whose model
    can see them; ``tools`` (Python functions, sync or async) are given to every agent, their
    JSON schemas taken from the type hints and docstrings. Raises
    :class:`ConfigurationError` for bad input and :class:`RunFailedError` when no agent
    produced an answer."""
    active = start(
        query,
        config,
        model,
        models,
        num_agents,
        enable_filesystem,
        context_paths,
        conversation_history,
        enable_logging=enable_logging,
        log_dir=log_dir,
        use_docker=use_docker,
        images=images,
        tools=tools,
        **overrides,
    )
    data = await active.outcome()
    if output_file is not None and data["final_answer"] is not None:
        await asyncio.to_thread(Path(output_file).write_text, data["final_answer"], "utf-8")
    return data


def start(
    query: str,
    config: str | Path | dict[str, Any] | None = None,
    model: str | None = None,
    models: Sequence[str] | None = None,
    num_agents: int | None = None,
    enable_filesystem: bool = True,
    context_paths: Sequence[Any] | None = None,
    conversation_history: History | None = None,
    enable_logging: bool = False,
    log_dir: str | Path | None = None,
    use_docker: bool = False,
    images: Sequence[Any] | None = None,
    tools: Sequence[Any] | None = None,
    **overrides: Any,
) -> ActiveRun:
    """Start a run in the background (inside a running event loop) and return its handle;
    the arguments are :func:`run`'s. Raises :class:`ConfigurationError` at once for bad
    input."""
    if not query or not query.strip():
        raise ConfigurationError("query is empty")
    prepared = prepare(
        config,
        model,
        models,
        num_agents,
        enable_filesystem,
        context_paths,
        use_docker=use_docker,
        **overrides,
    )
    from massgen.images import load

    attached = load(images, allow_paths=True)  # the caller's own files may be read
    own_tools = _tools(tools)
    recorder = None
    if enable_logging:
        from massgen.sessions.recorder import SessionRecorder

        recorder = SessionRecorder(prepared.config, prepared.source, log_dir=log_dir)
    return ActiveRun(prepared, query, _history(conversation_history), recorder, attached, own_tools)


async def stream(
    query: str,
    config: str | Path | dict[str, Any] | None = None,
    model: str | None = None,
    models: Sequence[str] | None = None,
    num_agents: int | None = None,
    conversation_history: History | None = None,
    images: Sequence[Any] | None = None,
    tools: Sequence[Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[dict[str, Any]]:
    """The run's events as dicts, as they happen; the last one is ``run_finished``.
    Closing the iterator early cancels the run."""
    active = start(
        query,
        config,
        model,
        models,
        num_agents,
        conversation_history=conversation_history,
        images=images,
        tools=tools,
        **overrides,
    )
    async for event in active.events():
        yield event
    await active.result()


class ActiveRun:
    """One coordination running in its own task, observed through its events.

    Iterate :meth:`events` (dicts, in order, ending with ``run_finished``); then
    :meth:`result` gives the :class:`RunResult`. Leaving :meth:`events` early, or
    :meth:`cancel`, cancels the run and waits for its agents to close."""

    def __init__(
        self,
        prepared: Prepared,
        query: str,
        history: list[tuple[str, str]],
        recorder: Any = None,
        images: Sequence[Any] = (),
        tools: Sequence[Any] = (),
    ) -> None:
        from massgen.events import EventBus

        self.source = prepared.source
        self.bus = EventBus()
        self._subscription = self.bus.subscribe()
        self.recorder = recorder
        self.session = recorder.attach(self.bus, images) if recorder is not None else None
        root = self.session.path if self.session is not None else None
        self.task = asyncio.create_task(
            _run(prepared, query, history, self.bus, images, tools, root)
        )
        self.task.add_done_callback(self._finished)

    def _finished(self, _: asyncio.Task[Any]) -> None:
        self.bus.close()
        if self.recorder is not None:
            self.recorder.close()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        try:
            async for event in self._subscription:
                yield event.to_dict()
        finally:
            if not self.task.done():
                await self.cancel()

    async def result(self) -> Any:
        """The :class:`RunResult` (raises what the run raised)."""
        return await self.task

    async def outcome(self) -> dict[str, Any]:
        """The result in :func:`run`'s documented shape (raises :class:`RunFailedError`
        when no agent produced an answer)."""
        data = result_dict(await self.task, self.source)
        if self.session is not None:
            data["session_id"], data["session_dir"] = self.session.id, str(self.session.path)
        return data

    async def cancel(self) -> None:
        self.task.cancel()
        # shield: a cancelled caller must not interrupt the run's own cleanup
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(self.task)


async def _run(
    prepared: Prepared,
    query: str,
    history: list[tuple[str, str]],
    bus: Any,
    images: Sequence[Any] = (),
    tools: Sequence[Any] = (),
    workspace_root: Path | None = None,
):
    from massgen.coordination.build import build_agents
    from massgen.coordination.engine import Coordinator

    if not query or not query.strip():
        raise ConfigurationError("query is empty")
    agents = build_agents(prepared.config, tools)
    try:
        coordinator = Coordinator(
            agents, prepared.config.orchestrator, bus, workspace_root=workspace_root
        )
        return await coordinator.run(query, history, images)
    finally:
        for agent in agents:
            await agent.backend.aclose()


def result_dict(result: Any, config_used: str) -> dict[str, Any]:
    """A :class:`RunResult` in the documented shape."""
    if result.status == "failed" and result.final_answer is None:
        raise RunFailedError(result.error or "no agent produced an answer")
    by_label = {label: agent_id for agent_id, label in result.labels.items()}
    voters: dict[str, list[dict[str, str]]] = {}
    for vote in result.votes:
        voters.setdefault(by_label[vote.target_label], []).append(
            {"voter": vote.voter_id, "reason": vote.reason}
        )
    usage = result.total_usage
    return {
        "final_answer": result.final_answer,
        "config_used": config_used,
        "session_id": result.run_id,
        "status": result.status,
        "selected_agent": result.winner,
        "vote_results": {
            "vote_counts": {by_label[label]: n for label, n in result.tally.items()},
            "voters": voters,
            "winner": result.winner,
            "is_tie": result.is_tie,
        },
        "answers": [
            {"label": a.label, "agent_id": a.agent_id, "content": a.content} for a in result.answers
        ],
        "files_changed": list(result.files_changed),
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "cached_tokens": usage.cached_tokens,
            "requests": usage.requests,
            "cost_usd": usage.cost,
            "per_agent": {
                agent_id: {
                    "prompt_tokens": u.prompt_tokens,
                    "completion_tokens": u.completion_tokens,
                    "cost_usd": u.cost,
                }
                for agent_id, u in result.usage.items()
            },
        },
    }


def message_text(content: Any) -> str:
    """A chat message's text: a string, or the text of its content parts (lone surrogates,
    which JSON allows and no encoder does, replaced)."""
    from massgen.terminal import clean_text

    if isinstance(content, str):
        return clean_text(content)
    if isinstance(content, list):
        return clean_text(
            "".join(
                str(part.get("text") or "")
                for part in content
                if isinstance(part, dict) and part.get("type") in (None, "text", "input_text")
            )
        )
    return "" if content is None else clean_text(str(content))


def split_messages(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """OpenAI-style chat messages as (question, history): the last user message is the
    question, the user/assistant turns before it the history (system messages are dropped).
    Raises :class:`ConfigurationError` when there is no question."""
    if not isinstance(messages, list) or not messages:
        raise ConfigurationError("'messages' must be a non-empty list")
    if not all(isinstance(m, dict) for m in messages):
        raise ConfigurationError("each message must be an object")
    turns = [
        {"role": m["role"], "content": message_text(m.get("content"))}
        for m in messages
        if m.get("role") in ("user", "assistant")
    ]
    last = max((i for i, m in enumerate(turns) if m["role"] == "user"), default=None)
    if last is None:
        raise ConfigurationError("'messages' has no user message")
    question = turns[last]["content"].strip()
    if not question:
        raise ConfigurationError("the last user message is empty")
    return question, _history(turns[:last])


def _tools(functions: Sequence[Any] | None) -> list[Any]:
    """``massgen.run(tools=[...])``: Python functions (or ready-made tools) as agent tools."""
    from massgen.tools.base import Tool
    from massgen.tools.custom import tool_from_function

    out = []
    for item in functions or ():
        if isinstance(item, Tool):
            out.append(item)
        elif callable(item):
            out.append(tool_from_function(item))
        else:
            raise ConfigurationError(f"tools: {item!r} is not a function")
    names = [tool.name for tool in out]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigurationError(f"tools: two tools are named '{twice[0]}'")
    return out


def message_images(messages: Any) -> list[Any]:
    """The images (``image_url`` parts: URLs only, never a path) of the last user message.
    Raises :class:`ConfigurationError` for an image that is not usable."""
    from massgen.images import from_message_content

    if not isinstance(messages, list):
        return []
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return from_message_content(users[-1].get("content")) if users else []


def _history(history: History | None) -> list[tuple[str, str]]:
    """Earlier turns as (question, answer) pairs; also accepts chat messages
    (``{"role": "user"|"assistant", "content": ...}``)."""
    if not history:
        return []
    if all(isinstance(item, dict) for item in history):
        pairs, question = [], None
        for message in history:
            role, content = message.get("role"), str(message.get("content") or "")
            if role == "user":
                question = content
            elif role == "assistant" and question is not None:
                pairs.append((question, content))
                question = None
        return pairs
    return [(str(q), str(a)) for q, a in history]  # type: ignore[misc]


def _apply_overrides(config: MassGenConfig, overrides: dict[str, Any]) -> None:
    if not overrides:
        return
    unknown = sorted(set(overrides) - set(OrchestratorConfig.model_fields))
    if unknown:
        raise ConfigurationError(
            f"unknown option(s): {', '.join(unknown)} "
            f"(orchestrator options: {', '.join(sorted(OrchestratorConfig.model_fields))})"
        )

    from massgen.config.schema import FieldProblem

    merged = {**config.orchestrator.model_dump(exclude_unset=True), **overrides}
    try:
        config.orchestrator = OrchestratorConfig.model_validate(merged)
        config.check_orchestrator()
    except FieldProblem as exc:
        raise ConfigurationError(f"invalid option {exc.loc[-1]}: {exc.message}") from None
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        problem = (error.get("ctx") or {}).get("error")
        if isinstance(problem, FieldProblem):
            raise ConfigurationError(f"invalid option {problem}") from None
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigurationError(f"invalid option {where}: {message}") from None


def _file_options(
    enable_filesystem: bool, context_paths: Sequence[Any] | None, use_docker: bool
) -> dict[str, Any]:
    """The file keywords of :func:`run` as orchestrator options: ``context_paths`` (a list
    of ``{"path", "permission"}`` dicts, or plain paths for read access),
    ``enable_filesystem`` (true by default: every agent has its workspace and file tools)
    and ``use_docker`` when it is asked for."""
    options: dict[str, Any] = {"enable_filesystem": enable_filesystem}
    if context_paths:
        options["context_paths"] = [
            {"path": str(item)} if isinstance(item, str | Path) else dict(item)
            for item in context_paths
        ]
    if use_docker:
        options["use_docker"] = True
    return options


def _only_given(options: dict[str, Any], config: MassGenConfig) -> dict[str, Any]:
    """``options``, with ``context_paths`` added to those the config already grants, and the
    API's default ``enable_filesystem=True`` leaving a config's own choice alone (``False``
    always wins: the lightweight mode)."""
    if options.get("enable_filesystem") and config.orchestrator.enable_filesystem is not None:
        options = {k: v for k, v in options.items() if k != "enable_filesystem"}
    if "context_paths" in options:
        current = [c.model_dump() for c in config.orchestrator.context_paths]
        options = {**options, "context_paths": [*current, *options["context_paths"]]}
    return options


class AnswerStream:
    """Turns a run's events into the answer's content text, token by token.

    The presenting agent's ``final_answer_delta`` text goes out as it arrives; the closing
    ``final_answer`` (or ``run_finished``) supplies whatever was not streamed, e.g. the whole
    answer when the winner's answer is reused. Sent text cannot be taken back: when the
    presentation is retried or fails after some text went out, the full answer follows
    after a blank line."""

    def __init__(self) -> None:
        self.sent = ""
        self.diverged = False  # a retry began after text went out: stop streaming deltas
        self.complete = False

    def feed(self, event: dict[str, Any]) -> str:
        kind = event.get("type")
        if kind == "final_answer_delta" and not (self.diverged or self.complete):
            text = str(event.get("text") or "")
            self.sent += text
            return text
        if kind == "stream_retry" and self.sent:
            self.diverged = True
        if kind == "final_answer":
            return self.finish(str(event.get("content") or ""))
        return ""

    def finish(self, final: str) -> str:
        """The rest of ``final`` not yet sent (once; later calls return "")."""
        if self.complete:
            return ""
        self.complete = True
        return final[len(self.sent) :] if final.startswith(self.sent) else "\n\n" + final
