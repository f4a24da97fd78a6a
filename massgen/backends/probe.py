"""Is a provider's endpoint there, and does it take the key? One cheap model-list request,
classified. ``massgen doctor`` and the server's ``GET /v1/providers/health`` both use it.

The Gemini key goes in the ``x-goog-api-key`` header rather than ``?key=`` so it never appears
in a URL.
"""

from __future__ import annotations

import httpx

from massgen.providers import Preset

ANTHROPIC_VERSION = "2023-06-01"
AZURE_API_VERSION = "2024-10-21"
OK = "ok"
KEY_REJECTED = "key rejected"
UNREACHABLE = "unreachable"
ERROR = "error"
NO_KEY = "no key"
NO_ENDPOINT = "no endpoint"


def mask_key(key: str | None) -> str:
    """``sk-…1234``: the first three and last four characters; short keys show nothing."""
    if not key:
        return ""
    if len(key) < 12:
        return "…" * 3
    return f"{key[:3]}…{key[-4:]}"


def models_request(preset: Preset, base_url: str, key: str | None) -> tuple[str, dict[str, str]]:
    """The model-list URL and headers for ``preset``'s wire protocol."""
    base = base_url.rstrip("/")
    headers: dict[str, str] = {}
    if preset.name in ("claude", "claude_code"):
        if key:
            headers = {"x-api-key": key}
        headers["anthropic-version"] = ANTHROPIC_VERSION
        return f"{base}/v1/models", headers
    if preset.name == "gemini":
        return f"{base}/v1beta/models", {"x-goog-api-key": key} if key else {}
    if preset.name == "azure_openai":
        url = f"{base}/openai/models?api-version={AZURE_API_VERSION}"
        return url, {"api-key": key} if key else {}
    return f"{base}/models", {"Authorization": f"Bearer {key}"} if key else {}


def classify(provider: str, response: httpx.Response) -> tuple[str, str]:
    """A status (:data:`OK`, :data:`KEY_REJECTED`, :data:`ERROR`) and a detail for the answer."""
    status = response.status_code
    if status in (401, 403):
        return KEY_REJECTED, f"HTTP {status}"
    if provider == "gemini" and status == 400 and "API key not valid" in response.text:
        return KEY_REJECTED, "HTTP 400: API key not valid"
    if 200 <= status < 300:
        try:
            data = response.json().get("data", response.json().get("models"))
            count = len(data) if isinstance(data, list) else None
        except (ValueError, AttributeError):
            count = None
        return OK, f"{count} models listed" if count is not None else f"HTTP {status}"
    if status < 500:  # the server answered and did not reject the key (e.g. no model list)
        return OK, f"answered HTTP {status}"
    return ERROR, f"HTTP {status}"


async def probe(
    client: httpx.AsyncClient, preset: Preset, base_url: str, key: str | None
) -> tuple[str, str]:
    """Ask ``base_url`` for its models: a status and a detail (:data:`UNREACHABLE` when no
    answer came within the client's timeout)."""
    url, headers = models_request(preset, base_url, key)
    try:
        response = await client.get(url, headers=headers)
    except httpx.TimeoutException:
        return UNREACHABLE, "timed out"
    except httpx.HTTPError as exc:
        return UNREACHABLE, type(exc).__name__
    return classify(preset.name, response)
