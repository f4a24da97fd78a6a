"""The understanding tools in whole runs: an agent on the fake Chat Completions server calls
``understand_*`` on real media made here; the vision model (chat image parts) and the
transcription endpoint are fakes on 127.0.0.1 reached through massgen's own HTTP path. Bad
input comes back to the model as one error line and the run goes on."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import massgen
from tests.fakes.chat_server import CoordinationBrain, FakeChatServer, Reply
from tests.fakes.responses_server import FakeResponsesServer
from tests.tools import media_files

VISION = "vision-fake"
EARS = "ears-fake"


def understanding(fake: FakeChatServer, **extra: Any) -> dict[str, Any]:
    return {
        "image_model": {"type": "chatcompletion", "model": VISION, "base_url": fake.url,
                        "vision": True, "api_key": "k"},
        "audio_model": {"type": "chatcompletion", "model": EARS, "base_url": fake.url,
                        "api_key": "k"},
        **extra,
    }  # fmt: skip


def team(fake: FakeChatServer, **understanding_: Any) -> dict[str, Any]:
    backend = {"type": "chatcompletion", "model": "agent-model", "base_url": fake.url}
    return {"agents": [{"id": "a", "backend": backend, "understanding": understanding_}]}


async def run_tool(
    tmp_path: Path, tool: str, arguments: dict[str, Any], *, setup=None, **extra: Any
) -> tuple[dict[str, Any], FakeChatServer, list[dict[str, Any]]]:
    """One agent calls ``tool`` once in a run granting ``tmp_path/media``; the result, the
    fake, and the run's usage events."""
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    brain = CoordinationBrain(tool_plan={tool: arguments})
    with FakeChatServer(brain=brain) as fake:
        if setup:
            setup(fake, media)
        config = team(fake, **understanding(fake, **extra))
        active = massgen.start("What is in the file?", config=config,
                               context_paths=[{"path": str(media)}])  # fmt: skip
        events = [e async for e in active.events()]
        result = await active.outcome()
    usage = [e for e in events if e["type"] == "usage"]
    return result, fake, usage


def requests_for(fake: FakeChatServer, model: str) -> list[Any]:
    return [r for r in fake.requests if r.model == model]


def image_parts(request: Any) -> list[str]:
    return [
        part["image_url"]["url"]
        for message in request.body["messages"]
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]


# ---------------------------------------------------------------- what works


async def test_an_agent_describes_a_granted_image_with_the_vision_models_words(tmp_path):
    def setup(fake: FakeChatServer, media: Path) -> None:
        media_files.png(media / "photo.png", "red")
        fake.enqueue_for(VISION, Reply(text="A plain red square."))

    result, fake, usage = await run_tool(
        tmp_path, "understand_image", {"path": str(tmp_path / "media" / "photo.png")}, setup=setup
    )
    assert "A plain red square." in result["final_answer"]
    (seen,) = requests_for(fake, VISION)
    (url,) = image_parts(seen)
    sent = base64.b64decode(url.split(",", 1)[1])
    assert sent == (tmp_path / "media" / "photo.png").read_bytes()
    # the vision call's tokens are the agent's, marked with the tool and the model
    (tool_usage,) = [u for u in usage if u.get("source")]
    assert tool_usage["source"] == f"understand_image:{VISION}"
    assert tool_usage["prompt_tokens"] > 0
    assert result["usage"]["prompt_tokens"] == sum(u["prompt_tokens"] for u in usage)


async def test_a_recording_is_transcribed_through_the_transcription_endpoint(tmp_path):
    def setup(fake: FakeChatServer, media: Path) -> None:
        media_files.wav(media / "memo.wav")
        fake.enqueue_transcript("Meet at noon by the fountain.")

    result, fake, usage = await run_tool(
        tmp_path,
        "understand_audio",
        {"path": "memo.wav"},
        setup=setup,
    )
    # a relative path starts in the workspace, which holds no memo.wav: refused, run goes on
    assert "no such file" in result["final_answer"] or "refused" in result["final_answer"]

    result, fake, usage = await run_tool(
        tmp_path,
        "understand_audio",
        {"path": str(tmp_path / "media" / "memo.wav")},
        setup=setup,
    )
    assert "Meet at noon by the fountain." in result["final_answer"]
    (sent,) = [r for r in fake.requests if r.path == "/v1/audio/transcriptions"]
    assert sent.body["model"] == EARS
    assert sent.body["file_name"] == "memo.wav"
    assert sent.body["file_bytes"] == (tmp_path / "media" / "memo.wav").stat().st_size
    assert [u["source"] for u in usage if u.get("source")] == [f"understand_audio:{EARS}"]


