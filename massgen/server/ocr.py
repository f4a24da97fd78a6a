"""OCR by the team: every agent of the server's team that can see images reads the same
image on its own (one model call each, at once), and the readings are compared
(:mod:`massgen.server.agreement`): the reading the others back most is the answer, its
agreement the confidence.

A request (``POST /v1/vision/ocr``, :mod:`massgen.server.ocr_routes`):

- ``image_url`` (required): a ``data:`` URL (PNG, JPEG, GIF or WebP, decoded and checked) or
  an ``http(s)`` URL, which is passed to the providers as it is and never fetched by the
  server, as the chat endpoints treat image URLs (:mod:`massgen.images`);
- ``languages``: the languages the text is expected in, as language tags (``["en", "de"]``),
  a hint to the agents (at most 10);
- ``output_format``: ``text`` (default: plain text, one line per line read), ``markdown``
  (headings, lists, tables as the layout shows them) or ``json`` (the agents answer
  ``{"lines": [...]}``; ``text`` is then that JSON, re-serialised);
- ``model``: the server's team (default) or ``massgen/model:<id>``, as in chat.

Agents whose model cannot see images (``backend.vision``) or that run their own tool loop
(Claude Code, AG2) do not read; a reading that fails (a provider error, or JSON not of the
shape asked for) is reported and left out of the comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from massgen.backends.base import Backend
from massgen.backends.errors import BackendError
from massgen.backends.registry import create_backend
from massgen.backends.retry import RetryPolicy, stream_with_retries
from massgen.config.schema import MassGenConfig
from massgen.errors import ConfigurationError
from massgen.images import Image, from_url
from massgen.messages import Message, TextChunk, UsageChunk
from massgen.server.agreement import compare
from massgen.server.http import BadRequest, refuse_surrogates

ENDPOINT = "POST /v1/vision/ocr"
FIELDS = ("image_url", "languages", "output_format", "model")
FORMATS = ("text", "markdown", "json")
MAX_LANGUAGES = 10
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$")
_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n(.*?)\n?```$", re.S)

SYSTEM = (
    "You are an OCR engine. Transcribe all the text visible in the image exactly as it is "
    "written, in reading order. Do not translate, correct, summarise or describe the image, "
    "and add no commentary. If the image has no text, reply with nothing."
)
FORMAT_RULES = {
    "text": "Reply with the plain text only, one line per line of text in the image.",
    "markdown": (
        "Reply with the text as Markdown, keeping headings, lists, tables and emphasis as "
        "the layout shows them; no code fence around the whole reply."
    ),
    "json": (
        'Reply with one JSON object only, {"lines": ["first line", "second line", ...]}: '
        "each line of text in the image, in reading order."
    ),
}


def _bad(name: str, message: str, code: str = "invalid_value") -> BadRequest:
    return BadRequest(400, f"{name}: {message}", "invalid_request_error", code, param=name)


@dataclass(frozen=True)
class OCRRequest:
    """A checked request (see module)."""

    image: Image
    languages: tuple[str, ...] = ()
    output_format: str = "text"
    model: str | None = None


def parse_request(body: dict[str, Any]) -> OCRRequest:
    """The request's fields, checked; a 400 naming the first field that is wrong."""
    for name in body:
        if name not in FIELDS:
            takes = f"not a field {ENDPOINT} takes; it takes: {', '.join(FIELDS)}"
            raise _bad(str(name), takes, "unknown_field")
    url = body.get("image_url")
    if not isinstance(url, str) or not url.strip():
        raise _bad("image_url", "required: an http(s):// or data: URL of the image")
    try:
        image = from_url(url, "image")
    except ConfigurationError as exc:
        raise _bad("image_url", str(exc), "invalid_image") from None
    languages = body.get("languages")
    if languages is None:
        languages = []
    if isinstance(languages, str):
        languages = [languages]
    if not isinstance(languages, list) or len(languages) > MAX_LANGUAGES:
        raise _bad("languages", f"a list of at most {MAX_LANGUAGES} language tags (['en', 'de'])")
    for index, tag in enumerate(languages):
        if not isinstance(tag, str) or not _LANGUAGE.match(tag):
            refuse_surrogates(tag, f"languages[{index}]")
            raise _bad(
                f"languages[{index}]", f"{tag!r} is not a language tag (such as 'en' or 'pt-BR')"
            )
    output_format = body.get("output_format")
    output_format = "text" if output_format is None else output_format
    if output_format not in FORMATS:
        raise _bad("output_format", f"{output_format!r} is not one of {', '.join(FORMATS)}")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _bad("model", "must be a string (massgen, or massgen/model:<id>)")
    return OCRRequest(image, tuple(languages), str(output_format), model)


def prompt(request: OCRRequest) -> list[Message]:
    """What every agent is asked: the same system rules, the image, the format and languages."""
    rules = f"{SYSTEM}\n\n{FORMAT_RULES[request.output_format]}"
    if request.languages:
        rules += f"\n\nThe text is expected to be in: {', '.join(request.languages)}."
    ask = "Transcribe the text of this image."
    return [Message("system", rules), Message("user", ask, images=[request.image])]


