"""Open a file with the system's player or viewer (``open`` on macOS, ``xdg-open``
elsewhere, the file's association on Windows), never through a shell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

#: The program that opens a file with its default application, per platform.
OPENERS = {"darwin": "open"}
DEFAULT_OPENER = "xdg-open"
#: What the app opens: pictures, sounds and videos (a recording names paths; an opener would
#: run a script or a ``.desktop`` file it was handed, so nothing else is passed on).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
SOUND_SUFFIXES = (".wav", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".aac", ".m4a")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi")
MEDIA_SUFFIXES = frozenset((*IMAGE_SUFFIXES, *SOUND_SUFFIXES, *VIDEO_SUFFIXES))


def opener_program(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """The opener's full path on this system, or None when there is none."""
    return which(OPENERS.get(sys.platform, DEFAULT_OPENER))


def open_file(path: str | Path) -> str | None:
    """Start the system's application for ``path`` (and do not wait for it). None when it
    started; else the one line to tell the user (which names the file, so they can open it
    themselves)."""
    path = Path(path)
    if path.suffix.lower() not in MEDIA_SUFFIXES:
        return f"Not opened (not a picture, sound or video): {path}"
    if not path.is_file():
        return f"The file is not there any more: {path}"
    if sys.platform == "win32":  # pragma: no cover (no Windows here)
        os.startfile(path)  # type: ignore[attr-defined]
        return None
    program = opener_program()
    if program is None:
        name = OPENERS.get(sys.platform, DEFAULT_OPENER)
        return f"No {name} here to open it with: the file is {path}"
    try:
        subprocess.Popen(
            [program, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the player outlives neither keys nor the app's signals
        )
    except OSError as exc:
        return f"Could not start {program} ({exc.strerror or exc}): the file is {path}"
    return None
