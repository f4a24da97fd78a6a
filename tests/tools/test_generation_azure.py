"""generate_image on Azure OpenAI: an ``azure_openai`` agent makes and edits images through its
resource's Images API (the deployment in the path, ``api-version`` in the query, the key in an
``api-key`` header), on the fake server's Azure routes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import massgen
from massgen.errors import ConfigurationError
from massgen.testing import CoordinationBrain, FakeChatServer

KEY = "azure-fake-key-0123456789abcdef"


def azure_team(fake: FakeChatServer, image: dict[str, Any]) -> dict[str, Any]:
    endpoint = fake.url.removesuffix("/v1")
    backend = {"type": "azure_openai", "deployment_name": "chat", "base_url": endpoint,
               "api_key": KEY}  # fmt: skip
    image = {"provider": "azure_openai", "base_url": endpoint, "api_key": KEY, **image}
    return {"agents": [{"id": "painter", "backend": backend, "generation": {"image": image}}]}


def run(question: str, cfg: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    coroutine = massgen.run(question, config=cfg, enable_logging=True, log_dir=tmp_path / "logs")
    return asyncio.run(coroutine)


def test_an_azure_agent_makes_an_image_on_its_resources_deployment(tmp_path):
    with FakeChatServer(api_key=KEY) as fake:
        fake.brain = CoordinationBrain(
            tool_plan={"generate_image": {"prompt": "a harbour at dawn", "name": "harbour"}}
        )
        result = run("Paint a harbour", azure_team(fake, {"model": "images-prod"}), tmp_path)
        [call] = fake.media.calls

    assert call.path == "/openai/deployments/images-prod/images/generations"
    assert call.query == {"api-version": "2025-04-01-preview"}
    assert call.fields["prompt"] == "a harbour at dawn"
    [artifact] = result["artifacts"]
    assert artifact["agent"] == "painter" and artifact["tool"] == "generate_image"
    assert "media/harbour.png" in result["final_answer"]
    with Image.open(artifact["path"]) as picture:
        assert picture.format == "PNG"


def test_an_azure_edit_sends_the_image_and_the_configured_api_version(tmp_path):
    sketch = tmp_path / "project" / "sketch.png"
    sketch.parent.mkdir()
    Image.new("RGB", (8, 8), "white").save(sketch)
    with FakeChatServer(api_key=KEY) as fake:
        fake.brain = CoordinationBrain(
            tool_plan={"generate_image": {"prompt": "colour it", "edit_paths": [str(sketch)]}}
        )
        cfg = azure_team(fake, {"api_version": "2025-06-01"})
        cfg["orchestrator"] = {"context_paths": [{"path": str(sketch.parent)}]}
        result = run("Colour my sketch", cfg, tmp_path)
        [call] = fake.media.calls

    assert call.path == "/openai/deployments/gpt-image-1/images/edits"
    assert call.query == {"api-version": "2025-06-01"}
    assert call.files == [("image", "sketch.png", sketch.stat().st_size)]
    assert len(result["artifacts"]) == 1


def test_a_wrong_azure_key_is_one_error_line_for_the_agent(tmp_path):
    with FakeChatServer(api_key=KEY) as fake:
        fake.brain = CoordinationBrain(tool_plan={"generate_image": {"prompt": "a harbour"}})
        cfg = azure_team(fake, {})
        cfg["agents"][0]["generation"]["image"]["api_key"] = "azure-wrong-key-0123456789"
        result = run("Paint a harbour", cfg, tmp_path)

    assert result["artifacts"] == []
    assert "Incorrect API key provided" in result["final_answer"]
    assert "azure-wrong-key" not in result["final_answer"]


def test_azure_has_no_speech_or_video_in_massgen_and_api_version_is_azures_alone():
    from massgen.config.loader import load_config_dict

    base = {"type": "chatcompletion", "model": "m", "base_url": "http://127.0.0.1:9/v1"}
    for generation, said in (
        ({"audio": {"provider": "azure_openai"}}, "audio.provider: azure_openai has no audio"),
        ({"image": {"api_version": "2025-04-01-preview"}}, "api_version: only for provider"),
    ):
        cfg = {"agents": [{"id": "a", "backend": base, "generation": generation}]}
        with pytest.raises(ConfigurationError, match=said):
            load_config_dict(cfg)
