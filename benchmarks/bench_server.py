"""``massgen serve`` under concurrent load: added latency, time to first byte / content, memory.

Starts the fake Chat Completions provider (``benchmarks/fake_server_proc.py``, fixed
time-to-first-token and tokens/s) in its own process, and the OpenAI-compatible server in
another, on a free port on 127.0.0.1, with a 3-agent ``chatcompletion`` team pointing at the
fake. Then, over HTTP with ``httpx.AsyncClient``, ``stream: true``:

- one untimed warm-up request (the process's first run imports the openai SDK);
- ``--single-runs`` requests one at a time (the baseline);
- a burst of ``--requests`` (32) requests at once, each with its own question
  (``"q17: why is the sky blue?"``);
- the same number again, sent evenly over ``--spread`` seconds (2; 0 skips it);
- the burst once more to a second ``massgen serve`` with its default concurrency limit (8),
  without warm-up: how many runs it accepts and how many it refuses with 429
  (``--no-default-limit`` skips it).

Per request, on the client: time to the first byte of the body, to the first non-empty
``delta.content``, and to ``data: [DONE]``. The provider logs every model call (server-side
timestamps, CLOCK_MONOTONIC like ours) with the question tag found in its messages, so each
request gets the *critical path* of its own run's model calls (as in
``bench_coordination.py``: Σ over the phases answer / vote / present of the longest call).
**Added latency** = time to ``[DONE]`` − that critical path, split into: before the run's
first model call, stagger inside phases, between phases, and after the last model response.

Memory: ``VmRSS`` / ``VmHWM`` of the server process (``/proc/PID/status``; the process *is*
the server's Python, no shell in between): idle after start-up, before the burst, the peak
during the burst (``VmHWM`` after resetting it with ``/proc/PID/clear_refs``, and ``VmRSS``
polled every 20 ms) and after it. CPU time of the server and the provider during the burst.

The server is the installed ``massgen serve --config team.yaml --port P --max-concurrency N``
(N = ``--requests``: by default a run beyond 8 at once gets 429), with no ``MASSGEN_SERVER_*``
variable in its environment.

Run from the repo root: ``python benchmarks/bench_server.py [--requests 32] [--ttft 0.3]
[--tps 80] [--json out.json]``. Exits 1 if any request of the measured server failed (not
``200``, no ``[DONE]``, or no content).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_cli_startup import massgen_command  # noqa: E402
from bench_coordination import PHASES, phase_of  # noqa: E402

MODEL = "fake-model"
AGENTS = 3
TAG = re.compile(r"\b(q\d+):")
QUESTION = "{tag}: why is the sky blue?"


# ----------------------------------------------------------------------------- processes

_FAKE_PROVIDER = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "import bench_server; bench_server.fake_provider_main()"
)


def fake_provider_main() -> None:
    """``fake_server_proc.main()``, with each logged request's question tag (``q17``) added."""
    import fake_server_proc

    from tests.fakes.chat_server import text_of

    describe = fake_server_proc.describe

    def tagged(record: Any) -> dict[str, Any]:
        out = describe(record)
        texts = (text_of(m.get("content")) for m in record.body.get("messages") or ())
        found = TAG.search("\n".join(texts))
        out["tag"] = found.group(1) if found else None
        return out

    fake_server_proc.describe = tagged
    fake_server_proc.main()


