"""``understand_audio``: a recording (WAV, MP3, M4A, OGG, FLAC, WebM) transcribed by the
transcription model."""

from __future__ import annotations

from typing import Any

from massgen.tools.base import Tool, ToolError
from massgen.tools.media.sources import MediaReader
from massgen.tools.media.understand_common import MediaLimits, MediaModels, arguments, spec

NAME = "understand_audio"
AUDIO_TYPES = (
    "audio/wav",
    "audio/x-wav",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/flac",
    "audio/webm",
    "video/webm",  # WebM's signature does not say whether it holds video
)


def tool(reader: MediaReader, models: MediaModels, limits: MediaLimits) -> Tool:
    async def run(given: dict[str, Any]) -> str:
        path, prompt = arguments(NAME, given)
        media = await reader.read(path, limits.max_bytes)
        if media.media_type not in AUDIO_TYPES:
            raise ToolError(
                f"{NAME}: {media.name} is {media.media_type}, not audio this tool reads "
                "(WAV, MP3, M4A, OGG, FLAC, WebM)"
            )
        text = await models.hear(NAME, media, prompt)
        return f"Transcript of {media.name}:\n{text.strip() or '(no speech)'}"

    description = (
        "Transcribe a recording (WAV, MP3, M4A, OGG, FLAC, WebM) from your files or an http(s) "
        "URL. prompt: names or words it may contain."
    )
    return Tool(spec(NAME, description), run, "media")
