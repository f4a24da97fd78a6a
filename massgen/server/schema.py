"""The task store's schema: its tables, the values of their columns (task statuses, worker
ids, JSON text), the database URLs it accepts and the engines that connect to them.
:mod:`massgen.server.store` reads and writes these tables."""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event

TERMINAL = ("completed", "failed", "cancelled")
STATUSES = ("queued", "running", *TERMINAL)
#: A task's priority as the API names it, and as the store keeps it: queued tasks are claimed
#: highest first, then oldest first.
PRIORITIES = {"low": -1, "normal": 0, "high": 1}
#: The error of a task whose server stopped while it ran (see ``Store.orphans``).
RESTARTED = "server restarted while the task was running; submit it again"

metadata = sa.MetaData()

tasks = sa.Table(
    "massgen_tasks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("worker", sa.String(200)),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("request", sa.Text, nullable=False),  # {messages, model, timeout}
    sa.Column("meta", sa.Text),  # the client's metadata
    sa.Column("webhook", sa.Text),  # {url, events, secret: sealed credentials}
    sa.Column("result", sa.Text),
    sa.Column("error", sa.Text),
    # PRIORITIES; added to stores made before it by upgrade()
    sa.Column("priority", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Index("massgen_tasks_owner", "owner", "created_at"),
    sa.Index("massgen_tasks_status", "status", "created_at"),
    sa.Index("massgen_tasks_queue", "status", "priority", "created_at"),
)

task_events = sa.Table(
    "massgen_task_events",
    metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)

webhooks = sa.Table(
    "massgen_webhooks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False, index=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),  # sealed credentials (secret, headers)
    sa.Column("created_at", sa.Float, nullable=False),
)

deliveries = sa.Table(
    "massgen_deliveries",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("task_id", sa.String(64), nullable=False, index=True),
    sa.Column("webhook_id", sa.String(64)),  # None: the task's own webhook
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("claimed_until", sa.Float),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Index("massgen_deliveries_due", "status", "next_attempt_at"),
)

meta = sa.Table(
    "massgen_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
KEY_CHECK = "key_check"

delivery_attempts = sa.Table(
    "massgen_delivery_attempts",
    metadata,
    sa.Column("delivery_id", sa.String(64), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("next_attempt_at", sa.Float),  # None: no retry after this attempt
)


def upgrade(conn: sa.Connection) -> None:
    """Bring a store made by an earlier version up to this schema (in the caller's write
    transaction: one process does it): the tasks' ``priority`` column and its index."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns(tasks.name)}
    if "priority" not in columns:
        conn.exec_driver_sql(
            f"ALTER TABLE {tasks.name} ADD COLUMN priority INTEGER NOT NULL DEFAULT 0"
        )
    conn.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS massgen_tasks_queue ON {tasks.name} "
        "(status, priority, created_at)"
    )


def priority_name(value: int | None) -> str:
    """The API's name of a stored priority."""
    for name, number in PRIORITIES.items():
        if number == (value or 0):
            return name
    return "normal"


def default_url() -> str:
    """``$MASSGEN_SERVER_DB``, else SQLite in the user's data dir."""
    if os.environ.get("MASSGEN_SERVER_DB"):
        return os.environ["MASSGEN_SERVER_DB"]
    import platformdirs

    return f"sqlite:///{platformdirs.user_data_path('massgen') / 'server.db'}"


def check_url(url: str) -> None:
    """Raise ``ValueError`` (one readable line) unless ``url`` names a supported database."""
    try:
        parsed = sa.engine.make_url(url)
    except Exception:
        raise ValueError(
            "--db: not a database URL (use sqlite:///path or postgresql://user@host/db)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"--db: unsupported database {parsed.get_backend_name()!r}; "
            "use sqlite:///path or postgresql://user@host/db"
        )


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for another database or ``:memory:``)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def engines(url: str) -> tuple[str, sa.Engine, sa.Engine]:
    """The dialect of ``url`` (checked), and the engines that write and read it; a SQLite
    file is created, readable by its owner only (it holds webhook secrets and results)."""
    check_url(url)
    parsed = sa.engine.make_url(url)
    dialect = parsed.get_backend_name()
    if dialect == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3
        engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=10)
        return dialect, engine, engine
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600, exist_ok=True)
    # writers take the lock up front (BEGIN IMMEDIATE): two processes never deadlock
    # upgrading a read to a write; readers (WAL) never wait for them
    return dialect, _sqlite_engine(parsed, "BEGIN IMMEDIATE"), _sqlite_engine(parsed, "BEGIN")


def _sqlite_engine(url: sa.URL, begin: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa_event.listens_for(engine, "connect")
    def _connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # transactions are begun below, not by the driver
        cursor = dbapi.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _process_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def worker_id() -> str:
    """``host:pid:start`` of this process (the start time tells a reused pid apart)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid) or uuid.uuid4().hex[:8]}"


def worker_alive(worker: str) -> bool | None:
    """Whether the process named by :func:`worker_id` runs (None: another host, unknown)."""
    host, _, rest = worker.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return _process_start(int(pid)) == start


def from_json(text: str | None) -> Any:
    """A JSON column's value (None stays None)."""
    return None if text is None else json.loads(text)


def to_json(value: Any) -> str | None:
    """A value as a JSON column stores it (None stays None)."""
    return None if value is None else json.dumps(value, ensure_ascii=False)
