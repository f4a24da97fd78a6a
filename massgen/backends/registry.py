"""Builds the backend for a config (:func:`create_backend`), finds its key
(:func:`resolve_api_key`) and checks that it can run here (:func:`check_can_run`).

The providers' facts (endpoints, key variables, which class runs each type) live in
:mod:`massgen.providers`. Backend modules (and their SDKs) are imported only when a backend is
built or checked, so loading a config stays fast.
"""

from __future__ import annotations

import importlib
import os
import shutil
from typing import TYPE_CHECKING, Any

from massgen.errors import ConfigurationError
from massgen.providers import AVAILABLE, PROVIDERS, endpoint

if TYPE_CHECKING:
    from massgen.backends.base import Backend
    from massgen.config.schema import BackendConfig


def resolve_api_key(config: BackendConfig, where: str = "") -> str | None:
    """The key for ``config``: its ``api_key``, else the provider's environment variable.

    Raises :class:`ConfigurationError` naming the variable when a key is required and missing.
    Local servers, the local model, and any custom ``base_url`` (a proxy or gateway) may run
    without one.
    """
    if config.api_key is not None and config.api_key.get_secret_value():
        return config.api_key.get_secret_value()
    if config.type == "ag2":  # a key per llm_config.config_list entry
        from massgen.backends.ag2_setup import endpoints

        endpoints(config, where)
        return None
    preset = PROVIDERS.get(config.type)
    if preset is None:
        return None
    for var in preset.key_vars:
        if os.environ.get(var):
            return os.environ[var]
    # a proxy or gateway in place of the provider's own endpoint may not need the key
    # (Azure has no default endpoint: its base_url is the resource, which always does)
    url, _ = endpoint(config)
    custom_endpoint = bool(preset.base_url) and url.rstrip("/") != preset.base_url
    if not preset.needs_key or custom_endpoint:
        return None
    prefix = f"{where}: " if where else ""
    raise ConfigurationError(
        f"{prefix}no API key for {preset.title}: set {preset.key_vars[0]} "
        f"(in the environment or a .env file) or backend.api_key"
    )


def _path_for(server: Any) -> str | None:
    return server.env.get("PATH") or os.environ.get("PATH")


def check_can_run(config: BackendConfig, where: str = "") -> None:
    """What ``--validate`` checks before a run: the key, and what the backend itself needs
    on this machine (an optional extra, a model file). Raises :class:`ConfigurationError`."""
    resolve_api_key(config, where)
    prefix = f"{where}: " if where else ""
    if config.custom_tools:
        from massgen.tools.custom import load_custom_tools

        load_custom_tools(config.custom_tools, where or "backend")
    for index, server in enumerate(config.mcp_servers):
        at = f"{prefix}mcp_servers[{index}] ({server.name})"
        if (
            server.type == "stdio"
            and shutil.which(server.command or "", path=_path_for(server)) is None
        ):
            raise ConfigurationError(
                f"{at}: command '{server.command}' not found on PATH; install it or give its "
                "full path"
            )
        if server.cwd and not os.path.isdir(os.path.expanduser(server.cwd)):
            raise ConfigurationError(f"{at}: cwd {server.cwd} is not a directory")
    if config.type == "claude_code":
        from massgen.backends.claude_code import sdk_problem

        problem = sdk_problem()
        if problem:
            raise ConfigurationError(f"{prefix}{problem}")
    if config.type == "codex":
        from massgen.backends.codex_home import codex_problem

        problem = codex_problem()
        if problem:
            raise ConfigurationError(f"{prefix}{problem}")
    if config.type == "ag2":
        from massgen.backends.ag2_setup import check_ag2

        check_ag2(config, where)
    if config.type == "local":
        from massgen.backends.local import model_file

        try:
            model_file(config)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}" if where else str(exc)) from None


def create_backend(config: BackendConfig, where: str = "") -> Backend:
    """Build the backend for ``config``; ``where`` (e.g. ``agents[0]``) prefixes errors."""
    module_name, _, class_name = AVAILABLE[config.type].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(config, api_key=resolve_api_key(config, where))
