"""The models behind an agent's understanding tools (``massgen/tools/media``): the vision model
and the transcription model of its ``understanding`` config, each call bounded by the run's
budget and counted to the calling agent (a ``usage`` event whose ``source`` names the tool and
the model), so the run's tokens and cost include them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from massgen.backends.errors import BackendError
from massgen.backends.pricing import cost_usd, price_for
from massgen.backends.registry import create_backend, resolve_api_key
from massgen.backends.retry import RetryPolicy, stream_with_retries
from massgen.backends.transcription import transcribe, transcription_problem
from massgen.config.schema import BackendConfig
from massgen.config.understanding import MediaModelConfig, UnderstandingConfig
from massgen.coordination import budget
from massgen.coordination.state import AgentState
from massgen.events import Event
from massgen.events import Usage as UsageEvent
from massgen.images import Image
from massgen.messages import Message, TextChunk, UsageChunk
from massgen.tools.base import Tool, ToolError

if TYPE_CHECKING:
    from massgen.tools.media.sources import Media
    from massgen.workspaces.artifacts import Artifacts
    from massgen.workspaces.paths import PathPolicy

#: A vision call's completion bound when its model's config sets no max_tokens.
VISION_MAX_TOKENS = 1024


def check_understanding(understanding: UnderstandingConfig, where: str) -> None:
    """The keys of the models the enabled tools need (``ConfigurationError`` naming the
    variable to set, before any model is called)."""
    image, audio = (backend_config(m) for m in understanding.models())
    tools = set(understanding.tools)
    if tools & {"understand_image", "understand_video", "understand_file"}:
        resolve_api_key(image, f"{where}.understanding.image_model")
    if tools & {"understand_audio", "understand_video"}:
        resolve_api_key(audio, f"{where}.understanding.audio_model")


def backend_config(model: MediaModelConfig) -> BackendConfig:
    """The backend config of a model behind the tools (``max_tokens`` bounded for vision)."""
    fields = model.model_dump(exclude_none=True)
    fields.setdefault("max_tokens", VISION_MAX_TOKENS)
    return BackendConfig.model_validate(fields)


class AgentMedia:
    """The :class:`~massgen.tools.media.understand_common.MediaModels` of one agent in one
    run."""

    def __init__(
        self,
        understanding: UnderstandingConfig,
        agent: AgentState,
        emit: Callable[[Event], None],
        run_budget: budget.Budget,
    ) -> None:
        self.image_model, self.audio_model = (backend_config(m) for m in understanding.models())
        self.agent = agent
        self.emit = emit
        self.budget = run_budget

    async def see(self, tool: str, prompt: str, images: Sequence[Image]) -> str:
        config = self.image_model
        backend = create_backend(config)
        try:
            if not backend.supports_images:
                raise ToolError(
                    f"{tool}: the image model ({config.type} {backend.model}) cannot take "
                    "images; set understanding.image_model to one that can (vision: true for "
                    "an OpenAI-compatible server)"
                )
            messages = [Message("user", prompt, images=list(images))]
            tokens = math.ceil(len(prompt) / 3) + len(images) * budget.IMAGE_TOKENS
            lease = self._reserve(tool, config, tokens + (config.max_tokens or 0))
            parts: list[str] = []
            try:
                policy = RetryPolicy(max_attempts=config.max_retries + 1)
                async for chunk in stream_with_retries(backend, messages, None, policy):
                    if isinstance(chunk, TextChunk):
                        parts.append(chunk.text)
                    elif isinstance(chunk, UsageChunk):
                        cost = chunk.cost_usd
                        if cost is None:
                            cost = cost_usd(backend.model, chunk, self_hosted=backend.self_hosted)
                        self._count(tool, backend.model, chunk, cost)
            except BackendError as exc:
                raise ToolError(f"{tool}: the image model failed: {exc}") from None
            finally:
                self.budget.release(lease)
        finally:
            await backend.aclose()
        return "".join(parts).strip() or "(the image model returned no text)"

    async def hear(self, tool: str, audio: Media, prompt: str) -> str:
        config = self.audio_model
        problem = transcription_problem(config)
        if problem:
            raise ToolError(f"{tool}: {problem}")
        lease = self._reserve(tool, config, 0)
        try:
            key = resolve_api_key(config)
            result = await transcribe(config, key, audio.data, audio.name, audio.media_type, prompt)
        except BackendError as exc:
            raise ToolError(f"{tool}: the transcription model failed: {exc}") from None
        finally:
            self.budget.release(lease)
        self._count(tool, config.model or "", result.usage, result.cost_usd)
        return result.text

    def _reserve(self, tool: str, config: BackendConfig, tokens: int) -> budget.Lease:
        price = price_for(config.model or "")
        cost = 0.0 if price is None else tokens * max(price.input, price.output) / 1e6
        try:
            return self.budget.reserve_bound(self.agent, tokens, cost)
        except budget.BudgetExceeded as exc:
            raise ToolError(f"{tool}: not run: {exc}") from None

    def _count(self, tool: str, model: str, chunk: UsageChunk, cost: float | None) -> None:
        self.agent.usage.requests += 1
        self.agent.usage.add_call(chunk, cost)
        self.emit(
            UsageEvent(
                agent_id=self.agent.id,
                turn=self.agent.turns,
                prompt_tokens=chunk.prompt_tokens,
                completion_tokens=chunk.completion_tokens,
                reasoning_tokens=chunk.reasoning_tokens,
                cached_tokens=chunk.cached_tokens,
                cost_usd=cost,
                source=f"{tool}:{model}",
            )
        )


def understanding_tools(
    agent: AgentState,
    policy: Callable[[], PathPolicy] | None,
    emit: Callable[[Event], None],
    run_budget: budget.Budget,
    artifacts: Artifacts | None = None,
) -> list[Tool]:
    """Agent ``agent``'s understanding tools (none when it has none): the run's ``artifacts``
    by name, paths read through ``policy()`` (None: the run grants no files), URLs."""
    understanding = agent.spec.understanding
    if understanding is None:
        return []
    from massgen.tools.media.sources import MediaReader, SourceLimits
    from massgen.tools.media.understand_common import MediaLimits
    from massgen.tools.media.understand_tools import understanding_tools as make

    mib = 2**20
    limits = MediaLimits(
        max_bytes=int(understanding.max_file_mb * mib),
        max_video_bytes=int(understanding.max_video_mb * mib),
        video_frames=understanding.video_frames,
        pdf_pages=understanding.pdf_pages,
    )
    sources = SourceLimits(
        max_bytes=limits.max_bytes,
        url_timeout_s=understanding.url_timeout_seconds,
        allow_private_urls=understanding.allow_private_urls,
    )
    models = AgentMedia(understanding, agent, emit, run_budget)
    reader = MediaReader(policy, sources, artifacts=artifacts)
    return make(understanding.tools, reader, models, limits)
