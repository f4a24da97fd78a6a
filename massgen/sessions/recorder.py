"""Writing sessions: :class:`SessionLog` owns one directory; :class:`SessionRecorder` gives
each run its part in the current conversation's session."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.exitcodes import for_status
from massgen.redaction import REDACTED, Redactor, backend_secrets, secrets_from_env
from massgen.sessions import store
from massgen.sessions.summary import Summary
from massgen.terminal import clean_text

if TYPE_CHECKING:
    from massgen.config.schema import MassGenConfig
    from massgen.events import Event, EventBus
    from massgen.images import Image

#: The most image data one session keeps (each image is at most 20 MiB).
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024

#: Events after which ``summary.json`` and ``votes.json`` are rewritten. Between them only
#: ``events.jsonl`` (and each new answer's file) is written: the event log is the record, and
#: a reader rebuilds the summary from it when the process died in between.
CHECKPOINTS = frozenset({"run_started", "winner_selected", "run_finished"})


#: One encoder for every event line (``json.dumps`` with options builds one per call).
_LINE = json.JSONEncoder(ensure_ascii=False, default=str)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: a reader (or a crash) never sees half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def config_secrets(config: MassGenConfig) -> list[str]:
    return backend_secrets(agent.backend for agent in config.agents)


def redacted_config(config: MassGenConfig) -> dict[str, Any]:
    data = config.model_dump(mode="json", exclude_none=True, exclude={"agent"})
    for agent in data.get("agents") or []:
        backend = agent.get("backend") or {}
        if backend.get("api_key"):
            backend["api_key"] = REDACTED
    return data


@dataclass(frozen=True)
class SessionHeader:
    """What every session of one config starts from: the redactor (the environment's and
    the config's secrets) and the redacted ``config.yaml``. The server makes it once for its
    own config, so a burst of runs does not dump the same YAML once per run."""

    redact: Redactor
    config_text: str

    @classmethod
    def of(cls, config: MassGenConfig) -> SessionHeader:
        import yaml

        redact = Redactor([*secrets_from_env(), *config_secrets(config)])
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~10x faster
        text = yaml.dump(
            redacted_config(config), Dumper=dumper, sort_keys=False, allow_unicode=True
        )
        return cls(redact, redact(text))


class SessionLog:
    """One session directory, written as events arrive (see :mod:`massgen.sessions`)."""

    def __init__(self, path: Path, summary: Summary, redact: Redactor) -> None:
        self.path = path
        self.summary = summary
        self.redact = redact
        self.votes: list[dict[str, Any]] = []
        self._votes_changed = False
        self.failed: str | None = None
        self._events = open(path / store.EVENTS, "a", encoding="utf-8")  # noqa: SIM115
        #: Lines held by :meth:`batched` until its end (None: each line is written at once).
        self._held: list[str] | None = None

    @property
    def id(self) -> str:
        return self.path.name

    @classmethod
    def create(
        cls,
        root: Path,
        config: MassGenConfig,
        source: str,
        header: SessionHeader | None = None,
    ) -> SessionLog:
        """A new session directory under ``root``, with its redacted config (``header``:
        made from ``config`` once, ahead of time)."""
        header = header or SessionHeader.of(config)
        redact = header.redact
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        session_id = store.new_session_id()
        path = root / session_id
        path.mkdir(mode=0o700)
        (path / store.ANSWERS).mkdir()
        write_atomic(path / store.CONFIG, header.config_text)
        summary = Summary(session_id, config_source=redact(source), pid=os.getpid())
        summary.data["host"] = socket.gethostname()
        return cls(path, summary, redact)  # summary.json follows at run_started

    @classmethod
    def reopen(cls, path: Path, config: MassGenConfig) -> SessionLog:
        """An existing session, to add parts to (``--continue``)."""
        data = store.load_summary(path)
        summary = Summary(data["id"])
        summary.data.update(data)
        summary.data.update(pid=os.getpid(), host=socket.gethostname(), closed=False)
        summary.data.pop("recovered", None)
        summary.data.pop("note", None)
        redact = Redactor([*secrets_from_env(), *config_secrets(config)])
        log = cls(path, summary, redact)
        try:
            log.votes = json.loads((path / store.VOTES).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.votes = []
        return log

    def next_part(self) -> int:
        return len(self.summary.parts) + 1

    def save_tool_output(self, part: int, call_id: str, output: str) -> str:
        """Write a tool call's result under ``tools/``; returns the file's relative path."""
        folder = self.path / store.TOOLS
        folder.mkdir(exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in call_id)[:80] or "call"
        name = f"{'' if part == 1 else f'part{part}.'}{safe}.txt"
        (folder / name).write_text(clean_text(self.redact(output)), encoding="utf-8")
        return f"{store.TOOLS}/{name}"

    def save_images(self, images: Sequence[Image], part: int) -> None:
        """Keep the question's images in ``attachments/`` (URLs are in the events), up to
        :data:`MAX_ATTACHMENT_BYTES` per session."""
        folder = self.path / store.ATTACHMENTS
        try:
            folder.mkdir(exist_ok=True)
            used = sum(f.stat().st_size for f in folder.iterdir())
            for index, image in enumerate(images, 1):
                if image.data is None or used + image.size > MAX_ATTACHMENT_BYTES:
                    continue
                prefix = "" if part == 1 else f"part{part}."
                safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in image.name)
                (folder / f"{prefix}{index}-{safe[:60]}").write_bytes(image.data)
                used += image.size
        except OSError as exc:
            self.stop(exc)

    def record(self, event: Event, part: int) -> None:
        """Append ``event`` to the log and update the files it changes. A write error
        stops the log (with one warning), never the run."""
        if self.failed:
            return
        try:
            self._record(event.to_dict(), part)
        except (OSError, ValueError) as exc:
            self.stop(exc)

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """Record a batch of events with one write and one flush of ``events.jsonl`` at its
        end (the server's writer thread; see docs/architecture.md, "Sessions"). Files other
        than the event log are written as their events come, as always."""
        if self._held is not None:  # already inside a batch
            yield
            return
        self._held = []
        try:
            yield
        finally:
            try:
                self._write_held()
            except (OSError, ValueError) as exc:
                self.stop(exc)
            self._held = None

    def _write_held(self) -> None:
        """Write the lines a batch holds so far (before a checkpoint's files, so that
        ``summary.json`` never gets ahead of the event log)."""
        if self._held and not self.failed:
            lines = "".join(self._held)
            self._held.clear()
            self._events.write(lines)
            self._events.flush()

    def stop(self, exc: BaseException) -> None:
        """Turn the log off after a failed write, with one warning; the run goes on."""
        if self.failed:
            return
        self.failed = str(exc) or type(exc).__name__
        sys.stderr.write(
            f"massgen: session log stopped ({self.path}): {self.failed}; the run goes on\n"
        )

    def _record(self, data: dict[str, Any], part: int) -> None:
        data["part"] = part
        output = data.pop("output", None) if data["type"] == "tool_call_finished" else None
        if output is not None:  # a tool's whole result gets a file; the log names it
            data["output_file"] = self.save_tool_output(part, str(data.get("call_id")), output)
        line = clean_text(self.redact(_LINE.encode(data)))
        if self._held is not None:
            self._held.append(line + "\n")
        else:
            self._events.write(line + "\n")
            self._events.flush()
        kind = data["type"]
        if kind == "answer_submitted":  # written once; the event above already holds it
            prefix = "" if part == 1 else f"part{part}."
            answer = self.path / store.ANSWERS / f"{prefix}{data['label']}.md"
            answer.write_text(clean_text(self.redact(data["content"])), encoding="utf-8")
        elif kind == "vote_cast":
            self.votes.append(
                {
                    "part": part,
                    "voter": data.get("agent_id"),
                    "voter_label": data.get("voter"),
                    "target": data.get("target_agent_id"),
                    "target_label": data.get("target"),
                    "target_answer": data.get("target_answer"),
                    "reason": data.get("reason"),
                }
            )
            self._votes_changed = True
        elif kind == "final_answer":
            write_atomic(self.path / store.FINAL, clean_text(self.redact(str(data["content"]))))
        self.summary.apply(data)
        if kind in CHECKPOINTS:
            self._write_held()
            if self._votes_changed:
                self.write_json(store.VOTES, self.votes)
                self._votes_changed = False
            self.write_summary()

    def write_json(self, name: str, value: Any) -> None:
        text = json.dumps(value, indent=2, ensure_ascii=False)
        write_atomic(self.path / name, clean_text(self.redact(text)) + "\n")

    def write_summary(self) -> None:
        self.write_json(store.SUMMARY, self.summary.data)

    def close(self, exit_status: int | None = None) -> None:
        """Mark the session closed; ``exit_status`` defaults to the CLI's for its status."""
        data = self.summary.data
        if data["status"] == "running":  # closed mid-run: the process is going away
            data["status"] = "interrupted"
            for part in self.summary.parts:
                if part["status"] == "running":
                    part["status"] = "interrupted"
        data["exit_status"] = int(
            exit_status if exit_status is not None else for_status(data["status"])
        )
        data["closed"] = True
        try:
            if not self.failed:
                self.write_summary()
        except (OSError, ValueError) as exc:
            self.stop(exc)
        finally:
            try:
                self._events.close()
            except OSError as exc:  # the last buffered line could not be flushed
                self.stop(exc)


class SessionRecorder:
    """Records the runs of one conversation into one session, created at its first run.

    ``attach(bus)`` before each run; ``new_conversation()`` makes the next run
    start a new session; ``close(exit_status)`` at the end."""

    def __init__(
        self,
        config: MassGenConfig,
        source: str,
        *,
        log_dir: str | Path | None = None,
        resume: Path | None = None,
        header: SessionHeader | None = None,
    ) -> None:
        """``header``: the config's :class:`SessionHeader`, when the caller keeps one."""
        self.config = config
        self.header = header
        self.source = source
        self.root = store.sessions_root(log_dir)
        self.resume = resume
        self.log: SessionLog | None = None
        self.unavailable = False
        self.written: list[Path] = []  # every session this recorder wrote, in order

    @property
    def path(self) -> Path | None:
        return self.log.path if self.log else None

    def attach(self, bus: EventBus, images: Sequence[Image] = ()) -> SessionLog | None:
        """Record the run about to start on ``bus`` as the session's next part (with the
        images attached to its question)."""
        log = self._open()
        if log is None:
            return None
        part = log.next_part()
        log.summary.part(part)  # reserve the number before the first event arrives
        if images:
            log.save_images(images, part)
        bus.add_listener(lambda event: log.record(event, part))
        return log

    def _open(self) -> SessionLog | None:
        if self.log is None and not self.unavailable:
            try:
                if self.resume is not None:
                    self.log = SessionLog.reopen(self.resume, self.config)
                else:
                    self.log = SessionLog.create(self.root, self.config, self.source, self.header)
            except OSError as exc:
                self.unavailable = True
                sys.stderr.write(
                    f"massgen: cannot write the session log under {self.root}: {exc}; "
                    "running without one\n"
                )
        return self.log

    def batched(self) -> contextlib.AbstractContextManager[None]:
        """Events recorded inside are written together (:meth:`SessionLog.batched`)."""
        return self.log.batched() if self.log is not None else contextlib.nullcontext()

    def new_conversation(self) -> None:
        self.close()
        self.resume = None

    def continue_session(self, path: Path) -> None:
        """Record the next run as the next part of the session at ``path`` (the app's
        session picker); the current session is closed."""
        self.close()
        self.resume = path

    def close(self, exit_status: int | None = None) -> None:
        if self.log is not None:
            self.log.close(exit_status)
            if self.log.path not in self.written:
                self.written.append(self.log.path)
            self.log = None
