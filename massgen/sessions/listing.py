"""The recorded sessions as a list, newest first: what ``massgen logs`` prints and the
session picker (``massgen --resume``, the app's ``o``) shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from massgen.sessions import store


def summary_or_reason(path: Path) -> dict[str, Any]:
    """A session's summary, or ``{id, unreadable: reason}`` when nothing can be read: one
    damaged session never hides the others."""
    try:
        return store.load_summary(path)
    except Exception as exc:  # a damaged directory: say why and go on
        return {"id": path.name, "unreadable": f"{type(exc).__name__}: {exc}"}


def started(summary: dict[str, Any]) -> str:
    """The session's start in local time, ``2026-11-21 14:25`` (``?`` when unknown)."""
    try:
        return datetime.fromisoformat(summary["created"]).astimezone().strftime("%Y-%m-%d %H:%M")
    except (KeyError, TypeError, ValueError):
        return "?"


@dataclass(frozen=True)
class SessionEntry:
    """One recorded session, as a list shows it."""

    path: Path
    started: str  # local time, ``2026-11-21 14:25``
    question: str  # the first question
    parts: int  # questions asked in it
    status: str  # ok, failed, interrupted, running, ... or unreadable

    @property
    def id(self) -> str:
        return self.path.name


def entry(path: Path) -> SessionEntry:
    """``path``'s session as a list entry (never raises for a damaged session)."""
    summary = summary_or_reason(path)
    if summary.get("unreadable"):
        return SessionEntry(path, "?", str(summary["unreadable"]), 0, "unreadable")
    parts = [p for p in summary.get("parts") or [] if isinstance(p, dict)]
    question = summary.get("question") or next(
        (p.get("question") for p in parts if p.get("question")), ""
    )
    return SessionEntry(
        path, started(summary), str(question or ""), len(parts), str(summary.get("status", "?"))
    )


def recent_sessions(root: Path, limit: int = 200) -> list[SessionEntry]:
    """The newest ``limit`` sessions under ``root``, newest first."""
    return [entry(path) for path in store.session_dirs(root)[: max(0, limit)]]
