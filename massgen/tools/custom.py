"""Custom tools: plain Python functions, sync or async, offered to an agent.

The JSON schema comes from the function's signature (pydantic builds it from the type hints)
and the description from its docstring (the first paragraph; ``Args:`` lines describe the
parameters). Arguments are validated before the call; the return value goes back to the
model as text (a string as it is, anything else as JSON).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import re
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from massgen.backends.base import ToolSpec
from massgen.errors import ConfigurationError
from massgen.tools.base import Tool, ToolError

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


def tool_from_function(fn: Callable[..., Any], name: str | None = None) -> Tool:
    """A :class:`Tool` calling ``fn``. Raises :class:`ConfigurationError` for a function
    whose parameters cannot be described (``*args``, hints pydantic cannot use)."""
    tool_name = name or getattr(fn, "__name__", "")
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
        model: type[BaseModel] = create_model(  # type: ignore[call-overload]
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
        return await asyncio.to_thread(fn, **kwargs)

    description = summary or f"The {tool_name} function."
    return Tool(ToolSpec(tool_name, description, schema), run, "custom")


def _load_module(path: Path, where: str) -> Any:
    if not path.is_file():
        raise ConfigurationError(f"{where}: custom tools file not found: {path}")
    name = f"massgen_custom_tools_{abs(hash(str(path)))}"
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
    ``function`` as one name or a list)."""
    tools: list[Tool] = []
    for index, entry in enumerate(entries):
        at = f"{where}.custom_tools[{index}]"
        if entry.path:
            module = _load_module(Path(entry.path).expanduser(), at)
            origin = entry.path
        else:
            try:
                module = importlib.import_module(entry.module)
            except Exception as exc:
                raise ConfigurationError(
                    f"{at}: cannot import module {entry.module!r}: {type(exc).__name__}: {exc}"
                ) from None
            origin = entry.module
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
                tools.append(tool_from_function(fn))
            except ConfigurationError as exc:
                raise ConfigurationError(f"{at}: {exc}") from None
    return tools
