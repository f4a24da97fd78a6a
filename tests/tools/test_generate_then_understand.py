"""The issue's whole story in one run: one agent generates an image (generate_image, OpenAI's
Images API on the fake), another looks at it in the first one's answer snapshot
(understand_image, the vision model on the fake), and the final answer names the file the
session holds."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

import massgen
from massgen.testing import CoordinationBrain, FakeChatServer, Reply
from massgen.testing.chat_wire import text_of, tool_named, tool_results

KEY = "sk-fake-generation-key-0123456789"
VISION = "vision-fake"


class ArtistAndCritic:
    """A fake model: the artist draws a fox once; the critic, shown the artist's answer and
    its files, looks at the fox and writes the final answer naming it; the rest is the
    default workflow (answers, votes)."""

    def __init__(self) -> None:
        self.workflow = CoordinationBrain()

    def __call__(self, body: dict[str, Any]) -> Reply:
        if body.get("model") == VISION:
            return Reply(text="A red fox sitting in fresh snow.")
        text = "\n".join(text_of(m.get("content")) for m in body.get("messages") or ())
        done = tool_results(body)
        if (
            tool_named(body, "generate_image")
            and "generate_image" not in done
            and "media/fox.png" not in text
        ):
            return Reply(tool_calls=[("generate_image", '{"prompt": "a red fox", "name": "fox"}')])
        folder = re.search(r"\(its files: ([^)]+)\)", text)
        if tool_named(body, "understand_image") and folder and "media/fox.png" in text:
            if "understand_image" not in done:
                path = f"{folder.group(1)}/media/fox.png"
                return Reply(tool_calls=[("understand_image", f'{{"path": "{path}"}}')])
            if not tool_named(body, "vote") and not tool_named(body, "new_answer"):
                return Reply(
                    text=f"The artist's picture, media/fox.png: {done['understand_image']}"
                )
        return self.workflow(body)


def test_one_agent_generates_an_image_another_describes_it_and_the_answer_names_it(tmp_path):
    with FakeChatServer(api_key=KEY, brain=ArtistAndCritic()) as fake:
        backend = {
            "type": "chatcompletion",
            "model": "gpt-4o-mini",
            "base_url": fake.url,
            "api_key": KEY,
        }
        vision = {
            "type": "chatcompletion",
            "model": VISION,
            "base_url": fake.url,
            "vision": True,
            "api_key": KEY,
        }
        config = {
            "agents": [
                {"id": "critic", "backend": backend,
                 "understanding": {"tools": ["understand_image"], "image_model": vision}},
                {"id": "artist", "backend": backend,
                 "generation": {"image": {"base_url": fake.url, "api_key": KEY}}},
            ],
        }  # fmt: skip
        result = asyncio.run(
            massgen.run("Draw a fox and say what it shows", config=config, enable_logging=True,
                        log_dir=tmp_path / "logs")
        )  # fmt: skip
        seen = [r for r in fake.requests if r.model == VISION]

    [artifact] = result["artifacts"]
    assert artifact["agent"] == "artist" and artifact["kind"] == "image"
    assert result["final_answer"] == (
        "The artist's picture, media/fox.png: A red fox sitting in fresh snow."
    )
    assert Path(artifact["path"]).parent == Path(result["session_dir"]) / "artifacts"
    # the critic's vision call carried the very bytes the artist's tool saved
    urls = [
        part["image_url"]["url"]
        for request in seen
        for message in request.body["messages"]
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]
    assert (
        urls and base64.b64decode(urls[0].split(",", 1)[1]) == Path(artifact["path"]).read_bytes()
    )


def test_without_files_a_peer_looks_at_the_medium_by_the_name_its_tool_gave(tmp_path):
    """A run that grants no files (the CLI's default): the image is only in the run's
    artifacts, and understand_image takes the name generate_image told the artist to use."""
    with FakeChatServer(api_key=KEY) as fake:
        fake.brain = CoordinationBrain(
            tool_plan={"generate_image": {"prompt": "a red fox", "name": "fox"},
                       "understand_image": {"path": "painter-fox.png"}}
        )  # fmt: skip
        backend = {"type": "chatcompletion", "model": "gpt-4o-mini", "base_url": fake.url,
                   "api_key": KEY}  # fmt: skip
        vision = {**backend, "model": VISION, "vision": True}
        config = {"agents": [{"id": "painter", "backend": backend,
                              "generation": {"image": {"base_url": fake.url, "api_key": KEY}},
                              "understanding": {"tools": ["understand_image"],
                                                "image_model": vision}}]}  # fmt: skip
        result = asyncio.run(
            massgen.run("Draw a fox and look at it", config=config, enable_filesystem=False)
        )
        seen = [r for r in fake.requests if r.model == VISION]

    [artifact] = result["artifacts"]
    assert artifact["name"] == "painter-fox.png" and artifact["workspace_path"] is None
    assert "Name the file painter-fox.png in your answer" in result["final_answer"]
    assert "[understand_image said: Error" not in result["final_answer"]
    sent = json.dumps([r.body for r in seen])
    assert base64.b64encode(Path(artifact["path"]).read_bytes()).decode() in sent
