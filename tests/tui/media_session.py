"""A recorded session in which agents made media: a picture and a sound (real small files,
made here), as the events a run writes; for the app's media tests and snapshot."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from massgen.events import (
    AgentStatusChanged,
    AgentTurnStarted,
    AnswerSubmitted,
    ArtifactSaved,
    Event,
    FinalAnswer,
    RunFinished,
    RunStarted,
    ToolCallFinished,
    ToolCallStarted,
    VoteCast,
    WinnerSelected,
)

T0 = 1000.0
QUESTION = "Draw a fox in the snow and say what it shows"


def fox_png(path: Path) -> Path:
    """A small picture: a red-orange fox's head on snow under a blue sky (made, not fetched)."""
    image = Image.new("RGB", (96, 64), (120, 170, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 44, 96, 64), fill=(245, 245, 250))
    draw.polygon([(30, 44), (48, 20), (66, 44)], fill=(220, 90, 30))
    draw.polygon([(34, 28), (38, 12), (44, 24)], fill=(200, 70, 20))
    draw.polygon([(52, 24), (58, 12), (62, 28)], fill=(200, 70, 20))
    draw.ellipse((43, 32, 47, 36), fill=(20, 20, 20))
    draw.ellipse((51, 32, 55, 36), fill=(20, 20, 20))
    image.save(path)
    return path


def howl_wav(path: Path) -> Path:
    """A quarter second of a 440 Hz tone."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        frames = (int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(2000))
        out.writeframes(b"".join(struct.pack("<h", f) for f in frames))
    return path


def media_session(folder: Path) -> list[list[dict[str, Any]]]:
    """One part: the artist draws a fox (generate_image) and records a howl
    (generate_audio), answers; the critic answers and votes for the artist; the artist's
    answer is final. The media are files in ``folder`` (the session's artifacts)."""
    folder.mkdir(parents=True, exist_ok=True)
    fox = fox_png(folder / "fox.png")
    howl = howl_wav(folder / "howl.wav")
    agents = [
        {"id": "artist", "label": "artist", "model": "gpt-image-1", "backend": "openai"},
        {"id": "critic", "label": "critic", "model": "gpt-4o-mini", "backend": "openai"},
    ]
    answer = "A red fox sitting in fresh snow: media/fox.png, and its howl: media/howl.wav."
    events: list[Event] = [
        RunStarted(question=QUESTION, strategy="vote", agents=agents),
        AgentStatusChanged(agent_id="artist", status="thinking"),
        AgentStatusChanged(agent_id="critic", status="thinking"),
        AgentTurnStarted(agent_id="artist", kind="answer", turn=1, round=1),
        AgentTurnStarted(agent_id="critic", kind="answer", turn=1, round=1),
        ToolCallStarted(agent_id="artist", call_id="c1", name="generate_image", arguments="{}"),
        ToolCallFinished(agent_id="artist", call_id="c1", name="generate_image",
                         result="saved media/fox.png"),
        ArtifactSaved(agent_id="artist", turn=1, name="fox.png", path=str(fox), kind="image",
                      mime="image/png", size=fox.stat().st_size, tool="generate_image"),
        ToolCallStarted(agent_id="artist", call_id="c2", name="generate_audio", arguments="{}"),
        ToolCallFinished(agent_id="artist", call_id="c2", name="generate_audio",
                         result="saved media/howl.wav"),
        ArtifactSaved(agent_id="artist", turn=1, name="howl.wav", path=str(howl), kind="audio",
                      mime="audio/wav", size=howl.stat().st_size, tool="generate_audio"),
        AnswerSubmitted(agent_id="artist", label="artist.1", agent_label="artist", version=1,
                        content=answer),
        AnswerSubmitted(agent_id="critic", label="critic.1", agent_label="critic", version=1,
                        content="The artist's fox is the answer."),
        VoteCast(agent_id="critic", voter="critic", target="artist", target_answer="artist.1",
                 target_agent_id="artist", reason="It drew the fox."),
        VoteCast(agent_id="artist", voter="artist", target="artist", target_answer="artist.1",
                 target_agent_id="artist", reason="Mine has the fox."),
        AgentStatusChanged(agent_id="artist", status="voted"),
        AgentStatusChanged(agent_id="critic", status="voted"),
        WinnerSelected(agent_id="artist", label="artist", answer_label="artist.1",
                       tally={"artist": 2}),
        FinalAnswer(agent_id="artist", content=answer, label="artist", answer_label="artist.1"),
        RunFinished(status="ok", duration_s=6.5, winner="artist", final_answer=answer),
    ]  # fmt: skip
    part = []
    for seq, event in enumerate(events, 1):
        event.run_id, event.seq, event.ts = "run-media", seq, T0 + seq * 0.3
        part.append(event.to_dict())
    return [part]
