"""Maps a config's backend ``type`` to its class, and presets to their endpoint and key.

Only names live here: backend modules (and their SDKs) are imported when a backend is built,
so loading a config stays fast.
"""

from __future__ import annotations

import difflib
import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from massgen.errors import ConfigurationError

if TYPE_CHECKING:
    from massgen.backends.base import Backend
    from massgen.config.schema import BackendConfig


@dataclass(frozen=True)
class Preset:
    """A Chat Completions provider: default endpoint and where its key comes from."""

    name: str
    title: str
    base_url: str
    key_vars: tuple[str, ...] = ()  # empty: a local server that needs no key

    @property
    def needs_key(self) -> bool:
        return bool(self.key_vars)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "chatcompletion", "OpenAI-compatible", "https://api.openai.com/v1", ("OPENAI_API_KEY",)
        ),
        Preset("grok", "xAI Grok", "https://api.x.ai/v1", ("XAI_API_KEY",)),
        Preset("zai", "Z.ai (GLM)", "https://api.z.ai/api/paas/v4", ("ZAI_API_KEY",)),
        Preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",)),
        Preset("groq", "Groq", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",)),
        Preset("together", "Together AI", "https://api.together.xyz/v1", ("TOGETHER_API_KEY",)),
        Preset("cerebras", "Cerebras", "https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",)),
        Preset(
            "fireworks",
            "Fireworks AI",
            "https://api.fireworks.ai/inference/v1",
            ("FIREWORKS_API_KEY",),
        ),
        Preset("lmstudio", "LM Studio", "http://localhost:1234/v1"),
        Preset("vllm", "vLLM", "http://localhost:8000/v1"),
        Preset("sglang", "SGLang", "http://localhost:30000/v1"),
        Preset("ollama", "Ollama", "http://localhost:11434/v1"),
    )
}

#: Providers with their own wire protocol (not Chat Completions presets).
NATIVE: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("openai", "OpenAI", "https://api.openai.com/v1", ("OPENAI_API_KEY",)),
        Preset("azure_openai", "Azure OpenAI", "", ("AZURE_OPENAI_API_KEY",)),
        Preset("claude", "Anthropic Claude", "https://api.anthropic.com", ("ANTHROPIC_API_KEY",)),
        Preset(
            "gemini",
            "Google Gemini",
            "https://generativelanguage.googleapis.com",
            ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        ),
        Preset("local", "local model (llama.cpp)", ""),
    )
}

#: Every backend type: default endpoint and key variables.
PROVIDERS: dict[str, Preset] = {**PRESETS, **NATIVE}

#: A sensible default model per provider (for teams built from keys and the setup wizard).
DEFAULT_MODELS: dict[str, str] = {
    "openai": "gpt-5-mini",
    "claude": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
    "grok": "grok-4-fast",
    "zai": "glm-4.5",
    "openrouter": "openai/gpt-5-mini",
    "groq": "llama-3.3-70b-versatile",
    "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "cerebras": "llama-3.3-70b",
    "fireworks": "accounts/fireworks/models/llama-v3p3-70b-instruct",
}

#: Environment variables that hold a provider key (any of them set means "not offline").
PROVIDER_KEY_VARS: tuple[str, ...] = tuple(
    dict.fromkeys(var for provider in PROVIDERS.values() for var in provider.key_vars)
)

#: type -> "module:Class" for every backend this version can run.
AVAILABLE: dict[str, str] = {
    **{name: "massgen.backends.chat_completions:ChatCompletionsBackend" for name in PRESETS},
    "openai": "massgen.backends.openai_responses:ResponsesBackend",
    "azure_openai": "massgen.backends.azure_openai:AzureOpenAIBackend",
    "claude": "massgen.backends.claude:ClaudeBackend",
    "gemini": "massgen.backends.gemini:GeminiBackend",
    "local": "massgen.backends.local:LocalBackend",
}

#: Types from the design that this version does not run yet (named so typos get suggestions
#: and users get a clear message instead of "unknown").
PLANNED: tuple[str, ...] = ()


#: Names people often write for a type.
ALIASES: dict[str, str] = {
    "gpt": "openai",
    "chatgpt": "openai",
    "responses": "openai",
    "azure": "azure_openai",
    "anthropic": "claude",
    "google": "gemini",
    "xai": "grok",
    "openai_compatible": "chatcompletion",
    "chat_completions": "chatcompletion",
    "llamacpp": "local",
    "llama_cpp": "local",
}


def check_backend_type(name: str) -> None:
    """Raise ``ValueError`` (the schema turns it into a located config error) for a type this
    version cannot run, suggesting the closest known name."""
    if name in AVAILABLE:
        return
    if name in PLANNED:
        raise ValueError(
            f"backend '{name}' is not available in this version "
            f"(available: {', '.join(sorted(AVAILABLE))})"
        )
    alias = ALIASES.get(name.lower().replace("-", "_"))
    close = (
        [alias]
        if alias
        else difflib.get_close_matches(name, [*AVAILABLE, *PLANNED], n=1, cutoff=0.6)
    )
    hint = (
        f" (did you mean '{close[0]}'?)"
        if close
        else f" (choose from: {', '.join(sorted(AVAILABLE))})"
    )
    raise ValueError(f"unknown backend '{name}'{hint}")


def resolve_api_key(config: BackendConfig, where: str = "") -> str | None:
    """The key for ``config``: its ``api_key``, else the provider's environment variable.

    Raises :class:`ConfigurationError` naming the variable when a key is required and missing.
    Local servers, the local model, and any custom ``base_url`` (a proxy or gateway) may run
    without one.
    """
    if config.api_key is not None and config.api_key.get_secret_value():
        return config.api_key.get_secret_value()
    preset = PROVIDERS.get(config.type)
    if preset is None:
        return None
    for var in preset.key_vars:
        if os.environ.get(var):
            return os.environ[var]
    # a proxy or gateway in place of the provider's own endpoint may not need the key
    # (Azure has no default endpoint: its base_url is the resource, which always does)
    custom_endpoint = (
        bool(preset.base_url)
        and config.base_url is not None
        and config.base_url.rstrip("/") != preset.base_url
    )
    if not preset.needs_key or custom_endpoint:
        return None
    prefix = f"{where}: " if where else ""
    raise ConfigurationError(
        f"{prefix}no API key for {preset.title}: set {preset.key_vars[0]} "
        f"(in the environment or a .env file) or backend.api_key"
    )


def check_can_run(config: BackendConfig, where: str = "") -> None:
    """What ``--validate`` checks before a run: the key, and what the backend itself needs
    on this machine (an optional extra, a model file). Raises :class:`ConfigurationError`."""
    resolve_api_key(config, where)
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
