"""The providers massgen can talk to, as data: who each is, and what each honours.

Endpoints and key variables (:data:`PROVIDERS`), default models, the names people write for a
type (:data:`ALIASES`), and which backend options each type honours (:data:`OPTIONS`,
:func:`option_problem`). This is *who* massgen talks to; :mod:`massgen.backends` is *how*
(one module per wire protocol). Nothing here imports an SDK, a tool or the config: the config's
validators call it with the backend's settings (:class:`BackendSettings`). See
docs/architecture.md.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class ReasoningSettings(Protocol):
    """What :func:`option_problem` reads of a backend's ``reasoning`` settings."""

    @property
    def summary(self) -> str | None: ...


class BackendSettings(Protocol):
    """What this module reads of a backend's config (``massgen.config.schema.BackendConfig``);
    the options of :data:`OPTIONS` are read by name."""

    @property
    def type(self) -> str: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def workflow_mode(self) -> str: ...
    @property
    def reasoning(self) -> ReasoningSettings | None: ...
    @property
    def safety_settings(self) -> Mapping[str, str] | None: ...
    @property
    def allowed_tools(self) -> Sequence[str] | None: ...
    @property
    def disallowed_tools(self) -> Sequence[str] | None: ...
    @property
    def llm_config(self) -> object | None: ...


@dataclass(frozen=True)
class Preset:
    """A Chat Completions provider: default endpoint and where its key comes from."""

    name: str
    title: str
    base_url: str
    key_vars: tuple[str, ...] = ()  # empty: a local server that needs no key
    #: The variable the provider's own SDK reads for its endpoint (``OPENAI_BASE_URL``).
    url_var: str | None = None
    #: Runs without a key too (Claude Code signs in with a Claude subscription).
    key_optional: bool = False

    @property
    def needs_key(self) -> bool:
        return bool(self.key_vars) and not self.key_optional


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "chatcompletion",
            "OpenAI-compatible",
            "https://api.openai.com/v1",
            ("OPENAI_API_KEY",),
            "OPENAI_BASE_URL",
        ),
        Preset("grok", "xAI Grok", "https://api.x.ai/v1", ("XAI_API_KEY",), "XAI_BASE_URL"),
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
        Preset(
            "openai",
            "OpenAI",
            "https://api.openai.com/v1",
            ("OPENAI_API_KEY",),
            "OPENAI_BASE_URL",
        ),
        Preset(
            "azure_openai", "Azure OpenAI", "", ("AZURE_OPENAI_API_KEY",), "AZURE_OPENAI_ENDPOINT"
        ),
        Preset(
            "claude",
            "Anthropic Claude",
            "https://api.anthropic.com",
            ("ANTHROPIC_API_KEY",),
            "ANTHROPIC_BASE_URL",
        ),
        Preset(
            "gemini",
            "Google Gemini",
            "https://generativelanguage.googleapis.com",
            ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
            "GOOGLE_GEMINI_BASE_URL",
        ),
        Preset("local", "local model (llama.cpp)", ""),
        Preset(
            "claude_code",
            "Claude Code",
            "https://api.anthropic.com",
            ("CLAUDE_CODE_API_KEY", "ANTHROPIC_API_KEY"),
            "ANTHROPIC_BASE_URL",
            key_optional=True,
        ),
        Preset(
            "codex",
            "OpenAI Codex",
            "https://api.openai.com/v1",
            ("CODEX_API_KEY", "OPENAI_API_KEY"),
            "OPENAI_BASE_URL",
        ),
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
    "claude_code": "massgen.backends.claude_code:ClaudeCodeBackend",
    "codex": "massgen.backends.codex:CodexBackend",
    "ag2": "massgen.backends.ag2:AG2Backend",
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
    "claude_agent": "claude_code",
    "claude_agent_sdk": "claude_code",
    "google": "gemini",
    "xai": "grok",
    "openai_compatible": "chatcompletion",
    "chat_completions": "chatcompletion",
    "llamacpp": "local",
    "llama_cpp": "local",
}


#: Chat Completions presets that talk to a server the user runs (any sampling extension goes).
LOCAL_SERVERS = frozenset({"vllm", "sglang", "lmstudio", "ollama"})


