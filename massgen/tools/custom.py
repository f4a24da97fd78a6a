"""Custom tools: plain Python functions, sync or async, offered to an agent.

The JSON schema comes from the function's signature (pydantic builds it from the type hints)
and the description from its docstring (the first paragraph; ``Args:`` lines describe the
parameters). Arguments are validated before the call; the return value goes back to the
model as text (a string as it is, anything else as JSON).

A config's sync functions run in worker processes (:mod:`massgen.tools.workers`), so a call
past its time limit is stopped. Sync functions handed over in Python (``massgen.run(tools=
[...])``) may be closures that no other process can import: they run in a daemon thread,
which a timed-out call leaves running but which never keeps the process from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import importlib
import importlib.util
import inspect
import re
import sys
import threading
import typing
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from massgen.errors import ConfigurationError
from massgen.messages import ToolSpec
from massgen.tools.base import Tool, ToolError
from massgen.tools.workers import WorkerPool

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


def _docs(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The docstring's first paragraph, and ``Args:`` descriptions by parameter."""
    doc = inspect.getdoc(fn) or ""
    summary = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    params: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if line.strip().lower() in ("args:", "arguments:", "parameters:"):
            in_args = True
            continue
        if in_args:
            match = _ARG_LINE.match(line)
            if match:
                params[match.group(1)] = match.group(2).strip()
            elif line.strip() and not line.startswith((" ", "\t")):
                in_args = False
    return summary, params


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


async def _in_daemon_thread(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """``fn(**kwargs)`` in a thread of its own that never holds up the interpreter's exit
    (``asyncio.to_thread``'s pool is joined at exit, so a call that never returns would
    keep the process alive)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return  # the call was cancelled or timed out meanwhile
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def work() -> None:
        value, error = None, None
        try:
            value = context.run(fn, **kwargs)
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(settle, value, error)

    name = f"massgen-tool-{getattr(fn, '__name__', 'function')}"
    threading.Thread(target=work, name=name, daemon=True).start()
    return await future


def tool_from_function(
    fn: Callable[..., Any],
    name: str | None = None,
    *,
    runner: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
) -> Tool:
    """A :class:`Tool` calling ``fn``: an async one on the run's loop; a sync one through
    ``runner`` when given (a worker process), else in a daemon thread. Raises
    :class:`ConfigurationError` for a function whose parameters cannot be described
    (``*args``, hints pydantic cannot use)."""
    fn_name: str = getattr(fn, "__name__", "")
    tool_name = name or fn_name
    if not _NAME.match(tool_name):
        raise ConfigurationError(f"custom tool name {tool_name!r}: use letters, digits and _")
    summary, param_docs = _docs(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        raise ConfigurationError(f"custom tool {tool_name}: its type hints: {exc}") from None
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigurationError(
                f"custom tool {tool_name}: *{param.name} cannot be described to a model; "
                "give each parameter a name"
            )
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            hints.get(param.name, Any),
            Field(default, description=param_docs.get(param.name)),
        )
    try:
        model: type[BaseModel] = create_model(
            f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )
        schema = _strip_titles(model.model_json_schema())
    except Exception as exc:
        raise ConfigurationError(f"custom tool {tool_name}: {exc}".splitlines()[0]) from None
    schema.setdefault("properties", {})
    is_async = inspect.iscoroutinefunction(fn)

    async def run(arguments: dict[str, Any]) -> str:
        try:
            values = model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolError(f"{tool_name}: invalid arguments: {problems}") from None
        kwargs = {key: getattr(values, key) for key in fields}
        if is_async:
            return await fn(**kwargs)
        if runner is not None:
            return await runner(kwargs)
        return await _in_daemon_thread(fn, kwargs)

    description = summary or f"The {tool_name} function."
    return Tool(ToolSpec(tool_name, description, schema), run, "custom")


def _module_name(path: Path) -> str:
    return f"massgen_custom_tools_{abs(hash(str(path)))}"


def _load_module(path: Path, where: str) -> Any:
    if not path.is_file():
        raise ConfigurationError(f"{where}: custom tools file not found: {path}")
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"{where}: cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ConfigurationError(
            f"{where}: {path}:{exc.lineno}: syntax error: {exc.msg}; fix the file"
        ) from None
    except Exception as exc:
        raise ConfigurationError(
            f"{where}: importing {path} failed: {type(exc).__name__}: {exc}"
        ) from None
    sys.modules[name] = module
    return module


def load_custom_tools(entries: Sequence[Any], where: str) -> list[Tool]:
    """The tools named by ``backend.custom_tools`` entries (``path`` or ``module``, and
    ``function`` as one name or a list). The sync ones of an entry share its worker
    processes."""
    tools: list[Tool] = []
    for index, entry in enumerate(entries):
        at = f"{where}.custom_tools[{index}]"
        if entry.path:
            path = Path(entry.path).expanduser().resolve()
            module = _load_module(path, at)
            origin = entry.path
            pool = WorkerPool(path=str(path), name=_module_name(path), module=None)
        else:
            try:
                module = importlib.import_module(entry.module)
            except Exception as exc:
                raise ConfigurationError(
                    f"{at}: cannot import module {entry.module!r}: {type(exc).__name__}: {exc}"
                ) from None
            origin = entry.module
            pool = WorkerPool(path=None, name=None, module=entry.module)
        names = [entry.function] if isinstance(entry.function, str) else list(entry.function)
        for name in names:
            fn = getattr(module, name, None)
            if not callable(fn):
                available = sorted(
                    n
                    for n, v in vars(module).items()
                    if inspect.isfunction(v) and not n.startswith("_")
                )
                hint = f" (functions there: {', '.join(available)})" if available else ""
                raise ConfigurationError(f"{at}: no function '{name}' in {origin}{hint}")
            try:
                tool = tool_from_function(
                    fn, runner=functools.partial(pool.call, fn.__name__, name)
                )
            except ConfigurationError as exc:
                raise ConfigurationError(f"{at}: {exc}") from None
            tool.close = pool.close
            tools.append(tool)
    return tools
