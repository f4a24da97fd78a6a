"""``understand_video``: a video (MP4, MOV, WebM, MKV, AVI) as frames sampled evenly through it,
shown to the vision model, plus its audio track transcribed. Decoding is PyAV's (its wheels
bundle FFmpeg: ``pip install 'massgen[media]'``)."""

from __future__ import annotations

import asyncio
import io
import wave
from dataclasses import dataclass
from typing import Any

from massgen.images import Image
from massgen.tools.base import Tool, ToolError
from massgen.tools.media.sources import Media, MediaReader
from massgen.tools.media.understand_common import MediaLimits, MediaModels, arguments, spec

NAME = "understand_video"
MISSING = "understand_video needs PyAV to decode video: pip install 'massgen[media]'"
FRAME_SIDE = 768  # frames are scaled down to fit this square (vision models tile larger ones)
AUDIO_RATE = 16_000  # mono 16-bit: what speech recognition needs
MAX_AUDIO_BYTES = 25 * 2**20  # the transcription API's upload limit


@dataclass
class Decoded:
    frames: list[tuple[float, bytes]]  # (seconds, PNG)
    duration: float
    audio: bytes | None  # a WAV of the audio track, if there is one
    audio_cut: bool = False


def tool(reader: MediaReader, models: MediaModels, limits: MediaLimits) -> Tool:
    async def run(given: dict[str, Any]) -> str:
        path, prompt = arguments(NAME, given)
        try:
            import av  # noqa: F401
        except ImportError:
            raise ToolError(MISSING) from None
        media = await reader.read(path, limits.max_video_bytes)
        if media.kind != "video":
            raise ToolError(
                f"{NAME}: {media.name} is {media.media_type}, not a video this tool reads "
                "(MP4, MOV, WebM, MKV, AVI)"
            )
        decoded = await asyncio.to_thread(decode, media.data, media.name, limits.video_frames)
        return await describe(media, decoded, prompt, models)

    description = (
        "Watch a video (MP4, MOV, WebM, MKV, AVI) from your files or an http(s) URL: frames "
        "sampled through it are described, and its audio track transcribed."
    )
    return Tool(spec(NAME, description), run, "media")


async def describe(media: Media, decoded: Decoded, prompt: str, models: MediaModels) -> str:
    times = ", ".join(f"{t:.1f}s" for t, _ in decoded.frames)
    lines = [f"{media.name}: {decoded.duration:.1f}s of video."]
    if decoded.frames:
        question = (
            f"These are {len(decoded.frames)} frames sampled in order from a "
            f"{decoded.duration:.1f}-second video, at {times}. "
            + (prompt or "Describe what happens in the video.")
        )
        images = [
            Image(f"{media.name}@{t:.1f}s.png", "image/png", data=png) for t, png in decoded.frames
        ]
        seen = await models.see(NAME, question, images)
        lines.append(f"Frames ({len(images)}, at {times}):\n{seen.strip()}")
    if decoded.audio is None:
        lines.append("Audio track: none.")
    else:
        audio = Media(f"{media.name}.wav", decoded.audio, "audio/wav")
        heard = (await models.hear(NAME, audio, "")).strip() or "(no speech)"
        cut = " (its first part only: the track is longer than can be sent)" * decoded.audio_cut
        lines.append(f"Audio track, transcribed{cut}:\n{heard}")
    return "\n\n".join(lines)


def decode(data: bytes, name: str, frames: int) -> Decoded:
    """``frames`` frames spread evenly over the video, and its audio track as a WAV."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            duration = float(container.duration or 0) / av.time_base
            video = container.streams.video[0] if container.streams.video else None
            if video is None:
                raise ToolError(f"{NAME}: {name} has no video track")
            if video.duration and video.time_base:
                duration = duration or float(video.duration * video.time_base)
            sampled = _frames(container, video, duration, frames)
        with av.open(io.BytesIO(data), mode="r") as container:
            audio, cut = _audio(container) if container.streams.audio else (None, False)
    except av.FFmpegError as exc:
        raise ToolError(f"{NAME}: {name} cannot be decoded ({exc})") from None
    return Decoded(sampled, duration, audio, cut)


def _frames(container: Any, video: Any, duration: float, count: int) -> list[tuple[float, bytes]]:
    targets = [duration * (i + 0.5) / count for i in range(count)] if duration else [0.0]
    out: list[tuple[float, bytes]] = []
    for target in targets:
        if video.time_base:
            container.seek(int(target / video.time_base), stream=video, backward=True)
        chosen = None
        for frame in container.decode(video):
            chosen = frame  # the last frame stands for a target past it
            if float(frame.time or 0.0) + 0.05 >= target or not duration:
                break
        if chosen is not None:
            at = round(float(chosen.time or 0.0), 2)
            if not out or out[-1][0] != at:
                out.append((at, _png(chosen)))
    return out


def _png(frame: Any) -> bytes:
    picture = frame.to_image()
    picture.thumbnail((FRAME_SIDE, FRAME_SIDE))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _audio(container: Any) -> tuple[bytes, bool]:
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
    pcm, size, cut = [], 0, False
    for frame in container.decode(container.streams.audio[0]):
        for out in resampler.resample(frame):
            chunk = bytes(out.planes[0])[: out.samples * 2]
            if size + len(chunk) > MAX_AUDIO_BYTES - 64:
                cut = True
                break
            pcm.append(chunk)
            size += len(chunk)
        if cut:
            break
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(AUDIO_RATE)
        wav.writeframes(b"".join(pcm))
    return buffer.getvalue(), cut
