"""Speech to text over OpenAI's ``POST /v1/audio/transcriptions`` (multipart: ``file``,
``model``, ``response_format=json``), which OpenAI-compatible servers (Groq, vLLM, LocalAI,
...) also speak. The transcript comes back with its usage: tokens (``gpt-4o-transcribe``,
``gpt-4o-mini-transcribe``) or seconds of audio (``whisper-1``), priced by
:mod:`massgen.backends.pricing`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from massgen.backends.errors import BackendConnectionError, BackendError, BackendTimeoutError
from massgen.backends.http_errors import message_and_code, status_error
from massgen.backends.pricing import cost_usd, per_minute_cost
from massgen.messages import UsageChunk
from massgen.providers import AVAILABLE, endpoint

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig

CHAT = "massgen.backends.chat_completions:ChatCompletionsBackend"


@dataclass(frozen=True)
class Transcript:
    text: str
    usage: UsageChunk
    cost_usd: float | None


def transcription_problem(config: BackendConfig) -> str | None:
    """Why ``config`` cannot transcribe (None: it speaks the transcription API)."""
    if config.type == "openai" or AVAILABLE.get(config.type) == CHAT:
        return None
    return (
        f"the audio model's provider ({config.type}) has no transcription API massgen speaks; "
        "use type openai or an OpenAI-compatible server (chatcompletion with base_url)"
    )


async def transcribe(
    config: BackendConfig,
    api_key: str | None,
    audio: bytes,
    name: str,
    media_type: str,
    prompt: str = "",
) -> Transcript:
    """The transcript of ``audio``. Raises :class:`BackendError` (a status, a timeout, a
    connection that failed, or a reply without text)."""
    import httpx

    problem = transcription_problem(config)
    if problem:
        raise BackendError(problem, provider=config.type)
    url = endpoint(config)[0].rstrip("/") + "/audio/transcriptions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    fields = {"model": config.model or "", "response_format": "json"}
    if prompt:
        fields["prompt"] = prompt
    try:
        async with httpx.AsyncClient(timeout=float(config.timeout)) as client:
            response = await client.post(
                url, headers=headers, data=fields, files={"file": (name, audio, media_type)}
            )
    except httpx.TimeoutException:
        raise BackendTimeoutError(
            f"no transcript within {config.timeout}s", provider=config.type
        ) from None
    except httpx.HTTPError as exc:
        raise BackendConnectionError(
            f"transcription request failed ({type(exc).__name__})", provider=config.type
        ) from None
    if response.status_code != 200:
        message, code = message_and_code(response.content, response.reason_phrase)
        raise status_error(
            response.status_code, message, code, response.headers, provider=config.type
        )
    try:
        body = response.json()
        text = body["text"]
    except (ValueError, KeyError, TypeError):
        raise BackendError("the transcription reply has no text", provider=config.type) from None
    usage, cost = _usage(config.model or "", body.get("usage"))
    return Transcript(str(text), usage, cost)


def _usage(model: str, reported: object) -> tuple[UsageChunk, float | None]:
    if not isinstance(reported, dict):
        return UsageChunk(), None
    if reported.get("type") == "duration":
        return UsageChunk(), per_minute_cost(model, float(reported.get("seconds") or 0))
    chunk = UsageChunk(
        prompt_tokens=int(reported.get("input_tokens") or 0),
        completion_tokens=int(reported.get("output_tokens") or 0),
    )
    return chunk, cost_usd(model, chunk)
