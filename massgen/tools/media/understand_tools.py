"""The understanding tools an agent is given: :func:`understanding_tools` makes the enabled
ones on the agent's media reader and models."""

from __future__ import annotations

from collections.abc import Sequence

from massgen.tools.base import Tool
from massgen.tools.media import (
    understand_audio,
    understand_file,
    understand_image,
    understand_video,
)
from massgen.tools.media.sources import MediaReader
from massgen.tools.media.understand_common import MediaLimits, MediaModels

#: The tools, in the order they are offered.
MAKERS = {
    "understand_image": understand_image.tool,
    "understand_audio": understand_audio.tool,
    "understand_video": understand_video.tool,
    "understand_file": understand_file.tool,
}


def understanding_tools(
    enabled: Sequence[str], reader: MediaReader, models: MediaModels, limits: MediaLimits
) -> list[Tool]:
    """The enabled understanding tools of one agent."""
    return [make(reader, models, limits) for name, make in MAKERS.items() if name in enabled]
