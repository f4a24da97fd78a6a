"""Finding and reading sessions on disk: the root, ids, listing, loading, pruning."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from massgen.errors import ConfigurationError
from massgen.sessions.summary import rebuild

EVENTS, SUMMARY, CONFIG, FINAL, VOTES, ANSWERS, ATTACHMENTS, TOOLS = (
    "events.jsonl",
    "summary.json",
    "config.yaml",
    "final.md",
    "votes.json",
    "answers",
    "attachments",
    "tools",
)
#: ``20261121-142501-a1b2c3``: sortable by time, unique across processes.
ID_PATTERN = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
#: What ``--continue`` accepts as a session reference rather than the start of a question.
REF_PATTERN = re.compile(r"^(latest|\d{8}(-\d{1,6}(-[0-9a-f]{0,6})?)?)$")


class SessionNotFoundError(ConfigurationError):
    """No session matches the reference given."""


def sessions_root(log_dir: str | Path | None = None) -> Path:
    """``log_dir``, else ``$MASSGEN_LOG_DIR``, else ``<user data dir>/massgen/sessions``."""
    if log_dir:
        return Path(log_dir).expanduser()
    if os.environ.get("MASSGEN_LOG_DIR"):
        return Path(os.environ["MASSGEN_LOG_DIR"]).expanduser()
    import platformdirs

    return platformdirs.user_data_path("massgen") / "sessions"


def new_session_id(now: datetime | None = None) -> str:
    return f"{(now or datetime.now()):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def session_dirs(root: Path) -> list[Path]:
    """Every session directory under ``root``, newest first. An id names its second; two
    sessions started in the same second are ordered by their first events' times (the rest
    of an id is random)."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if ID_PATTERN.match(p.name) and p.is_dir()]
    seconds = Counter(p.name[:15] for p in found)

    def order(path: Path) -> tuple[str, float, str]:
        second = path.name[:15]
        return second, first_event_time(path) if seconds[second] > 1 else 0.0, path.name

    return sorted(found, key=order, reverse=True)


