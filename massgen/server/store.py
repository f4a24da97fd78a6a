"""The durable store of tasks, their events, registered webhooks and webhook deliveries.

SQLAlchemy Core over SQLite (the default, ``sqlite:///path``) or PostgreSQL
(``postgresql://...``). Several processes, on one host or many, may share one store: a task
or a delivery is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL) and a
conditional ``UPDATE ... WHERE status = 'queued'`` (both), so exactly one claimer wins.

Every method is synchronous (call it from a thread: :func:`asyncio.to_thread`). JSON columns
are text. Timestamps are Unix seconds (float). Webhook secrets and headers are stored
encrypted (:mod:`massgen.server.sealing`); the ``massgen_meta`` row ``key_check`` tells
whether given keys open them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from massgen.server.schema import (
    KEY_CHECK,
    STATUSES,
    default_url,
    deliveries,
    delivery_attempts,
    engines,
    from_json,
    meta,
    metadata,
    sqlite_path,
    task_events,
    tasks,
    to_json,
    upgrade,
    webhooks,
    worker_alive,
)
from massgen.server.sealing import Credentials, Sealer, SecretKeyError

log = logging.getLogger("massgen.server")

#: Given an ended task's row and its owner's registered webhooks, the delivery rows to queue
#: (:func:`massgen.server.webhooks.deliveries_on`).
DeliveryRows = Callable[[dict[str, Any], list[dict[str, Any]]], list[dict[str, Any]]]


class TaskExists(Exception):
    """A task with that id is already stored."""


class Store:
    """Tasks, events, webhooks and deliveries in one database (see module)."""

    def __init__(self, url: str, sealer: Sealer | None = None) -> None:
        """Open (and create) the store; raises :class:`SecretKeyError` when it holds
        encrypted webhook secrets that ``sealer``'s keys do not open."""
        self.url = url
        self.sealer = sealer or Sealer()
        self._key_checked = False
        self.dialect, self.engine, self.reader = engines(url)
        with self.engine.begin() as conn:
            metadata.create_all(conn)
            upgrade(conn)
        try:
            self.check_keys()
        except SecretKeyError:
            self.close()
            raise

    def check_keys(self) -> None:
        """Raise :class:`SecretKeyError` unless the keys open the stored webhook secrets."""
        with self.reader.connect() as conn:
            check = conn.execute(sa.select(meta.c.value).where(meta.c.name == KEY_CHECK)).scalar()
        if check is None:
            return
        self.sealer.check(check)
        self._key_checked = True

    def _seal(self, secret: str, headers: dict[str, str] | None) -> str:
        """The stored form of a webhook's credentials. The first one stores the key check
        value, or checks the one another process stored (a process given another key must
        not write secrets the others cannot read)."""
        sealed = self.sealer.seal(Credentials(secret, dict(headers or {})))
        if not self._key_checked:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        meta.insert().values(name=KEY_CHECK, value=self.sealer.check_value())
                    )
            except sa.exc.IntegrityError:  # there is one already
                self.check_keys()
            self._key_checked = True
        return sealed

    def close(self) -> None:
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()

    # ------------------------------------------------------------------ tasks

    def create_task(
        self,
        owner: str,
        request: dict[str, Any],
        meta: Any = None,
        webhook: dict[str, Any] | None = None,
        priority: int = 0,
        task_id: str | None = None,
    ) -> dict[str, Any]:
        """A queued task; ``webhook`` is ``{url, events, secret, headers?}`` (the secret and
        headers are stored encrypted); ``priority``: a value of
        :data:`~massgen.server.schema.PRIORITIES`; ``task_id``: the id (default a new
        ``task_...``); one already taken raises :class:`TaskExists`."""
        task_id = task_id or f"task_{uuid.uuid4().hex}"
        now = time.time()
        if webhook is not None:
            sealed = self._seal(webhook["secret"], webhook.get("headers"))
            webhook = {"url": webhook["url"], "events": webhook["events"], "secret": sealed}
        row = {
            "id": task_id,
            "owner": owner,
            "status": "queued",
            "progress": 0,
            "created_at": now,
            "cancel_requested": False,
            "request": to_json(request),
            "meta": to_json(meta),
            "webhook": to_json(webhook),
            "priority": priority,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(tasks.insert().values(**row))
                self._append(conn, task_id, [("queued", {"status": "queued"})], now)
        except sa.exc.IntegrityError:
            raise TaskExists(task_id) from None
        return self.task(task_id) or row

    def task(self, task_id: str, owner: str | None = None) -> dict[str, Any] | None:
        query = tasks.select().where(tasks.c.id == task_id)
        if owner is not None:
            query = query.where(tasks.c.owner == owner)
        with self.reader.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def list_tasks(
        self,
        owner: str,
        status: Sequence[str] = (),
        limit: int = 20,
        before: float | None = None,
    ) -> list[dict[str, Any]]:
        """The owner's tasks, newest first (``before``: created before this time)."""
        query = tasks.select().where(tasks.c.owner == owner)
        if status:
            query = query.where(tasks.c.status.in_(list(status)))
        if before is not None:
            query = query.where(tasks.c.created_at < before)
        query = query.order_by(tasks.c.created_at.desc(), tasks.c.id.desc()).limit(limit)
        with self.reader.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def count_by_status(self) -> dict[str, int]:
        query = sa.select(tasks.c.status, sa.func.count()).group_by(tasks.c.status)
        with self.reader.connect() as conn:
            counts: dict[str, int] = {s: n for s, n in conn.execute(query).all()}
        return {status: int(counts.get(status, 0)) for status in STATUSES}

    def claim(self, worker: str) -> dict[str, Any] | None:
        """Take the queued task of highest priority, the oldest of those, for ``worker``
        (running), or None. Atomic across processes and hosts: each task is claimed once."""
        for _ in range(5):
            now = time.time()
            with self.engine.begin() as conn:
                query = (
                    sa.select(tasks.c.id)
                    .where(tasks.c.status == "queued")
                    .order_by(tasks.c.priority.desc(), tasks.c.created_at, tasks.c.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                task_id = conn.execute(query).scalar()
                if task_id is None:
                    return None
                won = conn.execute(
                    tasks.update()
                    .where(tasks.c.id == task_id, tasks.c.status == "queued")
                    .values(status="running", worker=worker, started_at=now, heartbeat_at=now)
                ).rowcount
                if won:
                    self._append(conn, task_id, [("running", {"status": "running"})], now)
                    row = conn.execute(tasks.select().where(tasks.c.id == task_id)).mappings()
                    return dict(row.first() or {})
        return None

    def heartbeat(self, worker: str, task_ids: Iterable[str]) -> set[str]:
        """Mark ``worker``'s running tasks alive; returns those whose cancel was requested."""
        ids = list(task_ids)
        if not ids:
            return set()
        with self.engine.begin() as conn:
            conn.execute(
                tasks.update()
                .where(tasks.c.id.in_(ids), tasks.c.worker == worker)
                .values(heartbeat_at=time.time())
            )
            query = sa.select(tasks.c.id).where(
                tasks.c.id.in_(ids), tasks.c.cancel_requested.is_(True)
            )
            return set(conn.execute(query).scalars())

    def add_events(
        self, task_id: str, events: Sequence[tuple[str, dict[str, Any]]], progress: int | None
    ) -> None:
        """Append a running task's events (and raise its progress)."""
        with self.engine.begin() as conn:
            if events:
                self._append(conn, task_id, events, time.time())
            if progress is not None:
                conn.execute(
                    tasks.update()
                    .where(tasks.c.id == task_id, tasks.c.progress < progress)
                    .values(progress=progress)
                )

    def finish(
        self,
        task_id: str,
        status: str,
        *,
        result: Any = None,
        error: str | None = None,
        events: Sequence[tuple[str, dict[str, Any]]] = (),
        worker: str | None = None,
        from_status: Sequence[str] = ("running",),
        deliver: DeliveryRows | None = None,
    ) -> dict[str, Any] | None:
        """End a task (``status`` in :data:`TERMINAL`) once: the last events and the
        terminal event are appended and its webhook deliveries queued in the same
        transaction. None when the task was not in ``from_status`` (already ended)."""
        now = time.time()
        with self.engine.begin() as conn:
            where = [tasks.c.id == task_id, tasks.c.status.in_(list(from_status))]
            if worker is not None:
                where.append(tasks.c.worker == worker)
            values: dict[str, Any] = {"status": status, "finished_at": now, "error": error}
            if status == "completed":
                values["progress"] = 100
            if result is not None:
                values["result"] = to_json(result)
            if not conn.execute(tasks.update().where(*where).values(**values)).rowcount:
                return None
            row = dict(conn.execute(tasks.select().where(tasks.c.id == task_id)).mappings().one())
            terminal = {"status": status, "error": error} if error else {"status": status}
            self._append(conn, task_id, [*events, (status, terminal)], now)
            if deliver is not None:
                for delivery in deliver(row, self._owner_webhooks(conn, row["owner"])):
                    conn.execute(deliveries.insert().values(**delivery))
        return row

    def request_cancel(self, task_id: str, owner: str) -> dict[str, Any] | None:
        with self.engine.begin() as conn:
            conn.execute(
                tasks.update()
                .where(tasks.c.id == task_id, tasks.c.owner == owner, tasks.c.status == "running")
                .values(cancel_requested=True)
            )
        return self.task(task_id, owner)

    def orphans(self, lease: float) -> list[dict[str, Any]]:
        """Running tasks whose worker is gone: its process is dead (same host) or its
        heartbeat is older than ``lease`` seconds."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(tasks.c.id, tasks.c.worker, tasks.c.heartbeat_at).where(
                    tasks.c.status == "running"
                )
            ).all()
        now = time.time()
        found = []
        for task_id, worker, heartbeat in rows:
            alive = worker_alive(worker or "")
            if alive is False or (alive is None and (heartbeat or 0) < now - lease):
                found.append({"id": task_id, "worker": worker})
        return found

    # ------------------------------------------------------------------ events

    @staticmethod
    def _append(
        conn: sa.Connection,
        task_id: str,
        events: Sequence[tuple[str, dict[str, Any]]],
        now: float,
    ) -> None:
        last = conn.execute(
            sa.select(sa.func.max(task_events.c.seq)).where(task_events.c.task_id == task_id)
        ).scalar()
        seq = int(last or 0)
        rows = []
        for kind, data in events:
            seq += 1
            rows.append(
                {"task_id": task_id, "seq": seq, "type": kind, "ts": now, "data": to_json(data)}
            )
        conn.execute(task_events.insert(), rows)

    def events(self, task_id: str, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        query = (
            task_events.select()
            .where(task_events.c.task_id == task_id, task_events.c.seq > after)
            .order_by(task_events.c.seq)
            .limit(limit)
        )
        with self.reader.connect() as conn:
            return [
                {"seq": r.seq, "type": r.type, "ts": r.ts, "data": json.loads(r.data)}
                for r in conn.execute(query)
            ]

    # ------------------------------------------------------------------ webhooks

    def add_webhook(
        self,
        owner: str,
        url: str,
        events: list[str],
        secret: str,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        row = {
            "id": f"wh_{uuid.uuid4().hex}",
            "owner": owner,
            "url": url,
            "events": to_json(events),
            "secret": self._seal(secret, headers),
            "created_at": time.time(),
        }
        with self.engine.begin() as conn:
            conn.execute(webhooks.insert().values(**row))
        return row

    def list_webhooks(self, owner: str) -> list[dict[str, Any]]:
        with self.reader.connect() as conn:
            return self._owner_webhooks(conn, owner)

    @staticmethod
    def _owner_webhooks(conn: sa.Connection, owner: str) -> list[dict[str, Any]]:
        query = webhooks.select().where(webhooks.c.owner == owner).order_by(webhooks.c.created_at)
        return [dict(r) for r in conn.execute(query).mappings()]

    def delete_webhook(self, webhook_id: str, owner: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                webhooks.delete().where(webhooks.c.id == webhook_id, webhooks.c.owner == owner)
            )
        return bool(done.rowcount)

    def webhook_credentials(self, delivery: dict[str, Any]) -> Credentials | None:
        """The secret and headers of a delivery's webhook (None: the webhook was deleted);
        raises :class:`SecretKeyError` when no key opens them."""
        with self.reader.connect() as conn:
            if delivery.get("webhook_id"):
                query = sa.select(webhooks.c.secret).where(webhooks.c.id == delivery["webhook_id"])
                stored = conn.execute(query).scalar()
            else:
                query = sa.select(tasks.c.webhook).where(tasks.c.id == delivery["task_id"])
                stored = (from_json(conn.execute(query).scalar()) or {}).get("secret")
        return None if stored is None else self.sealer.open(stored)

    def reseal(self) -> int:
        """Encrypt every stored webhook secret with the sealer's first key (plain ones from
        earlier versions too) and renew the key check; returns how many were rewritten."""
        done = 0
        with self.engine.begin() as conn:
            for row in conn.execute(sa.select(webhooks.c.id, webhooks.c.secret)).all():
                conn.execute(
                    webhooks.update()
                    .where(webhooks.c.id == row.id)
                    .values(secret=self.sealer.reseal(row.secret))
                )
                done += 1
            query = sa.select(tasks.c.id, tasks.c.webhook).where(tasks.c.webhook.is_not(None))
            for row in conn.execute(query).all():
                hook = json.loads(row.webhook)
                if not hook.get("secret"):
                    continue
                hook["secret"] = self.sealer.reseal(hook["secret"])
                conn.execute(
                    tasks.update().where(tasks.c.id == row.id).values(webhook=to_json(hook))
                )
                done += 1
            conn.execute(meta.delete().where(meta.c.name == KEY_CHECK))
            conn.execute(meta.insert().values(name=KEY_CHECK, value=self.sealer.check_value()))
        self._key_checked = True
        return done

    # ------------------------------------------------------------------ deliveries

    def claim_deliveries(self, claim_for: float, limit: int = 16) -> list[dict[str, Any]]:
        """Due pending deliveries, each claimed for ``claim_for`` seconds (once across
        processes)."""
        now = time.time()
        with self.engine.begin() as conn:
            query = (
                deliveries.select()
                .where(
                    deliveries.c.status == "pending",
                    deliveries.c.next_attempt_at <= now,
                    sa.or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now),
                )
                .order_by(deliveries.c.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = [dict(r) for r in conn.execute(query).mappings()]
            claimed = []
            for row in rows:
                won = conn.execute(
                    deliveries.update()
                    .where(
                        deliveries.c.id == row["id"],
                        deliveries.c.status == "pending",
                        sa.or_(
                            deliveries.c.claimed_until.is_(None),
                            deliveries.c.claimed_until < now,
                        ),
                    )
                    .values(claimed_until=now + claim_for)
                ).rowcount
                if won:
                    claimed.append(row)
        return claimed

    def record_attempt(
        self,
        delivery: dict[str, Any],
        *,
        started_at: float,
        duration: float,
        status_code: int | None,
        error: str | None,
        outcome: str,
        next_attempt_at: float | None,
    ) -> None:
        """One try of a delivery; ``outcome`` is its new status (pending: retried at
        ``next_attempt_at``)."""
        attempt = int(delivery["attempts"]) + 1
        with self.engine.begin() as conn:
            conn.execute(
                delivery_attempts.insert().values(
                    delivery_id=delivery["id"],
                    attempt=attempt,
                    started_at=started_at,
                    duration=duration,
                    status_code=status_code,
                    error=error,
                    next_attempt_at=next_attempt_at,
                )
            )
            values: dict[str, Any] = {
                "attempts": attempt,
                "status": outcome,
                "last_status": status_code,
                "last_error": error,
                "claimed_until": None,
            }
            if next_attempt_at is not None:
                values["next_attempt_at"] = next_attempt_at
            if outcome != "pending":
                values["finished_at"] = time.time()
            conn.execute(
                deliveries.update().where(deliveries.c.id == delivery["id"]).values(**values)
            )

    def deliveries_of(self, task_id: str) -> list[dict[str, Any]]:
        with self.reader.connect() as conn:
            rows = [
                dict(r)
                for r in conn.execute(
                    deliveries.select()
                    .where(deliveries.c.task_id == task_id)
                    .order_by(deliveries.c.created_at)
                ).mappings()
            ]
            for row in rows:
                row["attempt_log"] = [
                    dict(a)
                    for a in conn.execute(
                        delivery_attempts.select()
                        .where(delivery_attempts.c.delivery_id == row["id"])
                        .order_by(delivery_attempts.c.attempt)
                    ).mappings()
                ]
        return rows

    def next_delivery_at(self) -> float | None:
        with self.reader.connect() as conn:
            due = sa.case(
                (
                    deliveries.c.claimed_until > deliveries.c.next_attempt_at,
                    deliveries.c.claimed_until,
                ),
                else_=deliveries.c.next_attempt_at,
            )
            query = sa.select(sa.func.min(due)).where(deliveries.c.status == "pending")
            return conn.execute(query).scalar()


class LazyStore:
    """A server's store, opened on first use (a server that never ran a task leaves no
    SQLite file behind); ``on_open`` is called with it once it opens."""

    def __init__(
        self,
        url: str | None,
        sealer: Sealer,
        on_open: Callable[[Store], None] = lambda store: None,
    ) -> None:
        self.url = url  # None: default_url(), when it opens
        self.sealer = sealer
        self.on_open = on_open
        self.current: Store | None = None
        self._lock = threading.Lock()

    def open(self, create: bool = True) -> bool:
        """Open the store (from any thread); with ``create`` False, only an existing SQLite
        file (or a server database). Whether it is open."""
        with self._lock:
            if self.current is not None:
                return True
            url = self.url or default_url()
            path = sqlite_path(url)
            if not create and path is not None and not path.exists():
                return False
            self.current = Store(url, self.sealer)
            self.on_open(self.current)
            return True

    def check(self) -> None:
        """Open an existing store now, so that secret keys that do not open its webhook
        secrets stop the server before it serves (:class:`SecretKeyError`); a store that
        cannot be reached is left for later."""
        try:
            self.open(create=False)
        except SecretKeyError:
            raise
        except Exception as exc:
            log.debug("massgen: task store not checked: %s", type(exc).__name__)
