"""Images in the app, through ``textual-image``: which way the terminal draws them, thumbnails
for the cards (half blocks: lines that scroll with the transcript) and image widgets for the
final answer's list (the terminal's graphics protocol where it has one).

``textual-image`` is imported when the first image is shown, never before (the app's first
paint does not wait for it). Imported as it is, it asks the terminal what it can draw, which
only works before Textual reads the terminal; so the way is chosen here, from the
environment, and the library is imported with that question turned off.
"""

from __future__ import annotations

import io
import os
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.style import Style
    from textual.strip import Strip
    from textual.widget import Widget

#: ``MASSGEN_IMAGES``: how images are drawn (``off`` shows none, only their entries).
WAYS = ("kitty", "sixel", "halfblock", "off")
#: Terminals that speak Sixel, by ``TERM_PROGRAM`` or the start of ``TERM``.
SIXEL_PROGRAMS = ("WezTerm", "iTerm.app", "mintty")
SIXEL_TERMS = ("foot", "mlterm", "contour", "yaft")
#: The cards' thumbnails at most: columns and rows (two pixels a row).
THUMB_COLS = 32
THUMB_ROWS = 8


class PictureError(Exception):
    """An image cannot be shown (the file is gone or not an image; no ``textual-image``)."""


def chosen_way(env: dict[str, str] | None = None) -> str:
    """``MASSGEN_IMAGES`` when set (one of :data:`WAYS`); else Kitty's protocol in Kitty, Sixel
    in the terminals known to speak it, half blocks everywhere else."""
    env = dict(os.environ) if env is None else env
    forced = env.get("MASSGEN_IMAGES", "").strip().lower()
    if forced in WAYS:
        return forced
    if env.get("KITTY_WINDOW_ID") or env.get("TERM") == "xterm-kitty":
        return "kitty"
    term = env.get("TERM", "")
    if env.get("TERM_PROGRAM") in SIXEL_PROGRAMS or env.get("KONSOLE_VERSION"):
        return "sixel"
    if term.startswith(SIXEL_TERMS):
        return "sixel"
    return "halfblock"


def cell_pixels() -> tuple[int, int] | None:
    """A cell's size in pixels as the terminal reports it (``TIOCGWINSZ``: no reply read from
    the terminal, so safe while Textual runs), or None."""
    try:
        import fcntl
        import struct
        import termios

        raw = fcntl.ioctl(sys.__stdout__.fileno(), termios.TIOCGWINSZ, b"\0" * 8)  # type: ignore[union-attr]
        rows, cols, width, height = struct.unpack("HHHH", raw)
    except (ImportError, OSError, AttributeError, ValueError):
        return None
    if not (rows and cols and width and height):
        return None
    return width // cols, height // rows


@lru_cache(maxsize=1)
def library() -> ModuleType:
    """``textual_image.widget``, imported without its question to the terminal: while it
    loads, ``sys.__stdout__`` is not a terminal, and the cell size comes from the environment
    (the library's way for web terminals), filled in from :func:`cell_pixels`."""
    saved_out = sys.__stdout__
    saved_env = {k: os.environ.get(k) for k in ("TEXTUAL_CELL_WIDTH", "TEXTUAL_CELL_HEIGHT")}
    cell = cell_pixels()
    if cell and not all(saved_env.values()):
        os.environ["TEXTUAL_CELL_WIDTH"], os.environ["TEXTUAL_CELL_HEIGHT"] = map(str, cell)
    sys.__stdout__ = io.StringIO()  # type: ignore[assignment,misc]
    try:
        import textual_image.widget as widget
    except ImportError as exc:
        raise PictureError("images need textual-image (pip install textual-image)") from exc
    finally:
        sys.__stdout__ = saved_out  # type: ignore[misc]
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return widget


#: The longest side an image is kept at once loaded: more than a thumbnail or a shelf tile
#: draws (a generated image is often 1024 pixels or more).
KEEP_PIXELS = 512


def open_image(path: str | Path) -> Any:
    """The image at ``path`` as a PIL image, loaded and at most :data:`KEEP_PIXELS` on a side
    (or :class:`PictureError`)."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise PictureError(f"not shown: {exc.__class__.__name__}") from exc
    return _loaded(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _loaded(path: str, mtime_ns: int, size: int) -> Any:
    """The image at ``path`` as it was at ``mtime_ns`` (cached: a card draws it again on
    every resize)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            small = image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image.copy()
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise PictureError(f"not shown: {exc.__class__.__name__}") from exc
    small.thumbnail((KEEP_PIXELS, KEEP_PIXELS))
    return small


def thumbnail_lines(
    path: str | Path, width: int, console: Console, style: Style, meta: dict[str, Any] | None = None
) -> list[Strip]:
    """``path`` in half blocks, at most :data:`THUMB_COLS` × :data:`THUMB_ROWS` cells (and
    ``width``), its proportions kept; ``meta`` on the picture's cells (a click action)."""
    from textual.strip import Strip

    library()  # the renderables' package, imported the quiet way
    from textual_image.renderable.halfcell import Image as HalfcellImage

    image = open_image(path)
    cols, rows = fit(image.width, image.height, min(width, THUMB_COLS), THUMB_ROWS)
    options = console.options.update(width=width, height=None, highlight=False)
    rendered = console.render_lines(HalfcellImage(image, cols, rows), options, pad=False)
    strips = [Strip(line) for line in rendered]
    if meta:
        strips = [strip.apply_meta(meta) for strip in strips]
    return [strip.extend_cell_length(width, style) for strip in strips]


def fit(pixels_w: int, pixels_h: int, cols: int, rows: int) -> tuple[int, int]:
    """Cells for an image of ``pixels_w`` × ``pixels_h`` within ``cols`` × ``rows`` half-block
    cells (a cell: one pixel wide, two high, about square on screen)."""
    if pixels_w <= 0 or pixels_h <= 0:
        return 1, 1
    scale = min(cols / pixels_w, (rows * 2) / pixels_h)
    return max(1, round(pixels_w * scale)), max(1, round(pixels_h * scale / 2))


def image_widget(path: str | Path, way: str) -> Widget:
    """A widget drawing ``path`` the ``way`` chosen (:func:`chosen_way`); its size is set by
    the caller's CSS."""
    widget = library()
    kind = {"kitty": widget.TGPImage, "sixel": widget.SixelImage}.get(way, widget.HalfcellImage)
    return kind(open_image(path))