def first_event_time(path: Path) -> float:
    """The time stamp of the session's first recorded event (0 when there is none)."""
    try:
        with (path / "events.jsonl").open("rb") as log:
            return float(json.loads(log.readline())["ts"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def find_session(root: Path, ref: str) -> Path:
    """``latest``, a full id, or a unique prefix of one."""
    dirs = session_dirs(root)
    if not dirs:
        raise SessionNotFoundError(f"no sessions in {root}")
    if ref in ("latest", "last"):
        return dirs[0]
    matches = [p for p in dirs if p.name == ref] or [p for p in dirs if p.name.startswith(ref)]
    if not matches:
        raise SessionNotFoundError(f"no session '{ref}' in {root} (massgen logs lists them)")
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches[:5])
        raise SessionNotFoundError(f"'{ref}' matches {len(matches)} sessions: {names}, ...")
    return matches[0]


def read_events(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The session's events, and how many lines could not be read: an unfinished last line
    after a crash, a line cut inside a UTF-8 character, garbage. Never raises for content."""
    events, bad = [], 0
    try:
        with open(path / EVENTS, "rb") as handle:
            for raw in handle:
                if not raw.strip():
                    continue
                try:
                    event = json.loads(raw.decode("utf-8"))
                except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                    bad += 1
                    continue
                if isinstance(event, dict) and isinstance(event.get("type"), str):
                    events.append(event)
                else:
                    bad += 1
    except FileNotFoundError:
        pass
    return events, bad


class SessionUnreadableError(ConfigurationError):
    """A session directory that cannot be read at all (permissions, not a directory)."""


def load_summary(path: Path) -> dict[str, Any]:
    """The session's summary. ``summary.json`` is written at checkpoints, so while a run is
    going (or when its process died mid-run, or the file is missing or damaged) the summary
    is rebuilt from ``events.jsonl``, which is never behind; a run whose process is gone is
    ``interrupted``. Damaged content never raises; an unreadable directory raises
    :class:`SessionUnreadableError`."""
    stored, damaged = _stored_summary(path)
    if stored is not None and stored.get("status") != "running":
        return stored
    stored = stored or {}
    try:
        events, bad = read_events(path)
    except OSError as exc:
        raise SessionUnreadableError(f"{path.name}: {exc.strerror or exc}") from None
    kept = {k: stored[k] for k in ("created", "config_source", "pid", "host") if k in stored}
    summary = rebuild(path.name, events, **kept)
    notes = []
    if damaged:
        notes.append(f"summary.json {damaged}; rebuilt from the events")
    if bad:
        notes.append(f"{bad} unreadable line(s) in events.jsonl skipped")
    if summary.get("skipped_events"):
        notes.append(f"{summary.pop('skipped_events')} damaged event(s) skipped")
    if summary["status"] == "running" and _dead(stored):
        summary["recovered"] = True
        summary["status"] = "interrupted"
        notes.insert(0, "the process ended before the run finished")
        for part in summary["parts"]:
            if part["status"] == "running":
                part["status"] = "interrupted"
    elif not stored:
        summary["recovered"] = True
    if notes:
        summary["note"] = "; ".join(notes)
    return summary


#: Keys of ``summary.json`` a reader relies on, and the types they must have.
_SHAPE: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "status": (str,),
    "parts": (list,),
    "question": (str, type(None)),
    "winner": (str, type(None)),
    "created": (str,),
    "prompt_tokens": (int,),
    "completion_tokens": (int,),
    "total_tokens": (int,),
    "cost_usd": (int, float, type(None)),
    "duration_s": (int, float, type(None)),
    "agents": (list,),
    "tally": (dict,),
}


def _stored_summary(path: Path) -> tuple[dict[str, Any] | None, str]:
    """``summary.json`` if it has the shape readers need, else (None, what is wrong)."""
    try:
        raw = (path / SUMMARY).read_bytes()
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None, "is not valid JSON"
    if not isinstance(data, dict):
        return None, "is not a JSON object"
    for key, types in _SHAPE.items():
        if (key in data and not isinstance(data[key], types)) or (
            isinstance(data.get(key), bool) and bool not in types
        ):
            return None, f"has a bad '{key}'"
    if "parts" not in data or not all(isinstance(p, dict) for p in data["parts"]):
        return None, "has no readable parts"
    data["id"] = path.name
    return data, ""


def _dead(summary: dict[str, Any]) -> bool:
    """Whether the process that wrote a running session is gone."""
    if summary.get("closed"):
        return False
    pid = summary.get("pid")
    if not isinstance(pid, int):
        return True
    if summary.get("host") not in (None, socket.gethostname()):
        return False  # another machine's process: cannot tell, trust the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def conversation(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The (question, final answer) pairs of the session's answered parts."""
    return [
        (p["question"], p["final_answer"])
        for p in summary.get("parts") or []
        if p.get("question") and p.get("final_answer")
    ]


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s`` -> a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text or "")
    if not match:
        raise ConfigurationError(
            f"invalid age '{text}': use a number and a unit, e.g. 30d, 12h, 2w"
        )
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    return timedelta(**{unit[match.group(2)]: int(match.group(1))})


def session_time(path: Path) -> datetime:
    """When the session was last written to."""
    newest = max(
        (f.stat().st_mtime for f in (path / EVENTS, path / SUMMARY) if f.exists()),
        default=path.stat().st_mtime,
    )
    return datetime.fromtimestamp(newest, UTC)


def prune(root: Path, older_than: timedelta, *, dry_run: bool = False) -> list[Path]:
    """Delete sessions last written more than ``older_than`` ago (never one still running
    in a live process); returns what was (or would be) deleted."""
    cutoff = datetime.now(UTC) - older_than
    doomed = []
    for path in session_dirs(root):
        if session_time(path) >= cutoff:
            continue
        summary = load_summary(path)
        if summary.get("status") == "running" and not summary.get("closed"):
            continue
        doomed.append(path)
        if not dry_run:
            shutil.rmtree(path, ignore_errors=True)
    return doomed
