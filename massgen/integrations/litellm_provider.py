"""MassGen as a LiteLLM custom provider (``pip install "massgen[litellm]"``).

    import litellm, massgen
    massgen.register_with_litellm()
    litellm.completion(model="massgen/build", messages=[...],
                       optional_params={"models": ["openai/gpt-5-mini", "claude/claude-sonnet-4"]})

Model strings (after the ``massgen/`` prefix):

- ``build``: the team from ``optional_params`` (``models``, ``model``, ``num_agents``, or a
  ``config`` dict / path), plus ``enable_filesystem``, ``context_paths``, ``enable_logging``,
  ``output_file``; with any model string, orchestrator options (``strategy="debate"``,
  ``max_cost_usd=0.5``, ...)
- ``model:<id>``: ``num_agents`` agents (default 1) on that model
- ``path:<file>``: a config file
- ``<name>``: a built-in example (``massgen/research_team``)

The last user message is the question; earlier user/assistant turns are the history. The
response's ``_hidden_params`` hold ``massgen_selected_agent``, ``massgen_vote_results``,
``massgen_session_id``, ``massgen_config_used``, ``massgen_answers``, ``massgen_usage`` and
``massgen_status`` (ok, or timeout / budget: the best answer so far).

This module imports litellm; ``import massgen`` and the CLI never import it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import litellm
from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse, Usage

from massgen.chat_messages import AnswerStream, message_images, split_messages
from massgen.errors import ConfigurationError

PROVIDER = "massgen"
_OPTIONS = (
    "config",
    "models",
    "model",
    "num_agents",
    "enable_filesystem",
    "context_paths",
    "enable_logging",
    "output_file",
    "use_docker",
)
_lock = threading.Lock()
T = TypeVar("T")


def register_with_litellm() -> MassGenLLM:
    """Register the ``massgen`` provider with litellm (once; later calls return the same
    handler)."""
    with _lock:
        for item in litellm.custom_provider_map:
            if item.get("provider") == PROVIDER:
                return item["custom_handler"]  # type: ignore[return-value]
        handler = MassGenLLM()
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": PROVIDER, "custom_handler": handler},
        ]
        from litellm.utils import custom_llm_setup

        custom_llm_setup()
        return handler


def run_arguments(model: str, messages: list[Any], optional_params: dict[str, Any] | None):
    """The keyword arguments for :func:`massgen.run` for one litellm call."""
    params = _options(optional_params or {})
    name = model.removeprefix(f"{PROVIDER}/").strip()
    query, history = split_messages(messages)
    images = message_images(messages)  # image_url parts: URLs only, never a path

    if name == "build":
        if not any(params.get(k) for k in ("config", "models", "model")):
            raise ConfigurationError(
                "massgen/build needs optional_params with models=[...], model=... or config=..."
            )
    elif name.startswith("model:"):
        model_id = name.removeprefix("model:").strip()
        if not model_id:
            raise ConfigurationError("massgen/model:<id> needs a model id")
        _no_team_options(name, params)
        params["model"] = model_id
    elif name.startswith("path:"):
        path = name.removeprefix("path:").strip()
        if not path:
            raise ConfigurationError("massgen/path:<file> needs a config file path")
        _no_team_options(name, params)
        params["config"] = path
    elif name:
        _no_team_options(name, params)
        params["config"] = name if name.startswith("@examples/") else f"@examples/{name}"
    else:
        raise ConfigurationError("empty massgen model string; try massgen/build")
    if images:
        params["images"] = images
    return {"query": query, "conversation_history": history, **params}


class MassGenConfigurationError(litellm.BadRequestError, ConfigurationError):
    """A bad massgen model string or option, as litellm's own 400 error (so litellm passes
    it through unchanged instead of calling it a bug in litellm) that is also a
    ``ValueError``, like :class:`massgen.ConfigurationError` everywhere else."""

    def __init__(self, message: str, model: str) -> None:
        super().__init__(message=message, model=model, llm_provider=PROVIDER)


@contextlib.contextmanager
def _config_errors(model: str) -> Iterator[None]:
    try:
        yield
    except MassGenConfigurationError:
        raise
    except ConfigurationError as exc:
        raise MassGenConfigurationError(str(exc), model) from None


class MassGenLLM(CustomLLM):
    """The litellm handler: every call runs one MassGen coordination."""

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        with _config_errors(model):
            result = _run_sync(run_arguments(model, messages, kwargs.get("optional_params")))
        return _response(kwargs.get("model_response"), model, result)

    async def acompletion(
        self, model: str, messages: list, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        with _config_errors(model):
            result = await _run(run_arguments(model, messages, kwargs.get("optional_params")))
        return _response(kwargs.get("model_response"), model, result)

    def streaming(
        self, model: str, messages: list, *args: Any, **kwargs: Any
    ) -> Iterator[GenericStreamingChunk]:
        with _config_errors(model):
            arguments = run_arguments(model, messages, kwargs.get("optional_params"))
            yield from _iterate_in_thread(lambda: _stream(arguments))

    # litellm declares astreaming a coroutine, but iterates it: an async generator
    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list, *args: Any, **kwargs: Any
    ) -> AsyncGenerator[GenericStreamingChunk, None]:
        with _config_errors(model):
            arguments = run_arguments(model, messages, kwargs.get("optional_params"))
            async for chunk in _stream(arguments):
                yield chunk


async def _run(arguments: dict[str, Any]) -> dict[str, Any]:
    from massgen.api import run

    return await run(**arguments)


async def _stream(arguments: dict[str, Any]) -> AsyncGenerator[GenericStreamingChunk, None]:
    """The final answer as it is written (token by token when the winner presents it); the
    last chunk finishes and carries the usage and the ``massgen_*`` metadata."""
    from massgen.api import start

    arguments = dict(arguments)
    output_file = arguments.pop("output_file", None)
    active = start(**arguments)
    answer = AnswerStream()
    async for event in active.events():
        text = answer.feed(event)
        if text:
            yield _chunk(text)
    result = await active.outcome()
    if output_file is not None and result["final_answer"] is not None:
        await asyncio.to_thread(Path(output_file).write_text, result["final_answer"], "utf-8")
    yield _chunk(answer.finish(result["final_answer"] or ""), result)


def _iterate_in_thread(make: Callable[[], AsyncGenerator[T, None]]) -> Iterator[T]:
    """Drive an async iterator on its own event loop in a worker thread, handing items over
    one by one; leaving the loop early cancels the iterator."""
    items: queue.Queue[tuple[str, Any]] = queue.Queue()
    loop = asyncio.new_event_loop()
    task: asyncio.Task[None] | None = None

    async def pump() -> None:
        iterator = make()
        try:
            async for item in iterator:
                items.put(("item", item))
        except BaseException as exc:  # handed to the consuming thread
            items.put(("error", exc))
        finally:
            await iterator.aclose()
            items.put(("end", None))

    def work() -> None:
        nonlocal task
        asyncio.set_event_loop(loop)
        task = loop.create_task(pump())
        ready.set()
        try:
            loop.run_until_complete(task)
        finally:
            loop.close()

    ready = threading.Event()
    thread = threading.Thread(target=work, name="massgen-stream", daemon=True)
    thread.start()
    ready.wait()
    ended = False
    try:
        while True:
            kind, value = items.get()
            if kind == "end":
                ended = True
                return
            if kind == "error":
                if isinstance(value, asyncio.CancelledError):
                    return
                raise value
            yield value
    finally:
        if not ended:  # the caller left early: cancel the run, then let it close
            with contextlib.suppress(RuntimeError):  # the loop closed in the meantime
                loop.call_soon_threadsafe(task.cancel)  # type: ignore[union-attr]
        thread.join()


def _run_sync(arguments: dict[str, Any]) -> dict[str, Any]:
    """Run in this thread when it has no event loop, else in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_run(arguments))
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="massgen") as pool:
        return pool.submit(asyncio.run, _run(arguments)).result()