#: Agent frameworks that run their own tool loop (``Backend.runs_own_loop``).
OWN_LOOP = frozenset({"claude_code", "codex", "ag2"})


@dataclass(frozen=True)
class Option:
    """Which backend types honour a backend option, and what to say elsewhere (``{kind}`` is
    the backend's type)."""

    types: frozenset[str]
    elsewhere: str


_CHAT = frozenset(PRESETS)  # chatcompletion and its presets
_SERVERS = frozenset({"chatcompletion", *LOCAL_SERVERS})
_SAMPLED = frozenset({*PRESETS, *NATIVE}) - {"claude_code", "codex"}  # ag2: in its llm_config
_CODE = frozenset({"openai", "claude", "gemini"})
_CODE_ELSEWHERE = "{kind} has no code sandbox of its own (openai, claude and gemini do){hint}"

#: Every backend option that only some providers honour: where it applies, and the reason
#: given when a config sets it anywhere else. Checked when a config loads
#: (:func:`option_problem`); tests/backends/test_options_on_the_wire.py sends each of them
#: and finds it in the request.
OPTIONS: dict[str, Option] = {
    "temperature": Option(_SAMPLED, "{kind} sets its own sampling; leave it out"),
    "top_p": Option(_SAMPLED, "{kind} sets its own sampling; leave it out"),
    "max_tokens": Option(_SAMPLED, "{kind} chooses its own output length; leave it out"),
    "seed": Option(
        _CHAT | {"azure_openai", "gemini", "local"},
        "the {kind} API has no sampling seed; repeated calls differ by sampling "
        "(temperature){hint}",
    ),
    "top_k": Option(
        _CHAT | {"claude", "gemini", "local"},
        "{kind} has no top-k sampling; use temperature or top_p",
    ),
    "repetition_penalty": Option(
        _SERVERS | {"local"},
        "{kind} has no repetition penalty; it is for self-hosted servers (vllm, sglang, "
        "lmstudio, ollama, chatcompletion with a base_url) and local",
    ),
    "separate_reasoning": Option(_SERVERS, "an SGLang option; {kind} streams reasoning on its own"),
    "extra_body": Option(
        _CHAT, "only for OpenAI-compatible servers (chatcompletion and its presets), not {kind}"
    ),
    "vision": Option(
        _CHAT, "only for OpenAI-compatible servers; {kind} knows whether its models see images"
    ),
    "parallel_requests": Option(_CHAT, "only for OpenAI-compatible servers, not {kind}"),
    "prompt_cache": Option(
        _CHAT | {"openai", "azure_openai", "claude"},
        "prompt_cache is for claude and OpenAI-compatible APIs, not {kind} (gemini caches "
        "repeated prompts by itself)",
    ),
    "self_hosted": Option(
        _CHAT, "only for OpenAI-compatible servers; {kind} is priced by its model"
    ),
    "port": Option(
        LOCAL_SERVERS,
        f"only for local servers ({', '.join(sorted(LOCAL_SERVERS))}); use base_url for others",
    ),
    "safety_settings": Option(
        frozenset({"gemini"}), "a Gemini option; {kind} has its own moderation"
    ),
    "reasoning": Option(
        _CHAT | {"openai", "azure_openai"},
        "an OpenAI option (effort, summary); for claude and gemini use thinking_budget",
    ),
    "text": Option(
        _CHAT | {"openai", "azure_openai"}, "an OpenAI option (text.verbosity); {kind} has none"
    ),
    "thinking_budget": Option(
        frozenset({"claude", "gemini", "claude_code"}),
        "a Claude and Gemini option; for OpenAI models use reasoning.effort",
    ),
    "deployment_name": Option(frozenset({"azure_openai"}), "an azure_openai option"),
    "api_version": Option(frozenset({"azure_openai"}), "an azure_openai option"),
    "enable_web_search": Option(
        frozenset({"openai", "claude", "gemini", "grok"}),
        "{kind} has no web search of its own (openai, claude, gemini and grok do)",
    ),
    "enable_code_execution": Option(_CODE, _CODE_ELSEWHERE),
    "enable_code_interpreter": Option(_CODE, _CODE_ELSEWHERE),
    "model_path": Option(frozenset({"local"}), "a local option; {kind} names its model"),
    "n_ctx": Option(frozenset({"local"}), "a local option; {kind}'s server sets its context"),
    "n_threads": Option(frozenset({"local"}), "a local option; {kind} runs elsewhere"),
    "cwd": Option(
        frozenset({"claude_code", "codex"}),
        "a claude_code and codex option; {kind} has no tools of its own",
    ),
    **{
        name: Option(
            frozenset({"claude_code"}), "a claude_code option; {kind} has no tools of its own"
        )
        for name in ("allowed_tools", "disallowed_tools", "max_turns")
    },
    **{
        name: Option(frozenset({"ag2"}), "an ag2 option; {kind} does not take it")
        for name in ("agent_type", "llm_config", "code_execution_config")
    },
}


