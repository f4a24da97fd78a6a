"""``understand_image``: a PNG, JPEG, GIF or WebP image (a granted file or a URL) shown to the
vision model, which answers the agent's prompt about it."""

from __future__ import annotations

from typing import Any

from massgen.images import MAX_IMAGE_BYTES
from massgen.tools.base import Tool, ToolError
from massgen.tools.media.sources import MediaReader
from massgen.tools.media.understand_common import (
    IMAGE_TYPES,
    MediaLimits,
    MediaModels,
    arguments,
    as_image,
    spec,
)

NAME = "understand_image"
DEFAULT_PROMPT = "Describe this image in detail: what it shows, any text in it, and its style."


def tool(reader: MediaReader, models: MediaModels, limits: MediaLimits) -> Tool:
    async def run(given: dict[str, Any]) -> str:
        path, prompt = arguments(NAME, given)
        media = await reader.read(path, min(limits.max_bytes, MAX_IMAGE_BYTES))
        if media.media_type not in IMAGE_TYPES:
            raise ToolError(
                f"{NAME}: {media.name} is {media.media_type}, not an image this tool reads "
                "(PNG, JPEG, GIF, WebP)"
            )
        return await models.see(NAME, prompt or DEFAULT_PROMPT, [as_image(media)])

    description = (
        "Look at an image (PNG, JPEG, GIF, WebP) from your files or an http(s) URL and answer "
        "a question about it (default: describe it)."
    )
    return Tool(spec(NAME, description), run, "media")
