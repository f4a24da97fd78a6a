"""The media agents make, in the app: an image drawn under the answer that made it in the
agent's card, every medium on the final answer's shelf, and Enter or a click opening one
with the system's player; all from the ``artifact_saved`` events (live or recorded)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.color import Color
from textual.widgets import Static

from massgen.tui import pictures
from massgen.tui.app import MassGenApp
from massgen.tui.artifacts import human_size
from massgen.tui.cards import AgentCard
from massgen.tui.final import FinalPane
from tests.tui.media_session import media_session
from tests.tui.support import cards, settled, until

pytestmark = pytest.mark.usefixtures("half_blocks")


@pytest.fixture
def half_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSGEN_IMAGES", "halfblock")


def card_of(app: MassGenApp, agent_id: str) -> AgentCard:
    return next(c for c in cards(app) if c.agent_id == agent_id)


def notices(app: MassGenApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def played(app: MassGenApp, pilot) -> None:
    await until(pilot, lambda: not app.running)
    await settled(pilot)


def colour_at(card: AgentCard, line: int, column: int) -> Color | None:
    """The background of one cell of the card's text (a half block's lower pixel)."""
    cells = 0
    for segment in card.lines[line]:
        if cells + len(segment.text) > column:
            return segment.style.bgcolor if segment.style else None
        cells += len(segment.text)
    return None


async def test_the_image_shows_in_the_card_under_its_answer_and_every_medium_on_the_final_shelf(
    tmp_path,
):
    app = MassGenApp(replay=media_session(tmp_path / "artifacts"), replay_speed=50)
    async with app.run_test(size=(120, 40)) as pilot:
        await played(app, pilot)
        artist = card_of(app, "artist")
        lines = artist.plain_lines
        answer = lines.index("New answer artist.1:")
        size = human_size((tmp_path / "artifacts" / "fox.png").stat().st_size)
        caption = lines.index(f"▣ fox.png · image · {size}")
        thumbnail = [n for n in range(answer, caption) if lines[n] and set(lines[n]) == {"▀"}]
        # eight rows of half blocks (96 × 64 pixels in at most 32 × 8 cells), just above
        # the caption; the sky's blue at the top, the snow's white at the bottom
        assert thumbnail == list(range(caption - 8, caption))
        sky, snow = colour_at(artist, caption - 8, 1), colour_at(artist, caption - 1, 1)
        assert sky is not None and sky.get_truecolor()[:3] == (120, 170, 230)
        assert snow is not None and snow.get_truecolor()[:3] == (245, 245, 250)
        assert lines[caption + 2].startswith("♪ howl.wav · audio · 3.9 KB")
        assert not any(
            "▀" in line or "fox.png ·" in line for line in card_of(app, "critic").plain_lines
        )

        pane = app.query_one(FinalPane)
        tiles = pane.media.tiles
        assert [t.artifact.name for t in tiles] == ["fox.png", "howl.wav"]
        assert pane.media.region.height > 0 and pane.media.region.y < pane.region.bottom
        image = tiles[0].query_one(".media-image")
        assert type(image).__name__ == "HalfcellImage" and image.size.height == 6
        shown = [str(s.content) for s in tiles[1].query("Static")]
        assert shown == ["♪ audio", "howl.wav", "audio · 3.9 KB · artist"]


async def test_enter_on_a_tile_and_a_click_on_a_cards_caption_open_the_medium(tmp_path):
    opened: list[str] = []
    app = MassGenApp(replay=media_session(tmp_path / "artifacts"), replay_speed=50)
    app.opener = lambda path: opened.append(path)  # type: ignore[func-returns-value]
    async with app.run_test(size=(120, 40)) as pilot:
        await played(app, pilot)
        tiles = app.query_one(FinalPane).media.tiles
        tiles[1].focus()
        await pilot.press("enter")
        assert opened == [str(tmp_path / "artifacts" / "howl.wav")]
        assert "Opening howl.wav…" in notices(app)

        artist = card_of(app, "artist")
        row = artist.plain_lines.index(next(x for x in artist.plain_lines if "fox.png ·" in x))
        y = 1 + artist.HEAD_ROWS + row - int(artist.scroll_y)  # below the border and head
        assert 0 < y < artist.size.height
        await pilot.click(artist, offset=(5, y))
        assert opened[-1] == str(tmp_path / "artifacts" / "fox.png")

        await pilot.click(artist, offset=(5, y - 3))  # on the picture
        assert opened[-1] == str(tmp_path / "artifacts" / "fox.png") and len(opened) == 3
        await pilot.click(artist, offset=(40, y - 3))  # beside it: nothing
        assert len(opened) == 3

        await pilot.click(tiles[0], offset=(2, 2))
        assert opened[-1] == str(tmp_path / "artifacts" / "fox.png") and len(opened) == 4


async def test_without_a_player_one_notice_names_the_file(tmp_path):
    app = MassGenApp(replay=media_session(tmp_path / "artifacts"), replay_speed=50)
    app.opener = lambda path: f"No xdg-open here to open it with: the file is {path}"
    async with app.run_test(size=(120, 40)) as pilot:
        await played(app, pilot)
        app.query_one(FinalPane).media.tiles[0].focus()
        await pilot.press("enter")
        wav = tmp_path / "artifacts" / "fox.png"
        assert notices(app) == [f"No xdg-open here to open it with: the file is {wav}"]


async def test_with_images_off_the_media_are_listed_without_pictures(tmp_path, monkeypatch):
    monkeypatch.setenv("MASSGEN_IMAGES", "off")
    app = MassGenApp(replay=media_session(tmp_path / "artifacts"), replay_speed=50)
    async with app.run_test(size=(120, 40)) as pilot:
        await played(app, pilot)
        lines = card_of(app, "artist").plain_lines
        assert not any("▀" in line for line in lines)
        assert any(line.startswith("▣ fox.png · image") for line in lines)
        tile = app.query_one(FinalPane).media.tiles[0]
        assert next(str(s.content) for s in tile.query("Static")) == "▣ image"


async def test_a_picture_that_is_gone_says_so_and_keeps_its_entry(tmp_path):
    parts = media_session(tmp_path / "artifacts")
    (tmp_path / "artifacts" / "fox.png").unlink()
    app = MassGenApp(replay=parts, replay_speed=50)
    async with app.run_test(size=(120, 40)) as pilot:
        await played(app, pilot)
        lines = card_of(app, "artist").plain_lines
        caption = next(n for n, line in enumerate(lines) if line.startswith("▣ fox.png"))
        assert lines[caption - 1] == "(not shown: FileNotFoundError)"


@pytest.mark.parametrize(
    ("env", "way"),
    [
        ({"TERM": "xterm-kitty"}, "kitty"),
        ({"KITTY_WINDOW_ID": "1", "TERM": "xterm-256color"}, "kitty"),
        ({"TERM": "foot"}, "sixel"),
        ({"TERM_PROGRAM": "WezTerm"}, "sixel"),
        ({"TERM": "xterm-256color"}, "halfblock"),
        ({"TERM": "xterm-kitty", "MASSGEN_IMAGES": "halfblock"}, "halfblock"),
        ({"MASSGEN_IMAGES": "OFF"}, "off"),
    ],
)
def test_the_way_images_are_drawn_follows_the_terminal(env, way):
    assert pictures.chosen_way(env) == way


LAZY = """
import asyncio, sys
from pathlib import Path
from massgen.tui.app import MassGenApp
from tests.tui.media_session import media_session