async def test_a_video_is_watched_as_sampled_frames_and_its_audio_track(tmp_path):
    def setup(fake: FakeChatServer, media: Path) -> None:
        media_files.mp4(media / "clip.mp4", seconds=2)
        fake.enqueue_for(VISION, Reply(text="The screen fades from black to grey."))
        fake.enqueue_transcript("A steady beep.")

    result, fake, _ = await run_tool(
        tmp_path,
        "understand_video",
        {"path": str(tmp_path / "media" / "clip.mp4")},
        setup=setup,
        video_frames=4,
    )
    answer = result["final_answer"]
    assert "The screen fades from black to grey." in answer and "A steady beep." in answer
    (seen,) = requests_for(fake, VISION)
    frames = image_parts(seen)
    assert len(frames) == 4 and all(f.startswith("data:image/png;base64,") for f in frames)
    (sent,) = [r for r in fake.requests if r.path == "/v1/audio/transcriptions"]
    assert sent.body["file_name"] == "clip.mp4.wav" and sent.body["file_bytes"] > 10_000


async def test_a_pdf_reads_as_its_text_and_a_scanned_page_through_the_vision_model(tmp_path):
    def setup(fake: FakeChatServer, media: Path) -> None:
        media_files.text_pdf(media / "report.pdf", "Quarterly revenue rose 12 percent")
        media_files.scanned_pdf(media / "scan.pdf")
        fake.enqueue_for(VISION, Reply(text="A blue rectangle with no writing."))

    result, fake, _ = await run_tool(
        tmp_path, "understand_file", {"path": str(tmp_path / "media" / "report.pdf")}, setup=setup
    )
    assert "Quarterly revenue rose 12 percent" in result["final_answer"]
    assert requests_for(fake, VISION) == []  # a page with text needs no eyes
    result, fake, _ = await run_tool(
        tmp_path, "understand_file", {"path": str(tmp_path / "media" / "scan.pdf")}, setup=setup
    )
    assert "A blue rectangle with no writing." in result["final_answer"]
    assert len(image_parts(requests_for(fake, VISION)[0])) == 1


async def test_a_word_document_reads_as_its_paragraphs(tmp_path):
    def setup(fake: FakeChatServer, media: Path) -> None:
        media_files.docx(media / "notes.docx", ["Budget approved", "Launch in May"])

    result, _, _ = await run_tool(
        tmp_path, "understand_file", {"path": str(tmp_path / "media" / "notes.docx")}, setup=setup
    )
    assert "Budget approved" in result["final_answer"] and "Launch in May" in result["final_answer"]


async def test_a_url_on_a_private_address_is_refused_unless_allowed(tmp_path):
    with FakeChatServer() as host:  # anything on 127.0.0.1 will do: the refusal comes first
        url = host.url + "/models"
    result, _, _ = await run_tool(tmp_path, "understand_file", {"path": url})
    assert "private or loopback address" in result["final_answer"]
    assert "allow_private_urls" in result["final_answer"]


async def test_an_allowed_url_is_downloaded_and_read(tmp_path):
    with FakeChatServer() as host:
        url = host.url + "/models"  # JSON text, served by a real HTTP server
        result, _, _ = await run_tool(
            tmp_path, "understand_file", {"path": url}, allow_private_urls=True
        )
    assert "fake-model" in result["final_answer"]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("tool", "make", "extra", "says"),
    [
        ("understand_image", lambda m: media_files.png(m / "big.png", size=400), {"max_file_mb": 0.001},
         "over the limit of 1,048 bytes"),
        ("understand_image", lambda m: (m / "data.bin").write_bytes(b"\x01\x02" * 50), {},
         "not an image this tool reads"),
        ("understand_audio", lambda m: media_files.png(m / "x.png"), {}, "not audio this tool reads"),
        ("understand_file", lambda m: (m / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 64),
         {}, "save it as PDF or .docx"),
    ],
)  # fmt: skip
async def test_bad_media_is_one_error_line_and_the_run_goes_on(tmp_path, tool, make, extra, says):
    media = tmp_path / "media"
    media.mkdir()
    made = make(media)
    path = made if isinstance(made, Path) else next(media.iterdir())
    result, fake, _ = await run_tool(tmp_path, tool, {"path": str(path)}, **extra)
    assert result["status"] == "ok"
    assert says in result["final_answer"]
    assert requests_for(fake, VISION) == []


