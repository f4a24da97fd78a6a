"""A task's generated media through the client, sync and async, against a real ``massgen
serve`` whose agent draws a kite on the fake Images API: ``tasks.artifact`` (the bytes) and
``tasks.download_artifact`` (a file, whole or not at all, at most ``max_bytes``); an unknown
name is the server's 404, a name that is no artifact's is refused before sending, another
key is refused."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from massgen.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    NotFoundError,
    ValidationError,
)
from tests.support.served_team import API_KEY, ServedTeam, served_artist

ASK = [{"role": "user", "content": "Draw a kite"}]


@pytest.fixture(scope="module")
def artist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedTeam]:
    with served_artist(tmp_path_factory.mktemp("artist")) as served:
        yield served


@pytest.fixture(scope="module")
def drawn(artist: ServedTeam) -> tuple[str, dict[str, Any]]:
    """A finished task of the artist's and the link to its picture."""
    with Client(api_key=API_KEY, base_url=artist.url) as client:
        task = client.tasks.create(ASK)
        for _ in client.tasks.stream_events(task.id):
            pass
        done = client.tasks.get_status(task.id)
    assert done.status == "completed" and done.result, done
    [link] = done.result["massgen_artifacts"]
    assert link["name"] == "artist-kite.png"
    return task.id, link


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def a_png(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as picture:
        return str(picture.format)


def test_the_sync_client_reads_and_downloads_a_tasks_image(
    artist: ServedTeam, drawn: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    task_id, link = drawn
    with Client(api_key=API_KEY, base_url=artist.url) as client:
        data = client.tasks.artifact(task_id, link["name"])
        assert len(data) == link["size"] and a_png(data) == "PNG"

        saved = client.tasks.download_artifact(task_id, link["name"], tmp_path / "kite.png")
        assert saved == tmp_path / "kite.png" and saved.read_bytes() == data

        with pytest.raises(ValidationError) as large:
            client.tasks.download_artifact(
                task_id, link["name"], tmp_path / "small.png", max_bytes=100
            )
        assert "larger than max_bytes (100 bytes)" in large.value.message
        assert names(tmp_path) == ["kite.png"]  # nor a .part

        with pytest.raises(NotFoundError) as missing:
            client.tasks.artifact(task_id, "nothing.png")
        assert missing.value.status_code == 404 and missing.value.message == "no such artifact"
        with pytest.raises(ValidationError) as bad:
            client.tasks.artifact(task_id, "../secret.png")
        assert bad.value.status_code is None and bad.value.param == "name"  # never sent

    stranger = Client(api_key="sk-not-the-key-0123456789", base_url=artist.url)
    with stranger, pytest.raises(AuthenticationError):
        stranger.tasks.artifact(task_id, link["name"])


async def test_the_async_client_reads_and_downloads_a_tasks_image(
    artist: ServedTeam, drawn: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    task_id, link = drawn
    async with AsyncClient(api_key=API_KEY, base_url=artist.url) as client:
        data = await client.tasks.artifact(task_id, link["name"])
        assert len(data) == link["size"] and a_png(data) == "PNG"

        target = tmp_path / "kite.png"
        saved = await client.tasks.download_artifact(task_id, link["name"], str(target))
        assert saved == target and saved.read_bytes() == data

        with pytest.raises(ValidationError) as large:
            await client.tasks.download_artifact(
                task_id, link["name"], tmp_path / "small.png", max_bytes=100
            )
        assert "larger than max_bytes" in large.value.message
        assert await asyncio.to_thread(names, tmp_path) == ["kite.png"]

        with pytest.raises(NotFoundError):
            await client.tasks.download_artifact(task_id, "nothing.png", tmp_path / "x.png")
        assert not (tmp_path / "x.png").exists()
