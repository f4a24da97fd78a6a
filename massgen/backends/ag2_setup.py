"""What an ``ag2`` agent needs, checked without importing AG2: its endpoints and keys, the
installed extra, and a sandbox for the code it writes."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from massgen.errors import ConfigurationError

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig

OPENAI_URL = "https://api.openai.com/v1"
EXTRA_HINT = "the ag2 backend needs AG2: pip install 'massgen[ag2]'"


@dataclass(frozen=True)
class Endpoint:
    """One ``config_list`` entry resolved as the OpenAI SDK would: ``base_url``, else
    ``OPENAI_BASE_URL``, else OpenAI; ``api_key``, else ``OPENAI_API_KEY``."""

    model: str
    base_url: str
    api_key: str | None


def endpoints(config: BackendConfig, where: str = "") -> list[Endpoint]:
    """The agent's endpoints; a missing key for OpenAI's own endpoint is one clear line."""
    assert config.llm_config is not None  # the schema requires it for ag2
    prefix = f"{where}: " if where else ""
    found = []
    for index, entry in enumerate(config.llm_config.config_list):
        url = entry.base_url or os.environ.get("OPENAI_BASE_URL", "").strip() or OPENAI_URL
        key = entry.api_key.get_secret_value() if entry.api_key else None
        key = key or os.environ.get("OPENAI_API_KEY") or None
        if key is None and url.rstrip("/") == OPENAI_URL:
            raise ConfigurationError(
                f"{prefix}llm_config.config_list[{index}] ({entry.model}): no API key for "
                "OpenAI: set OPENAI_API_KEY (in the environment or a .env file) or its api_key"
            )
        found.append(Endpoint(entry.model, url, key))
    return found


def check_ag2(config: BackendConfig, where: str = "") -> None:
    """``--validate``'s checks for ag2: keys, the extra, and where its code would run."""
    endpoints(config, where)
    prefix = f"{where}: " if where else ""
    if not ag2_installed():
        raise ConfigurationError(prefix + EXTRA_HINT)
    problem = code_problem(config)
    if problem:
        raise ConfigurationError(prefix + problem)


def ag2_installed() -> bool:
    """Whether AG2's classic API (the ``autogen`` package of ``ag2`` 0.x) can be imported."""
    return importlib.util.find_spec("autogen") is not None


def code_problem(config: BackendConfig) -> str | None:
    """Why the configured code executor cannot run here, or None."""
    code = config.code_execution_config
    if not code:
        return None
    from massgen.tools.commands import bubblewrap_works, docker_problem

    if code.executor == "docker":
        problem = docker_problem()
        return f"code_execution_config.executor docker: {problem}" if problem else None
    problem = bubblewrap_works()
    if problem:
        return f"code_execution_config.executor local runs code in a bubblewrap sandbox: {problem}"
    return None