async def test_a_path_outside_the_grants_is_refused(tmp_path):
    secret = tmp_path / "secret.png"
    media_files.png(secret)
    link = tmp_path / "media"
    link.mkdir()
    (link / "inside.png").symlink_to(secret)  # a link out of the grant leads nowhere
    for path in (str(secret), str(link / "inside.png"), str(tmp_path / "mediax.png")):
        result, fake, _ = await run_tool(tmp_path, "understand_image", {"path": path})
        assert "path refused" in result["final_answer"]
        assert "outside the paths you may read" in result["final_answer"]
        assert requests_for(fake, VISION) == []


async def test_a_model_without_the_capability_is_an_error_result(tmp_path):
    def setup(fake: FakeChatServer, media: Path) -> None:
        media_files.png(media / "photo.png")
        media_files.wav(media / "memo.wav")

    blind = {"type": "chatcompletion", "model": VISION, "base_url": "http://127.0.0.1:9/v1",
             "api_key": "k"}  # fmt: skip
    result, _, _ = await run_tool(
        tmp_path,
        "understand_image",
        {"path": str(tmp_path / "media" / "photo.png")},
        setup=setup,
        image_model=blind,
    )
    assert "cannot take images" in result["final_answer"] and result["status"] == "ok"
    deaf = {"type": "claude", "model": "claude-sonnet-4-5", "api_key": "k"}
    result, _, _ = await run_tool(
        tmp_path,
        "understand_audio",
        {"path": str(tmp_path / "media" / "memo.wav")},
        setup=setup,
        audio_model=deaf,
    )
    assert "has no transcription API" in result["final_answer"]


