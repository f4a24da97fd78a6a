"""The README's media table (``<!-- media-table -->``), row by row, run as an example: for each
agent type a row names, one run of an agent of that type against the fake of its provider,
which makes and reads every medium its row claims — ⭐ by the type's own API (the
``image_model`` / ``audio_model`` or the generation ``provider``), 🔧 by the media tools with
OpenAI's models (the defaults) — and the run's artifacts and the providers' requests show that
each claimed cell did its work. A cell claimed in the README and not working fails here."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import massgen
from massgen.testing import (
    CoordinationBrain,
    FakeAnthropicServer,
    FakeChatServer,
    FakeGeminiServer,
)
from tests.fakes.responses_server import FakeResponsesServer, ResponsesReply
from tests.tools import media_files

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = "sk-media-table-0123456789abcdef"
KINDS = ("image", "audio", "video", "file")
PDF_TEXT = "Quarterly figures rose by nine percent"
AGENT_MODEL = "gpt-5-mini"  # the type: openai agent's (its vision model is gpt-4.1-mini)


@dataclass(frozen=True)
class Row:
    types: tuple[str, ...]
    claims: dict[tuple[str, str], str]  # (kind, "understands" | "makes") -> "⭐" | "🔧"


def table() -> list[Row]:
    text = README.read_text(encoding="utf-8").split("<!-- media-table -->", 1)[1].strip()
    rows = []
    for line in text.split("\n\n", 1)[0].splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        types = tuple(re.findall(r"`(\w+)`", cells[0]))
        claims = {}
        for kind, cell in zip(KINDS, cells[1:], strict=True):
            for mark, verb in re.findall(r"(⭐|🔧) (understands|makes)", cell):
                claims[(kind, verb)] = mark
            assert cell == "—" or re.fullmatch(r"(?:(?:⭐|🔧) (?:understands|makes)(?:, )?)+", cell)
        rows.append(Row(types, claims))
    return rows


ROWS = table()
EXAMPLES = [(t, row) for row in ROWS for t in row.types if row.claims]


@dataclass
class Fakes:
    chat: FakeChatServer  # chatcompletion, grok, azure_openai
    openai: FakeResponsesServer  # type openai: Responses, Images, speech, Sora, transcription
    claude: FakeAnthropicServer
    gemini: FakeGeminiServer

    def all(self) -> list[Any]:
        return [self.chat, self.openai, self.claude, self.gemini]


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with (
        FakeChatServer(api_key=KEY) as chat,
        FakeResponsesServer(api_key=KEY) as openai,
        FakeAnthropicServer(api_key=KEY) as claude,
        FakeGeminiServer(api_key=KEY) as gemini,
    ):
        yield Fakes(chat, openai, claude, gemini)


def own_backend(kind: str, fakes: Fakes) -> dict[str, Any]:
    """An agent of type ``kind`` on its provider's fake."""
    root = fakes.chat.url.removesuffix("/v1")
    return {
        "openai": {"type": "openai", "model": AGENT_MODEL, "base_url": fakes.openai.url},
        "azure_openai": {"type": "azure_openai", "deployment_name": "gpt-4.1", "base_url": root},
        "claude": {"type": "claude", "model": "claude-sonnet-4-5", "base_url": fakes.claude.url},
        "gemini": {"type": "gemini", "model": "gemini-2.5-flash", "base_url": fakes.gemini.url},
        "chatcompletion": {"type": "chatcompletion", "model": "m", "base_url": fakes.chat.url},
        "grok": {"type": "grok", "model": "grok-4", "base_url": fakes.chat.url},
        # the agent frameworks: the real Claude Code and Codex CLIs, AG2's client
        "claude_code": {"type": "claude_code", "model": "claude-sonnet-4-5",
                        "base_url": fakes.claude.url},
        "codex": {"type": "codex", "model": "gpt-5-codex", "base_url": fakes.openai.url},
        "ag2": {"type": "ag2", "llm_config": {"config_list": [
            {"model": "gpt-4o", "api_key": KEY, "base_url": fakes.chat.url}]}},
    }[kind] | ({"api_key": KEY} if kind != "ag2" else {})  # fmt: skip