def _options(optional_params: dict[str, Any]) -> dict[str, Any]:
    """MassGen options from ``optional_params``: given nested (``optional_params={...}``,
    as the docs show) or as top-level keyword arguments; other litellm params are ignored."""
    from massgen.config.schema import OrchestratorConfig

    nested = optional_params.get("optional_params")
    merged = {**optional_params, **(nested if isinstance(nested, dict) else {})}
    names = (*_OPTIONS, *OrchestratorConfig.model_fields)  # strategy, max_cost_usd, ...
    return {k: merged[k] for k in names if merged.get(k) is not None}


def _no_team_options(name: str, params: dict[str, Any]) -> None:
    extra = [k for k in ("config", "models", "model") if k in params]
    if extra:
        raise ConfigurationError(
            f"massgen/{name} already names the team; {', '.join(extra)} only go with massgen/build"
        )


def _usage(result: dict[str, Any]) -> Usage:
    u = result["usage"]
    return Usage(
        prompt_tokens=u["prompt_tokens"],
        completion_tokens=u["completion_tokens"],
        total_tokens=u["total_tokens"],
    )


def _hidden(result: dict[str, Any]) -> dict[str, Any]:
    hidden = {
        "massgen_selected_agent": result["selected_agent"],
        "massgen_vote_results": result["vote_results"],
        "massgen_session_id": result["session_id"],
        "massgen_config_used": result["config_used"],
        "massgen_answers": result["answers"],
        "massgen_usage": result["usage"],
        "massgen_status": result["status"],
    }
    if result.get("session_dir"):  # enable_logging=True: where the session was recorded
        hidden["massgen_log_directory"] = result["session_dir"]
    return hidden


def _response(response: ModelResponse | None, model: str, result: dict[str, Any]) -> ModelResponse:
    response = response if response is not None else ModelResponse()
    response.choices[0].message.content = result["final_answer"]
    response.choices[0].finish_reason = "stop"
    response.model = f"{PROVIDER}/{model.removeprefix(f'{PROVIDER}/')}"
    response.created = int(time.time())
    response.usage = _usage(result)  # type: ignore[attr-defined]
    response._hidden_params.update(_hidden(result))
    return response


def _chunk(text: str, result: dict[str, Any] | None = None) -> GenericStreamingChunk:
    """A content chunk; with ``result``, the last one (finish reason, usage, metadata)."""
    usage = result["usage"] if result else None
    return GenericStreamingChunk(
        text=text,
        tool_use=None,
        is_finished=result is not None,
        finish_reason="stop" if result else "",
        usage={
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"],
        }
        if usage
        else None,
        index=0,
        provider_specific_fields=_hidden(result) if result else None,
    )
