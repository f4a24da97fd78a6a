"""The recorded sessions as MCP resources: ``massgen://sessions/<id>`` holds a session's
summary, its answers and its final answer (JSON), read from the server's session folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import Resource

from massgen.sessions import store
from massgen.sessions.listing import recent_sessions, summary_or_reason

SCHEME = "massgen://sessions/"
TEMPLATE = SCHEME + "{session_id}"
MIME = "application/json"
#: How many of the newest sessions a resource listing names.
LISTED = 50
#: What a summary says of the machine, left out of what a client reads.
_PRIVATE = ("pid", "host")


def session_uri(session_id: str) -> str:
    return SCHEME + session_id


def listed(root: Path, limit: int = LISTED) -> list[Resource]:
    """The newest sessions under ``root`` as resources (name: the id; description: the
    first question and the status)."""
    return [
        Resource(
            uri=session_uri(entry.id),
            name=entry.id,
            title=(entry.question or entry.id)[:80],
            description=f"{entry.status} · {entry.started} · {entry.question[:200]}",
            mime_type=MIME,
        )
        for entry in recent_sessions(root, limit)
    ]


def read(root: Path, session_id: str) -> str:
    """The session ``session_id`` under ``root`` as JSON: ``summary``, ``answers`` (each
    ``label`` and ``content``, in the order given) and ``final_answer``. Raises
    :class:`ResourceNotFoundError` for an id that names no session."""
    path = root / session_id
    if not store.ID_PATTERN.match(session_id) or not path.is_dir():
        raise ResourceNotFoundError(
            f"no session '{session_id[:80]}' (resources/list names the recent ones)"
        )
    summary = {k: v for k, v in summary_or_reason(path).items() if k not in _PRIVATE}
    document: dict[str, Any] = {
        "id": session_id,
        "summary": summary,
        "answers": _answers(path / store.ANSWERS),
        "final_answer": _text(path / store.FINAL),
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _answers(folder: Path) -> list[dict[str, str]]:
    try:
        files = sorted(folder.glob("*.md"), key=lambda p: p.stat().st_mtime_ns)
    except OSError:
        return []
    return [{"label": f.stem, "content": _text(f) or ""} for f in files if f.is_file()]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