def framework_ready(kind: str, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """What an agent framework's example needs here (skipped where it is not installed)."""
    monkeypatch.setenv("HOME", str(home))  # the CLIs keep their state there
    if kind == "claude_code":
        pytest.importorskip("claude_agent_sdk", reason="the claude-code extra is not installed")
        for name in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_API_KEY", "ANTHROPIC_BASE_URL"):
            monkeypatch.delenv(name, raising=False)
    elif kind == "codex":
        from tests.backends.test_codex import codex_binary

        binary = codex_binary()
        if binary is None:
            pytest.skip("the Codex CLI is not installed: npm install --prefix ../.npm-codex "
                        "@openai/codex")  # fmt: skip
        for name in ("CODEX_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_HOME"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("MASSGEN_CODEX_BIN", binary)
    elif kind == "ag2":
        pytest.importorskip("autogen", reason="the ag2 extra is not installed")


def image_model(kind: str, star: bool, fakes: Fakes) -> dict[str, Any]:
    """⭐: the type itself looks; 🔧: OpenAI's default vision model."""
    if not star or kind == "openai":
        return {"type": "openai", "model": "gpt-4.1-mini", "base_url": fakes.openai.url}
    backend = own_backend(kind, fakes)
    if kind in ("chatcompletion", "grok"):
        backend["vision"] = True
    if kind == "azure_openai":  # a model entry names the deployment as its model
        backend["model"] = backend.pop("deployment_name")
    return backend


def image_maker(kind: str, star: bool, fakes: Fakes) -> tuple[dict[str, Any], Any]:
    """The generation.image entry, and the fake that makes the picture."""
    if star and kind == "openai":
        return {"responses_tool": True}, fakes.openai
    if star and kind == "azure_openai":
        root = fakes.chat.url.removesuffix("/v1")
        return {"provider": "azure_openai", "base_url": root}, fakes.chat
    if star and kind == "gemini":
        return {"provider": "gemini", "base_url": fakes.gemini.url}, fakes.gemini
    return {"provider": "openai", "base_url": fakes.openai.url}, fakes.openai


def own_api(kind: str, mark: str, fakes: Fakes) -> dict[str, Any]:
    """Who does an audio or video cell's work: ⭐ the type's own API, 🔧 OpenAI's."""
    if mark == "🔧" or kind == "openai":
        return {"provider": "openai", "base_url": fakes.openai.url, "api_key": KEY}
    backend = own_backend(kind, fakes)
    return {"provider": kind, "base_url": backend["base_url"], "api_key": KEY}


def example(kind: str, row: Row, fakes: Fakes, project: Path) -> tuple[dict[str, Any], Any]:
    """The row's run for ``kind``: its config, and the brain's plan of tool calls."""
    claims = row.claims
    understanding: dict[str, Any] = {"tools": []}
    generation: dict[str, Any] = {}
    plan: dict[str, dict[str, Any]] = {}
    native_image = False
    if ("image", "makes") in claims:
        entry, _ = image_maker(kind, claims[("image", "makes")] == "⭐", fakes)
        generation["image"] = {**entry, "api_key": KEY}
        native_image = bool(entry.get("responses_tool"))
        if not native_image:
            plan["generate_image"] = {"prompt": "a red fox", "name": "fox"}
    if ("image", "understands") in claims:
        star = claims[("image", "understands")] == "⭐"
        understanding["image_model"] = image_model(kind, star, fakes) | {"api_key": KEY}
        understanding["tools"].append("understand_image")
        name = "image" if native_image else "fox"
        plan["understand_image"] = {"path": f"media/{name}.png", "prompt": "What is it?"}
    if ("audio", "makes") in claims:
        generation["audio"] = {**own_api(kind, claims[("audio", "makes")], fakes), "format": "wav"}
        plan["generate_audio"] = {"text": "Welcome aboard.", "name": "hello", "format": "wav"}
    if ("audio", "understands") in claims:
        api = own_api(kind, claims[("audio", "understands")], fakes)
        understanding["audio_model"] = {"type": api.pop("provider"), "model": "gpt-4o-mini-transcribe",
                                        **api}  # fmt: skip
        understanding["tools"].append("understand_audio")
        plan["understand_audio"] = {"path": "media/hello.wav"}
    if ("video", "makes") in claims:
        generation["video"] = {**own_api(kind, claims[("video", "makes")], fakes),
                               "poll_seconds": 0.01}  # fmt: skip
        plan["generate_video"] = {"prompt": "a fox running", "name": "run", "seconds": "4"}
    if ("video", "understands") in claims:
        understanding["tools"].append("understand_video")
        understanding["video_frames"] = 2
        plan["understand_video"] = {"path": "media/run.mp4", "prompt": "What happens?"}
    if ("file", "understands") in claims:
        understanding["tools"].append("understand_file")
        plan["understand_file"] = {"path": str(project / "report.pdf")}
    understanding.setdefault("image_model", image_model(kind, False, fakes) | {"api_key": KEY})
    agent = {"id": "maker", "backend": own_backend(kind, fakes),
             "understanding": understanding, "generation": generation}  # fmt: skip
    config = {"agents": [agent], "orchestrator": {"context_paths": [{"path": str(project)}]}}
    return config, plan


class NativeImageFirst:
    """The plan's brain, with the Responses API's own image tool used first when offered."""

    def __init__(self, plan: dict[str, dict[str, Any]]) -> None:
        self.brain = CoordinationBrain(tool_plan=plan)
        self.drawn = False

    def __call__(self, body: dict[str, Any]) -> Any:
        reply = self.brain(body)
        if body.get("model") == AGENT_MODEL and not self.drawn and reply.tool_calls:
            self.drawn = True  # the image comes in the agent's first reply, with its first call
            return ResponsesReply(images=["a red fox"], tool_calls=reply.tool_calls)
        return reply


def sent_image(fake: Any, data: bytes) -> bool:
    """Whether a request to ``fake`` carried ``data`` (base64, as every provider takes it)."""
    encoded = {base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()}
    bodies = [json.dumps(request.body) for request in fake.requests]
    return any(e in body for e in encoded for body in bodies)  # google-genai: URL-safe


@pytest.mark.parametrize(("kind", "row"), EXAMPLES, ids=[k for k, _ in EXAMPLES])
def test_the_media_table_row_runs_as_written(
    kind: str, row: Row, fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    framework_ready(kind, monkeypatch, tmp_path / "home")
    project = tmp_path / "project"
    project.mkdir()
    media_files.text_pdf(project / "report.pdf", PDF_TEXT)
    config, plan = example(kind, row, fakes, project)
    for fake in fakes.all():
        fake.reset()
        fake.media.calls.clear()
        fake.brain = NativeImageFirst(plan) if fake is fakes.openai else CoordinationBrain(plan)
    result = asyncio.run(
        massgen.run("Make and look", config=config, enable_logging=True, log_dir=tmp_path / "l")
    )
    said = result["final_answer"]
    made = {a["kind"]: a for a in result["artifacts"]}
    claims = row.claims

    if ("image", "makes") in claims:
        star = claims[("image", "makes")] == "⭐"
        _, maker = image_maker(kind, star, fakes)
        image = made["image"]
        assert image["tool"] == ("image_generation" if "generate_image" not in plan
                                 else "generate_image")  # fmt: skip
        if maker is fakes.gemini:
            assert any(r.model == "gemini-2.5-flash-image" for r in fakes.gemini.requests)
        elif image["tool"] == "generate_image":
            paths = [c.path for c in maker.media.calls]
            want = "/openai/deployments/gpt-image-1/" if kind == "azure_openai" and star else "/v1/"
            assert any(p.startswith(want) and p.endswith("images/generations") for p in paths)
    if ("image", "understands") in claims:
        star = claims[("image", "understands")] == "⭐"
        model_type = image_model(kind, star, fakes)["type"]
        looker = {"openai": fakes.openai, "claude": fakes.claude, "gemini": fakes.gemini}.get(
            model_type, fakes.chat
        )
        picture = Path(made["image"]["path"]).read_bytes()
        assert sent_image(looker, picture), f"the {model_type} vision model never saw the image"
        assert "[understand_image said: Error" not in said
    if ("audio", "makes") in claims:
        assert made["audio"]["mime"] == "audio/wav" and made["audio"]["tool"] == "generate_audio"
    if ("audio", "understands") in claims:
        assert "fake transcript of hello.wav" in said
    if ("video", "makes") in claims:
        assert made["video"]["mime"] == "video/mp4"
        assert any(c.path.endswith("/content") for c in fakes.openai.media.calls)
    if ("video", "understands") in claims:
        video = said.split("[understand_video said:", 1)[1]  # gemini's quoted as JSON
        assert "run.mp4: 4.1s of video" in video and "fake transcript of run.mp4" in video
    if ("file", "understands") in claims:
        assert PDF_TEXT in said


def test_the_table_names_every_agent_type_that_takes_tools_once():
    from massgen.providers import AVAILABLE

    named = [t for row in ROWS for t in row.types]
    assert len(named) == len(set(named)) and set(named) <= set(AVAILABLE)
    assert {"openai", "azure_openai", "claude", "gemini", "chatcompletion", "local"} <= set(named)
    [local] = [row for row in ROWS if "local" in row.types]
    assert local.claims == {}  # the embedded model: nothing claimed, nothing run
