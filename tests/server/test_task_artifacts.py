"""A task whose agent generates an image, through a real ``massgen serve``: the task's result
links the file, and ``GET /v1/tasks/{id}/artifacts/{name}`` serves it to the task's owner only."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from PIL import Image

from tests.server.support import ask, wait_for_status
from tests.support.served_team import API_KEY as KEY_A
from tests.support.served_team import served_artist

KEY_B = "sk-owner-b-0123456789"


def test_a_tasks_generated_image_is_linked_and_served_to_its_owner(tmp_path: Path) -> None:
    with served_artist(tmp_path, KEY_B) as server:
        owner = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY_A}"})
        other = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY_B}"})
        nobody = httpx.Client(base_url=server.url)
        task = owner.post("/v1/tasks", json={"messages": ask("Draw a kite")}).json()
        done = wait_for_status(owner, task["id"], ("completed", "failed"), timeout=60)
        assert done["status"] == "completed", done

        result = done["result"]
        [link] = result["massgen_artifacts"]
        assert link == {
            "name": "artist-kite.png",
            "kind": "image",
            "mime": "image/png",
            "size": link["size"],
            "agent": "artist",
            "tool": "generate_image",
            "url": f"/v1/tasks/{task['id']}/artifacts/artist-kite.png",
        }
        # a server run has no files: the answer names the artifact itself
        assert "artist-kite.png in your answer" in result["choices"][0]["message"]["content"]

        served = owner.get(link["url"])
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/png"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert len(served.content) == link["size"]
        with Image.open(io.BytesIO(served.content)) as picture:
            assert picture.format == "PNG"
        # without session logs (the helper's --no-log) it is kept in a temporary folder
        [kept] = tmp_path.glob("massgen-artifacts-*/artist-kite.png")
        assert kept.read_bytes() == served.content

        assert other.get(link["url"]).json()["error"]["message"] == "no such task"
        assert nobody.get(link["url"]).status_code == 401
        missing = owner.get(f"/v1/tasks/{task['id']}/artifacts/nothing.png")
        assert (
            missing.status_code == 404 and missing.json()["error"]["message"] == "no such artifact"
        )
        bad = owner.get(f"/v1/tasks/{task['id']}/artifacts/..%2Fsecret")
        assert bad.status_code in (400, 404)
        # a plain chat completion names what was made (no task: no link)
        chat = owner.post(
            "/v1/chat/completions", json={"model": "massgen", "messages": ask("Draw")}
        )
        [named] = chat.json()["massgen_artifacts"]
        assert named["name"] == "artist-kite.png" and "url" not in named
        odd = owner.get(f"/v1/tasks/{task['id']}/artifacts/a%20b.png")
        assert odd.status_code == 400 and odd.json()["error"]["message"].startswith("name:")