def applies_to(name: str) -> str:
    """Where backend option ``name`` applies, in words (the README's options table uses them;
    tests/docs checks it against :data:`OPTIONS`)."""

    def listed(types: set[str]) -> str:
        words = []
        for group, label in (
            (_CHAT, "chatcompletion and its presets"),
            (LOCAL_SERVERS, "vllm, sglang, lmstudio, ollama"),
        ):
            if group <= types:
                words.append(label)
                types = types - group
        return ", ".join([*words, *sorted(types)])

    types = set(OPTIONS[name].types)
    named = listed(types)
    unnamed = "every type but " + listed(set(AVAILABLE) - types)
    return min(named, unnamed, key=len)


#: Stop sequences, which a run sends on its final answer's call only
#: (``orchestrator.final_answer_stop``, a server request's ``stop``).
STOP = Option(
    _CHAT | {"azure_openai", "claude", "gemini", "local"},
    "the {kind} API has no stop sequences (chatcompletion and its presets, azure_openai, "
    "claude, gemini and local have them)",
)

_AZURE_HINT = (
    "; for Azure's, use type openai with base_url https://RESOURCE.openai.azure.com/openai/v1"
)


_OPENAI_SEED_HINT = (
    "; type chatcompletion reaches OpenAI's models through Chat Completions, which takes one"
)

#: Sampling options of the agent frameworks, which choose their own (or take them elsewhere).
_OWN_SAMPLING = {
    "claude_code": "Claude Code chooses its own sampling and output length; leave it out",
    "codex": "Codex chooses its own sampling and output length; leave it out",
    "ag2": "for ag2, give it in llm_config",
}


def _elsewhere(kind: str, name: str, option: Option) -> str:
    """What to say about option ``name`` on a ``kind`` backend, which does not honour it."""
    sampling = ("temperature", "top_p", "max_tokens", "top_k", "seed")
    if name in sampling and (
        kind in ("claude_code", "codex") or (kind == "ag2" and name != "top_k")
    ):
        return _OWN_SAMPLING[kind]
    hint = _AZURE_HINT if kind == "azure_openai" else ""
    if kind == "openai" and name == "seed":
        hint = _OPENAI_SEED_HINT
    if kind == "ag2" and name.startswith("enable_code"):
        hint = "; an ag2 agent runs its code with code_execution_config"
    return option.elsewhere.format(kind=kind, hint=hint)


def refusal(kind: str, name: str) -> str | None:
    """Why a ``kind`` backend cannot honour option ``name`` (one of :data:`OPTIONS`, or
    ``stop``: :data:`STOP`), or None when it can."""
    option = STOP if name == "stop" else OPTIONS[name]
    if kind in option.types:
        return None
    if name == "stop" and kind in OWN_LOOP:
        return f"{kind} runs its own loop and takes no stop sequences"
    return _elsewhere(kind, name, option)


def _is_set(value: Any) -> bool:
    return value is not None and value is not False