async def main(with_media):
    parts = media_session(Path(sys.argv[1]))
    if not with_media:
        parts = [[e for e in parts[0] if e["type"] != "artifact_saved"]]
    app = MassGenApp(replay=parts, replay_speed=50)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.running:
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        print(with_media, "textual_image" in sys.modules)

asyncio.run(main(False))
asyncio.run(main(True))
"""


def test_textual_image_is_imported_only_when_the_first_image_shows(tmp_path):
    env = {**os.environ, "MASSGEN_IMAGES": "halfblock", "PYTHONPATH": os.getcwd()}
    out = subprocess.run(
        [sys.executable, "-c", LAZY, str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert out.split("\n")[:2] == ["False False", "True True"]


async def test_a_recorded_run_in_which_an_agent_drew_an_image_replays_with_it(tmp_path):
    """The issue's story recorded for real (generate_image on the fake Images API, the critic
    looking with understand_image), then replayed: the artist's card draws the picture the
    session holds, and the final answer's shelf lists it."""
    import massgen
    from massgen.sessions import replay, store
    from massgen.testing import FakeChatServer
    from tests.tools.test_generate_then_understand import KEY, VISION, ArtistAndCritic

    with FakeChatServer(api_key=KEY, brain=ArtistAndCritic()) as fake:
        backend = {
            "type": "chatcompletion",
            "model": "gpt-4o-mini",
            "base_url": fake.url,
            "api_key": KEY,
        }
        vision = {**backend, "model": VISION, "vision": True}
        config = {"agents": [
            {"id": "critic", "backend": backend,
             "understanding": {"tools": ["understand_image"], "image_model": vision}},
            {"id": "artist", "backend": backend,
             "generation": {"image": {"base_url": fake.url, "api_key": KEY}}},
        ]}  # fmt: skip
        result = await massgen.run(
            "Draw a fox and say what it shows", config=config, enable_logging=True,
            log_dir=tmp_path / "logs",
        )  # fmt: skip
    [artifact] = result["artifacts"]
    events, bad = store.read_events(Path(result["session_dir"]))
    assert bad == 0

    app = MassGenApp(replay=replay.split_parts(events), replay_speed=50)
    async with app.run_test(size=(120, 40)) as pilot:
        await played(app, pilot)
        lines = card_of(app, "artist").plain_lines
        caption = next(n for n, x in enumerate(lines) if x.startswith(f"▣ {artifact['name']} ·"))
        assert lines[caption - 1] and set(lines[caption - 1]) == {"▀"}  # the picture
        answer = next(n for n, x in enumerate(lines) if x.startswith("New answer "))
        assert answer < caption - 8  # under the answer that the image went with
        assert not any(artifact["name"] in x for x in card_of(app, "critic").plain_lines)
        [tile] = app.query_one(FinalPane).media.tiles
        assert tile.artifact.path == artifact["path"] and tile.query_one(".media-image")
        # named as the final answer's title names agents: the label, then the id
        assert str(tile.query_one(".media-details", Static).content).endswith("agent2 (artist)")


