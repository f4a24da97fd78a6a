"""``massgen --server URL "question"`` and ``massgen attach TASK_ID`` as real processes
against a real ``massgen serve`` (127.0.0.1, three agents over the fake Chat Completions
server): the same plain and JSON output a local run prints, from the server's events; a
finished task reopened; one line and the documented exit code for each way it goes wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from massgen.client import Client
from tests.fakes.chat_server import FakeChatServer
from tests.support.served_team import API_KEY, ServedTeam, served_team

QUESTION = "What is 25 * 4?"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedTeam]:
    with FakeChatServer() as provider, served_team(tmp_path_factory.mktemp("srv"), provider) as s:
        yield s


def massgen(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MASSGEN_")}
    return subprocess.run(
        [sys.executable, "-m", "massgen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
        stdin=subprocess.DEVNULL,
    )


def test_plain_output_of_a_server_run_is_a_local_runs(served: ServedTeam) -> None:
    done = massgen("--server", served.url, "--api-key", API_KEY, "--ui", "plain", QUESTION)
    assert done.returncode == 0, done.stderr
    # stdout: exactly the final answer; stderr: the task, then a local run's progress lines
    assert done.stdout.startswith("Final answer: What is 25 * 4?")
    assert done.stdout.count("\n") == 1
    lines = done.stderr.splitlines()
    assert lines[0] == f"massgen: task {served.wait_for_task({'completed'})} on {served.url}"
    assert (
        lines[1]
        == "massgen: 3 agent(s), strategy vote: a1 (agent1, m), a2 (agent2, m), a3 (agent3, m)"
    )
    assert "[a1] answering" in lines and "[a1] writing the final answer" in lines
    assert sum("voted for agent1 (a1)" in line for line in lines) == 3
    assert "winner: a1 (agent1, answer agent1.1) with 3 of 3 votes (agent1: 3)" in lines
    assert any(line.startswith("ok in ") and "7 request(s)" in line for line in lines)


def test_json_output_and_the_environments_server_and_key(served: ServedTeam) -> None:
    done = massgen("--ui", "json", QUESTION, MASSGEN_SERVER_URL=served.url, MASSGEN_API_KEY=API_KEY)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.count("answer_submitted") == 3 and types.count("vote_cast") == 3
    assert events[-1]["status"] == "ok" and events[-1]["final_answer"].startswith("Final answer")
    assert events[0]["question"] == QUESTION


def test_attach_to_a_finished_task_prints_it_again(served: ServedTeam) -> None:
    with Client(api_key=API_KEY, base_url=served.url) as client:
        task = client.tasks.create([{"role": "user", "content": QUESTION}])
        for _ in client.tasks.stream_events(task.id):
            pass
        answer = client.tasks.get_result(task.id).output
    done = massgen("attach", task.id, "--server", served.url, "--api-key", API_KEY, "--ui", "plain")
    assert done.returncode == 0, done.stderr
    assert answer and done.stdout == answer + "\n"
    assert "winner: a1 (agent1, answer agent1.1)" in done.stderr
    assert done.stderr.startswith("massgen: 3 agent(s), strategy vote")  # no new task


def test_attach_cancel_cancels_a_running_task(served: ServedTeam) -> None:
    served.provider.reset()
    served.provider.hold_after(0)
    try:
        with Client(api_key=API_KEY, base_url=served.url) as client:
            task = client.tasks.create([{"role": "user", "content": QUESTION}])
        served.wait_for_task({"running"})
        done = massgen(
            "attach", task.id, "--cancel", MASSGEN_SERVER_URL=served.url, MASSGEN_API_KEY=API_KEY
        )
    finally:
        served.provider.release()
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"massgen: task {task.id} on {served.url}: cancelled\n"
    assert served.status(task.id) == "cancelled"


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (
            ("--api-key", "sk-wrong"),
            1,
            "refused a wrong API key (HTTP 401): give its key with --api-key or $MASSGEN_API_KEY",
        ),
        (("--api-key", API_KEY, "-c", "x.yaml"), 1, "--config: not with --server"),
    ],
)
def test_a_refused_run_is_one_line_and_its_exit_code(
    served: ServedTeam, args: tuple[str, ...], code: int, line: str
) -> None:
    done = massgen("--server", served.url, *args, "--ui", "plain", QUESTION)
    assert done.returncode == code
    assert done.stderr.count("\n") == 1 and line in done.stderr, done.stderr
    assert done.stderr.startswith("massgen: error: ") and "Traceback" not in done.stderr


def test_an_unknown_task_and_an_unreachable_server(served: ServedTeam) -> None:
    unknown = massgen("attach", "task_nope", "--server", served.url, "--api-key", API_KEY)
    assert unknown.returncode == 1
    assert unknown.stderr == (
        f"massgen: error: the server at {served.url} has no task task_nope for this API key\n"
    )
    nowhere = massgen("--server", "http://127.0.0.1:9", "--ui", "plain", QUESTION)
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1
    assert nowhere.stderr.startswith(
        "massgen: error: cannot reach the server at http://127.0.0.1:9"
    )
    bad = massgen("--server", "ftp://x", "--ui", "plain", QUESTION)
    assert bad.returncode == 1 and "--server: not an http(s) URL: 'ftp://x'" in bad.stderr


def test_timeout_is_the_tasks_and_ends_with_exit_3(served: ServedTeam) -> None:
    served.provider.reset()
    served.provider.hold_after(0)  # nobody answers: the task runs out of time on the server
    try:
        done = massgen(
            "--server",
            served.url,
            "--api-key",
            API_KEY,
            "--ui",
            "plain",
            "--timeout",
            "1",
            QUESTION,
        )
    finally:
        served.provider.release()
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines()[-1] == "massgen: the task timed out after 1s"


def test_ctrl_c_in_plain_output_leaves_the_task_running(served: ServedTeam) -> None:
    import signal
    import time

    served.provider.reset()
    served.provider.hold_after(3)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MASSGEN_")}
    command = [sys.executable, "-m", "massgen", "--server", served.url, "--ui", "plain", QUESTION]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean, "MASSGEN_API_KEY": API_KEY},
    )
    try:
        assert served.provider.wait_for(lambda: len(served.provider.requests) >= 4, 30)
        time.sleep(0.3)  # the answers reach the client
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        task_id = served.wait_for_task({"running"})
    finally:
        served.provider.release()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert sum(" new answer agent" in line for line in err.splitlines()) == 3  # what it saw
    assert err.splitlines()[-1] == (
        f"massgen: left task {task_id} running on {served.url}: massgen attach {task_id} "
        f"reopens it, massgen attach {task_id} --cancel cancels it"
    )
    assert out == "" and "Traceback" not in err
