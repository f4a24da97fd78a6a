"""Configs from model names (``--model``, ``--models``): ``provider/model`` or a bare model
whose provider is inferred from its name."""

from __future__ import annotations

from massgen.config.schema import MassGenConfig
from massgen.errors import ConfigurationError
from massgen.providers import AVAILABLE, PLANNED

#: Bare-name prefixes and the backend type they imply.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("chatgpt", "openai"),
    ("grok", "grok"),
    ("glm", "zai"),
    ("claude", "claude"),
    ("gemini", "gemini"),
)


#: LiteLLM's provider prefixes (``anthropic/claude-...``) and the backend type each means, so
#: model strings written for LiteLLM work unchanged.
LITELLM_PREFIXES: dict[str, str] = {
    "anthropic": "claude",
    "gemini": "gemini",
    "xai": "grok",
    "azure": "azure_openai",
    "openrouter": "openrouter",
    "groq": "groq",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "cerebras": "cerebras",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "hosted_vllm": "vllm",
    "lm_studio": "lmstudio",
    "zai": "zai",
}


def parse_model(spec: str) -> tuple[str, str]:
    """``"grok/grok-4"`` -> ``("grok", "grok-4")``; ``"anthropic/claude-sonnet-4-5"`` ->
    ``("claude", "claude-sonnet-4-5")``; ``"gpt-5-nano"`` -> ``("openai", "gpt-5-nano")``.
    Raises ConfigurationError if the provider cannot be told."""
    spec = spec.strip()
    provider, sep, model = spec.partition("/")
    provider = LITELLM_PREFIXES.get(provider, provider)
    if sep and (provider in AVAILABLE or provider in PLANNED) and model:
        backend_type = provider
    else:
        model = spec
        backend_type = next((t for p, t in _PREFIXES if spec.lower().startswith(p)), "")
        if not backend_type:
            raise ConfigurationError(
                f"model '{spec}': cannot tell its provider; write it as PROVIDER/MODEL "
                f"(providers: {', '.join(sorted(AVAILABLE))}; LiteLLM's prefixes such as "
                "anthropic/, xai/, hosted_vllm/ work too)"
            )
    if backend_type not in AVAILABLE:
        raise ConfigurationError(
            f"model '{spec}': backend '{backend_type}' is not available in this version "
            f"(available: {', '.join(sorted(AVAILABLE))})"
        )
    return backend_type, model


def config_for_models(models: list[str]) -> MassGenConfig:
    """A config with one agent per model, in order, each named after its model (``-2``,
    ``-3`` added when a model repeats)."""
    if not models:
        raise ConfigurationError("no models given")
    agents = []
    seen: dict[str, int] = {}
    for spec in models:
        backend_type, model = parse_model(spec)
        base = model.rsplit("/", 1)[-1]
        seen[base] = seen.get(base, 0) + 1
        agent_id = base if seen[base] == 1 else f"{base}-{seen[base]}"
        backend: dict = {"type": backend_type, "model": model}
        if backend_type == "ag2":  # an AG2 agent names its model in its llm_config
            backend = {"type": "ag2", "llm_config": {"config_list": [{"model": model}]}}
        agents.append({"id": agent_id, "backend": backend})
    return MassGenConfig.model_validate({"agents": agents})


def override_model(config: MassGenConfig, spec: str) -> MassGenConfig:
    """``config``'s team with every agent on model ``spec``, reached through an endpoint the
    config already uses (for the server's ``massgen/model:<id>``: a client may change the
    model, never the endpoint or the key).

    ``spec`` is matched, in order, against a backend's ``model``, then its
    ``type/model``; then ``PROVIDER/MODEL`` takes the first backend of that provider, and a
    bare model name the first backend of its inferred provider, else the first agent's
    backend. A provider the config does not use is refused."""
    spec = spec.strip()
    backends = [agent.backend for agent in config.agents]
    chosen = next((b for b in backends if b.model == spec), None) or next(
        (b for b in backends if f"{b.type}/{b.model}" == spec), None
    )
    if chosen is None:
        provider, sep, model = spec.partition("/")
        provider = LITELLM_PREFIXES.get(provider, provider)
        if sep and provider in AVAILABLE and model:
            same = next((b for b in backends if b.type == provider), None)
            if same is None:
                used = ", ".join(sorted({b.type for b in backends}))
                raise ConfigurationError(
                    f"model '{spec}': provider '{provider}' is not configured here "
                    f"(configured: {used})"
                )
        else:
            model = spec
            inferred = next((t for p, t in _PREFIXES if spec.lower().startswith(p)), None)
            same = next((b for b in backends if b.type == inferred), None) or backends[0]
        chosen = same.model_copy(update={"model": model})
    agents = [agent.model_copy(update={"backend": chosen.model_copy()}) for agent in config.agents]
    return config.model_copy(update={"agents": agents})


def config_for_backend(backend_type: str, model: str | None) -> MassGenConfig:
    """``--backend TYPE [--model MODEL]``: one agent of backend ``TYPE`` (an alias such as
    ``anthropic`` works too) on ``MODEL``, else on the provider's default model."""
    from massgen.providers import ALIASES, DEFAULT_MODELS, check_backend_type

    name = backend_type.strip()
    kind = name if name in AVAILABLE else ALIASES.get(name.lower().replace("-", "_"), name)
    try:
        check_backend_type(kind)
    except ValueError as exc:
        raise ConfigurationError(f"--backend: {exc}") from None
    chosen = (model or "").strip() or DEFAULT_MODELS.get(kind)
    if not chosen:
        raise ConfigurationError(
            f"--backend {kind}: this provider has no default model; give one with --model MODEL"
        )
    backend: dict = {"type": kind, "model": chosen}
    if kind == "ag2":  # an AG2 agent names its model in its llm_config
        backend = {"type": "ag2", "llm_config": {"config_list": [{"model": chosen}]}}
    return MassGenConfig.model_validate({"agents": [{"id": kind, "backend": backend}]})
