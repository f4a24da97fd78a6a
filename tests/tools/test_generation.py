"""generate_image / generate_audio / generate_video in real runs (massgen.run), against the fake
providers on 127.0.0.1: OpenAI's Images API, speech and Sora 2 video on the fake Chat
Completions server, Gemini's image output on the fake Gemini server, each through the HTTP
path massgen uses for that provider (httpx for OpenAI, google-genai for Gemini)."""

from __future__ import annotations

import asyncio
import json
import struct
import wave
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import massgen
from massgen.errors import ConfigurationError
from massgen.testing import CoordinationBrain, FakeChatServer, FakeGeminiServer

KEY = "sk-fake-generation-key-0123456789"


def config(fake: FakeChatServer, generation: dict[str, Any], agents: int = 1, **orch: Any):
    entries = [
        {
            "id": f"agent{i + 1}",
            "backend": {
                "type": "chatcompletion",
                "model": "gpt-4o-mini",
                "base_url": fake.url,
                "api_key": KEY,
            },
        }
        for i in range(agents)
    ]
    return {"agents": entries, "orchestrator": {"generation": generation, **orch}}


def openai_kind(fake: FakeChatServer, **extra: Any) -> dict[str, Any]:
    return {"base_url": fake.url, "api_key": KEY, **extra}


def plan(fake: FakeChatServer, name: str, arguments: dict[str, Any]) -> None:
    fake.brain = CoordinationBrain(tool_plan={name: arguments})


