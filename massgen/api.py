"""The Python API: ``await massgen.run(...)``, ``massgen.build_config(...)``, ``massgen.stream``.

A facade: it turns keyword arguments into a config (:func:`massgen.config.resolve.resolve_team`)
and a :class:`massgen.runs.ActiveRun`. Every call builds its own agents and event bus, so runs
are independent and may run concurrently (``asyncio.gather``) or inside an already running
loop (Jupyter).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from massgen.chat_messages import History, history_pairs
from massgen.config.schema import MassGenConfig, OrchestratorConfig
from massgen.errors import ConfigurationError
from massgen.runs import ActiveRun, Prepared


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
    config = config_for_models(_model_names(models, model, num_agents))
    _apply_overrides(config, overrides)
    return config.model_dump(mode="json", exclude_defaults=True, exclude={"agent"})


def _model_names(
    models: Sequence[str] | None, model: str | None, num_agents: int | None
) -> list[str]:
    """The agents' models: ``models``, or ``model`` ``num_agents`` times."""
    if models and model:
        raise ConfigurationError("give either models or model, not both")
    names = list(models or ([model] * (num_agents or 1) if model else []))
    if not names:
        raise ConfigurationError("build_config needs models=[...] or model=...")
    return names


def prepare(
    config: str | Path | dict[str, Any] | None = None,
    model: str | None = None,
    models: Sequence[str] | None = None,
    num_agents: int | None = None,
    enable_filesystem: bool | None = True,
    context_paths: Sequence[Any] | None = None,
    use_docker: bool = False,
    **overrides: Any,
) -> Prepared:
    """Resolve what to run exactly as the CLI does: a config (path, built-in or saved name,
    or dict), else models, else the default (docs/architecture.md, "Config").
    ``enable_filesystem=None`` leaves the config's own choice, as the CLI does."""
    from massgen.config.env import load_env_files
    from massgen.config.resolve import resolve_team

    files = _file_options(enable_filesystem, context_paths, use_docker)
    load_env_files()
    if config is not None and (model or models):
        raise ConfigurationError("give either config or model(s), not both")
    names = _model_names(models, model, num_agents) if (model or models) else None
    loaded, source = resolve_team(config, names)
    if names is not None:
        source = ",".join(models or [model or ""])
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
    JSON schemas taken from the type hints and docstrings. ``artifacts`` lists the media the
    agents generated (``generation:`` in the config): ``{path, name, kind, mime, size, agent,
    tool, workspace_path}`` each. Raises
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
    history = history_pairs(conversation_history)
    if not enable_logging:
        return ActiveRun(prepared, query, history, None, attached, own_tools)
    from massgen.sessions.recorder import SessionRecorder

    recorder = SessionRecorder(prepared.config, prepared.source, log_dir=log_dir)
    active = ActiveRun(prepared, query, history, recorder, attached, own_tools)
    active.task.add_done_callback(lambda _: recorder.close())  # after the bus is closed
    return active


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
    enable_filesystem: bool | None, context_paths: Sequence[Any] | None, use_docker: bool
) -> dict[str, Any]:
    """The file keywords of :func:`run` as orchestrator options: ``context_paths`` (a list
    of ``{"path", "permission"}`` dicts, or plain paths for read access),
    ``enable_filesystem`` (true by default: every agent has its workspace and file tools)
    and ``use_docker`` when it is asked for. ``None`` leaves ``enable_filesystem`` to the
    config."""
    options: dict[str, Any] = {}
    if enable_filesystem is not None:
        options["enable_filesystem"] = enable_filesystem
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
