"""OpenAI's media generation over httpx: the Images API (generations and edits), speech
(``POST /audio/speech``) and video (Sora 2: ``POST /videos``, ``GET /videos/{id}`` until it is
done, ``GET /videos/{id}/content``). Errors are :mod:`massgen.backends.errors` types, as the
model backends raise; a 404 or 405 means the endpoint has no such API
(:class:`MediaUnsupported`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import time
import wave
from dataclasses import dataclass, field
from typing import Any

import httpx

from massgen.__about__ import __version__
from massgen.backends import http_pool, pricing
from massgen.backends.errors import BackendConnectionError, BackendTimeoutError, ProviderError
from massgen.backends.http_errors import message_and_code, status_error
from massgen.redaction import Redactor
from massgen.tools.media.generate import ImageRequest

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: A video job that reports no progress for this long is given up (seconds).
VIDEO_POLL_LIMIT = 3600.0


class MediaUnsupported(ProviderError):
    """The endpoint has no API for this medium (it answered 404 or 405)."""


@dataclass
class Media:
    """One generated medium: its bytes and type, what it cost, the tokens reported."""

    data: bytes
    mime: str
    cost_usd: float | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    detail: dict[str, Any] = field(default_factory=dict)  # revised prompt, seconds, ...


def image_mime(fmt: str) -> str:
    return {"jpeg": "image/jpeg", "webp": "image/webp"}.get(fmt, "image/png")


AUDIO_MIME = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "pcm": "audio/L16",
}


def wav_seconds(data: bytes) -> float | None:
    """The length of a WAV file, or None when ``data`` is not one."""
    try:
        with wave.open(io.BytesIO(data)) as audio:
            rate = audio.getframerate()
            return audio.getnframes() / rate if rate else None
    except (wave.Error, EOFError):
        return None


class OpenAIMedia:
    """OpenAI's media APIs at ``base_url`` (default api.openai.com), with ``api_key``."""

    provider = "openai"

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.redact = Redactor([api_key] if api_key else [])

    # ---- the three media

    async def image(self, model: str, request: ImageRequest) -> Media:
        """One image of ``request`` (an edit of its ``sources``)."""
        size, quality, fmt, sources = request.size, request.quality, request.fmt, request.sources
        dalle = model.startswith("dall-e")
        fields: dict[str, Any] = {"model": model, "prompt": request.prompt, "n": 1}
        if size != "auto" or not dalle:
            fields["size"] = size
        if quality != "auto":
            fields["quality"] = quality
        if dalle:
            fields["response_format"] = "b64_json"
        else:
            fields["output_format"] = fmt
        if sources:
            key = "image[]" if len(sources) > 1 else "image"
            files = [(key, source) for source in sources]
            data = {k: str(v) for k, v in fields.items()}
            response = await self._send(
                "POST", "/images/edits", "image edits", data=data, files=files
            )
        else:
            response = await self._send(
                "POST", "/images/generations", "image generation", json_body=fields
            )
        body = self._json(response)
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise ProviderError("the image response has no data", provider=self.provider)
        encoded = items[0].get("b64_json")
        if not isinstance(encoded, str):
            raise ProviderError("the image response has no b64_json", provider=self.provider)
        try:
            data_bytes = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ProviderError(
                "the image's b64_json is not base64", provider=self.provider
            ) from None
        usage: dict[str, Any] = _object(body.get("usage"))
        details = _object(usage.get("input_tokens_details"))
        prompt_tokens = int(usage.get("input_tokens") or 0)
        out_tokens = usage.get("output_tokens")
        cost = pricing.image_cost(
            model,
            quality=quality,
            size=size,
            text_tokens=int(details.get("text_tokens") or prompt_tokens),
            image_in_tokens=int(details.get("image_tokens") or 0),
            image_out_tokens=int(out_tokens) if out_tokens is not None else None,
        )
        revised = items[0].get("revised_prompt")
        return Media(
            data_bytes,
            image_mime("png" if dalle else str(body.get("output_format") or fmt)),
            cost,
            prompt_tokens,
            int(out_tokens or 0),
            {"revised_prompt": revised} if isinstance(revised, str) else {},
        )

    async def speech(
        self, model: str, text: str, *, voice: str, fmt: str, instructions: str | None
    ) -> Media:
        """``text`` read aloud by ``voice``, as ``fmt`` audio."""
        fields: dict[str, Any] = {
            "model": model,
            "input": text,
            "voice": voice,
            "response_format": fmt,
        }
        if instructions:
            fields["instructions"] = instructions
        response = await self._send("POST", "/audio/speech", "speech", json_body=fields)
        data = response.content
        if not data:
            raise ProviderError("the speech response is empty", provider=self.provider)
        seconds = wav_seconds(data) if fmt == "wav" else None
        cost = pricing.speech_cost(model, chars=len(text), seconds=seconds)
        detail = {"seconds": round(seconds, 3)} if seconds is not None else {}
        return Media(data, AUDIO_MIME.get(fmt, "application/octet-stream"), cost, detail=detail)

    async def video(
        self, model: str, prompt: str, *, seconds: str, size: str, poll_s: float
    ) -> Media:
        """A video: the job created, asked about every ``poll_s`` until it is done, its MP4
        downloaded (the caller bounds the whole wait)."""
        form = {"model": model, "prompt": prompt, "seconds": seconds, "size": size}
        job = self._json(await self._send("POST", "/videos", "video generation", data=form))
        job_id = job.get("id") if isinstance(job, dict) else None
        if not isinstance(job_id, str) or not job_id or "/" in job_id:
            raise ProviderError("the video job has no id", provider=self.provider)
        started = time.monotonic()
        while job.get("status") not in ("completed", "failed", "cancelled"):
            if time.monotonic() - started > VIDEO_POLL_LIMIT:
                raise BackendTimeoutError("the video job did not finish", provider=self.provider)
            await asyncio.sleep(poll_s)
            job = self._json(await self._send("GET", f"/videos/{job_id}", "video generation"))
        if job.get("status") != "completed":
            why = _object(job.get("error")).get("message") or job.get("status")
            raise ProviderError(f"the video job {job_id} {why}", provider=self.provider)
        response = await self._send("GET", f"/videos/{job_id}/content", "video download")
        length = float(job.get("seconds") or seconds)
        cost = pricing.video_cost(model, seconds=length, size=str(job.get("size") or size))
        detail = {"seconds": length, "size": job.get("size") or size, "job": job_id}
        return Media(response.content, "video/mp4", cost, detail=detail)

    # ---- HTTP

    def url(self, path: str) -> str:
        """Where the API at ``path`` (``/images/generations``) is."""
        return self.base_url + path

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": f"massgen/{__version__}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json_body: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    ) -> httpx.Response:
        url = self.url(path)
        client = http_pool.lease(url)
        try:
            response = await client.request(
                method,
                url,
                headers=self.headers(),
                json=json_body,
                data=data,
                files=files,
                timeout=httpx.Timeout(self.timeout),
            )
        except httpx.TimeoutException:
            raise BackendTimeoutError(
                f"{url} did not answer in time", provider=self.provider
            ) from None
        except httpx.HTTPError as exc:
            text = self.redact(f"could not reach {url}: {exc}")
            raise BackendConnectionError(text, provider=self.provider) from exc
        finally:
            http_pool.release(client, url)
        if response.status_code in (404, 405):
            raise MediaUnsupported(
                f"{self.base_url} has no {what} API ({method} {path} answered "
                f"{response.status_code})",
                provider=self.provider,
                status=response.status_code,
            )
        if response.status_code >= 400:
            message, code = message_and_code(response.content, response.reason_phrase)
            raise status_error(
                response.status_code,
                self.redact(message),
                code,
                response.headers,
                provider=self.provider,
            )
        return response

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = json.loads(response.content)
        except ValueError:
            raise ProviderError("the response is not JSON", provider=self.provider) from None
        if not isinstance(body, dict):
            raise ProviderError("the response is not a JSON object", provider=self.provider)
        return body


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}
