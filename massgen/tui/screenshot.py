"""Where the command palette's "Screenshot" saves: the downloads folder when there is one,
else the session's folder, else the working directory (Textual's own choice, the downloads
folder alone, saves nothing when it is missing)."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_downloads_path


def folder(session: Path | None = None) -> Path:
    """The first of the downloads folder, ``session`` (the recorded session's folder) and
    the working directory that exists."""
    for candidate in (user_downloads_path(), session):
        if candidate is not None and candidate.is_dir():
            return candidate
    return Path.cwd()
