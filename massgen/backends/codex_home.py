"""A ``codex`` agent's own Codex home: the CLI found, its ``config.toml`` written.

Codex reads its settings, keeps its state and looks for instructions, skills and sign-ins
under ``CODEX_HOME`` (default ``~/.codex``). massgen never touches the user's: each ``codex``
agent gets a private folder (mode 0700, removed when the run ends) whose ``config.toml`` says

* which endpoint answers: a model provider of massgen's own (``base_url``, ``wire_api =
  "responses"``, ``env_key``, ``supports_websockets = false``; Codex 0.171 ignores
  ``OPENAI_BASE_URL`` alone), the key reaching it through that variable only;
* which tools it has: massgen's, through the stdio MCP server
  :mod:`massgen.backends.codex_bridge`; its own shell, image viewer, web search, sub-agents,
  plugins, hooks, memories and goals are off, so every file and command goes through massgen;
* and that it asks nobody for approval, runs no update check and sends no analytics.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import massgen

#: Where massgen looks for the CLI when ``codex`` is not on PATH (``npm install --prefix``).
BINARY_VAR = "MASSGEN_CODEX_BIN"
#: The variable the key reaches Codex through (named as ``env_key`` in its config).
KEY_VAR = "MASSGEN_CODEX_API_KEY"
#: The model provider and MCP server names massgen gives Codex.
PROVIDER = SERVER = "massgen"
INSTALL = "npm install -g @openai/codex (or set MASSGEN_CODEX_BIN to its codex binary)"

#: Codex features that would act outside massgen's rules or reach other services.
FEATURES_OFF = (
    "shell_tool",
    "goals",
    "apps",
    "plugins",
    "memories",
    "hooks",
    "image_generation",
    "view_image",
    "browser_use",
    "computer_use",
    "in_app_browser",
)


def find_codex() -> str | None:
    """The Codex CLI to run: ``MASSGEN_CODEX_BIN``, else ``codex`` on PATH, else None."""
    given = os.environ.get(BINARY_VAR)
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("codex")


def codex_problem() -> str | None:
    """None when the Codex CLI can be found, else the line saying how to get it."""
    if os.environ.get(BINARY_VAR) and find_codex() is None:
        return f"codex needs the Codex CLI: {BINARY_VAR}={os.environ[BINARY_VAR]} is not executable"
    if find_codex() is None:
        return f"codex needs the Codex CLI (not found on PATH): {INSTALL}"
    return None


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (JSON's escapes are TOML's; DEL must be escaped)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


@dataclass
class HomeSettings:
    """What one call's ``config.toml`` says."""

    model: str
    base_url: str
    instructions: str
    socket_path: Path
    max_retries: int
    timeout: float
    tool_timeout: float


def config_text(settings: HomeSettings) -> str:
    """The ``config.toml`` of an agent's Codex home for one call."""
    q = toml_string
    package_root = str(Path(massgen.__file__).resolve().parents[1])
    bridge_env = {"PYTHONPATH": package_root, "PYTHONDONTWRITEBYTECODE": "1"}
    lines = [
        f"model = {q(settings.model)}",
        f"model_provider = {q(PROVIDER)}",
        'approval_policy = "never"',
        'sandbox_mode = "read-only"',
        'web_search = "disabled"',
        'model_reasoning_summary = "auto"',
        "check_for_update_on_startup = false",
        f"developer_instructions = {q(settings.instructions)}",
        "",
        "[features]",
        *(f"{name} = false" for name in FEATURES_OFF),
        "",
        "[agents]",
        "enabled = false",
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[feedback]",
        "enabled = false",
        "",
        "[history]",
        'persistence = "none"',
        "",
        f"[model_providers.{PROVIDER}]",
        f"name = {q(PROVIDER)}",
        f"base_url = {q(settings.base_url)}",
        'wire_api = "responses"',
        f"env_key = {q(KEY_VAR)}",
        "supports_websockets = false",
        f"request_max_retries = {settings.max_retries}",
        f"stream_max_retries = {settings.max_retries}",
        f"stream_idle_timeout_ms = {int(settings.timeout * 1000)}",
        "",
        f"[mcp_servers.{SERVER}]",
        f"command = {q(sys.executable)}",
        f"args = [{q('-m')}, {q('massgen.backends.codex_bridge')}, {q(str(settings.socket_path))}]",
        "env = { " + ", ".join(f"{k} = {q(v)}" for k, v in bridge_env.items()) + " }",
        "required = true",
        'default_tools_approval_mode = "approve"',
        "startup_timeout_sec = 30",
        f"tool_timeout_sec = {int(settings.tool_timeout)}",
        "",
    ]
    return "\n".join(lines)


def write_config(home: Path, settings: HomeSettings) -> Path:
    """Write ``home/config.toml`` (readable by massgen's user only); returns its path."""
    path = home / "config.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(config_text(settings))
    return path
