"""What the understanding tools share: the models they ask (:class:`MediaModels`, supplied by
the engine so that each call is counted in the run's usage and budget), their limits and the
arguments they take."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from massgen.images import Image
from massgen.messages import ToolSpec
from massgen.tools.base import ToolError
from massgen.tools.media.sources import Media

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class MediaModels(Protocol):
    """The models behind the tools. ``tool`` names the calling tool (for the usage record);
    a model that cannot do the job, or fails, raises :class:`ToolError`."""

    async def see(self, tool: str, prompt: str, images: Sequence[Image]) -> str:
        """What a vision model answers to ``prompt`` about ``images``."""
        ...

    async def hear(self, tool: str, audio: Media, prompt: str) -> str:
        """The transcript of ``audio`` (``prompt``: words or context that guide it)."""
        ...


@dataclass(frozen=True)
class MediaLimits:
    """Per-medium bounds (documented in the README's "Multimodal" section)."""

    max_bytes: int = 25 * 2**20
    max_video_bytes: int = 100 * 2**20
    video_frames: int = 6
    pdf_pages: int = 50
    page_images: int = 8


def arguments(
    name: str, given: dict[str, Any], optional: Sequence[str] = ("prompt",)
) -> tuple[str, str]:
    """``(path, prompt)`` from a call's arguments; an unknown or mistyped one is refused."""
    unknown = sorted(set(given) - {"path", *optional})
    if unknown:
        raise ToolError(f"{name}: unknown argument '{unknown[0]}' (takes path, prompt)")
    prompt = given.get("prompt") or ""
    if not isinstance(prompt, str):
        raise ToolError(f"{name}: prompt must be a string")
    return given.get("path", ""), prompt


#: What a tool's ``path`` may be (:class:`~massgen.tools.media.sources.MediaReader`).
PATH_HELP = (
    "A file path, an http(s) URL, or the name of a medium made in this run "
    "(as its tool named it, e.g. agent1-chart.png)."
)


def spec(name: str, description: str) -> ToolSpec:
    """A tool's spec: a ``path`` (a file, a URL, a medium of the run) and an optional
    ``prompt``."""
    return ToolSpec(
        name,
        description,
        {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": PATH_HELP},
                "prompt": {
                    "type": "string",
                    "description": "What to find out (default: a full description).",
                },
            },
            "required": ["path"],
        },
    )


def as_image(media: Media) -> Image:
    return Image(media.name, media.media_type, data=media.data)
