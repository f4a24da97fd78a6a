"""``massgen --init``: a setup wizard that writes a config (and optionally stores API keys).

Interactive: use case -> number of agents -> provider and model per agent -> strategy and
limits -> the resulting YAML -> where to save -> keys for providers that have none. Every
answer is gathered before anything is written, and every file is written atomically (a temp
file in the same directory, then ``os.replace``), so Ctrl+C at any point leaves nothing
written or half-written. Keys go to ``user_config_dir()/.env`` (mode 0600), never into the
YAML, and are never echoed.

Non-interactive (scripts): ``run_init(non_interactive=True, models=[...], save="NAME")``.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from massgen.errors import ConfigurationError

#: Use case -> (label, personas as (agent id, system message)).
USE_CASES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "general": (
        "General questions",
        (
            ("generalist", "You give clear, accurate, well-rounded answers."),
            ("analyst", "You reason step by step and check each claim before answering."),
            ("critic", "You look for gaps and mistakes in the answers and fix them."),
        ),
    ),
    "research": (
        "Research and analysis",
        (
            ("researcher", "You gather the relevant facts and cite where they come from."),
            ("fact_checker", "You verify every claim and flag anything uncertain."),
            ("synthesizer", "You combine findings into a clear, balanced summary."),
        ),
    ),
    "coding": (
        "Coding",
        (
            ("engineer", "You write correct, idiomatic, well-structured code."),
            ("reviewer", "You review code for bugs, edge cases and readability."),
            ("tester", "You think about how the code could fail and how to test it."),
        ),
    ),
    "creative": (
        "Creative writing",
        (
            ("writer", "You write vivid, original prose with a strong voice."),
            ("editor", "You tighten wording, structure and pacing."),
            ("brainstormer", "You propose surprising ideas and unusual angles."),
        ),
    ),
    "offline": (
        "Offline (local model, no API key)",
        (
            ("concise", "You give short, direct, factual answers."),
            ("explainer", "You explain the answer simply in one or two sentences."),
            ("checker", "You check facts carefully before answering."),
        ),
    ),
}

LOCAL = "local"
#: The wizard's choice for any OpenAI-compatible server the user names by its base URL.
SERVER = "server"
DEFAULT_SERVER_URL = "http://localhost:8000/v1"
#: A server's default port -> the preset written for it (others: ``vllm``, a keyless server).
_SERVER_PORTS = {11434: "ollama", 1234: "lmstudio", 30000: "sglang", 8000: "vllm"}
DEFAULT_AGENTS = 3
MAX_AGENTS = 10
DEFAULT_MAX_NEW_ANSWERS = 3
DEFAULT_TIMEOUT_SECONDS = 600
CONFIG_FILE = "config.yaml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ProviderChoice:
    """A provider offered by the wizard."""

    name: str
    title: str
    key_var: str | None  # the variable its key is read from (None: needs no key)
    has_key: bool
    note: str  # "key found", "no key: set VAR", "not installed", ...

    @property
    def label(self) -> str:
        return f"{self.title} ({self.name}) - {self.note}"


# ------------------------------------------------------------------ pure helpers


def provider_choices(env: Mapping[str, str] | None = None) -> list[ProviderChoice]:
    """The providers to offer: those whose key is set come first ("key found"), then the
    local model (always offered; "not installed" without llama.cpp), then the rest."""
    from massgen.local_model import local_backend_available
    from massgen.providers import DEFAULT_MODELS, PROVIDERS

    env = _known_keys() if env is None else env
    keyed: list[ProviderChoice] = []
    others: list[ProviderChoice] = []
    for name in DEFAULT_MODELS:
        preset = PROVIDERS[name]
        found = next((var for var in preset.key_vars if env.get(var)), None)
        if found:
            keyed.append(ProviderChoice(name, preset.title, found, True, "key found"))
        else:
            var = preset.key_vars[0]
            others.append(ProviderChoice(name, preset.title, var, False, f"no key: set {var}"))
    installed = local_backend_available()
    local = ProviderChoice(
        LOCAL,
        PROVIDERS[LOCAL].title,
        None,
        True,
        "offline, no key" if installed else "offline, no key (not installed)",
    )
    server = ProviderChoice(
        SERVER,
        "OpenAI-compatible server",
        None,
        True,
        "base_url: vLLM, SGLang, LM Studio, Ollama, a gateway...",
    )
    return [*keyed, local, *others, server]


def server_backend(base_url: str, model: str) -> dict[str, Any]:
    """The backend for an OpenAI-compatible server at ``base_url``: the preset of a known
    local server's default port, else ``vllm`` (a Chat Completions server that needs no key,
    so no provider key is sent to it)."""
    from urllib.parse import urlsplit

    try:
        port = urlsplit(base_url).port
    except ValueError:
        port = None
    kind = _SERVER_PORTS.get(port or 0, "vllm")
    return {"type": kind, "model": model, "base_url": base_url}


def default_provider(index: int, use_case: str, keyed: list[str], local_installed: bool) -> str:
    """The provider Enter picks for agent ``index``: one whose key is set (taking turns);
    else the local model when it is installed; else, offline, a server the user names; else
    OpenAI (whose key the wizard then asks for). Never something that cannot run as is."""
    if keyed and use_case != "offline":
        return keyed[index % len(keyed)]
    if local_installed:
        return LOCAL
    return SERVER if use_case == "offline" else "openai"


def _server_url_problem(value: str) -> bool | str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return "enter the server's URL, e.g. http://localhost:8000/v1"
    return True


def build_config(
    use_case: str,
    agents: list[tuple[str, str | None, str | None]],
    *,
    max_new_answers: int = DEFAULT_MAX_NEW_ANSWERS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """The config dict for ``agents`` as ``(provider, model, base_url)`` (model None: the
    provider's default, e.g. the local model's built-in file; base_url: a ``SERVER``'s),
    with personas for ``use_case``."""
    personas = USE_CASES[use_case][1]
    entries = []
    for index, (provider, model, base_url) in enumerate(agents):
        agent_id, message = personas[index % len(personas)]
        if index >= len(personas):
            agent_id = f"{agent_id}-{index // len(personas) + 1}"
        backend: dict[str, Any] = {"type": provider}
        if model:
            backend["model"] = model
        if provider == SERVER:
            backend = server_backend(base_url or "", model or "")
        if provider == LOCAL:
            backend["seed"] = index + 1  # same model, different samples
        entries.append({"id": agent_id, "system_message": message, "backend": backend})
    return {
        "agents": entries,
        "orchestrator": {
            "strategy": "vote",
            "max_new_answers_per_agent": max_new_answers,
            "timeout_seconds": timeout_seconds,
        },
    }


def render_yaml(config: dict[str, Any], header: str = "Created by massgen --init") -> str:
    """YAML text for ``config``, validated (raises ConfigurationError if invalid)."""
    import yaml

    from massgen.config.loader import load_config_text

    text = f"# {header}\n" + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    load_config_text(text, "<generated config>")
    return text


def target_path(save: str | None) -> Path:
    """``user_config_dir()/config.yaml`` for None, else ``user_config_dir()/agents/NAME.yaml``."""
    from massgen.config.resolve import user_config_dir

    if save is None:
        return user_config_dir() / CONFIG_FILE
    name = save.strip().removesuffix(".yaml")
    if not _NAME.match(name):
        raise ConfigurationError(
            f"config name '{save}': use letters, digits, '.', '_' or '-' (e.g. my_team)"
        )
    return user_config_dir() / "agents" / f"{name}.yaml"


def env_file() -> Path:
    from massgen.config.resolve import user_config_dir

    return user_config_dir() / ".env"


def store_key(var: str, value: str, path: Path | None = None) -> Path:
    """Set ``VAR=value`` in the user's ``.env`` (replacing an existing line), atomically,
    keeping the file at mode 0600."""
    value = value.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
        raise ConfigurationError(f"bad variable name '{var}'")
    problem = _key_problem(value)
    if problem:
        raise ConfigurationError(f"{var}: {problem}")
    path = path or env_file()
    old = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(var)}\s*=")
    new_line = f"{var}={value}"
    lines: list[str] = []
    for line in old:
        if not pattern.match(line):
            lines.append(line)
        elif new_line not in lines:
            lines.append(new_line)  # replace the first definition, drop any others
    if new_line not in lines:
        lines.append(new_line)
    write_atomic(path, "\n".join(lines) + "\n", mode=0o600)
    return path


def _key_problem(value: str) -> str | None:
    if not value:
        return "the key is empty"
    if any(ch.isspace() or ch in "\"'#\\$" for ch in value):
        return "a key is one word, without spaces, quotes, '#', '$' or '\\'"
    return None


def write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` via a temp file in the same directory and ``os.replace``:
    an interruption leaves either the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.chmod(path, mode)


def _known_keys() -> dict[str, str]:
    """Provider key variables set in the environment or in the user's ``.env``."""
    from massgen.providers import PROVIDER_KEY_VARS

    found = {var: os.environ[var] for var in PROVIDER_KEY_VARS if os.environ.get(var)}
    path = env_file()
    if path.is_file():
        from dotenv import dotenv_values

        for var, value in dotenv_values(path).items():
            if var in PROVIDER_KEY_VARS and value and var not in found:
                found[var] = value
    return found


def _say(text: str = "") -> None:
    print(text, flush=True)


# ------------------------------------------------------------------ entry point


def run_init(
    *,
    non_interactive: bool = False,
    models: list[str] | None = None,
    save: str | None = None,
    input=None,
    output=None,
) -> Path | None:
    """Create a config. Returns the file written, or None if the user cancelled (nothing
    written)."""
    if non_interactive:
        return _run_non_interactive(models, save)
    try:
        return _Wizard(input, output).run()
    except (KeyboardInterrupt, EOFError):
        _say("\nCancelled: nothing was written.")
        return None


def _run_non_interactive(models: list[str] | None, save: str | None) -> Path:
    path = target_path(save)
    if path.exists():
        other = "another name" if save else "a name (a named config)"
        raise ConfigurationError(
            f"{path} already exists; not overwriting it: choose {other} or remove the file first"
        )
    if models:
        from massgen.config.models import config_for_models

        built = config_for_models(models)
        agents = [
            {"id": a.id, "backend": {"type": a.backend.type, "model": a.backend.model}}
            for a in built.agents
        ]
        config: dict[str, Any] = {"agents": agents}
    else:
        from massgen.providers import DEFAULT_MODELS

        keyed = [c for c in provider_choices() if c.has_key and c.name not in (LOCAL, SERVER)]
        if keyed:
            config = build_config(
                "general", [(c.name, DEFAULT_MODELS[c.name], None) for c in keyed]
            )
        else:
            from massgen.local_model import INSTALL_HINT, local_backend_available

            if not local_backend_available():
                raise ConfigurationError(
                    "no provider key is set and the local model is not installed, so no "
                    f"config could run: set a key (e.g. OPENAI_API_KEY), {INSTALL_HINT}, or "
                    "give --models PROVIDER/MODEL,..."
                )
            config = build_config("offline", [(LOCAL, None, None)] * DEFAULT_AGENTS)
    text = render_yaml(config)
    write_atomic(path, text)
    _say(f"Saved config to {path}")
    _warn_missing_keys(text)
    return path


def cannot_run(text: str, keys: Mapping[str, str] | None = None) -> list[str]:
    """Why the config ``text`` could not run here (``check_can_run`` per agent), with
    ``keys`` (variable -> key) counted as set; empty when it can."""
    from pydantic import SecretStr

    from massgen.backends.registry import check_can_run
    from massgen.config.loader import load_config_text
    from massgen.providers import PROVIDERS

    keys = keys or {}
    config = load_config_text(text, "<config>").config
    problems = []
    for index, agent in enumerate(config.agents):
        backend = agent.backend
        preset = PROVIDERS.get(backend.type)
        given = next((keys[v] for v in (preset.key_vars if preset else ()) if v in keys), None)
        if given and backend.api_key is None:  # a key about to be stored counts as set
            backend = backend.model_copy(update={"api_key": SecretStr(given)})
        try:
            check_can_run(backend, f"agents[{index}] ({agent.id})")
        except ConfigurationError as exc:
            problems.append(str(exc))
    return problems


def _warn_missing_keys(text: str) -> None:
    """Say, per agent, what the saved config still needs before it can run (a key)."""
    from massgen.backends.registry import check_can_run
    from massgen.config.loader import load_config_text

    config = load_config_text(text, "<saved config>").config
    for index, agent in enumerate(config.agents):
        try:
            check_can_run(agent.backend, f"agents[{index}] ({agent.id})")
        except ConfigurationError as exc:
            sys.stderr.write(f"massgen: warning: {exc}; the config cannot run until then\n")


class _Wizard:
    """The interactive flow; every prompt goes through questionary's ``unsafe_ask`` so Ctrl+C
    raises KeyboardInterrupt (handled by :func:`run_init`)."""

    def __init__(self, input: Any = None, output: Any = None) -> None:
        self.io: dict[str, Any] = {}
        if input is not None:
            self.io["input"] = input
        if output is not None:
            self.io["output"] = output

    # prompts
    def select(self, message: str, choices: list[Any], default: Any = None) -> Any:
        import questionary

        return questionary.select(message, choices=choices, default=default, **self.io).unsafe_ask()

    def text(self, message: str, default: str = "", validate: Any = None) -> str:
        import questionary

        kwargs = {"validate": validate} if validate else {}
        return questionary.text(message, default=default, **kwargs, **self.io).unsafe_ask()

    def number(self, message: str, default: int, low: int, high: int) -> int:
        def check(value: str) -> bool | str:
            value = value.strip()
            if value.isdigit() and low <= int(value) <= high:
                return True
            return f"enter a whole number from {low} to {high}"

        return int(self.text(message, str(default), check).strip())

    def confirm(self, message: str, default: bool) -> bool:
        import questionary

        return bool(questionary.confirm(message, default=default, **self.io).unsafe_ask())

    def password(self, message: str) -> str:
        """A hidden prompt: empty, or a key that :func:`store_key` accepts."""
        import questionary

        def check(value: str) -> bool | str:
            value = value.strip()
            return not value or _key_problem(value) or True

        return questionary.password(message, validate=check, **self.io).unsafe_ask() or ""

    # flow
    def run(self) -> Path | None:
        import questionary

        from massgen.providers import DEFAULT_MODELS

        use_case = self.select(
            "What will you use MassGen for?",
            [questionary.Choice(label, value=key) for key, (label, _) in USE_CASES.items()],
            default="general",
        )
        count = self.number("How many agents?", DEFAULT_AGENTS, 1, MAX_AGENTS)

        from massgen.local_model import INSTALL_HINT, local_backend_available

        offered = provider_choices()
        keyed = [c.name for c in offered if c.has_key and c.name not in (LOCAL, SERVER)]
        installed = local_backend_available()
        by_name = {c.name: c for c in offered}
        choices = [questionary.Choice(c.label, value=c.name) for c in offered]
        agents: list[tuple[str, str | None, str | None]] = []
        server_url, server_model = DEFAULT_SERVER_URL, ""
        for index in range(count):
            default = default_provider(index, use_case, keyed, installed)
            provider = self.select(f"Agent {index + 1}: provider", choices, default=default)
            while provider == LOCAL and not installed:
                _say(f"The local model is not installed here: {INSTALL_HINT}.")
                provider = self.select(f"Agent {index + 1}: provider", choices, default=default)
            model: str | None = None
            base_url: str | None = None
            if provider == SERVER:
                base_url = server_url = self.text(
                    f"Agent {index + 1}: server base URL", server_url, _server_url_problem
                ).strip()
                model = server_model = self.text(
                    f"Agent {index + 1}: model (as the server names it)",
                    server_model,
                    lambda v: bool(v.strip()) or "enter the model the server serves",
                ).strip()
            elif provider != LOCAL:
                model = self.text(
                    f"Agent {index + 1}: {by_name[provider].title} model",
                    DEFAULT_MODELS[provider],
                    lambda v: bool(v.strip()) or "enter a model name",
                ).strip()
            agents.append((provider, model, base_url))

        self.select("Coordination strategy", [questionary.Choice("vote", value="vote")], "vote")
        max_new = self.number(
            "Max new answers per agent",
            DEFAULT_MAX_NEW_ANSWERS if use_case != "offline" else 1,
            1,
            100,
        )
        timeout = self.number(
            "Timeout for the whole run (seconds)", DEFAULT_TIMEOUT_SECONDS, 1, 86400
        )

        text = render_yaml(
            build_config(use_case, agents, max_new_answers=max_new, timeout_seconds=timeout)
        )
        _say("\nYour config:\n")
        _say(text)

        from massgen.config.resolve import user_config_dir

        default_path = user_config_dir() / CONFIG_FILE
        where = self.select(
            "Save it as",
            [
                questionary.Choice(f"the default config ({default_path})", value="default"),
                questionary.Choice(
                    f"a named config ({user_config_dir() / 'agents'}/NAME.yaml)", value="named"
                ),
            ],
            default="default",
        )
        save = None
        if where == "named":
            save = self.text("Config name", "my_team", _valid_name).strip()
        path = target_path(save)
        if path.exists() and not self.confirm(f"{path} exists. Overwrite it?", default=False):
            _say("Not overwritten: nothing was written.")
            return None

        keys: dict[str, str] = {}
        env_path = env_file()
        for provider in dict.fromkeys(p for p, _, _ in agents):
            choice = by_name[provider]
            if choice.has_key or choice.key_var is None:
                continue
            if self.confirm(
                f"No {choice.key_var} found. Store a {choice.title} key in {env_path}?",
                default=True,
            ):
                value = self.password(f"{choice.key_var} (input hidden, empty to skip):").strip()
                if value:
                    keys[choice.key_var] = value

        problems = cannot_run(text, keys)
        if problems:  # never save a config that cannot run
            for problem in problems:
                _say(f"Cannot run: {problem}")
            _say("Not saved: nothing was written. Store the key or choose another provider.")
            return None

        write_atomic(path, text)
        _say(f"Saved config to {path}")
        for var, value in keys.items():
            store_key(var, value, env_path)
            _say(f"Stored {var} in {env_path} (mode 0600)")
        run = "massgen" if save is None else f"massgen --config {path.stem}"
        _say(f'Run it: {run} "your question"')
        return path


def _valid_name(value: str) -> bool | str:
    name = value.strip().removesuffix(".yaml")
    return bool(_NAME.match(name)) or "use letters, digits, '.', '_' or '-'"
