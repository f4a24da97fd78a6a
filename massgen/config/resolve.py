"""Find configs: ``--config X`` resolution, the built-in examples and the user config dir.

Imports nothing heavy (no yaml, no pydantic) so ``massgen --list-examples`` stays fast.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.errors import ConfigurationError

if TYPE_CHECKING:
    from massgen.config.schema import MassGenConfig

EXAMPLES_PREFIX = "@examples/"
_SUFFIX = ".yaml"


@dataclass(frozen=True)
class Example:
    """A built-in config: ``name`` like ``basic/multi/three_agents_default``."""

    name: str
    description: str
    path: Path


def examples_dir() -> Path:
    """The built-in configs: ``massgen/configs`` in a wheel, the repo's ``configs/`` otherwise."""
    package = Path(__file__).resolve().parent.parent
    inside = package / "configs"
    return inside if inside.is_dir() else package.parent / "configs"


def user_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/massgen``, else ``~/.config/massgen``."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "massgen"


def list_examples() -> list[Example]:
    """Every built-in example, sorted by name."""
    root = examples_dir()
    if not root.is_dir():
        return []
    found = []
    for path in root.rglob(f"*{_SUFFIX}"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        name = relative.with_suffix("").as_posix()
        found.append(Example(name, _description(path), path))
    return sorted(found, key=lambda example: example.name)


def _description(path: Path) -> str:
    """The header's first sentence, without ``#``: the first comment line, joined with the
    next ones while it was wrapped mid-sentence (a long line that does not end one)."""
    parts: list[str] = []
    try:
        with path.open(encoding="utf-8-sig") as file:
            for line in file:
                text = line.strip()
                if text and not text.startswith("#"):
                    break
                body = text.lstrip("#").strip()
                if not body:
                    if parts:
                        break
                    continue
                parts.append(body)
                if body.endswith((".", "!", "?", ")")) or len(text) < _WRAPPED:
                    break
    except (OSError, UnicodeDecodeError):
        pass
    return _first_sentence(" ".join(parts))


#: A header line at least this long that ends mid-sentence was wrapped: the next line goes on.
_WRAPPED = 60
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)[.!?](?=\s+[A-Z`'\"(])")


def _first_sentence(text: str) -> str:
    """``text`` up to the end of its first sentence."""
    end = _SENTENCE_END.search(text)
    return text[: end.end()] if end else text


def find_example(name: str) -> Path:
    """The built-in example called ``name`` (``@examples/`` prefix and ``.yaml`` optional)."""
    path = _match_example(name.removeprefix(EXAMPLES_PREFIX))
    if path is None:
        raise ConfigurationError(_not_found(name, "no built-in example"))
    return path


def example_text(name: str) -> str:
    """The YAML text of a built-in example, for ``massgen --example NAME``."""
    return find_example(name).read_text(encoding="utf-8")


def resolve_config(name: str) -> Path:
    """Resolve ``--config NAME`` (docs/architecture.md, "Config"): an existing file; then
    ``@examples/NAME`` or a
    built-in example's full or last-component name; then ``NAME[.yaml]`` under
    ``user_config_dir()/agents/``."""
    if not name.strip():
        raise ConfigurationError("--config: empty config name")
    as_path = Path(name).expanduser()
    if as_path.is_file():
        return as_path
    if name.startswith(EXAMPLES_PREFIX):
        return find_example(name)
    example = _match_example(name)
    if example is not None:
        return example
    agents = user_config_dir() / "agents"
    for candidate in (agents / name, agents / f"{name}{_SUFFIX}"):
        if candidate.is_file():
            return candidate
    if as_path.is_dir():
        raise ConfigurationError(f"{name}: is a directory, not a config file")
    raise ConfigurationError(
        _not_found(name, f"not a file, not a built-in example, not in {_display(agents)}")
    )


def _match_example(name: str) -> Path | None:
    """Exact full name first, then a unique match on the trailing path components."""
    wanted = name.strip().strip("/").removesuffix(_SUFFIX)
    if not wanted:
        return None
    examples = list_examples()
    for example in examples:
        if example.name == wanted:
            return example.path
    matches = [example for example in examples if example.name.endswith(f"/{wanted}")]
    if len(matches) > 1:
        names = ", ".join(example.name for example in matches)
        raise ConfigurationError(f"'{name}' matches several examples: {names}; use the full name")
    return matches[0].path if matches else None


def _not_found(name: str, what: str) -> str:
    import difflib

    bare = name.removeprefix(EXAMPLES_PREFIX).removesuffix(_SUFFIX)
    names = [example.name for example in list_examples()]
    short = {n.rsplit("/", 1)[-1] for n in names}
    unique_short = {s for s in short if sum(n.rsplit("/", 1)[-1] == s for n in names) == 1}
    close = difflib.get_close_matches(bare, [*names, *unique_short], n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (
        f"config '{name}' not found: {what}{hint}; "
        "run 'massgen --list-examples' to see the built-in examples"
    )


def _display(path: Path) -> str:
    """``path`` with the home directory shown as ``~``."""
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


#: The built-in team used when there is no config and no provider key (docs/architecture.md).
LOCAL_TEAM = "basic/multi/three_agents_local"


@dataclass(frozen=True)
class DefaultConfig:
    """What runs without ``--config``: a file, or a config built from the keys that are set
    (``data``), and a notice for the user (or None)."""

    path: Path | None = None
    data: dict | None = None
    notice: str | None = None


#: Personas for a team built from keys, so agents on the same model still differ.
_PERSONAS = (
    "You answer directly and concisely.",
    "You are thorough: cover the important details and caveats.",
    "You are a careful critic: check facts and reasoning before answering.",
)
#: Providers a team from keys can use (Azure needs an endpoint and deployment; the generic
#: chatcompletion type shares OpenAI's key).
_TEAM_PROVIDERS = (
    "openai",
    "claude",
    "gemini",
    "grok",
    "zai",
    "openrouter",
    "groq",
    "together",
    "cerebras",
    "fireworks",
)


def team_from_keys(team_size: int = 3) -> dict | None:
    """A config with one agent per provider whose key is set (cycling through them up to
    ``team_size`` agents), or None when no key is set."""
    from massgen.providers import DEFAULT_MODELS, PROVIDERS

    providers = [
        name
        for name in _TEAM_PROVIDERS
        if any(os.environ.get(var) for var in PROVIDERS[name].key_vars)
    ]
    if not providers:
        return None
    count = max(team_size, len(providers))
    agents = []
    for index in range(count):
        provider = providers[index % len(providers)]
        agents.append(
            {
                "id": f"{provider}{index // len(providers) + 1}",
                "system_message": _PERSONAS[index % len(_PERSONAS)],
                "backend": {"type": provider, "model": DEFAULT_MODELS[provider]},
            }
        )
    return {"agents": agents}


def resolve_default() -> DefaultConfig:
    """No ``--config`` (docs/architecture.md, "Config"): ``user_config_dir()/config.yaml``;
    else a team built from
    whichever provider keys are set; else the built-in local team on the embedded model."""
    default = user_config_dir() / "config.yaml"
    if default.is_file():
        return DefaultConfig(default)
    team = team_from_keys()
    if team is not None:
        names = ", ".join(
            f"{a['id']} ({a['backend']['type']}/{a['backend']['model']})" for a in team["agents"]
        )
        return DefaultConfig(
            data=team,
            notice=f"no config file: using a team from the keys that are set: {names}; "
            "run massgen --init to choose your own",
        )
    from massgen.local_model import INSTALL_HINT, local_backend_available

    if not local_backend_available():
        raise ConfigurationError(
            "no config and no API key: to run offline on the built-in local model, "
            f"{INSTALL_HINT}; or set a provider key (e.g. OPENAI_API_KEY), or run massgen --init"
        )
    return DefaultConfig(
        find_example(LOCAL_TEAM),
        notice="no config or API key found: a small local model (SmolLM2-135M) is answering; "
        "for real providers run massgen --init",
    )


def list_user_configs() -> list[Example]:
    """The user's named configs (``user_config_dir()/agents/*.yaml``), sorted by name."""
    agents = user_config_dir() / "agents"
    if not agents.is_dir():
        return []
    return sorted(
        (Example(p.stem, _description(p), p) for p in agents.glob(f"*{_SUFFIX}") if p.is_file()),
        key=lambda example: example.name,
    )


#: Where a team built from the keys that are set comes from (a run's ``config_used``).
TEAM_FROM_KEYS = "team from your keys"


def resolve_team(
    config: str | Path | Mapping[str, Any] | None = None,
    models: Sequence[str] | None = None,
    *,
    notice: Callable[[str], object] | None = None,
) -> tuple[MassGenConfig, str]:
    """The team to run and where it came from (docs/architecture.md, "Config"): ``config``
    (a file, a built-in or saved name, or a dict), else one agent per model of ``models``,
    else the default (:func:`resolve_default`), whose message for the user goes to
    ``notice``. Every surface resolves its team here: the CLI, the Python API, the server."""
    from massgen.config.loader import load_config, load_config_dict

    if config is not None and models is not None:
        raise ConfigurationError("give either a config or models, not both")
    if isinstance(config, Mapping):
        return load_config_dict(dict(config)).config, "<dict>"
    if config is not None:
        path = resolve_config(str(config))
        return load_config(path).config, str(path)
    if models is not None:
        from massgen.config.models import config_for_models

        return config_for_models(list(models)), ",".join(models)
    default = resolve_default()
    if default.notice and notice is not None:
        notice(default.notice)
    if default.data is not None:
        return load_config_dict(default.data, TEAM_FROM_KEYS).config, TEAM_FROM_KEYS
    assert default.path is not None
    return load_config(default.path).config, str(default.path)


def add_context(config: MassGenConfig, specs: Sequence[str]) -> None:
    """``--context PATH[:write]`` as context path grants (read unless ``:write``)."""
    from massgen.config.schema import ContextPathConfig

    for spec in specs:
        path, permission = spec, "read"
        if spec.endswith((":write", ":read")):
            path, _, permission = spec.rpartition(":")
        if not path.strip():
            raise ConfigurationError(f"--context {spec!r}: give a path, e.g. --context ./src:write")
        full = os.path.abspath(os.path.expanduser(path))
        config.orchestrator.context_paths.append(
            ContextPathConfig(path=full, permission=permission)  # type: ignore[arg-type]
        )
