"""OpenAI's media endpoints on the fake Chat Completions server, with real small media.

Served beside ``/v1/chat/completions`` (:class:`~massgen.testing.chat_server.FakeChatServer`
adds these routes; the key is checked as there)::

    POST /v1/images/generations   JSON in; {"data": [{"b64_json"}], "usage", ...} out (a PNG,
                                  JPEG or WebP drawn with Pillow at the asked size)
    POST /v1/images/edits         multipart (image / image[] files, the fields as form
                                  values); the same answer
    POST /v1/audio/speech         JSON in; the audio's bytes (wav: a real WAV of a tone; mp3:
                                  MPEG frames of silence; pcm: 16-bit samples)
    POST /v1/videos               multipart or JSON; a video job, queued
    GET  /v1/videos/{id}          the job: in_progress for ``video_polls`` asks, then completed
    GET  /v1/videos/{id}/content  the MP4 (frames and a tone; see :func:`mp4`)
    POST /openai/deployments/{deployment}/images/generations?api-version=...   Azure's
    POST /openai/deployments/{deployment}/images/edits?api-version=...         (key: api-key)

``media.fail_next(path, status, message)`` makes the next request to ``path`` fail as OpenAI
does; ``media.calls`` records each request's path and fields (files as their sizes).
``media.disabled`` answers every media route 404, as a server without the API does.
"""

from __future__ import annotations

import base64
import io
import json
import math
import struct
import threading
import time
import uuid
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

IMAGE_MODELS_SIZES = ("auto", "256x256", "512x512", "1024x1024", "1536x1024", "1024x1536",
                      "1792x1024", "1024x1792")  # fmt: skip
VOICES = ("alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx",
          "sage", "shimmer", "verse")  # fmt: skip
AUDIO_FORMATS = ("mp3", "wav", "opus", "aac", "flac", "pcm")
VIDEO_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
AZURE = "/openai/deployments/{deployment}"


def png(width: int = 64, height: int = 64, fmt: str = "png") -> bytes:
    """A real image (a gradient) of ``width`` x ``height`` in ``fmt`` (png, jpeg, webp)."""
    from PIL import Image

    image = Image.new("RGB", (width, height))
    image.putdata(
        [(x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), 128)
         for y in range(height) for x in range(width)]
    )  # fmt: skip
    out = io.BytesIO()
    image.save(out, format={"jpeg": "JPEG", "webp": "WEBP"}.get(fmt, "PNG"))
    return out.getvalue()


def wav(seconds: float = 0.25, rate: int = 8000) -> bytes:
    """A real WAV file: a 440 Hz tone, 16-bit mono."""
    frames = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(frames)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(samples)
    return out.getvalue()


def mp3(frames: int = 10) -> bytes:
    """MPEG-1 Layer III frames of silence (128 kbit/s, 44.1 kHz: 417 bytes each)."""
    return (b"\xff\xfb\x90\x64" + bytes(413)) * frames


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(seconds: int = 4) -> bytes:
    """A real MP4 of ``seconds``: small frames of changing colour and a tone, encoded with
    PyAV (``massgen[media]``) so a video tool can decode it; without PyAV, a minimal MP4
    container (``ftyp``, ``moov`` with the duration, an empty ``mdat``)."""
    try:
        return encoded_mp4(seconds)
    except ImportError:
        return container_mp4(seconds)


