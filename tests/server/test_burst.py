"""The server under a burst: run set-ups that do not wait on each other, and session logs
written in batches off the event loop that stay complete, ordered and durable
(docs/architecture.md, "The server" and "Sessions")."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from massgen.server import create_app
from massgen.sessions import store
from massgen.workspaces import manager
from tests.fakes.chat_server import FakeChatServer, text_of
from tests.server.conftest import free_port
from tests.server.support import ask, serving, team

pytestmark = pytest.mark.serial  # latencies under a burst: alone, after the parallel tests


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def first_request_of(provider: FakeChatServer, question: str) -> float:
    """When the provider received the first model call of the run asked ``question``."""
    times = [
        r.started_at
        for r in provider.requests
        if any(question in text_of(m.get("content")) for m in r.body.get("messages") or ())
    ]
    assert times, f"no model call for {question!r}"
    return min(times)


def test_a_slow_run_set_up_does_not_hold_up_another_runs_first_model_call(
    provider: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One run's folders take 1.5 s to make (a slow disk); a run asked meanwhile reaches the
    # provider at once instead of queueing behind it on the event loop.
    making = manager.Workspaces.__post_init__
    slow = threading.Event()

    def slow_first(self: manager.Workspaces) -> None:
        if not slow.is_set():
            slow.set()
            time.sleep(1.5)
        making(self)

    monkeypatch.setattr(manager.Workspaces, "__post_init__", slow_first)
    files_team = {**team(provider), "orchestrator": {"enable_filesystem": True}}
    app = create_app(config=files_team, enable_logging=False)
    with serving(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        answers: dict[str, str | None] = {}

        def ask_about(question: str) -> None:
            reply = client.chat.completions.create(model="massgen", messages=ask(question))
            answers[question] = reply.choices[0].message.content

        slow_run = threading.Thread(target=ask_about, args=("slow set-up",))
        slow_run.start()
        assert slow.wait(30), "the first run never made its folders"
        sent = time.monotonic()
        ask_about("quick set-up")
        slow_run.join(60)
    assert answers["slow set-up"] and answers["quick set-up"]
    waited = first_request_of(provider, "quick set-up") - sent
    assert waited < 1.0, f"the second run's first model call waited {waited:.2f} s"
    assert first_request_of(provider, "quick set-up") < first_request_of(provider, "slow set-up")


def events_of(session: Path) -> list[dict[str, Any]]:
    events, unreadable = store.read_events(session)
    assert unreadable == 0
    return events


def test_the_session_logs_of_a_burst_are_complete_and_in_order(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    app = create_app(config=team(provider, 3), log_dir=tmp_path, max_concurrency=16)
    questions = [f"question {i}: why is the sky blue?" for i in range(8)]

    async def burst(url: str) -> list[str]:
        async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x") as client:

            async def one(question: str) -> str:
                stream = await client.chat.completions.create(
                    model="massgen", messages=ask(question), stream=True
                )
                return "".join([c.choices[0].delta.content or "" async for c in stream])

            return list(await asyncio.gather(*(one(q) for q in questions)))

    with serving(app) as url:
        streamed = asyncio.run(burst(url))
    sessions = store.session_dirs(tmp_path)
    assert len(sessions) == len(questions)
    finals = set()
    for session in sessions:
        events = events_of(session)
        assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_finished"
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs)), "events out of order or repeated"
        assert events[-1]["status"] == "ok"
        final = (session / "final.md").read_text()
        finals.add(final)
        if not any(e["type"] == "stream_retry" for e in events):  # a retry starts over
            written = "".join(e["text"] for e in events if e["type"] == "final_answer_delta")
            assert written == final  # every piece of the streamed answer is in the log
        answers = sum(e["type"] == "answer_submitted" for e in events)
        assert answers >= 3 and len(list((session / "answers").iterdir())) == answers
        assert store.load_summary(session)["status"] == "ok"
    assert finals == set(streamed)


def serve_process(config: Path, log_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """``massgen serve`` recording its sessions under ``log_dir``, ready to answer."""
    port = free_port()
    env = {**os.environ, "MASSGEN_LOG_DIR": str(log_dir)}
    command = [sys.executable, "-m", "massgen", "serve", "--config", str(config)]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/health", timeout=1)
            return process, url
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                stderr = process.communicate()[1]
                raise RuntimeError(f"massgen serve did not start: {stderr}") from None
            time.sleep(0.1)


def test_a_killed_server_keeps_the_session_log_up_to_the_last_batch(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    config = tmp_path / "team.yaml"
    config.write_text(yaml.safe_dump(team(provider, 3)))
    provider.hold_after(3)  # the three answers; the votes wait
    process, url = serve_process(config, tmp_path / "sessions")
    try:
        with httpx.stream(
            "POST",
            f"{url}/v1/chat/completions",
            json={"model": "massgen", "messages": ask(), "stream": True},
            timeout=30,
        ) as response:
            lines = response.iter_lines()
            answered = 0
            while answered < 3:  # the trace says each answer as the run records it
                line = next(lines)
                answered += line.startswith("data:") and "] answer agent" in line
            deadline = time.monotonic() + 10
            while len(provider.requests) < 6 and time.monotonic() < deadline:
                time.sleep(0.02)  # the three votes asked, and held
            time.sleep(0.5)  # past the session writer's batch (50 ms)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        provider.release()
        process.communicate()
    (session,) = store.session_dirs(tmp_path / "sessions")
    events = events_of(session)
    assert events[0]["type"] == "run_started"
    assert sum(e["type"] == "answer_submitted" for e in events) == 3
    assert len(list((session / "answers").iterdir())) == 3
    summary = store.load_summary(session)
    assert summary["status"] == "interrupted"
    assert json.loads((session / "summary.json").read_text())["status"] == "running"


def test_the_first_run_waits_for_the_warm_up_without_stalling_the_server(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    # At start-up the server imports the provider SDKs in a thread; a run asked meanwhile
    # waits for that import off the event loop, so /health keeps answering at once.
    config = tmp_path / "team.yaml"
    config.write_text(yaml.safe_dump(team(provider, 3)))
    process, url = serve_process(config, tmp_path / "sessions")
    try:
        asked = threading.Thread(
            target=httpx.post,
            args=(f"{url}/v1/chat/completions",),
            kwargs={"json": {"model": "massgen", "messages": ask()}, "timeout": 60},
        )
        asked.start()
        slowest = 0.0
        with httpx.Client(timeout=30) as client:
            until = time.monotonic() + 1.5
            while time.monotonic() < until:
                start = time.monotonic()
                client.get(f"{url}/health").raise_for_status()
                slowest = max(slowest, time.monotonic() - start)
                time.sleep(0.01)
        asked.join(60)
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert provider.requests, "the run never reached the provider"
    assert slowest < 0.5, f"/health took {slowest:.2f} s while the first run started"


@pytest.mark.parametrize("orchestrator", [{}, {"enable_filesystem": True}])
def test_a_server_run_has_file_tools_only_when_its_config_asks(
    provider: FakeChatServer, orchestrator: dict[str, Any]
) -> None:
    # The config's own rule, as the CLI reads it: no workspace (and none made per run)
    # unless the config asks for files; the Python API's default does not apply.
    app = create_app(config={**team(provider), "orchestrator": orchestrator}, enable_logging=False)
    with serving(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(model="massgen", messages=ask())
    assert reply.choices[0].message.content
    offered = {
        tool["function"]["name"] for r in provider.requests for tool in r.body.get("tools") or ()
    }
    assert ("write_file" in offered) is bool(orchestrator), sorted(offered)
