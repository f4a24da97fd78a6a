"""Load a config from YAML (or a dict): expand ``${VAR}``, validate, and report problems as one
line naming the file, line and key, e.g.
``configs/x.yaml:7: agents[1].backend.type: unknown backend 'gpt' (did you mean 'openai'?)``.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from massgen.config.fields import FieldProblem
from massgen.config.schema import MassGenConfig
from massgen.errors import ConfigurationError

Loc = tuple[str | int, ...]

#: ``$${`` is a literal ``${``; ``${VAR}`` or ``${VAR:-default}`` expands from the environment.
_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
#: Keys whose values are never echoed in a message.
_SECRET_KEY = re.compile(
    r"api_?key|secret|passw(or)?d|credential|access_token|auth_token|^token$|^key$", re.IGNORECASE
)
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and where it came from."""

    config: MassGenConfig
    source: str  # as the user gave it, or a display name such as "<string>"
    path: Path | None = None


class ConfigFileError(ConfigurationError):
    """A config with one or more problems. ``str()`` is the first problem (plus a count);
    ``problems`` holds every one, each a full ``source:line: key: message`` line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = len(problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(problems[0] + suffix)


def load_config(path: str | Path) -> LoadedConfig:
    """Read, expand and validate the YAML config file at ``path``."""
    source = str(path)
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigurationError(f"{source}: config file not found") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{source}: is a directory, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{source}: cannot read config: not UTF-8 text") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"{source}: cannot read config: {reason}") from None
    loaded = _load_text(text, source, file)
    _anchor_paths(loaded.config, file.resolve().parent)
    return loaded


def _anchor_paths(config: MassGenConfig, base: Path) -> None:
    """Relative paths in a config file mean relative to the file, not to wherever massgen
    happens to run: custom tool files and MCP servers' working directories."""
    for agent in config.agents:
        for tool in agent.backend.custom_tools:
            if tool.path and not Path(tool.path).expanduser().is_absolute():
                tool.path = str(base / tool.path)
        for server in agent.backend.mcp_servers:
            if server.cwd and not Path(server.cwd).expanduser().is_absolute():
                server.cwd = str(base / server.cwd)


def load_config_text(text: str, source: str = "<string>") -> LoadedConfig:
    """Expand and validate a config given as YAML text; ``source`` names it in messages."""
    return _load_text(text, source, None)


def load_config_dict(data: dict[str, Any], source: str = "<dict>") -> LoadedConfig:
    """Validate an already-parsed config (messages carry no line numbers).

    ``${VAR}`` is *not* expanded here: a dict comes from a caller (the Python API, LiteLLM's
    ``optional_params``, a server request, a recorded session), and expansion belongs to
    the files the operator wrote. Otherwise a client could read the server's environment
    back through any string that is echoed (docs/architecture.md, "Security, in one place")."""
    if not isinstance(data, dict):
        raise ConfigurationError(f"{source}: a config must be a mapping, got {_kind(data)}")
    return LoadedConfig(_validate(data, source, {}, expand=False), source, None)


# --- YAML --------------------------------------------------------------------------------