@dataclass
class Reading:
    """One agent's reading: its ``text`` as the answer would give it, or why it has none."""

    agent: str
    model: str
    text: str | None = None
    error: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    agreement: float | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"agent": self.agent, "model": self.model}
        if self.error is not None:
            out["error"] = self.error
        else:
            out["text"] = self.text
            out["agreement"] = None if self.agreement is None else round(self.agreement, 4)
        if self.usage:
            out["usage"] = self.usage
        return out


def unfenced(reply: str) -> str:
    """``reply`` without surrounding whitespace or one code fence around all of it."""
    reply = reply.strip()
    match = _FENCE.match(reply)
    return match.group(1).strip() if match else reply


def as_format(reply: str, output_format: str) -> tuple[str, str]:
    """(the reading as returned, the text compared) of a reply; ``ValueError`` for a JSON
    reply that is not ``{"lines": [strings]}``."""
    text = unfenced(reply)
    if output_format != "json":
        return text, text
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError('the reply was not the JSON asked for ({"lines": [...]})') from None
    lines = value.get("lines") if isinstance(value, dict) else None
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise ValueError('the reply was not the JSON asked for ({"lines": [...]})')
    return json.dumps({"lines": lines}, ensure_ascii=False), "\n".join(lines)


async def read_one(
    agent: str, backend: Backend, messages: list[Message], output_format: str
) -> tuple[Reading, str | None]:
    """``agent``'s reading and the text compared (None: it has no reading)."""
    reading = Reading(agent, backend.model)
    if not backend.supports_images:
        reading.error = "its model cannot see images (backend.vision is not set)"
        return reading, None
    if backend.runs_own_loop:
        reading.error = f"a {backend.type} agent (its own tool loop) does not take part"
        return reading, None
    parts: list[str] = []
    usage: UsageChunk | None = None
    try:
        async for chunk in stream_with_retries(
            backend, messages, None, RetryPolicy(), on_retry=lambda *_: parts.clear()
        ):
            if isinstance(chunk, TextChunk):
                parts.append(chunk.text)
            elif isinstance(chunk, UsageChunk):
                usage = chunk
    except BackendError as exc:
        reading.error = str(exc) or type(exc).__name__
        return reading, None
    if usage is not None:
        reading.usage = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        }
    try:
        reading.text, compared = as_format("".join(parts), output_format)
    except ValueError as exc:
        reading.error = str(exc)
        return reading, None
    return reading, compared


class NoReading(Exception):
    """No agent of the team read the image (the message says why, agent by agent)."""


async def read_image(
    config: MassGenConfig,
    request: OCRRequest,
    redact: Callable[[str], str] = lambda text: text,
) -> dict[str, Any]:
    """The team's reading of ``request``'s image (the response body; see module), every text
    in it through ``redact`` (the server's secrets masked, as in a run's events). Raises
    :class:`NoReading` when no agent produced one."""
    messages = prompt(request)
    backends: list[Backend] = []
    jobs = []
    failed: dict[int, Reading] = {}
    for index, agent in enumerate(config.agents):
        name = agent.id or f"agent{index + 1}"
        try:
            backend = create_backend(agent.backend, f"agents[{index}] ({name})")
        except ConfigurationError as exc:
            failed[index] = Reading(name, agent.backend.model or "", error=str(exc))
            continue
        backends.append(backend)
        jobs.append((index, read_one(name, backend, messages, request.output_format)))
    try:
        done = await asyncio.gather(*(job for _, job in jobs))
    finally:
        for backend in backends:
            with contextlib.suppress(Exception):
                await backend.aclose()
    results = dict(failed)
    compared: dict[int, str] = {}
    for (index, _), (reading, text) in zip(jobs, done, strict=True):
        results[index] = reading
        if text is not None:
            compared[index] = text
    for reading in results.values():
        reading.text = None if reading.text is None else redact(reading.text)
        reading.error = None if reading.error is None else redact(reading.error)
    readings = [results[i] for i in sorted(results)]
    if not compared:
        why = "; ".join(f"{r.agent}: {r.error}" for r in readings)
        raise NoReading(f"no agent of the team read the image ({why or 'the team is empty'})")
    order = sorted(compared)
    agreement = compare([compared[i] for i in order])
    for position, index in enumerate(order):
        results[index].agreement = agreement.agreements[position]
    chosen = results[order[agreement.chosen]]
    return {
        "object": "vision.ocr",
        "text": chosen.text,
        "confidence": round(agreement.confidence, 4),
        "output_format": request.output_format,
        "languages": list(request.languages),
        "agent": chosen.agent,
        "readings": [r.public() for r in readings],
        "usage": total_usage(readings),
    }


def total_usage(readings: Sequence[Reading]) -> dict[str, int]:
    """The tokens of every call made, added up."""
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {key: sum(r.usage.get(key, 0) for r in readings) for key in keys}
