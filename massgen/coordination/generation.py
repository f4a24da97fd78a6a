"""Media generation in a run: each agent's ``generate_image`` / ``generate_audio`` /
``generate_video`` tools, made on the providers its config names (docs/architecture.md,
"Tools").

:func:`makers_for` builds an agent's generators when the team is built (a missing key is a
``ConfigurationError`` then, before any model call). :class:`RunGeneration` makes the tools of one
run: a call's arguments are checked (:mod:`massgen.tools.media.generate`), the budget is asked
for the most it may cost, the provider generates, the cost and tokens count to the agent, and
the medium is saved in the agent's workspace and the run's artifacts
(:mod:`massgen.workspaces.artifacts`), with an ``artifact_saved`` event. Every failure is one
error result for the model; the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.backends import pricing
from massgen.backends.errors import BackendError
from massgen.backends.media_openai import Media, OpenAIMedia
from massgen.backends.registry import resolve_api_key
from massgen.config.generation import (
    AudioGenConfig,
    GeneratorConfig,
    ImageGenConfig,
    VideoGenConfig,
)
from massgen.config.schema import BackendConfig
from massgen.coordination.budget import Budget, BudgetExceeded
from massgen.coordination.state import AgentState
from massgen.events import AgentNotice, ArtifactSaved, Event
from massgen.events import Usage as UsageEvent
from massgen.messages import MediaChunk, UsageChunk
from massgen.providers import endpoint
from massgen.tools.base import Tool, ToolError
from massgen.tools.media import generate
from massgen.workspaces import safe_open
from massgen.workspaces.artifacts import Artifact, ArtifactError, Artifacts, workspace_name
from massgen.workspaces.paths import PathPolicy, PathRefused

if TYPE_CHECKING:
    from massgen.coordination.files import RunFiles

TOOL_OF = {"image": "generate_image", "audio": "generate_audio", "video": "generate_video"}
#: What a generation tool may take beyond its provider's own timeout (saving, the budget).
SLACK_SECONDS = 30.0


@dataclass
class MediaMaker:
    """One kind of medium an agent may generate: its settings and the provider's client."""

    kind: str
    settings: GeneratorConfig
    model: str
    client: Any  # OpenAIMedia, or GeminiMedia for images

    async def close(self) -> None:
        closer = getattr(self.client, "aclose", None)
        if closer is not None:
            await closer()


def makers_for(kinds: dict[str, GeneratorConfig], where: str) -> dict[str, MediaMaker]:
    """An agent's generators, one per kind turned on; ``ConfigurationError`` (naming the
    variable to set) when a provider's key is missing."""
    makers: dict[str, MediaMaker] = {}
    for kind, settings in kinds.items():
        model = settings.model_for(kind)
        probe = BackendConfig(
            type=settings.provider,
            model=model,
            base_url=settings.base_url,
            api_key=settings.api_key,
        )
        key = resolve_api_key(probe, f"{where}: generation.{kind}")
        url = endpoint(probe)[0] or None
        client: Any
        if settings.provider == "gemini":
            from massgen.backends.media_gemini import GeminiMedia

            client = GeminiMedia(url, key, settings.timeout_seconds, model)
        elif settings.provider == "azure_openai":
            from massgen.backends.media_azure import AzureMedia

            client = AzureMedia(url, key, settings.timeout_seconds, model, settings.api_version)
        else:
            client = OpenAIMedia(url, key, settings.timeout_seconds)
        makers[kind] = MediaMaker(kind, settings, model, client)
    return makers


def image_tool_of(settings: ImageGenConfig) -> dict[str, Any]:
    """The Responses API's ``image_generation`` tool for ``generation.image``'s settings."""
    tool: dict[str, Any] = {"type": "image_generation", "model": settings.model_for("image")}
    if settings.size != "auto":
        tool["size"] = settings.size
    if settings.quality in ("low", "medium", "high"):
        tool["quality"] = settings.quality
    tool["output_format"] = settings.format
    return tool


@dataclass(frozen=True)
class Job:
    """One generation about to be made: what it is called, the most it may cost, the call."""

    what: str
    bound: float | None
    call: Callable[[], Awaitable[Media]]
    stem: str | None