#: Bounds on what a config file may make the loader do (a "billion laughs" file of nested
#: aliases is ten lines that expand to gigabytes). Real configs use a handful of aliases and
#: a few hundred nodes.
MAX_ALIASES = 100
MAX_EXPANDED_NODES = 20_000
MAX_CONFIG_CHARS = 1024 * 1024


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a document with too many aliases."""

    aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _TooBig(mark.line + 1, f"more than {MAX_ALIASES} aliases (*name)")
        return super().compose_node(parent, index)


class _TooBig(Exception):
    def __init__(self, line: int | None, what: str) -> None:
        super().__init__(what)
        self.line, self.what = line, what


def _load_text(text: str, source: str, path: Path | None) -> LoadedConfig:
    loader: _BoundedLoader | None = None
    try:
        if len(text) > MAX_CONFIG_CHARS:
            raise _TooBig(None, f"more than {MAX_CONFIG_CHARS // 1024} KiB of text")
        loader = _BoundedLoader(text)
        root = loader.get_single_node()
        if root is not None:
            _check_size(root)
            _check_duplicate_keys(root, (), source)
        data = None if root is None else loader.construct_document(root)
    except _TooBig as exc:
        where = f"{source}:{exc.line}" if exc.line else source
        raise ConfigurationError(
            f"{where}: config too large: {exc.what}; a config this size is refused"
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(0, exc.position)) + 1
        raise ConfigurationError(
            f"{source}:{line}: invalid YAML: control character #x{exc.character:04x} "
            "is not allowed (remove it, or write it as an escape inside double quotes)"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = exc.problem or exc.context or "cannot parse"
        raise ConfigurationError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ConfigurationError(f"{source}: invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None or data is None:
        raise ConfigurationError(
            f"{source}: config is empty: expected a mapping with an 'agents:' list"
        )
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{source}:{root.start_mark.line + 1}: the top level must be a mapping "
            f"(agents:, orchestrator:, ui:), got {_kind(data)}"
        )
    lines: dict[Loc, int] = {}
    _collect_lines(root, (), lines, set())
    return LoadedConfig(_validate(data, source, lines), source, path)


def _check_size(root: yaml.Node) -> None:
    """Refuse a document whose nodes, with every alias expanded, exceed
    :data:`MAX_EXPANDED_NODES` (computed once per node, so the check itself is cheap)."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack: list[yaml.Node] = [root]
    while stack:  # post-order without recursion: children are sized before parents
        node = stack.pop()
        if id(node) in sizes:
            continue
        sizes[id(node)] = 0
        order.append(node)
        stack.extend(_children(node))
    for node in reversed(order):
        total = 1 + sum(sizes.get(id(child), 0) for child in _children(node))
        if total > MAX_EXPANDED_NODES:
            raise _TooBig(
                node.start_mark.line + 1,
                f"it expands to more than {MAX_EXPANDED_NODES:,} values",
            )
        sizes[id(node)] = total


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_duplicate_keys(node: yaml.Node, loc: Loc, source: str) -> None:
    """PyYAML silently keeps the last of two equal keys; a config should not."""
    stack: list[tuple[yaml.Node, Loc]] = [(node, loc)]
    seen_nodes: set[int] = set()
    while stack:
        node, loc = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG or not isinstance(key, yaml.ScalarNode):
                    stack.append((value, loc))
                    continue
                line = key.start_mark.line + 1
                if key.value in first:
                    where = _where(source, line, (*loc, key.value))
                    raise ConfigurationError(
                        f"{where}duplicate key '{key.value}' (first on line {first[key.value]})"
                    )
                first[key.value] = line
                stack.append((value, (*loc, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in enumerate(node.value))


def _collect_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int], active: set[int]) -> None:
    """Map each key path to the 1-based line of its key (or of the list item)."""
    if id(node) in active:  # a recursive alias
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                sub = (*loc, key.value)
                lines[sub] = key.start_mark.line + 1
                _collect_lines(value, sub, lines, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            sub = (*loc, index)
            lines[sub] = item.start_mark.line + 1
            _collect_lines(item, sub, lines, active)
    active.discard(id(node))


# --- ${VAR} expansion --------------------------------------------------------------------


def _expand(
    value: Any,
    loc: Loc,
    problems: list[tuple[Loc, str]],
    expanded: dict[Loc, str],
    active: set[int],
) -> Any:
    """A copy of ``value`` with ``${VAR}`` expanded in every string (keys excluded)."""
    if isinstance(value, str):
        if "${" not in value:
            return value
        result = _VAR.sub(lambda m: _substitute(m, loc, problems), value)
        expanded[loc] = value
        return result
    if isinstance(value, dict | list):
        if id(value) in active:
            problems.append((loc, "recursive YAML alias is not supported"))
            return None
        active.add(id(value))
        if isinstance(value, dict):
            out: Any = {
                k: _expand(v, (*loc, k), problems, expanded, active) for k, v in value.items()
            }
        else:
            out = [_expand(v, (*loc, i), problems, expanded, active) for i, v in enumerate(value)]
        active.discard(id(value))
        return out
    return value


def _substitute(match: re.Match[str], loc: Loc, problems: list[tuple[Loc, str]]) -> str:
    if match.group(0) == "$${":
        return "${"
    name, default = match.group(1), match.group(2)
    value = os.environ.get(name)
    if default is not None and not value:
        return default
    if value is None:
        problems.append((loc, f"environment variable {name} is not set"))
        return ""
    return value


# --- validation and messages -------------------------------------------------------------


def _validate(
    data: dict[str, Any], source: str, lines: dict[Loc, int], *, expand: bool = True
) -> MassGenConfig:
    problems: list[tuple[Loc, str]] = []
    expanded: dict[Loc, str] = {}
    if expand:
        data = _expand(data, (), problems, expanded, set())
    if problems:
        _raise([(_line(lines, at), _where(source, _line(lines, at), at) + m) for at, m in problems])
    try:
        return MassGenConfig.model_validate(data)
    except ValidationError as exc:
        found = []
        for error in exc.errors(include_url=False):
            loc = data_loc(data, tuple(error["loc"]))
            problem = (error.get("ctx") or {}).get("error")
            if isinstance(problem, FieldProblem):  # a model's check of one of its keys
                loc = (*loc, *problem.loc)
                error = {**error, "msg": problem.message}
            if error["type"] == "invalid_key" and loc:  # a key such as 5: or true:
                loc = (*loc[:-1], str(error["input"]))
                error = {**error, "type": "extra_forbidden"}
            line = _line(lines, loc)
            found.append((line, _where(source, line, loc) + _message(error, loc, expanded)))
        _raise(found)


def _raise(found: list[tuple[int | None, str]]) -> NoReturn:
    from massgen.terminal import visible

    found.sort(key=lambda item: item[0] or 0)  # first problem in the file first
    # keys and values come from the file: one line each, control characters shown
    problems = [visible(text, single_line=True) for _, text in found]
    raise ConfigFileError(list(dict.fromkeys(problems))) from None


def data_loc(data: Any, loc: Loc) -> Loc:
    """Drop pydantic's internal loc parts (union tags etc.) that are not keys in the data."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        elif i != len(loc) - 1:
            continue
        out.append(part)
    return tuple(out)


def _line(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, else of its nearest parent that exists in the file."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _where(source: str, line: int | None, loc: Loc) -> str:
    head = f"{source}:{line}: " if line is not None else f"{source}: "
    return head + (f"{_key_path(loc)}: " if loc else "")


def _key_path(loc: Loc) -> str:
    """``('agents', 1, 'backend', 'type')`` -> ``agents[1].backend.type``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_EXPECTED = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


def _message(error: Any, loc: Loc, expanded: dict[Loc, str]) -> str:
    """One human sentence for one pydantic error."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = _got(value, loc, expanded)
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "missing":
        return f"missing required key '{loc[-1]}'" if loc else "missing required key"
    if kind in ("literal_error", "enum"):
        choices = _choices(loc, ctx)
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if isinstance(value, str) and close else ""
        return f"must be one of: {', '.join(choices)}{hint}"
    if kind in _EXPECTED:
        hint = ""
        if loc == ("agent",) and isinstance(value, list):
            hint = "; use 'agents:' for a list of agents"
        elif loc == ("agents",) and isinstance(value, dict):
            hint = "; use 'agent:' for a single agent"
        elif kind == "string_type" and isinstance(value, int | float) and got:
            hint = " (put it in quotes)"
        return f"expected {_EXPECTED[kind]}{got}{hint}"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        limit = ctx.get(name)
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        return f"must be {words} {limit}{got}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if message.startswith("Input should"):  # pydantic's default wording
        message = "should" + message.removeprefix("Input should")
    return message


def _got(value: Any, loc: Loc, expanded: dict[Loc, str]) -> str:
    """``", got 'abc'"`` - or less, so that secrets are never echoed."""
    if loc and isinstance(loc[-1], str) and _SECRET_KEY.search(loc[-1]):
        return ""
    if loc in expanded:
        return f", got the expanded value of '{expanded[loc]}'"
    return f", got {_kind(value)}"


def _kind(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _unknown_key(loc: Loc) -> str:
    key = loc[-1]
    model = _schema_at(loc[:-1])
    fields: list[str] = []
    if isinstance(model, type) and issubclass(model, BaseModel):
        fields = list(model.model_fields)
    close = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}' (did you mean '{close[0]}'?)"
    return f"unknown key '{key}'" + (f" (valid keys: {', '.join(fields)})" if fields else "")


def _choices(loc: Loc, ctx: dict[str, Any]) -> list[str]:
    annotation = _schema_at(loc)
    if get_origin(annotation) is Literal:
        return [str(choice) for choice in get_args(annotation)]
    return re.findall(r"'([^']*)'", str(ctx.get("expected", ""))) or ["?"]


def _schema_at(loc: Loc) -> Any:
    """The type the schema expects at ``loc`` (a model class, Literal, ...), or None."""
    annotation: Any = MassGenConfig
    for part in loc:
        annotation = _unwrap_optional(annotation)
        if isinstance(part, int):
            if get_origin(annotation) is not list:
                return None
            annotation = get_args(annotation)[0]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                return None
            annotation = field.annotation
        else:
            return None
    return _unwrap_optional(annotation)


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
