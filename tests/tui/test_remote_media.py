"""The media of a server's task, followed from this machine (a real ``massgen serve`` on
127.0.0.1 whose agent draws a kite on the fake Images API): each picture is fetched through
the client into a cache here and drawn from that copy, in the card under its answer and on the
final answer's shelf, and opened from it; one the server no longer has stays listed, not
drawn, with one line saying why, and the run goes on. The cache is reused when a task is
reopened, and kept under its size by removing older tasks' media."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from massgen import remote_media
from massgen.client import Client
from massgen.events import AgentNotice, ArtifactSaved, Event
from massgen.remote import RemoteResult, Server
from massgen.tui.app import MassGenApp
from massgen.tui.cards import AgentCard
from massgen.tui.final import FinalPane
from tests.support.served_team import API_KEY, ServedTeam, served_artist
from tests.tui.support import cards, settled, until

ASK = "Draw a kite"
SIZE = (120, 40)


@pytest.fixture(scope="module")
def artist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedTeam]:
    with served_artist(tmp_path_factory.mktemp("artist")) as served:
        yield served


@pytest.fixture(autouse=True)
def half_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSGEN_IMAGES", "halfblock")


def finished_task(served: ServedTeam) -> tuple[str, list[dict[str, Any]]]:
    """A finished task of the artist's, and its ``artifact_saved`` events as the server
    sends them (``path``: on the server's disk)."""
    with Client(api_key=API_KEY, base_url=served.url) as client:
        task = client.tasks.create([{"role": "user", "content": ASK}])
        events = list(client.tasks.stream_events(task.id))
    assert events[-1].type == "completed", events[-1]
    saved = [dict(e.data) for e in events if e.type == "artifact_saved"]
    assert saved and all(s["name"].startswith("artist-kite") for s in saved)
    return task.id, saved


def server_bytes(served: ServedTeam, task_id: str, name: str) -> bytes:
    with Client(api_key=API_KEY, base_url=served.url) as client:
        return client.tasks.artifact(task_id, name)


def task_folder(cache: Path, served: ServedTeam, task_id: str) -> Path:
    return cache / served.url.removeprefix("http://").replace(":", "_") / task_id


async def follow(server: Server, task_id: str) -> tuple[RemoteResult, list[Event]]:
    """The task reopened, every event published on its bus."""
    run = server.follow(task_id=task_id)
    seen: list[Event] = []

    async def read() -> None:
        async for event in run.subscription:
            seen.append(event)

    reader = asyncio.create_task(read())
    result = await run.result()
    await reader
    return result, seen


def read(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def remove(saved: list[dict[str, Any]]) -> None:
    """The server's copies of ``saved`` (the server is on this machine): it answers 404."""
    for event in saved:
        Path(event["path"]).unlink()


def card_of(app: MassGenApp, agent_id: str) -> AgentCard:
    return next(c for c in cards(app) if c.agent_id == agent_id)


def notices(app: MassGenApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_a_followed_tasks_picture_is_fetched_here_and_drawn_from_the_copy(
    artist: ServedTeam, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    opened: list[str] = []
    app = MassGenApp(question=ASK, server=Server(artist.url, API_KEY, media_dir=cache))
    app.opener = lambda path: opened.append(path)  # type: ignore[func-returns-value]
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.results) == 1 and not app.running, limit=60)
        await settled(pilot)
        assert app.results[0].status == "ok"
        task_id = app.remote_run.task_id if app.remote_run else ""
        made = app.view.artifacts
        assert made and all(a.agent_id == "artist" and a.kind == "image" for a in made)
        folder = task_folder(cache, artist, task_id)
        for artifact in made:  # the copies here, the server's bytes
            assert Path(artifact.path) == folder / artifact.name
            here = await asyncio.to_thread(read, artifact.path)
            assert here == server_bytes(artist, task_id, artifact.name)
            assert here[:4] == b"\x89PNG"
        # in the card: the picture (half blocks) just above its caption, under its answer
        lines = card_of(app, "artist").plain_lines
        first = made[0]
        caption = next(n for n, x in enumerate(lines) if x.startswith(f"▣ {first.name} ·"))
        assert lines[caption - 1] and set(lines[caption - 1]) == {"▀"}
        answer = next(n for n, x in enumerate(lines) if x.startswith("New answer agent1."))
        assert answer < caption - 1
        # on the final answer's shelf: drawn from the copy here, and opened from it
        tiles = app.query_one(FinalPane).media.tiles
        assert [t.artifact.path for t in tiles] == [a.path for a in made]
        assert type(tiles[0].query_one(".media-image")).__name__ == "HalfcellImage"
        tiles[0].focus()
        await pilot.press("enter")
        assert opened == [first.path]
        keep(app.export_screenshot(), "remote-media.svg")


async def test_a_picture_the_server_no_longer_has_stays_listed_with_one_line(
    artist: ServedTeam, tmp_path: Path
) -> None:
    task_id, saved = finished_task(artist)
    await asyncio.to_thread(remove, saved)
    cache = tmp_path / "cache"
    app = MassGenApp(server=Server(artist.url, API_KEY, media_dir=cache), attach=task_id)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.results) == 1 and not app.running, limit=60)
        await settled(pilot)
        assert app.results[0].status == "ok" and app.view.final_text  # the run went on
        [first, *_] = app.view.artifacts
        assert [a.name for a in app.view.artifacts] == [e["name"] for e in saved]
        assert all(a.path == "" for a in app.view.artifacts)  # no server path used here
        line = (
            f"agent1: {first.name}: not fetched from the server (no such artifact, HTTP 404); "
            "listed without its file"
        )
        assert line in app.view.log
        lines = card_of(app, "artist").plain_lines
        caption = next(n for n, x in enumerate(lines) if x.startswith(f"▣ {first.name} ·"))
        assert lines[caption - 1] == "(not fetched from the server)"
        tile = app.query_one(FinalPane).media.tiles[0]
        assert [str(s.content) for s in tile.query("Static")][:2] == ["▣ image", first.name]
        tile.focus()
        await pilot.press("enter")
        assert "Nothing to open: not fetched from the server." in notices(app)
        keep(app.export_screenshot(), "remote-media-missing.svg")
    assert not any(p.is_file() for p in cache.rglob("*"))