class RunGeneration:
    """The generation tools of one run's agents and the artifacts they made."""

    def __init__(
        self,
        emit: Callable[[Event], None],
        budget: Budget,
        root: Path | None,
        files: RunFiles | None,
    ) -> None:
        self.emit = emit
        self.budget = budget
        self.files = files
        self.artifacts = Artifacts(root)
        #: per agent: what the provider's own image tool made since its last answer
        self.native: dict[str, list[str]] = {}
        #: agents told that the budget cannot pay for their provider's own image tool
        self.no_images: set[str] = set()

    @property
    def saved(self) -> list[Artifact]:
        return list(self.artifacts.saved)

    def tools(self, agent: AgentState) -> list[Tool]:
        """The agent's generation tools (none unless its config turns some on)."""
        out = []
        for kind, maker in agent.spec.generation.items():
            if kind == "image":
                sizes = generate.image_sizes(maker.settings.provider, maker.model)
                spec = generate.image_spec(sizes, self.files is not None)
            else:
                spec = generate.audio_spec() if kind == "audio" else generate.video_spec()
            run = functools.partial(self._run, agent, maker)
            timeout = maker.settings.timeout_seconds + SLACK_SECONDS
            out.append(Tool(spec, run, source="media", close=maker.close, timeout_s=timeout))
        return out

    def _policy(self, agent: AgentState) -> PathPolicy | None:
        if self.files is None:
            return None
        return self.files.agent_files(agent.label, lambda: agent.presenting).policy()

    async def _run(self, agent: AgentState, maker: MediaMaker, args: dict[str, Any]) -> str:
        policy = self._policy(agent)
        job = await asyncio.to_thread(_job, maker, args, policy)
        try:
            lease = self.budget.hold(agent, job.bound, job.what)
        except BudgetExceeded as exc:
            raise ToolError(str(exc)) from None
        try:
            media = await job.call()
        except BackendError as exc:
            raise ToolError(f"{TOOL_OF[maker.kind]}: {exc}") from None
        finally:
            self.budget.release(lease)
        self._count(agent, media, f"{TOOL_OF[maker.kind]}:{maker.model}")
        try:
            artifact = await asyncio.to_thread(
                self.artifacts.save,
                media.data,
                media.mime,
                kind=maker.kind,
                agent=agent.id,
                tool=TOOL_OF[maker.kind],
                stem=job.stem,
                policy=policy,
            )
        except (ArtifactError, OSError) as exc:
            raise ToolError(f"{TOOL_OF[maker.kind]}: made, but not saved: {exc}") from None
        self._announce(agent, artifact, media.cost_usd)
        return _said(artifact, media, policy)

    @contextlib.contextmanager
    def native_images(self, agent: AgentState) -> Iterator[None]:
        """Around a model call of an agent whose provider makes images in its reply (the
        Responses API's ``image_generation``): the budget holds one image's most (the
        largest size, high quality, unless the config fixes them) for the call, so an image
        cannot take a capped run past its cap; when it cannot be held, the call goes without
        the tool and the user is told once (docs/architecture.md, "Budgets")."""
        backend = agent.spec.backend
        tool = getattr(backend, "image_tool", None)
        if not tool or not self.budget.active:
            yield
            return
        model = str(tool.get("model") or "gpt-image-1")
        size = str(tool.get("size") or "1536x1024")
        bound = pricing.image_cost(model, quality=str(tool.get("quality") or "high"), size=size)
        try:
            lease = self.budget.hold(agent, bound, f"an image from {model}")
        except BudgetExceeded as exc:
            if exc is self.budget.stopped:
                raise
            if agent.id not in self.no_images:
                self.no_images.add(agent.id)
                why = f"{exc}; image_generation is not offered to it while the budget is short"
                self.emit(AgentNotice(agent_id=agent.id, message=why))
            from massgen.backends.openai_responses import without_image_tool

            with without_image_tool():  # this call only: others on the backend keep it
                yield
            return
        try:
            yield
        finally:
            self.budget.release(lease)

    async def save_native(self, agent: AgentState, chunk: MediaChunk) -> None:
        """Keep an image the Responses API's ``image_generation`` tool made in the agent's
        reply, counted at the tool's price (its image tokens are not in the reply's usage)."""
        tool = getattr(agent.spec.backend, "image_tool", None) or {}
        model = str(tool.get("model") or "gpt-image-1")
        quality = chunk.quality or str(tool.get("quality") or "auto")
        size = chunk.size or str(tool.get("size") or "auto")
        cost = pricing.image_cost(model, quality=quality, size=size)
        self._count(agent, Media(chunk.data, chunk.mime, cost), f"{chunk.tool}:{model}")
        policy = self._policy(agent)
        try:
            artifact = await asyncio.to_thread(
                self.artifacts.save,
                chunk.data,
                chunk.mime,
                kind=chunk.kind,
                agent=agent.id,
                tool=chunk.tool,
                stem=chunk.kind,
                policy=policy,
            )
        except (ArtifactError, OSError) as exc:
            self.native.setdefault(agent.id, []).append(f"(an image, not saved: {exc})")
            return
        self._announce(agent, artifact, cost)
        shown = workspace_name(artifact, policy.workspace) if policy else None
        self.native.setdefault(agent.id, []).append(shown or artifact.name)

    def native_note(self, agent: AgentState) -> str:
        """The line an answer gets naming the images the provider's tool made for it (and
        forgets them), or ''."""
        made = self.native.pop(agent.id, [])
        return f"\n\n[generated files: {', '.join(made)}]" if made else ""

    def _announce(self, agent: AgentState, artifact: Artifact, cost: float | None) -> None:
        self.emit(
            ArtifactSaved(
                agent_id=agent.id,
                turn=agent.turns,
                name=artifact.name,
                path=artifact.path,
                kind=artifact.kind,
                mime=artifact.mime,
                size=artifact.size,
                tool=artifact.tool,
                workspace_path=artifact.workspace_path,
                cost_usd=cost,
            )
        )

    def _count(self, agent: AgentState, media: Media, source: str) -> None:
        """The generation's tokens and cost, to the agent (and so the run and its budget)."""
        chunk = UsageChunk(
            prompt_tokens=media.prompt_tokens, completion_tokens=media.completion_tokens
        )
        agent.usage.requests += 1
        agent.usage.add_call(chunk, media.cost_usd)
        self.emit(
            UsageEvent(
                agent_id=agent.id,
                turn=agent.turns,
                prompt_tokens=chunk.prompt_tokens,
                completion_tokens=chunk.completion_tokens,
                cost_usd=media.cost_usd,
                source=source,
            )
        )


