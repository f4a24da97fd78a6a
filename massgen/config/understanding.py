"""The understanding tools' config (``agents[].understanding``, ``orchestrator.understanding``;
README, "Multimodal"): which tools, the models behind them, and their bounds."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator

from massgen.config.fields import HttpURL, Strict
from massgen.providers import check_backend_type

UnderstandingTool = Literal[
    "understand_image", "understand_audio", "understand_video", "understand_file"
]
UNDERSTANDING_TOOLS: tuple[UnderstandingTool, ...] = (
    "understand_image",
    "understand_audio",
    "understand_video",
    "understand_file",
)
#: The models behind them when the config names none (OpenAI's, as the backends reference says).
DEFAULT_IMAGE_MODEL = "gpt-4.1-mini"
DEFAULT_AUDIO_MODEL = "gpt-4o-mini-transcribe"


class MediaModelConfig(Strict):
    """A model behind the tools: a backend ``type`` and ``model`` with how to reach it."""

    type: str = Field(default="openai", description="Any backend type massgen runs.")
    model: str = Field(min_length=1)
    base_url: HttpURL = Field(default=None, description="Default: the provider's own.")
    api_key: SecretStr | None = Field(default=None, description="Default: the provider's variable.")
    vision: bool | None = Field(
        default=None, description="OpenAI-compatible servers: takes images."
    )
    max_tokens: int | None = Field(default=None, gt=0, description="A description's length (1024).")
    timeout: float = Field(default=120.0, gt=0, description="Seconds for one request.")
    max_retries: int = Field(default=3, ge=0, le=10)
    self_hosted: bool | None = Field(default=None, description="Its calls cost nothing.")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        check_backend_type(value)
        return value


class UnderstandingConfig(Strict):
    """The understanding tools of an agent, or of the team (an agent's own setting replaces
    the team's). They read only files the agent may read, or http(s) URLs."""

    tools: list[UnderstandingTool] = Field(
        default_factory=lambda: list(UNDERSTANDING_TOOLS),
        description="Which tools the agent gets (default: all four).",
    )
    image_model: MediaModelConfig | None = Field(
        default=None,
        description="The vision model that sees images, video frames and scanned pages: any "
        f"backend that takes images (default: type openai, model {DEFAULT_IMAGE_MODEL}).",
    )
    audio_model: MediaModelConfig | None = Field(
        default=None,
        description="The transcription model for audio and video sound: type openai or an "
        f"OpenAI-compatible server (default: type openai, model {DEFAULT_AUDIO_MODEL}).",
    )
    max_file_mb: float = Field(
        default=25, gt=0, le=1024, description="An image, recording or document, at most (MiB)."
    )
    max_video_mb: float = Field(default=100, gt=0, le=4096, description="A video, at most (MiB).")
    video_frames: int = Field(
        default=6, ge=1, le=32, description="Frames sampled evenly through a video."
    )
    pdf_pages: int = Field(default=50, ge=1, le=2000, description="A PDF's pages read, at most.")
    allow_private_urls: bool = Field(
        default=False,
        description="Fetch URLs whose host is a private, loopback or link-local address "
        "(refused by default: a model could otherwise reach your network's services).",
    )
    url_timeout_seconds: float = Field(default=30.0, gt=0, description="One URL's download.")

    def models(self) -> tuple[MediaModelConfig, MediaModelConfig]:
        """The image and audio models, defaults filled in."""
        image = self.image_model or MediaModelConfig(model=DEFAULT_IMAGE_MODEL)
        audio = self.audio_model or MediaModelConfig(model=DEFAULT_AUDIO_MODEL)
        return image, audio


def understanding_flag(value: Any) -> Any:
    """``true`` is every tool with the defaults; ``false`` is none."""
    if value is True:
        return UnderstandingConfig()
    return UnderstandingConfig(tools=[]) if value is False else value


#: A config's ``understanding``: a mapping, ``true`` or ``false``.
Understanding = Annotated[UnderstandingConfig | None, BeforeValidator(understanding_flag)]


def effective(
    own: UnderstandingConfig | None, team: UnderstandingConfig | None
) -> UnderstandingConfig | None:
    """An agent's understanding tools: its own setting, else the team's (None: none)."""
    chosen = own if own is not None else team
    return chosen if chosen is not None and chosen.tools else None