def encoded_mp4(seconds: int, fps: int = 2, size: tuple[int, int] = (64, 36)) -> bytes:
    """An MP4 of ``size`` frames of changing colour, ``fps`` a second (H.264, or MPEG-4
    Part 2 where this PyAV has no x264), and a 440 Hz tone (AAC)."""
    width, height = size
    import av
    import numpy as np

    out_file = io.BytesIO()
    with av.open(out_file, mode="w", format="mp4") as out:
        try:
            video = out.add_stream("libx264", rate=fps)
        except Exception:  # a PyAV built without x264
            video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=16_000)
        audio.layout = "mono"
        for i in range(seconds * fps):
            pixels = np.full((height, width, 3), (40 + i * 25) % 255, dtype=np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(video.encode())
        samples = 16_000 * seconds
        tone = (np.sin(2 * np.pi * 440 * np.arange(samples) / 16_000) * 0.2).astype(np.float32)
        for start in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(
                tone[None, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate = 16_000
            out.mux(audio.encode(frame))
        out.mux(audio.encode())
    return out_file.getvalue()


def container_mp4(seconds: int) -> bytes:
    """A minimal MP4 (ISO BMFF) file: ``ftyp``, a ``moov`` with its ``mvhd`` (the duration),
    and an empty ``mdat``."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = _box(
        b"mvhd",
        struct.pack(">B3xIIII", 0, 0, 0, 1000, seconds * 1000)
        + struct.pack(">IH10x", 0x10000, 0x100)
        + matrix
        + bytes(24)
        + struct.pack(">I", 2),
    )
    return ftyp + _box(b"moov", mvhd) + _box(b"mdat", b"")


def _size(value: str) -> tuple[int, int]:
    """A small image of the asked size's shape (the fake keeps images tiny)."""
    if "x" not in value:
        return 64, 64
    width, height = (int(n) for n in value.split("x"))
    scale = 64 / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass
class MediaCall:
    path: str
    fields: dict[str, Any]
    files: list[tuple[str, str, int]] = field(default_factory=list)  # (field, filename, size)
    query: dict[str, str] = field(default_factory=dict)  # Azure's api-version


class FakeMedia:
    """The media routes' state: scripted failures, recorded calls, the video jobs."""

    def __init__(self, api_key: Callable[[], str | None]) -> None:
        self.api_key = api_key
        self.calls: list[MediaCall] = []
        self.failures: dict[str, list[tuple[int, str]]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.video_polls = 1  # asks answered in_progress before a job is completed
        self.disabled = False
        self._lock = threading.Lock()

    def fail_next(self, path: str, status: int, message: str) -> None:
        """The next request to ``path`` (e.g. ``/v1/images/generations``) gets this error."""
        with self._lock:
            self.failures.setdefault(path, []).append((status, message))

    def routes(self) -> list[Route]:
        return [
            Route("/v1/images/generations", self._guard(self._generate), methods=["POST"]),
            Route("/v1/images/edits", self._guard(self._edit), methods=["POST"]),
            Route("/v1/audio/speech", self._guard(self._speech), methods=["POST"]),
            Route("/v1/videos", self._guard(self._create_video), methods=["POST"]),
            Route("/v1/videos/{job}", self._guard(self._video), methods=["GET"]),
            Route("/v1/videos/{job}/content", self._guard(self._content), methods=["GET"]),
            # Azure OpenAI: a deployment's Images API, with an api-version
            Route(f"{AZURE}/images/generations", self._guard(self._generate), methods=["POST"]),
            Route(f"{AZURE}/images/edits", self._guard(self._edit), methods=["POST"]),
        ]

    def _guard(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            path = request.url.path
            if self.disabled:
                return _error(404, f"Invalid URL ({request.method} {path})")
            key = self.api_key()
            azure = path.startswith("/openai/deployments/")
            if key is not None and (
                request.headers.get("api-key") != key
                if azure
                else request.headers.get("authorization") != f"Bearer {key}"
            ):
                return _error(401, "Incorrect API key provided.", "invalid_api_key")
            if azure and not request.query_params.get("api-version"):
                return _error(404, "Resource not found")
            with self._lock:
                queued = self.failures.get(path)
                failure = queued.pop(0) if queued else None
            if failure is not None:
                return _error(failure[0], failure[1])
            return await handler(request)

        return guarded

    def _record(self, call: MediaCall) -> None:
        with self._lock:
            self.calls.append(call)

    # ---- images

    async def _generate(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.")
        self._record(MediaCall(request.url.path, body, query=dict(request.query_params)))
        return self._image(body, edits=0)

    async def _edit(self, request: Request) -> Response:
        form = await request.form()
        fields: dict[str, Any] = {}
        files: list[tuple[str, str, int]] = []
        sources = 0
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
                continue
            data = await value.read()
            files.append((key, value.filename or "", len(data)))
            if key in ("image", "image[]"):
                if not data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"RIFF")):
                    return _error(400, "Invalid image file: use png, webp or jpg.", param=key)
                sources += 1
        self._record(MediaCall(request.url.path, fields, files, dict(request.query_params)))
        if not sources:
            return _error(400, "Missing required parameter: 'image'.", param="image")
        return self._image(fields, edits=sources)

    def _image(self, body: dict[str, Any], edits: int) -> Response:
        prompt, model = body.get("prompt"), str(body.get("model") or "dall-e-2")
        if not isinstance(prompt, str) or not prompt:
            return _error(400, "Missing required parameter: 'prompt'.", param="prompt")
        size = str(body.get("size") or "auto")
        if size not in IMAGE_MODELS_SIZES:
            return _error(400, f"Invalid value: '{size}'. Supported values are: ...", param="size")
        fmt = str(body.get("output_format") or "png")
        data = png(*_size(size), fmt=fmt)
        item: dict[str, Any] = {"b64_json": base64.b64encode(data).decode()}
        answer: dict[str, Any] = {"created": int(time.time()), "data": [item]}
        if model.startswith("dall-e"):
            item["revised_prompt"] = f"A picture of {prompt}"
        else:
            text = max(1, len(prompt) // 4)
            answer.update(
                output_format=fmt,
                size=size,
                quality=body.get("quality") or "auto",
                usage={
                    "input_tokens": text + 323 * edits,
                    "output_tokens": 1056,
                    "total_tokens": text + 323 * edits + 1056,
                    "input_tokens_details": {"text_tokens": text, "image_tokens": 323 * edits},
                },
            )
        return JSONResponse(answer)

    # ---- speech

    async def _speech(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        self._record(MediaCall(request.url.path, body if isinstance(body, dict) else {}))
        if not isinstance(body, dict) or not isinstance(body.get("input"), str):
            return _error(400, "Missing required parameter: 'input'.", param="input")
        if len(body["input"]) > 4096:
            return _error(400, "'input' is longer than 4096 characters.", param="input")
        if body.get("voice") not in VOICES:
            return _error(400, f"Invalid value: '{body.get('voice')}'.", param="voice")
        fmt = body.get("response_format") or "mp3"
        if fmt not in AUDIO_FORMATS:
            return _error(400, f"Invalid value: '{fmt}'.", param="response_format")
        if fmt == "wav":
            return Response(wav(), media_type="audio/wav")
        if fmt == "pcm":
            return Response(wav()[44:], media_type="audio/pcm")
        return Response(mp3(), media_type="audio/mpeg")  # the other formats: MPEG frames too

    # ---- video

    async def _create_video(self, request: Request) -> Response:
        if request.headers.get("content-type", "").startswith("application/json"):
            body: Any = json.loads(await request.body())
        else:
            body = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        self._record(MediaCall(request.url.path, body if isinstance(body, dict) else {}))
        if not isinstance(body, dict) or not body.get("prompt"):
            return _error(400, "Missing required parameter: 'prompt'.", param="prompt")
        seconds, size = str(body.get("seconds") or "4"), str(body.get("size") or "720x1280")
        if seconds not in ("4", "8", "12"):
            return _error(400, f"Invalid value: '{seconds}'.", param="seconds")
        if size not in VIDEO_SIZES:
            return _error(400, f"Invalid value: '{size}'.", param="size")
        job_id = f"video_{uuid.uuid4().hex[:24]}"
        job: dict[str, Any] = {
            "id": job_id,
            "object": "video",
            "model": body.get("model") or "sora-2",
            "status": "queued",
            "progress": 0,
            "seconds": seconds,
            "size": size,
            "created_at": int(time.time()),
            "polls": 0,
        }
        with self._lock:
            self.jobs[job_id] = job
        return JSONResponse(_public(job))

    async def _video(self, request: Request) -> Response:
        self._record(MediaCall(request.url.path, {}))
        with self._lock:
            job = self.jobs.get(request.path_params["job"])
            if job is None:
                return _error(404, "Video not found.")
            job["polls"] += 1
            done = job["polls"] > self.video_polls
            job.update(status="completed" if done else "in_progress", progress=100 if done else 50)
            return JSONResponse(_public(job))

    async def _content(self, request: Request) -> Response:
        self._record(MediaCall(request.url.path, {}))
        job = self.jobs.get(request.path_params["job"])
        if job is None:
            return _error(404, "Video not found.")
        if job["status"] != "completed":
            return _error(400, "Video is not ready yet.")
        return Response(mp4(int(job["seconds"])), media_type="video/mp4")


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k != "polls"}


def _error(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)
