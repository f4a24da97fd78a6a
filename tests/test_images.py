"""Images in questions: each image-capable protocol gets them in its own shape (the fakes
check what reached the wire), a model that cannot see images gets a note and an event, the
session keeps them, and a bad image is one clear line."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import massgen
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.chat_server import FakeChatServer
from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.responses_server import FakeResponsesServer

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

#: A 1x1 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
PNG_B64 = base64.b64encode(PNG).decode()


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "red.png"
    path.write_bytes(PNG)
    return path


@pytest.fixture(scope="module")
def chat() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def _one(backend: dict[str, Any], n: int = 1) -> dict[str, Any]:
    return {"agents": [{"id": f"a{i}", "backend": dict(backend)} for i in range(n)]}


def _user_contents(bodies: list[dict[str, Any]], key: str = "messages") -> list[Any]:
    return [m["content"] for body in bodies for m in body[key] if m.get("role") == "user"]


async def test_chat_completions_with_vision_gets_image_url_parts(chat, png):
    chat.reset()
    config = _one({"type": "vllm", "model": "m", "base_url": chat.url, "vision": True})
    result = await massgen.run("What colour?", config=config, images=[png])
    assert result["final_answer"]
    parts = _user_contents([r.body for r in chat.requests])
    assert all(isinstance(p, list) for p in parts)
    images = [q for p in parts for q in p if q["type"] == "image_url"]
    assert images and images[0]["image_url"]["url"] == f"data:image/png;base64,{PNG_B64}"


async def test_a_model_that_cannot_see_images_is_told_and_the_user_too(chat, png):
    chat.reset()
    events = [
        e
        async for e in massgen.stream(
            "What colour?",
            config=_one({"type": "vllm", "model": "m", "base_url": chat.url}),
            images=[png],
        )
    ]
    parts = _user_contents([r.body for r in chat.requests])
    assert all(isinstance(p, str) and "cannot see images" in p for p in parts)
    notices = [e for e in events if e["type"] == "agent_notice"]
    assert notices and "cannot see images" in notices[0]["message"]
    assert events[0]["attachments"] == [
        {"name": "red.png", "media_type": "image/png", "bytes": len(PNG), "url": None}
    ]


async def test_openai_responses_gets_input_image():
    with FakeResponsesServer() as server:
        config = _one(
            {"type": "openai", "model": "gpt-5-mini", "base_url": server.url, "api_key": "k"}
        )
        await massgen.run("What colour?", config=config, images=[PNG])
        contents = [
            item["content"]
            for r in server.requests
            for item in r.body["input"]
            if item.get("role") == "user"
        ]
    images = [part for content in contents for part in content if part["type"] == "input_image"]
    assert images and images[0]["image_url"].startswith("data:image/png;base64,")


async def test_claude_gets_a_base64_image_block_and_a_url_block():
    with FakeAnthropicServer() as server:
        config = _one(
            {"type": "claude", "model": "claude-sonnet-4-5", "base_url": server.url, "api_key": "k"}
        )
        await massgen.run(
            "What colour?", config=config, images=[PNG, "https://example.test/cat.jpg"]
        )
        blocks = [
            b for content in _user_contents([r.body for r in server.requests]) for b in content
        ]
    sources = [b["source"] for b in blocks if b["type"] == "image"]
    assert {"type": "base64", "media_type": "image/png", "data": PNG_B64} in sources
    assert {"type": "url", "url": "https://example.test/cat.jpg"} in sources


async def test_gemini_gets_inline_data():
    with FakeGeminiServer() as server:
        config = _one(
            {"type": "gemini", "model": "gemini-2.5-flash", "base_url": server.url, "api_key": "k"}
        )
        await massgen.run("What colour?", config=config, images=[PNG])
        parts = [
            p
            for r in server.requests
            for c in r.body["contents"]
            if c["role"] == "user"
            for p in c["parts"]
        ]
    inline = [p["inlineData"] for p in parts if "inlineData" in p]
    assert inline and inline[0]["data"] == PNG_B64
    assert (inline[0].get("mimeType") or inline[0].get("mime_type")) == "image/png"


def test_litellm_passes_image_url_parts_on(chat):
    import litellm

    chat.reset()
    massgen.register_with_litellm()
    config = _one({"type": "vllm", "model": "m", "base_url": chat.url, "vision": True})
    litellm.completion(
        model="massgen/build",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What colour?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                ],
            }
        ],
        optional_params={"config": config},
    )
    parts = _user_contents([r.body for r in chat.requests])
    assert any(q.get("type") == "image_url" for p in parts for q in p)


def test_the_cli_attaches_images_and_the_session_keeps_them(chat, png, tmp_path):
    chat.reset()
    config = tmp_path / "c.yaml"
    config.write_text(
        json.dumps(_one({"type": "vllm", "model": "m", "base_url": chat.url, "vision": True}, 2))
    )
    env = {**os.environ, "MASSGEN_LOG_DIR": str(tmp_path / "sessions")}
    proc = subprocess.run(
        [sys.executable, "-m", "massgen", "-c", str(config), "--ui", "plain", "--image", str(png), "Colour?"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "1 image(s) attached" in proc.stderr
    (session,) = (tmp_path / "sessions").iterdir()
    saved = list((session / "attachments").iterdir())
    assert [p.read_bytes() for p in saved] == [PNG]
    events = (session / "events.jsonl").read_text()
    assert PNG_B64 not in events  # the log names the image; the bytes are in attachments/


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.png", "image missing.png: file not found"),
        ("notes.txt", "image notes.txt: not a PNG, JPEG, GIF or WebP image"),
        ("ftp://x/y.png", "image ftp://x/y.png: file not found"),
    ],
)
def test_a_bad_image_is_one_clear_line(chat, tmp_path, spec, message):
    (tmp_path / "notes.txt").write_text("hello")
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps(_one({"type": "vllm", "model": "m", "base_url": chat.url})))
    proc = subprocess.run(
        [sys.executable, "-m", "massgen", "-c", str(config), "--ui", "plain", "--image", spec, "q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("massgen: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_a_request_cannot_make_massgen_read_a_file(tmp_path):
    from massgen.chat_messages import message_images
    from massgen.errors import ConfigurationError

    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    with pytest.raises(ConfigurationError, match="expected an http"):
        message_images(
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": str(secret)}}],
                }
            ]
        )


def test_the_server_passes_image_url_parts_on(chat):
    import httpx

    from massgen.server import create_app
    from tests.test_server import serving

    chat.reset()
    config = _one({"type": "vllm", "model": "m", "base_url": chat.url, "vision": True})
    with serving(create_app(config=config, enable_logging=False)) as url:
        content = [
            {"type": "text", "text": "What colour?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        ]
        ok = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "massgen", "messages": [{"role": "user", "content": content}]},
            timeout=30,
        )
        local = [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "/etc/hostname"}},
        ]
        refused = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "massgen", "messages": [{"role": "user", "content": local}]},
            timeout=30,
        )
    assert ok.status_code == 200, ok.text
    parts = _user_contents([r.body for r in chat.requests])
    assert any(q.get("type") == "image_url" for p in parts for q in p)
    assert refused.status_code == 400 and "expected an http" in refused.json()["error"]["message"]