def _job(maker: MediaMaker, args: dict[str, Any], policy: PathPolicy | None) -> Job:
    """The call's arguments checked (and images to edit read, in this thread) into a job."""
    settings, model, client = maker.settings, maker.model, maker.client
    if isinstance(settings, ImageGenConfig):
        request = generate.parse_image(
            args,
            sizes=generate.image_sizes(settings.provider, model),
            size=settings.size,
            quality=settings.quality,
            fmt=settings.format,
            read=_reader(policy) if policy is not None else None,
        )
        quality = "high" if request.quality == "auto" else request.quality
        bound = pricing.image_cost(model, quality=quality, size=request.size)

        def make_image() -> Awaitable[Media]:
            return client.image(model, request)  # type: ignore[no-any-return]

        verb = "an edit" if request.sources else "an image"
        return Job(f"{verb} from {model}", bound, make_image, request.name)
    if isinstance(settings, AudioGenConfig):
        speech = generate.parse_speech(args, voice=settings.voice, fmt=settings.format)
        # a bound: the text read at a slow pace (two-thirds of the usual rate)
        seconds = len(speech.text) / pricing.SPEECH_CHARS_PER_SECOND * 1.5
        bound = pricing.speech_cost(model, chars=len(speech.text), seconds=seconds)

        def make_speech() -> Awaitable[Media]:
            return client.speech(  # type: ignore[no-any-return]
                model, speech.text, voice=speech.voice, fmt=speech.fmt,
                instructions=speech.instructions,
            )  # fmt: skip

        return Job(f"speech from {model}", bound, make_speech, speech.name)
    assert isinstance(settings, VideoGenConfig)
    video = generate.parse_video(args, seconds=settings.seconds, size=settings.size)
    bound = pricing.video_cost(model, seconds=float(video.seconds), size=video.size)
    poll = settings.poll_seconds

    def make_video() -> Awaitable[Media]:
        return client.video(  # type: ignore[no-any-return]
            model, video.prompt, seconds=video.seconds, size=video.size, poll_s=poll
        )

    return Job(f"a {video.seconds}s video from {model}", bound, make_video, video.name)


def _reader(policy: PathPolicy) -> Callable[[str], bytes]:
    """Reads an image to edit through the agent's path rules (what it may read, opened
    through the descriptors the check held)."""

    def read(path: str) -> bytes:
        try:
            with policy.locate(path) as location:
                fd = safe_open.open_file(location)
                try:
                    return safe_open.read_at_most(fd, generate.MAX_SOURCE_BYTES + 1)
                finally:
                    os.close(fd)
        except PathRefused as exc:
            raise ToolError(str(exc)) from None
        except OSError as exc:
            raise ToolError(f"{path}: {exc.strerror or exc}") from None

    return read


def _said(artifact: Artifact, media: Media, policy: PathPolicy | None) -> str:
    """The tool's result: where the medium is, under the name the answer should use."""
    facts = f"{artifact.mime}, {artifact.size:,} bytes"
    extra = "".join(f"; {k}: {v}" for k, v in media.detail.items() if k != "job")
    if policy is not None and artifact.workspace_path:
        shown = workspace_name(artifact, policy.workspace)
        return (
            f"Saved the {artifact.kind} as {shown} in your workspace "
            f"({artifact.workspace_path}; {facts}{extra}). Name the file {shown} in your answer."
        )
    return (
        f"Saved the {artifact.kind} as {artifact.name} in the run's artifacts ({facts}{extra}). "
        f"Name the file {artifact.name} in your answer."
    )