def option_problem(config: BackendSettings) -> str | None:
    """Why ``config`` asks for something its backend cannot do, or None. Each message names
    the option and what to use instead."""
    kind = config.type
    for name, option in OPTIONS.items():
        if kind not in option.types and _is_set(getattr(config, name)):
            return f"{name}: {_elsewhere(kind, name, option)}"
    checks: list[tuple[bool, str]] = [
        (kind == "gemini", _safety_problem(config.safety_settings or {}) or ""),
        (
            config.port is not None and config.base_url is not None,
            "port: give either port or base_url, not both",
        ),
        (
            config.reasoning is not None
            and config.reasoning.summary is not None
            and kind not in ("openai",),
            f"reasoning.summary: only the Responses API (type openai) returns summaries, "
            f"not {kind}; keep reasoning.effort",
        ),
        (
            config.workflow_mode in ("json", "text") and kind in OWN_LOOP,
            f"workflow_mode: {kind} runs its own tool loop and always acts through tools; "
            "leave workflow_mode out",
        ),
        (
            config.workflow_mode == "tools" and kind == "local",
            "workflow_mode: the local model cannot call tools; use json (its default) or text",
        ),
        (kind == "claude_code", _claude_code_problem(config) or ""),
    ]
    return next((message for failed, message in checks if failed and message), None) or (
        _ag2_problem(config)
    )


#: Backend-level keys an ag2 agent takes from its ``llm_config`` instead.
_AG2_IN_LLM_CONFIG = ("model", "base_url", "api_key", "temperature", "top_p", "max_tokens")


def _ag2_problem(config: BackendSettings) -> str | None:
    """ag2's options belong to ag2, and an ag2 agent's model settings to its ``llm_config``."""
    if config.type != "ag2":
        return None
    if config.llm_config is None:
        return "llm_config: ag2 needs llm_config with a config_list (model, api_key, base_url)"
    for key in _AG2_IN_LLM_CONFIG:
        if getattr(config, key) is not None:
            return (
                f"{key}: for ag2, give it in llm_config (model, base_url and api_key in its "
                "config_list entries)"
            )
    return None


#: The built-in tools of Claude Code that massgen lets it use (its others are not offered).
CLAUDE_CODE_TOOLS = ("Read", "Write", "Edit", "Bash", "Grep", "Glob")


def _claude_code_problem(config: BackendSettings) -> str | None:
    """What claude_code cannot honour: tools outside :data:`CLAUDE_CODE_TOOLS` (its sampling
    options are refused by :data:`OPTIONS`)."""
    for option in ("allowed_tools", "disallowed_tools"):
        for name in getattr(config, option) or ():
            if name not in CLAUDE_CODE_TOOLS:
                return (
                    f"{option}: '{name}' is not a Claude Code tool massgen offers "
                    f"(one of: {', '.join(CLAUDE_CODE_TOOLS)})"
                )
    return None


#: Gemini's block thresholds (google-genai ``HarmBlockThreshold``).
GEMINI_THRESHOLDS = (
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
)


def _safety_problem(settings: Mapping[str, str]) -> str | None:
    for category, threshold in settings.items():
        if not category.startswith("HARM_CATEGORY_"):
            return (
                f"safety_settings: unknown category '{category}' "
                "(e.g. HARM_CATEGORY_HARASSMENT, HARM_CATEGORY_HATE_SPEECH)"
            )
        if threshold not in GEMINI_THRESHOLDS:
            return (
                f"safety_settings.{category}: unknown threshold '{threshold}' "
                f"(one of: {', '.join(GEMINI_THRESHOLDS)})"
            )
    return None


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


def endpoint(config: BackendSettings) -> tuple[str, str]:
    """The URL a backend talks to and where it came from: ``backend.base_url``; else the
    variable the provider's SDK reads (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``,
    ``GOOGLE_GEMINI_BASE_URL``, ``AZURE_OPENAI_ENDPOINT``); else the provider's default."""
    if config.base_url:
        return config.base_url, "config"
    if config.port is not None and config.type in LOCAL_SERVERS:
        return f"http://localhost:{config.port}/v1", "port"
    preset = PROVIDERS.get(config.type)
    if preset is None:
        return "", "default"
    if preset.url_var and os.environ.get(preset.url_var, "").strip():
        return os.environ[preset.url_var].strip(), preset.url_var
    return preset.base_url, "default"