@pytest.mark.parametrize(("way", "widget"), [("kitty", "TGPImage"), ("sixel", "SixelImage")])
async def test_the_final_shelf_draws_with_the_terminals_graphics_protocol(
    tmp_path, monkeypatch, way, widget
):
    """Kitty's protocol or Sixel on the shelf (the cards keep half blocks: their lines
    scroll with the text)."""
    monkeypatch.setenv("MASSGEN_IMAGES", way)
    app = MassGenApp(replay=media_session(tmp_path / "artifacts"), replay_speed=50)
    async with app.run_test(size=(120, 40)) as pilot:
        await played(app, pilot)
        image = app.query_one(FinalPane).media.tiles[0].query_one(".media-image")
        assert isinstance(image, getattr(pictures.library(), widget))
        assert image.size.height == 6 and image.size.width
        assert any(set(x) == {"▀"} for x in card_of(app, "artist").plain_lines if x)


async def test_a_live_run_in_the_app_shows_the_picture_an_agent_drew(tmp_path):
    """The story run live in the app (generate_image on the fake Images API): the picture
    comes up under the artist's answer while the run goes on, and on the final shelf."""
    from massgen.config.loader import load_config_dict
    from massgen.runs import build_team
    from massgen.sessions.recorder import SessionRecorder
    from massgen.testing import FakeChatServer
    from tests.tools.test_generate_then_understand import KEY, VISION, ArtistAndCritic
    from tests.tui.support import finished

    with FakeChatServer(api_key=KEY, brain=ArtistAndCritic()) as fake:
        backend = {
            "type": "chatcompletion",
            "model": "gpt-4o-mini",
            "base_url": fake.url,
            "api_key": KEY,
        }
        config = load_config_dict({"agents": [
            {"id": "critic", "backend": backend, "understanding": {
                "tools": ["understand_image"],
                "image_model": {**backend, "model": VISION, "vision": True}}},
            {"id": "artist", "backend": backend,
             "generation": {"image": {"base_url": fake.url, "api_key": KEY}}},
        ]}).config  # fmt: skip
        recorder = SessionRecorder(config, "test", log_dir=tmp_path / "logs")
        app = MassGenApp(
            lambda: build_team(config), config.orchestrator, question="Draw a fox",
            recorder=recorder,
        )  # fmt: skip
        async with app.run_test(size=(120, 40)) as pilot:
            await finished(pilot)
            made = app.view.artifacts  # the fake artist may draw again in a later turn
            assert made and {a.agent_id for a in made} == {"artist"}
            lines = card_of(app, "artist").plain_lines
            for artifact in made:
                caption = lines.index(f"▣ {artifact.name} · image · {human_size(artifact.size)}")
                assert set(lines[caption - 1]) == {"▀"}
            tiles = app.query_one(FinalPane).media.tiles
            assert [t.artifact.path for t in tiles] == [a.path for a in made]
        recorder.close(0)
    pngs = await asyncio.to_thread(lambda: [Path(a.path).read_bytes()[:4] for a in made])
    assert pngs == [b"\x89PNG"] * len(made)  # the session holds the pictures
