"""The tools ``generate_image``, ``generate_audio`` and ``generate_video``: what the model is
offered and what its arguments may be, the same whichever provider generates.

Each ``parse_*`` turns a call's arguments into a request, or raises :class:`ToolError` with
one line the model can act on (an unknown size, format or voice, an empty prompt, an image to
edit it may not read). Who generates, and where the result is kept, is
:mod:`massgen.coordination.generation`'s business.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from massgen.messages import ToolSpec
from massgen.tools.base import ToolError

IMAGE_FORMATS = ("png", "jpeg", "webp")
#: The sizes each family of image models takes ("auto": the model chooses).
IMAGE_SIZES: dict[str, tuple[str, ...]] = {
    "gpt-image": ("auto", "1024x1024", "1536x1024", "1024x1536"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "gemini": ("auto", "1024x1024", "1536x1024", "1024x1536"),
}
IMAGE_QUALITIES = ("auto", "low", "medium", "high", "standard", "hd")
#: Images an edit may start from: at most this many, each at most this large.
MAX_SOURCES = 4
MAX_SOURCE_BYTES = 20 * 1024 * 1024
SOURCE_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"RIFF": "image/webp"}
VOICES = (
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable",
    "marin", "nova", "onyx", "sage", "shimmer", "verse",
)  # fmt: skip
AUDIO_FORMATS = ("mp3", "wav", "opus", "aac", "flac", "pcm")
MAX_SPEECH_CHARS = 4096
MAX_PROMPT_CHARS = 32_000
VIDEO_SECONDS = ("4", "8", "12")
VIDEO_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
_STEM = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    size: str
    quality: str
    fmt: str
    sources: list[tuple[str, bytes, str]] = field(default_factory=list)  # (name, bytes, mime)
    name: str | None = None


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str
    fmt: str
    instructions: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class VideoRequest:
    prompt: str
    seconds: str
    size: str
    name: str | None = None


def image_sizes(provider: str, model: str) -> tuple[str, ...]:
    """The sizes ``model`` takes."""
    if provider == "gemini":
        return IMAGE_SIZES["gemini"]
    for family in ("dall-e-3", "dall-e-2"):
        if model.startswith(family):
            return IMAGE_SIZES[family]
    return IMAGE_SIZES["gpt-image"]


_NAME = {"type": "string", "description": "A short file name for it, without extension."}


def image_spec(sizes: tuple[str, ...], can_edit: bool) -> ToolSpec:
    props: dict[str, Any] = {
        "prompt": {"type": "string", "description": "What the image shows, in detail."},
        "size": {"type": "string", "enum": list(sizes)},
        "quality": {"type": "string", "enum": list(IMAGE_QUALITIES)},
        "format": {"type": "string", "enum": list(IMAGE_FORMATS)},
        "name": _NAME,
    }
    if can_edit:
        props["edit_paths"] = {
            "type": "array",
            "items": {"type": "string"},
            "maxItems": MAX_SOURCES,
            "description": "Images you may read (your workspace, granted paths) to edit or "
            "start from, instead of making a new one.",
        }
    return ToolSpec(
        "generate_image",
        "Generate an image (or edit images) and save it as a file in your workspace; the "
        "result names the file. Name that file in your answer.",
        {"type": "object", "properties": props, "required": ["prompt"]},
    )


def audio_spec() -> ToolSpec:
    props = {
        "text": {"type": "string", "description": f"What is said (at most {MAX_SPEECH_CHARS})."},
        "voice": {"type": "string", "enum": list(VOICES)},
        "format": {"type": "string", "enum": list(AUDIO_FORMATS)},
        "instructions": {"type": "string", "description": "How to say it (tone, pace)."},
        "name": _NAME,
    }
    return ToolSpec(
        "generate_audio",
        "Read text aloud (speech) and save the audio as a file in your workspace; the result "
        "names the file. Name that file in your answer.",
        {"type": "object", "properties": props, "required": ["text"]},
    )


def video_spec() -> ToolSpec:
    props = {
        "prompt": {"type": "string", "description": "What happens in the video, in detail."},
        "seconds": {"type": "string", "enum": list(VIDEO_SECONDS)},
        "size": {"type": "string", "enum": list(VIDEO_SIZES)},
        "name": _NAME,
    }
    return ToolSpec(
        "generate_video",
        "Generate a short video (it takes minutes) and save it as an MP4 file in your "
        "workspace; the result names the file. Name that file in your answer.",
        {"type": "object", "properties": props, "required": ["prompt"]},
    )


# ------------------------------------------------------------------ arguments


def _text(args: dict[str, Any], key: str, limit: int) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ToolError(f"'{key}' must be a non-empty string")
    if len(value) > limit:
        raise ToolError(f"'{key}' has {len(value):,} characters; at most {limit:,}")
    return value


def _choice(args: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = args.get(key, default)
    if value is None:
        return default
    if value not in allowed:
        raise ToolError(f"unknown {key} {value!r}; one of: {', '.join(allowed)}")
    return str(value)


def _name(args: dict[str, Any]) -> str | None:
    value = args.get("name")
    if value is None:
        return None
    if not isinstance(value, str):
        raise ToolError("'name' must be a string")
    stem = _STEM.sub("-", value).strip("-")[:60]
    return stem or None


def source_type(data: bytes) -> str | None:
    """The type of an image to edit (PNG, JPEG, WebP), or None."""
    for magic, mime in SOURCE_TYPES.items():
        if data.startswith(magic) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    return None


def parse_image(
    args: dict[str, Any],
    *,
    sizes: tuple[str, ...],
    size: str,
    quality: str,
    fmt: str,
    read: Callable[[str], bytes] | None,
) -> ImageRequest:
    """``generate_image``'s arguments; ``read(path)`` reads an image to edit (through the
    agent's path rules; None: this run has no files to edit)."""
    prompt = _text(args, "prompt", MAX_PROMPT_CHARS)
    default_size = size if size in sizes else sizes[0]
    chosen = ImageRequest(
        prompt,
        _choice(args, "size", sizes, default_size),
        _choice(args, "quality", IMAGE_QUALITIES, quality),
        _choice(args, "format", IMAGE_FORMATS, fmt),
        name=_name(args),
    )
    paths = args.get("edit_paths") or []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ToolError("'edit_paths' must be a list of paths")
    if not paths:
        return chosen
    if read is None:
        raise ToolError("this run has no files, so there is no image to edit")
    if len(paths) > MAX_SOURCES:
        raise ToolError(f"at most {MAX_SOURCES} images to edit, got {len(paths)}")
    sources = []
    for path in paths:
        data = read(path)
        if len(data) > MAX_SOURCE_BYTES:
            raise ToolError(f"{path}: over {MAX_SOURCE_BYTES // (1024 * 1024)} MB")
        mime = source_type(data)
        if mime is None:
            raise ToolError(f"{path}: not a PNG, JPEG or WebP image")
        sources.append((path.rsplit("/", 1)[-1], data, mime))
    return ImageRequest(
        chosen.prompt, chosen.size, chosen.quality, chosen.fmt, sources, chosen.name
    )


def parse_speech(args: dict[str, Any], *, voice: str, fmt: str) -> SpeechRequest:
    text = _text(args, "text", MAX_SPEECH_CHARS)
    instructions = args.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise ToolError("'instructions' must be a string")
    voices = VOICES if voice in VOICES else (*VOICES, voice)  # a voice the config names
    return SpeechRequest(
        text,
        _choice(args, "voice", voices, voice),
        _choice(args, "format", AUDIO_FORMATS, fmt),
        instructions or None,
        _name(args),
    )


def parse_video(args: dict[str, Any], *, seconds: str, size: str) -> VideoRequest:
    given = args.get("seconds")
    if isinstance(given, int | float) and not isinstance(given, bool) and given == int(given):
        args = {**args, "seconds": str(int(given))}  # 8 as much as "8"
    return VideoRequest(
        _text(args, "prompt", MAX_PROMPT_CHARS),
        _choice(args, "seconds", VIDEO_SECONDS, seconds),
        _choice(args, "size", VIDEO_SIZES, size),
        _name(args),
    )
