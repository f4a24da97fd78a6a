"""Media generation in the config: ``generation:`` on an agent, or on the orchestrator for every
agent (an agent's own entry wins, kind by kind).

Each kind (``image``, ``audio``, ``video``) is ``true`` (the defaults below), ``false``, or a
mapping that names the provider, the model and the kind's defaults. The tools it turns on are
``generate_image``, ``generate_audio`` and ``generate_video`` (massgen/tools/media/generate.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from massgen.config.fields import HttpURL, Strict

#: Which provider can make which kind (massgen speaks these APIs; others are refused).
CAPABLE: dict[str, tuple[str, ...]] = {
    "image": ("openai", "azure_openai", "gemini"),
    "audio": ("openai",),
    "video": ("openai",),
}
#: The model each provider uses for a kind when the config names none.
DEFAULT_MODELS: dict[tuple[str, str], str] = {
    ("image", "openai"): "gpt-image-1",
    ("image", "azure_openai"): "gpt-image-1",  # the deployment's name
    ("image", "gemini"): "gemini-2.5-flash-image",
    ("audio", "openai"): "gpt-4o-mini-tts",
    ("video", "openai"): "sora-2",
}


class GeneratorConfig(Strict):
    """Who generates one kind of medium, and with what."""

    provider: Literal["openai", "azure_openai", "gemini"] = Field(
        default="openai",
        description="openai (image, audio, video), azure_openai (image) or gemini (image).",
    )
    model: str | None = Field(
        default=None,
        description="Default: gpt-image-1, gemini-2.5-flash-image, gpt-4o-mini-tts, sora-2 "
        "(azure_openai: the deployment's name, default gpt-image-1).",
    )
    base_url: HttpURL = Field(
        default=None,
        description="Default: OPENAI_BASE_URL / AZURE_OPENAI_ENDPOINT / "
        "GOOGLE_GEMINI_BASE_URL, else the provider's.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Default: OPENAI_API_KEY / AZURE_OPENAI_API_KEY / GEMINI_API_KEY.",
    )
    api_version: str | None = Field(
        default=None,
        description="azure_openai: the data-plane API version (default "
        "AZURE_OPENAI_API_VERSION, else 2025-04-01-preview).",
    )
    timeout_seconds: float = Field(
        default=180.0, gt=0, description="One generation at most (video: its whole wait)."
    )

    @model_validator(mode="after")
    def _azure_only(self) -> GeneratorConfig:
        if self.api_version is not None and self.provider != "azure_openai":
            raise ValueError(f"api_version: only for provider azure_openai, not {self.provider}")
        return self

    def model_for(self, kind: str) -> str:
        return self.model or DEFAULT_MODELS[(kind, self.provider)]


class ImageGenConfig(GeneratorConfig):
    size: str = Field(default="auto", description="The default size (the tool may ask another).")
    quality: Literal["auto", "low", "medium", "high", "standard", "hd"] = "auto"
    format: Literal["png", "jpeg", "webp"] = "png"
    responses_tool: bool = Field(
        default=False,
        description="type: openai agents: make images with the Responses API's own "
        "image_generation tool inside the model's reply, instead of generate_image.",
    )


class AudioGenConfig(GeneratorConfig):
    voice: str = Field(default="alloy", description="The default voice.")
    format: Literal["mp3", "wav", "opus", "aac", "flac", "pcm"] = "mp3"


class VideoGenConfig(GeneratorConfig):
    seconds: Literal["4", "8", "12"] = "4"
    size: Literal["720x1280", "1280x720", "1024x1792", "1792x1024"] = "1280x720"
    poll_seconds: float = Field(default=5.0, gt=0, description="How often the job is asked.")
    timeout_seconds: float = Field(default=600.0, gt=0, description="The whole wait, at most.")


def _kind(value: Any) -> Any:
    """``true`` is the defaults; ``false`` / null is off."""
    if value is True:
        return {}
    if value is False:
        return None
    return value


class GenerationConfig(Strict):
    """``generation:`` (an agent's, or the orchestrator's for every agent)."""

    image: ImageGenConfig | None = Field(default=None, description="generate_image.")
    audio: AudioGenConfig | None = Field(default=None, description="generate_audio (speech).")
    video: VideoGenConfig | None = Field(default=None, description="generate_video (Sora 2).")

    @field_validator("image", "audio", "video", mode="before")
    @classmethod
    def _on_off(cls, value: Any) -> Any:
        return _kind(value)

    @model_validator(mode="after")
    def _capable(self) -> GenerationConfig:
        for kind in CAPABLE:
            entry = getattr(self, kind)
            if entry is not None and entry.provider not in CAPABLE[kind]:
                able = " or ".join(CAPABLE[kind])
                raise ValueError(
                    f"{kind}.provider: {entry.provider} has no {kind} generation in massgen "
                    f"(use {able})"
                )
        return self

    def kinds(self) -> dict[str, GeneratorConfig]:
        """The kinds turned on, each with its settings."""
        out: dict[str, GeneratorConfig] = {}
        for kind in CAPABLE:
            entry = getattr(self, kind)
            if entry is not None:
                out[kind] = entry
        return out


def merged(agent: GenerationConfig | None, team: GenerationConfig | None) -> dict[str, Any]:
    """An agent's kinds: its own entry for each kind it sets, else the team's."""
    kinds = dict(team.kinds()) if team is not None else {}
    if agent is not None:
        fields = agent.model_fields_set
        for kind in CAPABLE:
            if kind in fields:
                entry = getattr(agent, kind)
                if entry is None:
                    kinds.pop(kind, None)  # the agent turns the team's off
                else:
                    kinds[kind] = entry
    return kinds
