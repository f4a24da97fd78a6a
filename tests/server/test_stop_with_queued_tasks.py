"""A ``massgen serve`` stopped (SIGTERM) while tasks wait in its queue: it exits at once, fails
the task it was running ("server stopped"), claims no other, and a server started again runs
the queued ones. (Before, the task loop swallowed its cancel, as Python 3.11's
``asyncio.wait_for`` can, and the process never exited.)"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import yaml

from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve
from tests.server.support import ask, team, wait_for_status


def test_sigterm_with_queued_tasks_exits_and_leaves_them_queued(tmp_path: Path) -> None:
    with FakeChatServer() as provider:
        config = tmp_path / "team.yaml"
        config.write_text(yaml.safe_dump(team(provider, 1)))
        args = ("--db", f"sqlite:///{tmp_path}/tasks.db", "--max-concurrency", "1")
        with massgen_serve(config, *args) as first:
            client = httpx.Client(base_url=first.url, timeout=10)
            provider.hold_after(0)  # the first run waits on its first model call
            ids = [
                client.post("/v1/tasks", json={"messages": ask(f"q{i}")}).json()["id"]
                for i in range(5)
            ]
            assert provider.wait_for(lambda: len(provider.requests) == 1)
            started = time.monotonic()
            first.process.send_signal(signal.SIGTERM)
            first.process.wait(timeout=30)  # hung for ever before
            assert time.monotonic() - started < 10
        assert len(provider.requests) == 1  # nothing was claimed while stopping
        provider.release()

        with massgen_serve(config, *args) as second:
            client = httpx.Client(base_url=second.url, timeout=10)
            stopped = client.get(f"/v1/tasks/{ids[0]}").json()
            assert stopped["status"] == "failed" and "server stopped" in stopped["error"]
            for task_id in ids[1:]:
                assert wait_for_status(client, task_id, ("completed",))["result"]
