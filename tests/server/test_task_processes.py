"""Tasks across real ``massgen serve`` processes: a server killed with -9 and started again
keeps every task (on SQLite and on PostgreSQL), and two worker processes sharing a store run
each of 20 tasks exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import yaml

import massgen
from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve
from tests.server.support import SECRET_KEY, Receiver, ask, sse_events, team, wait_for_status

SECRET = "whsec-restart-0123456789"


def write_team(provider: FakeChatServer, path: Path) -> Path:
    path.write_text(yaml.safe_dump(team(provider)))
    return path


def test_tasks_survive_kill_9_and_restart(db_url: str, tmp_path: Path) -> None:
    with FakeChatServer() as provider, Receiver() as receiver:
        config = write_team(provider, tmp_path / "team.yaml")
        args = ("--db", db_url, "--max-concurrency", "1", "--webhook-allow", "127.0.0.1/32")
        env = {"MASSGEN_SERVER_SECRET_KEY": SECRET_KEY}
        with massgen_serve(config, *args, env=env) as first:
            client = httpx.Client(base_url=first.url, timeout=10)
            done = client.post("/v1/tasks", json={"messages": ask("q-done")}).json()
            completed = wait_for_status(client, done["id"], ("completed",))
            provider.ttft = 60.0  # the next run hangs on its first model call
            hook = {"url": receiver.url, "secret": SECRET}
            running = client.post(
                "/v1/tasks", json={"messages": ask("q-running"), "webhook": hook}
            ).json()
            wait_for_status(client, running["id"], ("running",))
            provider.wait_for(lambda: len(provider.requests) > 5)
            queued = client.post("/v1/tasks", json={"messages": ask("q-queued")}).json()
            os.kill(first.process.pid, signal.SIGKILL)
            first.process.wait(timeout=10)

        provider.ttft = 0.0
        with massgen_serve(config, *args, env=env) as second:
            client = httpx.Client(base_url=second.url, timeout=10)
            # nothing answers 404: the completed task keeps its result ...
            again = client.get(f"/v1/tasks/{done['id']}").json()
            assert again["status"] == "completed" and again["result"] == completed["result"]
            # ... the one that was running is failed, saying why, and its webhook says so
            failed = wait_for_status(client, running["id"], ("failed",))
            assert "server restarted" in failed["error"]
            (delivery,) = receiver.wait(1)
            assert massgen.verify_webhook(
                delivery.body, delivery.headers["X-Massgen-Signature"], SECRET
            )
            assert json.loads(delivery.body)["type"] == "task.failed"
            with client.stream("GET", f"/v1/tasks/{running['id']}/events") as response:
                kinds = [e["event"] for e in sse_events(response)]
            assert kinds[:3] == ["queued", "running", "run_started"] and kinds[-1] == "failed"
            # ... and the queued one runs now
            ran = wait_for_status(client, queued["id"], ("completed",))
            assert "q-queued" in ran["result"]["choices"][0]["message"]["content"]
            text = client.get("/metrics").text
            assert 'massgen_tasks{status="completed"} 2.0' in text
            assert 'massgen_tasks{status="failed"} 1.0' in text


def test_two_workers_run_each_of_20_tasks_exactly_once(db_url: str, tmp_path: Path) -> None:
    with FakeChatServer(ttft=0.05) as provider:
        config = write_team(provider, tmp_path / "team.yaml")
        with massgen_serve(
            config, "--db", db_url, "--workers", "2", "--max-concurrency", "3"
        ) as server:
            client = httpx.Client(base_url=server.url, timeout=10)
            ids = [
                client.post("/v1/tasks", json={"messages": ask(f"job-{i:02d}")}).json()["id"]
                for i in range(20)
            ]
            deadline = time.monotonic() + 90
            while True:
                tasks = client.get("/v1/tasks", params={"limit": 100}).json()["data"]
                if sum(t["status"] == "completed" for t in tasks) == 20:
                    break
                assert time.monotonic() < deadline, Counter(t["status"] for t in tasks)
                time.sleep(0.2)
            assert sorted(t["id"] for t in tasks) == sorted(ids)
            for task in tasks:  # every event log has exactly one run in it
                with client.stream("GET", f"/v1/tasks/{task['id']}/events") as response:
                    kinds = Counter(e["event"] for e in sse_events(response))
                assert kinds["running"] == 1 and kinds["run_started"] == 1, kinds
            text = client.get("/metrics").text  # shared by both workers
            assert 'massgen_runs_total{status="ok",strategy="vote"} 20.0' in text

        # each run's model calls reached the provider once: 2 answers, 2 votes, 1 presentation
        calls = Counter(
            tag
            for request in provider.requests
            for tag in set(re.findall(r"job-\d\d", str(request.body["messages"])))
        )
        assert len(calls) == 20 and set(calls.values()) == {5}, calls
        workers = set(_claimers(db_url))
        assert len(workers) == 2, workers


def _claimers(db_url: str) -> list[str]:
    """The worker processes that claimed the tasks (``host:pid:start``), from the store."""
    import sqlalchemy as sa

    from massgen.server.schema import tasks
    from massgen.server.store import Store

    store = Store(db_url)
    try:
        with store.reader.connect() as conn:
            return list(conn.execute(sa.select(tasks.c.worker)).scalars())
    finally:
        store.close()


def test_workers_die_with_their_server(tmp_path: Path) -> None:
    import psutil

    with FakeChatServer() as provider:
        config = write_team(provider, tmp_path / "team.yaml")
        with massgen_serve(
            config, "--db", f"sqlite:///{tmp_path}/t.db", "--workers", "2"
        ) as server:
            parent = psutil.Process(server.process.pid)

            def workers() -> list[psutil.Process]:  # not multiprocessing's resource tracker
                return [
                    c for c in parent.children() if "resource_tracker" not in " ".join(c.cmdline())
                ]

            deadline = time.monotonic() + 30
            while len(workers()) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(workers()) == 2
            children = parent.children()
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
            _, alive = psutil.wait_procs(children, timeout=15)
            assert not alive, f"workers outlived their server: {alive}"


def test_bad_serve_options_are_one_readable_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "team.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "agents": [
                    {
                        "id": "a",
                        "backend": {
                            "type": "vllm",
                            "model": "m",
                            "base_url": "http://127.0.0.1:9/v1",
                        },
                    }
                ]
            }
        )
    )
    for args, expected in [
        (["--db", "mysql://u:hunter2@db/x"], "unsupported database 'mysql'"),
        (["--db", "::not a url::"], "not a database URL"),
        (["--workers", "0"], "--workers: must be at least 1"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "massgen", "serve", "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], done.stderr
        assert "hunter2" not in done.stderr and "Traceback" not in done.stderr
