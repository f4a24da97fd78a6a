"""The media agents made, as the app shows them: in a card, under the answer that made them
(an image's half-block thumbnail, then its name, kind and size: a click opens it); in the
final answer's pane, a shelf of tiles (images drawn the terminal's best way) that Enter or a
click opens with the system's player."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalScroll, Vertical
from textual.events import Click
from textual.strip import Strip
from textual.widgets import Static

from massgen.tui import pictures
from massgen.tui.artifacts import (
    MEDIA_MARK,
    NOT_HERE,
    ArtifactView,
    artifact_caption,
    human_size,
)
from massgen.tui.text import one_line

if TYPE_CHECKING:
    from rich.console import Console

#: Rows of an image on the final pane's shelf; columns of a tile.
SHELF_IMAGE_ROWS = 6
TILE_WIDTH = 28


def open_action(artifact: ArtifactView) -> str:
    """The app action that opens ``artifact`` (a click on its caption)."""
    return f"app.open_artifact({artifact.path!r})"


def caption(artifact: ArtifactView, width: int) -> Text:
    """``▣ fox.png · image · 3.2 KB`` that a click opens."""
    line = Text(no_wrap=True, overflow="ellipsis")
    click = Style.from_meta({"@click": open_action(artifact)})
    line.append(f"{MEDIA_MARK.get(artifact.kind, '▤')} ", style=Style(bold=True) + click)
    line.append(one_line(artifact_caption(artifact), 120), style=Style(underline=True) + click)
    line.truncate(width, overflow="ellipsis")
    return line


def card_lines(artifact: ArtifactView, width: int, console: Console, base: Style) -> list[Strip]:
    """A medium in a card: an image's thumbnail (or why there is none), and its caption."""
    lines: list[Strip] = []
    options = console.options.update(width=width, height=None, highlight=False)
    if artifact.kind == "image" and not artifact.path:
        note = Text(f"({NOT_HERE})", style="dim italic")
        lines = [Strip(console.render_lines(note, options, pad=False, style=base)[0])]
    elif artifact.kind == "image" and pictures.chosen_way() != "off":
        try:
            click = {"@click": open_action(artifact)}  # a click on the picture opens it too
            lines = pictures.thumbnail_lines(artifact.path, width, console, base, meta=click)
        except pictures.PictureError as exc:
            note = Text(f"({one_line(exc, 80)})", style="dim italic")
            lines = [Strip(console.render_lines(note, options, pad=False, style=base)[0])]
    for row in console.render_lines(caption(artifact, width), options, pad=False, style=base):
        lines.append(Strip(row).extend_cell_length(width, base))
    return lines


def tile_has_image(path: str, kind: str) -> bool:
    """The tile of a medium shows it as an image (one with a file here)."""
    return kind == "image" and bool(path) and pictures.chosen_way() != "off"


class MediaTile(Vertical, can_focus=True):
    """One medium on the shelf: an image (or its kind's mark), its name, kind, size and who
    made it. Enter or a click opens it with the system's player."""

    BINDINGS = [Binding("enter", "open", "Open", show=False)]  # noqa: RUF012 (Textual's)

    def __init__(self, artifact: ArtifactView) -> None:
        super().__init__(classes="media-tile")
        self.artifact = artifact

    def compose(self) -> ComposeResult:
        artifact = self.artifact
        if tile_has_image(artifact.path, artifact.kind):
            try:
                way = pictures.chosen_way()
                yield pictures.image_widget(artifact.path, way).set_classes("media-image")
            except pictures.PictureError as exc:
                yield Static(Text(f"({one_line(exc, 60)})", style="dim italic"))
        else:
            mark = MEDIA_MARK.get(artifact.kind, "▤")
            yield Static(Text(f"{mark} {artifact.kind}", style="bold"), classes="media-kind")
        yield Static(Text(one_line(artifact.name, 60), style="bold"), classes="media-name")
        who = artifact.agent_label
        if artifact.agent_id and artifact.agent_id != who:
            who = f"{who} ({artifact.agent_id})"  # as the final answer's title names the winner
        details = f"{artifact.kind} · {human_size(artifact.size)} · {who}"
        yield Static(Text(one_line(details, 60), style="dim"), classes="media-details")

    def action_open(self) -> None:
        self.app.action_open_artifact(self.artifact.path)  # type: ignore[attr-defined]

    def on_click(self, event: Click) -> None:
        event.stop()
        self.focus()
        self.action_open()


class MediaShelf(HorizontalScroll):
    """The run's media under the final answer, one tile each, in the order they were made."""

    DEFAULT_CSS = f"""
    MediaShelf {{ height: auto; max-height: {SHELF_IMAGE_ROWS + 5}; margin-top: 1; }}
    MediaShelf .media-tile {{ width: {TILE_WIDTH}; height: auto; padding: 0 1; }}
    MediaShelf .media-tile:focus {{ background: $boost; }}
    MediaShelf .media-image {{ width: auto; height: {SHELF_IMAGE_ROWS}; }}
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: list[str] = []  # paths of the tiles, in order
        self.kinds: list[tuple[str, str]] = []  # (path, kind) of each

    def show(self, artifacts: list[ArtifactView]) -> None:
        """Tiles for ``artifacts``: new ones appended, the whole shelf anew for another run."""
        paths = [a.path for a in artifacts]
        self.display = bool(artifacts)
        if paths == self.shown:
            return
        if paths[: len(self.shown)] != self.shown:
            self.remove_children()
            self.shown, self.kinds = [], []
        fresh = artifacts[len(self.shown) :]
        self.shown, self.kinds = paths, [(a.path, a.kind) for a in artifacts]
        self.mount_all([MediaTile(a) for a in fresh])

    @property
    def wanted_rows(self) -> int:
        """Rows the shelf takes, its margin included: an image's and its two lines, or a
        mark's and two lines (known before the tiles are laid out)."""
        images = any(tile_has_image(path, kind) for path, kind in self.kinds)
        return 1 + (SHELF_IMAGE_ROWS if images else 1) + 2

    @property
    def tiles(self) -> list[MediaTile]:
        return list(self.query(MediaTile))