async def test_the_default_image_model_is_openais_through_the_responses_api(tmp_path, monkeypatch):
    """No image_model: OpenAI's gpt-4.1-mini, at OPENAI_BASE_URL with OPENAI_API_KEY."""
    media = tmp_path / "media"
    media.mkdir()
    media_files.png(media / "photo.png", "green")
    brain = CoordinationBrain(tool_plan={"understand_image": {"path": str(media / "photo.png")}})
    with FakeChatServer(brain=brain) as agent_fake, FakeResponsesServer() as openai:
        openai.enqueue_for("gpt-4.1-mini", Reply(text="A green square."))
        monkeypatch.setenv("OPENAI_BASE_URL", openai.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        config = team(agent_fake)
        config["agents"][0]["understanding"] = {"tools": ["understand_image"]}
        result = await massgen.run("Look", config=config, context_paths=[{"path": str(media)}])
    assert "A green square." in result["final_answer"]
    (seen,) = [r for r in openai.requests if r.model == "gpt-4.1-mini"]
    assert seen.headers["authorization"] == "Bearer sk-test"
    assert "input_image" in json.dumps(seen.body) or image_parts(seen)


async def test_a_missing_key_for_the_default_model_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with FakeChatServer() as fake:
        config = team(fake)
        config["agents"][0]["understanding"] = True
        with pytest.raises(massgen.ConfigurationError, match=r"image_model.*OPENAI_API_KEY"):
            await massgen.run("Look", config=config)


def test_the_cli_runs_an_agent_that_describes_a_granted_image(tmp_path):
    """``massgen --config`` with ``orchestrator.understanding``: the final answer printed
    carries the vision model's description."""
    media = tmp_path / "media"
    media.mkdir()
    media_files.png(media / "chart.png", "yellow")
    brain = CoordinationBrain(tool_plan={"understand_image": {"path": str(media / "chart.png")}})
    with FakeChatServer(brain=brain) as fake:
        fake.enqueue_for(VISION, Reply(text="A yellow chart with one bar."))
        config = {
            "agents": [{"id": "a", "backend": {"type": "chatcompletion", "model": "agent-model",
                                               "base_url": fake.url}}],
            "orchestrator": {"understanding": understanding(fake),
                             "context_paths": [{"path": str(media)}]},
        }  # fmt: skip
        path = tmp_path / "team.yaml"
        path.write_text(json.dumps(config))
        script = textwrap.dedent("""
            import sys
            from massgen.cli.main import main
            sys.argv = ["massgen", "--config", sys.argv[1], "--ui", "plain", "Describe the chart"]
            main()
        """)
        proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "A yellow chart with one bar." in proc.stdout


async def test_a_download_over_the_size_limit_is_stopped(tmp_path):
    with FakeChatServer() as host:
        url = host.url + "/models"  # some 95 bytes of JSON
        result, _, _ = await run_tool(
            tmp_path,
            "understand_file",
            {"path": url},
            allow_private_urls=True,
            max_file_mb=0.00005,
        )
    assert "over the limit of 52 bytes" in result["final_answer"]


async def test_a_tool_call_that_could_cross_the_budget_is_not_made(tmp_path):
    """The vision call is bounded (its prompt, 1,600 tokens an image, its max_tokens) like the
    agent's own calls: over the run's token cap it is refused and the model told why."""
    media = tmp_path / "media"
    media.mkdir()
    media_files.png(media / "photo.png")
    brain = CoordinationBrain(tool_plan={"understand_image": {"path": str(media / "photo.png")}})
    with FakeChatServer(brain=brain) as fake:
        config = team(fake, **understanding(fake))
        config["agents"][0]["backend"]["max_tokens"] = 50
        active = massgen.start("Look", config=config, context_paths=[{"path": str(media)}],
                               max_total_tokens=2500)  # fmt: skip
        events = [e async for e in active.events()]
        await active.outcome()
    (finished,) = [e for e in events if e["type"] == "tool_call_finished"
                   and e["name"] == "understand_image"]  # fmt: skip
    assert "understand_image: not run: budget" in finished["result"]
    assert requests_for(fake, VISION) == []


@pytest.mark.parametrize(
    ("address", "public"),
    [("93.184.216.34", True), ("127.0.0.1", False), ("10.1.2.3", False), ("169.254.169.254", False),
     ("::ffff:127.0.0.1", False), ("64:ff9b::a01:203", False), ("2002:7f00:1::", False),
     ("2606:4700::1111", True)],
)  # fmt: skip
def test_which_url_hosts_count_as_public(address, public):
    import ipaddress

    from massgen.tools.media.sources import is_public

    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
async def test_the_image_model_may_be_any_provider_that_takes_images(tmp_path, kind):
    """``image_model`` of type claude or gemini: the image goes in that protocol's own shape."""
    from massgen.testing import fake_provider

    media = tmp_path / "media"
    media.mkdir()
    media_files.png(media / "photo.png", "purple")
    brain = CoordinationBrain(tool_plan={"understand_image": {"path": str(media / "photo.png")}})
    backend_type, model = {"anthropic": ("claude", "claude-sonnet-4-5"),
                           "gemini": ("gemini", "gemini-2.5-flash")}[kind]  # fmt: skip
    with FakeChatServer(brain=brain) as agent_fake, fake_provider(kind) as eyes:
        eyes.enqueue_for(model, Reply(text=f"A purple square, seen by {kind}."))
        image_model = {"type": backend_type, "model": model, "base_url": eyes.url,
                       "api_key": eyes.api_key}  # fmt: skip
        config = team(agent_fake, tools=["understand_image"], image_model=image_model)
        result = await massgen.run("Look", config=config, context_paths=[{"path": str(media)}])
    assert f"A purple square, seen by {kind}." in result["final_answer"]
    (seen,) = [r for r in eyes.requests if r.model == model]
    png = (media / "photo.png").read_bytes()
    body = json.dumps(seen.body)  # Gemini's SDK sends URL-safe base64
    assert base64.b64encode(png).decode() in body or base64.urlsafe_b64encode(png).decode() in body


def test_validate_names_the_missing_key_of_the_default_image_model(tmp_path):
    config = tmp_path / "team.yaml"
    config.write_text(
        "agents:\n  - backend: {type: vllm, model: m, base_url: 'http://127.0.0.1:9/v1'}\n"
        "    understanding: true\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [sys.executable, "-c", "from massgen.cli.main import main; main()", "--validate",
         str(config)], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "massgen: error: agents[0].understanding.image_model: no API key for OpenAI: set "
        "OPENAI_API_KEY (in the environment or a .env file) or backend.api_key"
    ]
