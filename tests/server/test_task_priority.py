"""Task priorities, against a real server on 127.0.0.1 over SQLite and a real PostgreSQL:
a task submitted ``priority="high"`` (through :mod:`massgen.client`) after low ones runs
first, then the rest oldest first; the priority shows in the task's status; a priority the
server does not know gets one 400 line; a store made before priorities opens and gains them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from massgen.client import Client, ValidationError
from massgen.server.app import create_app
from massgen.server.store import Store
from tests.fakes.chat_server import FakeChatServer
from tests.server.support import ask, serving, team


def _until(c: Client, task_id: str, statuses: tuple[str, ...], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while c.tasks.get_status(task_id).status not in statuses:
        assert time.monotonic() < deadline, f"task {task_id} never {statuses}"
        time.sleep(0.05)


def test_a_high_priority_task_queued_after_low_ones_runs_first(db_url: str) -> None:
    with FakeChatServer() as provider:
        provider.hold_after(0)  # the first task holds the only run slot
        app = create_app(config=team(provider), db=db_url, max_concurrency=1, enable_logging=False)
        with serving(app) as url, Client(base_url=url) as c:
            first = c.tasks.create(ask("first"))
            _until(c, first.id, ("running",))
            lows = [c.tasks.create(ask(f"low {i}"), priority="low") for i in range(2)]
            normal = c.tasks.create(ask("normal"))
            high = c.tasks.create(
                type="llm_completion", payload={"messages": ask("high")}, priority="high"
            )
            assert c.tasks.get_status(high.id).priority == "high"
            assert c.tasks.get_status(lows[0].id).priority == "low"
            assert c.tasks.get_status(normal.id).priority == "normal"
            provider.release()
            queued = [*lows, normal, high]
            for task in queued:
                _until(c, task.id, ("completed",))
            started = {t.id: c.tasks.get_status(t.id).started_at or 0 for t in queued}
    order = sorted(started, key=lambda task_id: started[task_id])
    assert order == [high.id, normal.id, lows[0].id, lows[1].id]


def test_a_priority_the_server_does_not_know_is_refused(tmp_path: Path) -> None:
    with FakeChatServer() as provider:
        app = create_app(
            config=team(provider), db=f"sqlite:///{tmp_path / 't.db'}", enable_logging=False
        )
        with serving(app) as url, Client(base_url=url) as c:
            response = c.http.post(f"{url}/v1/tasks", json={"messages": ask(), "priority": 5})
            assert response.status_code == 400
            error = response.json()["error"]
            assert error["message"] == "priority must be one of low, normal, high"
            assert error["param"] == "priority"
            with pytest.raises(ValidationError, match="one of low, normal, high"):
                c.tasks.create(ask(), priority="urgent")  # refused before it is sent
            assert c.tasks.list().data == []


def test_a_store_made_before_priorities_gains_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    Store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the store as an earlier version made it
        conn.exec_driver_sql("DROP INDEX massgen_tasks_queue")
        conn.exec_driver_sql("ALTER TABLE massgen_tasks DROP COLUMN priority")
    engine.dispose()
    store = Store(url)
    try:
        low = store.create_task("o", {"messages": ask()}, priority=-1)
        high = store.create_task("o", {"messages": ask()}, priority=1)
        assert store.claim("w")["id"] == high["id"]  # type: ignore[index]
        assert store.claim("w")["id"] == low["id"]  # type: ignore[index]
    finally:
        store.close()
