"""Configs from model names (``--model``, ``--models``): ``provider/model`` or a bare model
whose provider is inferred from its name."""

from __future__ import annotations

from massgen.backends.registry import AVAILABLE, PLANNED
from massgen.config.schema import MassGenConfig
from massgen.errors import ConfigurationError

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


def parse_model(spec: str) -> tuple[str, str]:
    """``"grok/grok-4"`` -> ``("grok", "grok-4")``; ``"gpt-5-nano"`` ->
    ``("chatcompletion", "gpt-5-nano")``. Raises ConfigurationError if unknown."""
    spec = spec.strip()
    provider, sep, model = spec.partition("/")
    if sep and (provider in AVAILABLE or provider in PLANNED) and model:
        backend_type = provider
    else:
        model = spec
        backend_type = next((t for p, t in _PREFIXES if spec.lower().startswith(p)), "")
        if not backend_type:
            raise ConfigurationError(
                f"model '{spec}': cannot tell its provider; write it as PROVIDER/MODEL "
                f"(providers: {', '.join(sorted(AVAILABLE))})"
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
        agents.append({"id": agent_id, "backend": {"type": backend_type, "model": model}})
    return MassGenConfig.model_validate({"agents": agents})