def run(question: str, cfg: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    coroutine = massgen.run(question, config=cfg, enable_logging=True, log_dir=tmp_path / "logs")
    return asyncio.run(coroutine)


def the_artifact(result: dict[str, Any]) -> dict[str, Any]:
    [artifact] = result["artifacts"]
    return artifact


def test_an_agent_generates_an_image_and_the_final_answer_names_the_saved_file(tmp_path):
    with FakeChatServer(api_key=KEY) as fake:
        plan(
            fake,
            "generate_image",
            {"prompt": "a red fox in snow", "name": "fox", "size": "1536x1024"},
        )
        result = run("Draw a fox", config(fake, {"image": openai_kind(fake)}), tmp_path)

    artifact = the_artifact(result)
    assert "media/fox.png" in result["final_answer"]
    assert artifact["kind"] == "image" and artifact["mime"] == "image/png"
    assert artifact["agent"] == "agent1" and artifact["tool"] == "generate_image"
    session = Path(result["session_dir"])
    saved = Path(artifact["path"])
    assert saved.parent == session / "artifacts" and saved.name == artifact["name"]
    assert artifact["size"] == saved.stat().st_size
    with Image.open(saved) as image:  # a real PNG, in the shape asked for (3:2)
        assert image.format == "PNG" and image.size == (64, 43)
    # the agent's copy is in its workspace, and in its answer's snapshot (what peers read)
    assert Path(artifact["workspace_path"]).read_bytes() == saved.read_bytes()
    snapshots = list((session / "snapshots").rglob("fox.png"))
    assert snapshots and snapshots[0].read_bytes() == saved.read_bytes()
    # the Images API was called as OpenAI documents it
    [call] = [c for c in fake.media.calls if c.path == "/v1/images/generations"]
    assert call.fields["model"] == "gpt-image-1" and call.fields["size"] == "1536x1024"
    # its cost (1,056 output tokens at $40/M, its prompt's tokens at $5/M) is in the run's
    image_cost = 1056 * 40 / 1e6
    assert result["usage"]["cost_usd"] >= image_cost
    summary = json.loads((session / "summary.json").read_text())
    assert [a["name"] for a in summary["artifacts"]] == [artifact["name"]]


def test_gemini_makes_the_image_as_inline_data(tmp_path):
    with FakeChatServer(api_key=KEY) as fake, FakeGeminiServer(api_key="g-key-0123456789") as gem:
        plan(
            fake,
            "generate_image",
            {"prompt": "a lighthouse", "name": "lighthouse", "size": "1024x1536"},
        )
        kind = {"provider": "gemini", "base_url": gem.url, "api_key": "g-key-0123456789"}
        result = run("Draw a lighthouse", config(fake, {"image": kind}), tmp_path)
        [request] = gem.requests

    artifact = the_artifact(result)
    assert "media/lighthouse.png" in result["final_answer"]
    with Image.open(artifact["path"]) as image:
        assert image.format == "PNG" and image.size == (64, 96)  # 2:3, as asked
    assert request.model == "gemini-2.5-flash-image" and request.method == "generateContent"
    assert request.body["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]
    # 1,290 image tokens at $30/M: about $0.039 an image
    assert result["usage"]["per_agent"]["agent1"]["cost_usd"] >= 1290 * 30 / 1e6


def test_speech_is_saved_as_a_real_wav(tmp_path):
    with FakeChatServer(api_key=KEY) as fake:
        plan(fake, "generate_audio", {"text": "Welcome aboard.", "voice": "coral", "format": "wav"})
        result = run("Say welcome", config(fake, {"audio": openai_kind(fake)}), tmp_path)
        [call] = fake.media.calls

    artifact = the_artifact(result)
    assert artifact["kind"] == "audio" and artifact["mime"] == "audio/wav"
    assert "media/audio.wav" in result["final_answer"]
    with wave.open(artifact["path"]) as audio:
        assert audio.getnframes() / audio.getframerate() == pytest.approx(0.25)
    assert call.path == "/v1/audio/speech"
    assert call.fields == {
        "model": "gpt-4o-mini-tts",
        "input": "Welcome aboard.",
        "voice": "coral",
        "response_format": "wav",
    }


def test_a_sora_video_is_created_polled_and_downloaded_as_an_mp4(tmp_path):
    with FakeChatServer(api_key=KEY) as fake:
        fake.media.video_polls = 2
        plan(fake, "generate_video", {"prompt": "waves at dusk", "seconds": 8, "name": "waves"})
        video = openai_kind(fake, poll_seconds=0.05)
        result = run("Film the sea", config(fake, {"video": video}), tmp_path)
        paths = [c.path for c in fake.media.calls]

    artifact = the_artifact(result)
    assert "media/waves.mp4" in result["final_answer"]
    data = Path(artifact["path"]).read_bytes()
    assert artifact["mime"] == "video/mp4" and data[4:8] == b"ftyp"
    boxes, offset = [], 0  # an ISO BMFF file: boxes whose sizes add up to the file
    while offset < len(data):
        size = struct.unpack(">I", data[offset : offset + 4])[0]
        boxes.append(data[offset + 4 : offset + 8])
        offset += size
    assert offset == len(data) and {b"ftyp", b"moov", b"mdat"} <= set(boxes)
    import av  # the video as a player sees it: 8 s of frames, with sound

    with av.open(artifact["path"]) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert container.duration is not None and round(container.duration / 1e6) == 8
    assert paths[0] == "/v1/videos" and paths[-1].endswith("/content")
    assert len([p for p in paths if p.startswith("/v1/videos/video_") and "content" not in p]) == 3
    assert result["usage"]["cost_usd"] >= 8 * 0.10  # sora-2: $0.10 a second


def test_an_unknown_size_is_one_error_for_the_model_and_the_run_goes_on(tmp_path):
    with FakeChatServer(api_key=KEY) as fake:
        plan(fake, "generate_image", {"prompt": "a cat", "size": "999x999"})
        result = run("Draw a cat", config(fake, {"image": openai_kind(fake)}), tmp_path)
        calls = list(fake.media.calls)

    assert result["status"] == "ok" and result["artifacts"] == []
    assert (
        "[generate_image said: Error: unknown size '999x999'; one of: auto, 1024x1024"
        in (result["final_answer"])
    )
    assert calls == []  # nothing was sent


def test_a_provider_error_reaches_the_model_as_one_line(tmp_path):
    with FakeChatServer(api_key=KEY) as fake:
        fake.media.fail_next(
            "/v1/images/generations", 400, "Your request was rejected by the safety system."
        )
        plan(fake, "generate_image", {"prompt": "something"})
        result = run("Draw it", config(fake, {"image": openai_kind(fake)}), tmp_path)

    assert result["status"] == "ok" and result["artifacts"] == []
    assert (
        "[generate_image said: Error: generate_image: openai: Your request was rejected by the "
        "safety system. (HTTP 400)]"
    ) in result["final_answer"]


def test_an_endpoint_without_the_api_is_told_as_such(tmp_path):
    with FakeChatServer(api_key=KEY) as fake:
        fake.media.disabled = True
        plan(fake, "generate_video", {"prompt": "a dog"})
        result = run("Film it", config(fake, {"video": openai_kind(fake)}), tmp_path)

    assert result["status"] == "ok"
    assert (
        f"{fake.url} has no video generation API (POST /videos answered 404)"
        in (result["final_answer"])
    )


def test_a_provider_without_the_capability_is_refused_in_the_config(tmp_path):
    from massgen.config.loader import load_config_dict

    with FakeChatServer(api_key=KEY) as fake:
        cfg = config(fake, {"audio": {"provider": "gemini"}})
        with pytest.raises(ConfigurationError) as refused:
            load_config_dict(cfg)
    assert "audio.provider: gemini has no audio generation in massgen (use openai)" in str(
        refused.value
    )
    assert len(str(refused.value).splitlines()) == 1


def test_a_generation_the_budget_cannot_pay_for_is_not_started(tmp_path):
    with FakeChatServer(api_key=KEY) as fake:
        plan(fake, "generate_video", {"prompt": "a long film", "seconds": "12"})
        cfg = config(fake, {"video": openai_kind(fake)}, max_cost_usd=0.5)
        result = run("Film it", cfg, tmp_path)
        calls = list(fake.media.calls)

    assert calls == [] and result["artifacts"] == []
    assert "budget: a 12s video from sora-2 could cost up to $1.2000" in result["final_answer"]
    assert result["status"] == "ok"


def test_an_image_in_the_workspace_can_be_edited_and_one_outside_the_grants_cannot(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    sketch = project / "sketch.png"
    Image.new("RGB", (8, 8), "white").save(sketch)
    secret = tmp_path / "elsewhere.png"
    Image.new("RGB", (8, 8), "black").save(secret)
    with FakeChatServer(api_key=KEY) as fake:
        plan(fake, "generate_image", {"prompt": "colour it in", "edit_paths": [str(sketch)]})
        cfg = config(fake, {"image": openai_kind(fake)})
        cfg["orchestrator"]["context_paths"] = [{"path": str(project)}]
        result = run("Colour my sketch", cfg, tmp_path)
        [edit] = fake.media.calls

        plan(fake, "generate_image", {"prompt": "colour it in", "edit_paths": [str(secret)]})
        refused = run("Colour that one", cfg, tmp_path)

    assert edit.path == "/v1/images/edits" and edit.files == [
        ("image", "sketch.png", sketch.stat().st_size)
    ]
    assert edit.fields["prompt"] == "colour it in"
    assert the_artifact(result)["tool"] == "generate_image"
    assert refused["artifacts"] == []
    assert f"Error: {secret}: outside the paths you may read" in refused["final_answer"]


def test_an_mp3_from_the_provider_is_checked_to_be_one():
    from massgen.workspaces.artifacts import ArtifactError, Artifacts

    store = Artifacts(None)
    saved = store.save(b"\xff\xfb\x90\x64" + bytes(413), "audio/mpeg", kind="audio", agent="a",
                       tool="generate_audio", stem="x", policy=None)  # fmt: skip
    assert saved.mime == "audio/mpeg" and Path(saved.path).suffix == ".mp3"
    with pytest.raises(ArtifactError, match="not a image/png file"):
        store.save(b"<html>oops</html>", "image/png", kind="image", agent="a",
                   tool="generate_image", stem="x", policy=None)  # fmt: skip


def test_a_responses_agent_makes_images_with_the_apis_own_image_generation_tool(tmp_path):
    from tests.fakes.responses_server import FakeResponsesServer, ResponsesReply

    with FakeResponsesServer(api_key=KEY) as fake:
        answer = json.dumps({"content": "Here is the fox I drew."})
        fake.enqueue(ResponsesReply(images=["a red fox"], tool_calls=[("new_answer", answer)]))
        backend = {"type": "openai", "model": "gpt-5-mini", "base_url": fake.url, "api_key": KEY}
        image = {"responses_tool": True, "quality": "medium", "size": "1024x1024"}
        cfg = {"agents": [{"id": "artist", "backend": backend, "generation": {"image": image}}]}
        result = run("Draw a fox", cfg, tmp_path)
        first = fake.requests[0].body

    assert {"type": "image_generation", "model": "gpt-image-1", "size": "1024x1024",
            "quality": "medium", "output_format": "png"} in first["tools"]  # fmt: skip
    assert "generate_image" not in [t.get("name") for t in first["tools"]]  # no function twice
    artifact = the_artifact(result)
    assert artifact["tool"] == "image_generation" and artifact["agent"] == "artist"
    assert result["final_answer"].endswith("[generated files: media/image.png]")
    with Image.open(artifact["path"]) as picture:
        assert picture.format == "PNG"
    assert result["usage"]["cost_usd"] >= 0.042  # gpt-image-1, medium, 1024x1024


def test_massgen_logs_show_lists_the_sessions_artifacts(tmp_path):
    import subprocess
    import sys

    with FakeChatServer(api_key=KEY) as fake:
        plan(fake, "generate_audio", {"text": "Hello.", "format": "wav", "name": "hello"})
        result = run("Say hello", config(fake, {"audio": openai_kind(fake)}), tmp_path)

    shown = subprocess.run(
        [sys.executable, "-m", "massgen", "logs", "show", result["session_id"],
         "--log-dir", str(tmp_path / "logs")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    artifact = the_artifact(result)
    line = next(x for x in shown.stdout.splitlines() if x.startswith("Artifact "))
    assert line == (
        f"Artifact {artifact['path']}  ·  audio/wav, {artifact['size']:,} bytes  ·  agent1 "
        "(generate_audio)"
    )


def test_the_responses_image_tool_is_offered_only_while_the_budget_can_pay_for_an_image(tmp_path):
    from tests.fakes.responses_server import FakeResponsesServer

    def team(cap: float) -> dict[str, Any]:
        backend = {"type": "openai", "model": "gpt-5-mini", "base_url": fake.url,
                   "api_key": KEY, "max_tokens": 500}  # fmt: skip
        image = {"responses_tool": True}  # an image at most: 1536x1024 high, $0.25
        return {"agents": [{"id": "artist", "backend": backend, "generation": {"image": image},
                            "max_cost_usd": cap}]}  # fmt: skip

    def offered(request: Any) -> bool:
        return any(t.get("type") == "image_generation" for t in request.body.get("tools", ()))

    with FakeResponsesServer(api_key=KEY) as fake:
        result = run("Draw a fox", team(0.05), tmp_path)
        tight = list(fake.requests)
        fake.reset()
        asyncio.run(massgen.run("Draw a fox", config=team(1.0)))
        ample = list(fake.requests)

    assert tight and not any(offered(r) for r in tight)
    assert result["final_answer"]  # the run went on without the image tool
    lines = (Path(result["session_dir"]) / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    [notice] = [e for e in events if e["type"] == "agent_notice" and e["agent_id"] == "artist"]
    assert "could cost up to $0.2500" in notice["message"]
    assert "image_generation is not offered" in notice["message"]
    assert ample and all(offered(r) for r in ample)