async def test_a_reopened_task_uses_the_copies_here_and_the_events_keep_their_order(
    artist: ServedTeam, tmp_path: Path
) -> None:
    task_id, saved = finished_task(artist)
    server = Server(artist.url, API_KEY, media_dir=tmp_path / "cache")
    result, seen = await follow(server, task_id)
    assert result.status == "ok"
    with Client(api_key=API_KEY, base_url=artist.url) as client:
        sent = [e.type for e in client.tasks.stream_events(task_id)]
    published = [e.type for e in seen]
    assert published == [t for t in sent if t in published]  # the server's order
    copies = [e for e in seen if isinstance(e, ArtifactSaved)]
    assert [e.name for e in copies] == [s["name"] for s in saved]
    for copy, original in zip(copies, saved, strict=True):
        assert copy.path != original["path"] and copy.workspace_path is None
        here, there = [await asyncio.to_thread(read, p) for p in (copy.path, original["path"])]
        assert here == there
    # the server's files gone, the task reopened: the copies here are used, no fetch fails
    await asyncio.to_thread(remove, saved)
    again, seen = await follow(server, task_id)
    assert again.status == "ok" and not any(isinstance(e, AgentNotice) for e in seen)
    assert [e.path for e in seen if isinstance(e, ArtifactSaved)] == [e.path for e in copies]


async def test_the_cache_keeps_under_its_size_by_removing_older_tasks_media(
    artist: ServedTeam, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id, saved = finished_task(artist)
    size = sum(s["size"] for s in saved)
    cache = tmp_path / "cache"
    old = cache / "elsewhere_4000" / "task_old"
    old.mkdir(parents=True)
    (old / "old.png").write_bytes(b"x" * 1000)
    monkeypatch.setattr(remote_media, "MAX_CACHE_BYTES", size + 500)
    result, seen = await follow(Server(artist.url, API_KEY, media_dir=cache), task_id)
    assert result.status == "ok" and not old.exists()  # removed to make room
    assert all(
        [await asyncio.to_thread(read, e.path) for e in seen if isinstance(e, ArtifactSaved)]
    )

    monkeypatch.setattr(remote_media, "MAX_CACHE_BYTES", 100)  # less than one picture
    task_id, saved = finished_task(artist)
    result, seen = await follow(Server(artist.url, API_KEY, media_dir=cache), task_id)
    assert result.status == "ok"
    assert [e.path for e in seen if isinstance(e, ArtifactSaved)] == [""] * len(saved)
    [note, *_] = [e.message for e in seen if isinstance(e, AgentNotice)]
    assert note.startswith(f"{saved[0]['name']}: not fetched from the server (the media cache ")
    assert note.endswith("is full (100 bytes)); listed without its file")


def test_massgen_attach_prints_the_copy_here_in_json(artist: ServedTeam, tmp_path: Path) -> None:
    """The CLI's default cache (under ``$XDG_CACHE_HOME``), through ``massgen attach``."""
    task_id, saved = finished_task(artist)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "MASSGEN_API_KEY": API_KEY}
    command = [sys.executable, "-m", "massgen", "attach", task_id, "--server", artist.url]
    out = subprocess.run(
        [*command, "--ui", "json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    copies = [e for e in events if e["type"] == "artifact_saved"]
    folder = task_folder(tmp_path / "xdg" / "massgen" / "task-media", artist, task_id)
    assert [e["path"] for e in copies] == [str(folder / s["name"]) for s in saved]
    assert Path(copies[0]["path"]).read_bytes() == Path(saved[0]["path"]).read_bytes()


def keep(picture: str, name: str) -> None:
    """With ``$MASSGEN_SCREENSHOT_DIR``, the screen as SVG there (rsvg-convert to look)."""
    if os.environ.get("MASSGEN_SCREENSHOT_DIR"):
        Path(os.environ["MASSGEN_SCREENSHOT_DIR"], name).write_text(picture)
