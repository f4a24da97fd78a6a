"""Does an agent's key or endpoint answer? ``massgen doctor``'s probe (one model-list
request, :mod:`massgen.backends.probe`) for one agent, in the words of the app's welcome
screen, which the CLI hands it (the app itself never imports a backend)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig

TIMEOUT_S = 5.0


async def reach(backend: BackendConfig) -> tuple[bool, str]:
    """Whether ``backend``'s endpoint answers with its key, and a short line saying so."""
    import httpx

    from massgen.backends.probe import KEY_REJECTED, OK, UNREACHABLE, probe
    from massgen.backends.registry import resolve_api_key
    from massgen.errors import ConfigurationError
    from massgen.providers import PROVIDERS, endpoint
    from massgen.redaction import redact_env

    preset = PROVIDERS.get(backend.type)
    if backend.type == "local":
        return True, "✓ the embedded model (no endpoint)"
    if preset is None or backend.type == "ag2":
        return True, "not checked"
    try:
        key = resolve_api_key(backend)
    except ConfigurationError:
        return False, f"✗ no API key for {preset.title} (set {preset.key_vars[0]})"
    url, _ = endpoint(backend)
    if not url:
        return False, "✗ no endpoint (set base_url)"
    shown = redact_env(url)
    if preset.key_optional and not key:
        return True, "not checked (signs in with its own CLI)"
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        status, detail = await probe(client, preset, url, key)
    if status == OK:
        return True, "✓ reachable"
    if status == KEY_REJECTED:
        return False, f"✗ key rejected by {shown} ({detail})"
    if status == UNREACHABLE:
        return False, f"✗ cannot reach {shown}"
    return False, f"✗ {shown} answered {detail}"