class Provider:
    """The fake provider in its own process; ``requests()`` drains its request log."""

    def __init__(self, ttft: float, tps: float | None) -> None:
        cmd = [sys.executable, "-c", _FAKE_PROVIDER, str(HERE), "--ttft", str(ttft)]
        if tps:
            cmd += ["--tps", str(tps)]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.close()
            raise RuntimeError(f"fake provider did not start (got {self.url!r})")

    def requests(self) -> list[dict[str, Any]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("requests\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_limit() -> int:
    """``massgen serve``'s default ``--max-concurrency``, from its ``--help``."""
    done = subprocess.run(
        [*massgen_command(), "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    found = re.search(r"--max-concurrency.*?\(default (\d+)\)", done.stdout, re.S)
    if not found:
        raise SystemExit("massgen serve --help: no --max-concurrency option (default N)")
    return int(found.group(1))


#: Extra ``massgen serve`` arguments (``--serve-arg=--no-log`` to measure without logs).
SERVE_ARGS: list[str] = []
#: ``massgen serve --workers N`` (``--workers``); the warm-up then sends 2·N requests at once.
WORKERS = {"n": 1}


class Server:
    """The OpenAI-compatible server as a child process (the server's Python itself: its PID is
    the one measured), started on a free port and ready once ``/health`` answers."""

    def __init__(self, config: Path, workdir: Path, limit: int | None) -> None:
        port = free_port()
        cmd = [*massgen_command(), "serve", "--config", str(config), "--port", str(port)]
        if limit is not None:
            cmd += ["--max-concurrency", str(limit)]
        cmd += SERVE_ARGS
        self.base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MASSGEN_SERVER_")}
        env["MASSGEN_LOG_DIR"] = str(workdir / "sessions")  # session logs stay in the temp dir
        self.log = workdir / f"server-{port}.log"
        with self.log.open("w") as log:
            start = time.monotonic()
            self.proc = subprocess.Popen(
                cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.pid = self.proc.pid
        deadline = start + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.stderr()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"server not healthy after 60 s: {self.stderr()}")
            time.sleep(0.02)
        self.startup = time.monotonic() - start
        cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        self.cmdline = " ".join(a.decode() for a in cmdline if a)[:200]

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ----------------------------------------------------------------------------- /proc


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``massgen serve --workers N``: the supervisor and its
    workers), from ``/proc/PID/task/*/children``."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in task.read_text().split()]
    return found


def memory(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of a process and its descendants (summed), in bytes."""
    out = {"VmRSS": 0, "VmHWM": 0}
    for member in tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in out:
                    out[key] += int(value.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants so far."""
    total = 0.0
    for member in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def cpu_by_process(pid: int) -> dict[int, float]:
    """CPU seconds so far of the process and of each descendant."""
    out = {}
    for member in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            out[member] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def reset_hwm(pid: int) -> bool:
    """Reset the ``VmHWM`` of the process (and its descendants) to its current RSS (Linux ≥
    4.0, same user)."""
    try:
        for member in tree(pid):
            Path(f"/proc/{member}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssPoller:
    """Samples ``VmRSS`` every ``interval`` seconds in a thread; ``peak`` is the largest seen."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval = pid, interval
        self.peak, self.samples = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.peak = max(self.peak, memory(self.pid)["VmRSS"])
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ----------------------------------------------------------------------------- requests


async def one_request(client: httpx.AsyncClient, base: str, tag: str) -> dict[str, Any]:
    """One streamed ``POST /v1/chat/completions``, read to ``data: [DONE]``; client-side
    timestamps (``time.monotonic()``)."""
    body = {
        "model": "massgen",
        "stream": True,
        "messages": [{"role": "user", "content": QUESTION.format(tag=tag)}],
    }
    rec: dict[str, Any] = {
        "tag": tag,
        "status": None,
        "sent": time.monotonic(),
        "first_byte": None,
        "first_content": None,
        "done": None,
        "end": None,
        "content": "",
        "content_chunks": 0,
        "reasoning_chunks": 0,
        "finish_reason": None,
        "error": None,
    }
    try:
        async with client.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
            rec["status"] = response.status_code
            if response.status_code != 200:
                rec["error"] = (await response.aread()).decode(errors="replace")[:300]
            else:
                buffer = b""
                async for data in response.aiter_bytes():
                    now = time.monotonic()
                    rec["first_byte"] = rec["first_byte"] or now
                    buffer = (buffer + data).replace(b"\r\n", b"\n")
                    while b"\n\n" in buffer:
                        event, buffer = buffer.split(b"\n\n", 1)
                        for line in event.split(b"\n"):
                            if line.startswith(b"data:"):
                                _sse_data(rec, line[5:].strip(), now)
    except httpx.HTTPError as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"[:300]
    rec["end"] = time.monotonic()
    return rec


def _sse_data(rec: dict[str, Any], data: bytes, now: float) -> None:
    if data == b"[DONE]":
        rec["done"] = now
        return
    if rec["done"] is not None:
        rec["error"] = rec["error"] or "data after [DONE]"
        return
    try:
        chunk = json.loads(data)
    except ValueError:
        rec["error"] = rec["error"] or f"not JSON: {data[:100]!r}"
        return
    if "error" in chunk:
        rec["error"] = rec["error"] or json.dumps(chunk["error"])[:300]
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content"):
            rec["first_content"] = rec["first_content"] or now
            rec["content"] += delta["content"]
            rec["content_chunks"] += 1
        if delta.get("reasoning_content"):
            rec["reasoning_chunks"] += 1
        rec["finish_reason"] = choice.get("finish_reason") or rec["finish_reason"]


def ok(rec: dict[str, Any]) -> bool:
    return (
        rec["status"] == 200
        and rec["done"] is not None
        and bool(rec["content"].strip())
        and not rec["error"]
    )


async def fire(base: str, tags: list[str], spread: float = 0.0) -> list[dict[str, Any]]:
    """One request per tag, on one client (a connection each): all at once, or the i-th
    ``i * spread / len(tags)`` seconds after the first."""

    async def later(i: int, client: httpx.AsyncClient, tag: str) -> dict[str, Any]:
        await asyncio.sleep(i * spread / len(tags))
        return await one_request(client, base, tag)

    limits = httpx.Limits(max_connections=len(tags) + 4, max_keepalive_connections=len(tags) + 4)
    timeout = httpx.Timeout(120.0, connect=10.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        if not spread:
            return list(await asyncio.gather(*(one_request(client, base, t) for t in tags)))
        return list(await asyncio.gather(*(later(i, client, t) for i, t in enumerate(tags))))


# ----------------------------------------------------------------------------- analysis


def analyse(rec: dict[str, Any], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """A request's client timings against its run's model calls (as the provider saw them)."""
    out: dict[str, Any] = {
        "tag": rec["tag"],
        "ok": ok(rec),
        "status": rec["status"],
        "error": rec["error"],
        "model_calls": len(calls),
        "content_chunks": rec["content_chunks"],
    }
    sent = rec["sent"]
    for key in ("first_byte", "first_content", "done"):
        out[key] = rec[key] - sent if rec[key] is not None else None
    phases = []
    for name in PHASES:
        group = [c for c in calls if phase_of(c["tools"]) == name and c["finished_at"]]
        if group:
            phases.append(
                {
                    "first": min(c["started_at"] for c in group),
                    "last": max(c["finished_at"] for c in group),
                    "longest": max(c["finished_at"] - c["started_at"] for c in group),
                }
            )
    if not phases or rec["done"] is None:
        out["critical_path"] = out["added"] = None
        out["breakdown"] = {}
        return out
    critical = sum(p["longest"] for p in phases)
    out["critical_path"] = critical
    out["added"] = rec["done"] - sent - critical
    out["breakdown"] = {
        "before first model call": phases[0]["first"] - sent,
        "stagger inside phases": sum(p["last"] - p["first"] - p["longest"] for p in phases),
        "between phases": sum(b["first"] - a["last"] for a, b in itertools.pairwise(phases)),
        "after last model response": rec["done"] - phases[-1]["last"],
    }
    return out


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _stats(values: list[float | None]) -> dict[str, float] | None:
    clean = [v for v in values if v is not None]
    if not clean:
        return None
    return {
        "p50": statistics.median(clean),
        "p99": percentile(clean, 0.99),
        "max": max(clean),
        "min": min(clean),
        "n": len(clean),
    }


def summarize(measured: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("first_byte", "first_content", "done", "critical_path", "added")
    with_parts = [m for m in measured if m["breakdown"]]
    worst = max(with_parts, key=lambda m: m["added"], default=None)
    return {
        "requests": len(measured),
        "ok": sum(m["ok"] for m in measured),
        **{k: _stats([m[k] for m in measured]) for k in keys},
        "breakdown_median": {
            k: statistics.median(m["breakdown"][k] for m in with_parts)
            for k in (with_parts[0]["breakdown"] if with_parts else {})
        },
        "breakdown_worst": worst["breakdown"] if worst else {},
        "model_calls": sorted({m["model_calls"] for m in measured}),
        "statuses": sorted({str(m["status"]) for m in measured}),
        "errors": sorted({m["error"] for m in measured if m["error"]})[:5],
        "content_chunks": sorted({m["content_chunks"] for m in measured}),
    }


# ----------------------------------------------------------------------------- benchmark


def write_config(path: Path, base_url: str) -> None:
    lines = ["agents:"]
    for i in range(1, AGENTS + 1):
        lines += [
            f"  - id: agent{i}",
            "    backend:",
            "      type: chatcompletion",
            f"      base_url: {base_url}",
            f"      model: {MODEL}",
            "      api_key: sk-bench",
        ]
    lines += ["orchestrator:", "  strategy: vote", ""]
    path.write_text("\n".join(lines))


class Tags:
    def __init__(self) -> None:
        self.n = 0

    def take(self, count: int) -> list[str]:
        self.n += count
        return [f"q{i:02d}" for i in range(self.n - count + 1, self.n + 1)]


def run_batch(
    server: Server, provider: Provider, tags: list[str], spread: float = 0.0
) -> list[dict[str, Any]]:
    records = asyncio.run(fire(server.base, tags, spread))
    calls: dict[str, list[dict[str, Any]]] = {}
    for call in provider.requests():
        calls.setdefault(call.get("tag") or "?", []).append(call)
    return [analyse(r, calls.get(r["tag"], [])) for r in records]


def burst(server: Server, provider: Provider, tags: list[str]) -> dict[str, Any]:
    """All requests at once, with the server's memory and CPU watched."""
    before = memory(server.pid)
    hwm_reset = reset_hwm(server.pid)
    cpu = (cpu_seconds(server.pid), cpu_seconds(provider.proc.pid))
    per_process = cpu_by_process(server.pid)
    load_before = os.getloadavg()
    start = time.monotonic()
    with RssPoller(server.pid) as poller:
        measured = run_batch(server, provider, tags)
    window = time.monotonic() - start
    load_after = os.getloadavg()
    after_cpu = cpu_by_process(server.pid)
    busy = sorted(
        (round(after_cpu[p] - per_process.get(p, 0.0), 2) for p in after_cpu), reverse=True
    )
    after = memory(server.pid)
    return {
        "measured": measured,
        "summary": summarize(measured),
        "window": window,
        "cpu_server": cpu_seconds(server.pid) - cpu[0],
        "cpu_provider": cpu_seconds(provider.proc.pid) - cpu[1],
        "cpu_by_process": busy,
        "rss_before": before["VmRSS"],
        "rss_peak_polled": poller.peak,
        "rss_polls": poller.samples,
        "hwm": after["VmHWM"] if hwm_reset else None,
        "hwm_reset": hwm_reset,
        "rss_after": after["VmRSS"],
        "load_before": load_before,
        "load_after": load_after,
    }


def measure(
    requests: int = 32,
    ttft: float = 0.3,
    tps: float | None = 80.0,
    single_runs: int = 3,
    spread: float = 2.0,
    check_default_limit: bool = True,
) -> dict[str, Any]:
    default = default_limit()
    tags = Tags()
    provider = Provider(ttft, tps)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
            workdir = Path(tmp)
            config = workdir / "team.yaml"
            write_config(config, provider.url)
            limit = max(requests, default)
            server = Server(config, workdir, limit)
            try:
                idle = memory(server.pid)
                results: dict[str, Any] = {
                    "requests": requests,
                    "ttft": ttft,
                    "tps": tps,
                    "agents": AGENTS,
                    "max_concurrency": limit,
                    "server_cmdline": server.cmdline,
                    "startup": server.startup,
                    "rss_idle": idle["VmRSS"],
                    "hwm_idle": idle["VmHWM"],
                }
                provider.requests()  # nothing yet; start from an empty log
                warm = run_batch(server, provider, tags.take(2 * WORKERS["n"] - 1 or 1))
                results["warmup"] = warm[0]
                results["workers"] = WORKERS["n"]
                singles = []
                for _ in range(single_runs):
                    singles += run_batch(server, provider, tags.take(1))
                results["single"] = summarize(singles)
                results["burst"] = burst(server, provider, tags.take(requests))
                if spread:
                    spaced = run_batch(server, provider, tags.take(requests), spread)
                    results["spread"] = {"seconds": spread, "measured": spaced}
                    results["spread"]["summary"] = summarize(spaced)
            finally:
                server.close()
                results["server_log"] = server.stderr()
            if check_default_limit:
                results["default_limit"] = default_limit_check(
                    config, workdir, provider, tags, requests, default
                )
    finally:
        provider.close()
    measured = [results["warmup"], *singles, *results["burst"]["measured"]]
    measured += results.get("spread", {}).get("measured", [])
    results["checked"] = len(measured)
    results["model_calls"] = sorted({m["model_calls"] for m in measured})
    results["failed"] = [
        {"tag": m["tag"], "status": m["status"], "error": m["error"]}
        for m in measured
        if not m["ok"]
    ]
    return results


def default_limit_check(
    config: Path, workdir: Path, provider: Provider, tags: Tags, requests: int, limit: int
) -> dict[str, Any]:
    """``massgen serve`` without ``--max-concurrency``: the same burst, no warm-up."""
    server = Server(config, workdir, None)
    try:
        idle = memory(server.pid)
        provider.requests()
        measured = run_batch(server, provider, tags.take(requests))
        after = memory(server.pid)
    finally:
        server.close()
    return {
        "limit": limit,
        "cmdline": server.cmdline,
        "startup": server.startup,
        "rss_idle": idle["VmRSS"],
        "hwm": after["VmHWM"],
        "requests": requests,
        "ok": sum(m["ok"] for m in measured),
        "refused_429": sum(m["status"] == 429 for m in measured),
        "other": sum(not m["ok"] and m["status"] != 429 for m in measured),
        "done": _stats([m["done"] for m in measured if m["ok"]]),
    }


# ----------------------------------------------------------------------------- task store


def fill_store(url: str, count: int) -> list[str]:
    """``count`` completed tasks (with a chat.completion result and a dozen events each)
    written straight into the store, as the server writes them."""
    from massgen.server.store import Store

    store = Store(url)
    ids = []
    try:
        for i in range(count):
            row = store.create_task(
                "", {"messages": [{"role": "user", "content": f"task {i}"}], "timeout": None}
            )
            store.add_events(row["id"], [("run_started", {"agents": []})] * 10, 50)
            result = {
                "id": f"chatcmpl-{i}",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "x" * 800}}],
                "usage": {"prompt_tokens": 1200, "completion_tokens": 200, "total_tokens": 1400},
            }
            store.claim("bench")
            store.finish(row["id"], "completed", result=result)
            ids.append(row["id"])
    finally:
        store.close()
    return ids


def measure_tasks(count: int = 1000, calls: int = 300, pg: bool = True) -> dict[str, Any]:
    """Latency of ``GET /v1/tasks/{id}`` and ``GET /v1/tasks`` (20 a page; and filtered by
    status) against ``massgen serve --db URL`` holding ``count`` tasks: one client,
    keep-alive, ``calls`` requests each, client-side wall time."""
    import random

    provider = Provider(0.0, None)
    out: dict[str, Any] = {"tasks": count, "calls": calls, "stores": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp:
            workdir = Path(tmp)
            config = workdir / "team.yaml"
            write_config(config, provider.url)
            urls = {"sqlite": f"sqlite:///{workdir / 'tasks.db'}"}
            postgres = None
            if pg:
                try:
                    from tests.server.support import Postgres

                    postgres = Postgres()
                    urls["postgresql"] = postgres.database()
                except Exception as exc:
                    out["postgresql_skipped"] = str(exc)
            try:
                for name, url in urls.items():
                    ids = fill_store(url, count)
                    SERVE_ARGS[:] = [*SERVE_ARGS, "--db", url]
                    server = Server(config, workdir, None)
                    SERVE_ARGS[:] = SERVE_ARGS[:-2]
                    try:
                        out["stores"][name] = _time_task_calls(server.base, ids, calls, random)
                    finally:
                        server.close()
            finally:
                if postgres is not None:
                    postgres.stop()
    finally:
        provider.close()
    return out


def _time_task_calls(base: str, ids: list[str], calls: int, random: Any) -> dict[str, Any]:
    paths = {
        "GET /v1/tasks/{id}": lambda: f"/v1/tasks/{random.choice(ids)}",
        "GET /v1/tasks (20 newest)": lambda: "/v1/tasks",
        "GET /v1/tasks?status=completed&before=…": lambda: (
            f"/v1/tasks?status=completed&limit=20&before={time.time() - random.random()}"
        ),
    }
    results = {}
    time.sleep(3.0)  # the server imports the provider SDKs in the background at start-up
    with httpx.Client(base_url=base, timeout=10) as client:
        for name, path in paths.items():
            for _ in range(10):  # warm the connection and the caches
                client.get(path()).raise_for_status()
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                client.get(path()).raise_for_status()
                times.append(time.perf_counter() - start)
            results[name] = {
                "p50": percentile(times, 0.5),
                "p99": percentile(times, 0.99),
                "max": max(times),
            }
    return results


def tasks_markdown(out: dict[str, Any]) -> str:
    lines = [
        f"`massgen serve --db URL` with {out['tasks']} completed tasks in the store; one client, "
        f"{out['calls']} sequential requests per row, wall time on the client.",
        "",
        "| Store | Call | p50 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for store, rows in out["stores"].items():
        for call, st in rows.items():
            lines.append(
                f"| {store} | `{call}` | {st['p50'] * 1000:.1f} ms | {st['p99'] * 1000:.1f} ms "
                f"| {st['max'] * 1000:.1f} ms |"
            )
    if out.get("postgresql_skipped"):
        lines += ["", f"PostgreSQL skipped: {out['postgresql_skipped']}"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- report


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def mb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e6:.0f} MB"


def _row(name: str, s: dict[str, Any], n: int) -> str:
    def cell(key: str, *which: str) -> str:
        st = s[key]
        if not st:
            return "—"
        return " / ".join(ms(st[w]) for w in which)

    return (
        f"| {name} | {s['ok']}/{n} "
        f"| {cell('first_byte', 'p50', 'max')} "
        f"| {cell('first_content', 'p50', 'max')} "
        f"| {cell('done', 'p50', 'max')} "
        f"| {cell('critical_path', 'p50')} "
        f"| {cell('added', 'p50', 'p99', 'max')} "
        f"| {', '.join(map(str, s['model_calls']))} |"
    )


def _load(load: Any) -> str:
    return "—" if not load else " ".join(f"{x:.2f}" for x in load)


def markdown(results: dict[str, Any]) -> str:
    r, b = results, results["burst"]
    tps = f"{r['tps']:g} tok/s" if r["tps"] else "unthrottled"
    head = (
        f"{r['agents']} `chatcompletion` agents on the fake provider (ttft {r['ttft']:g} s, "
        f"{tps}); server: `massgen serve --max-concurrency {r['max_concurrency']}"
        + (f" --workers {r['workers']}" if r.get("workers", 1) > 1 else "")
        + f"`, healthy {ms(r['startup'])} after spawn."
    )
    warm = r["warmup"]
    lines = [
        head,
        "",
        "| Requests | OK ([DONE] + content) | First byte (p50 / max) | First content (p50 / max)"
        " | [DONE] (p50 / max) | Critical path (p50) | Added latency (p50 / p99 / max)"
        " | Model calls per run |",
        "|---|---|---|---|---|---|---|---|",
        _row("warm-up: 1 request, the process's first run", summarize([warm]), 1),
        _row(
            f"1 request at a time ({r['single']['requests']} runs)",
            r["single"],
            r["single"]["requests"],
        ),
        _row(f"{r['requests']} concurrent (sent at once)", b["summary"], r["requests"]),
    ]
    spread = r.get("spread")
    if spread:
        lines.append(
            _row(
                f"{r['requests']}, sent evenly over {spread['seconds']:g} s",
                spread["summary"],
                r["requests"],
            )
        )
    lines += [
        "",
        "Added latency, median parts (ms); worst request of the burst in the last column:",
        "",
        f"| Part | 1 request at a time | {r['requests']} sent at once"
        + (f" | {r['requests']} over {spread['seconds']:g} s" if spread else "")
        + " | worst of the burst |",
        "|---|---|---|---|" + ("---|" if spread else ""),
    ]

    def part_ms(summary: dict[str, Any], part: str, key: str = "breakdown_median") -> str:
        value = summary[key].get(part)
        return "—" if value is None else f"{value * 1000:.1f}"

    for part in b["summary"]["breakdown_median"]:
        cells = [part_ms(r["single"], part), part_ms(b["summary"], part)]
        if spread:
            cells.append(part_ms(spread["summary"], part))
        cells.append(part_ms(b["summary"], part, "breakdown_worst"))
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    share = b["cpu_server"] / b["window"] if b["window"] else 0.0
    lines += [
        "",
        "| Server memory / CPU | |",
        "|---|---|",
        f"| RSS idle after start-up | {mb(r['rss_idle'])} |",
        f"| RSS before the burst (after {1 + r['single']['requests']} runs) "
        f"| {mb(b['rss_before'])} |",
        f"| Peak RSS during the burst: VmHWM / VmRSS polled every 20 ms ({b['rss_polls']} polls) "
        f"| {mb(b['hwm'])} / {mb(b['rss_peak_polled'])} |",
        f"| RSS after the burst | {mb(b['rss_after'])} |",
        f"| Load average (1/5/15 min) before / after the burst "
        f"| {_load(b.get('load_before'))} / {_load(b.get('load_after'))} |",
        f"| CPU during the burst ({b['window']:.2f} s): server / fake provider "
        f"| {b['cpu_server']:.2f} s ({share:.0%} of a core) / {b['cpu_provider']:.2f} s |",
        f"| Server CPU per run (burst CPU / {r['requests']}) "
        f"| {b['cpu_server'] / r['requests'] * 1000:.0f} ms |",
        f"| CPU during the burst per server process (s) "
        f"| {', '.join(f'{c:.2f}' for c in b.get('cpu_by_process', []))} |",
    ]
    d = r.get("default_limit")
    if d:
        lines += [
            "",
            f"`massgen serve` with its default limit ({d['limit']} runs at once), the same "
            f"{d['requests']} requests at once, no warm-up: {d['ok']} completed, "
            f"{d['refused_429']} refused with 429"
            + (f", {d['other']} failed otherwise" if d["other"] else "")
            + f"; idle RSS {mb(d['rss_idle'])}, peak {mb(d['hwm'])}.",
        ]
    if r["failed"]:
        lines += ["", f"**{len(r['failed'])} request(s) failed**: {r['failed'][:3]}"]
    if r.get("server_log", "").strip():
        lines += ["", "Server's stderr (last lines):", "", "```", r["server_log"].strip(), "```"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="massgen serve concurrency benchmark")
    parser.add_argument("--requests", type=int, default=32, help="concurrent requests")
    parser.add_argument("--ttft", type=float, default=0.3, help="fake provider's TTFT, seconds")
    parser.add_argument("--tps", type=float, default=80.0, help="fake tokens/s (0: unthrottled)")
    parser.add_argument("--single-runs", type=int, default=3, help="baseline requests, one by one")
    parser.add_argument(
        "--spread",
        type=float,
        default=2.0,
        help="also send the requests evenly over this many seconds (0: skip)",
    )
    parser.add_argument(
        "--no-default-limit",
        action="store_true",
        help="skip the burst against massgen serve with its default concurrency limit",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        help="extra massgen serve argument, e.g. --serve-arg=--no-log (repeatable)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="massgen serve --workers N (default 1)"
    )
    parser.add_argument(
        "--tasks",
        type=int,
        default=0,
        help="instead: time task status and list calls with this many tasks in the store",
    )
    parser.add_argument("--no-pg", action="store_true", help="with --tasks: SQLite only")
    args = parser.parse_args()
    SERVE_ARGS.extend(args.serve_arg)
    if args.tasks:
        out = measure_tasks(args.tasks, pg=not args.no_pg)
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        print(tasks_markdown(out))
        return
    if args.workers > 1:
        WORKERS["n"] = args.workers
        SERVE_ARGS.extend(["--workers", str(args.workers)])
    results = measure(
        args.requests,
        args.ttft,
        args.tps or None,
        args.single_runs,
        args.spread,
        not args.no_default_limit,
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
