"""``massgen serve`` under slow clients ("slowloris"), loopback only.

N connections send their request headers one byte a second and never finish them, while a
well-behaved client calls ``/health`` in a loop and asks for one chat completion. Measured:
``/health`` latency (p50/p99), the completion's wall time, how many slow connections the
server had cut off by the end, and whether its log shows EMFILE or a traceback. Run once with
the process's usual descriptor limit and once with 256 descriptors (the limit on many hosts),
where 300 slow clients used to exhaust the server.

    python benchmarks/bench_slow_clients.py [--clients 300] [--seconds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fakes.chat_server import FakeChatServer  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(config: Path, port: int, fd_limit: int | None) -> subprocess.Popen[str]:
    def limit() -> None:
        if fd_limit:
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "massgen",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "--no-log",
            "--request-timeout",
            "5",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=limit,
        cwd=REPO,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return False
    except OSError:
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 408")


def run(clients: int, seconds: float, fd_limit: int | None) -> dict[str, object]:
    with FakeChatServer() as fake, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "team.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "agents": [
                        {"backend": {"type": "vllm", "model": "m", "base_url": fake.url}}
                        for _ in range(3)
                    ]
                }
            )
        )
        port = _free_port()
        server = _start(config, port, fd_limit)
        stop = threading.Event()
        slow: list[socket.socket] = []

        def trickle() -> None:  # one byte a second on every slow connection
            while not stop.is_set():
                for sock in list(slow):
                    with contextlib.suppress(OSError):
                        sock.send(b"x")
                stop.wait(1.0)

        for _ in range(clients):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        feeder = threading.Thread(target=trickle, daemon=True)
        feeder.start()
        time.sleep(0.5)
        latencies, failures = [], 0
        started = time.monotonic()
        completion_s = None
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while time.monotonic() - started < seconds:
                t0 = time.perf_counter()
                try:
                    client.get("/health", headers={"connection": "close"}).raise_for_status()
                    latencies.append(time.perf_counter() - t0)
                except httpx.HTTPError:
                    failures += 1
                if completion_s is None:
                    t0 = time.perf_counter()
                    client.post(
                        "/v1/chat/completions",
                        timeout=60,
                        json={
                            "model": "massgen",
                            "messages": [{"role": "user", "content": "2+2?"}],
                        },
                    ).raise_for_status()
                    completion_s = time.perf_counter() - t0
                time.sleep(0.05)
        stop.set()
        closed = sum(_closed(sock) for sock in slow)
        for sock in slow:
            sock.close()
        server.terminate()
        _, log = server.communicate(timeout=20)
    latencies.sort()
    return {
        "clients": clients,
        "fd_limit": fd_limit or resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "health_ok": len(latencies),
        "health_failed": failures,
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1)
        if latencies
        else None,
        "completion_s": round(completion_s, 2) if completion_s else None,
        "slow_cut_off": closed,
        "emfile_or_traceback": any(w in log for w in ("EMFILE", "Too many open", "Traceback")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(
        "| slow clients | fd limit | /health ok / failed | p50 | p99 | completion | slow "
        "cut off | EMFILE or traceback |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for fd_limit in (None, 256):
        r = run(args.clients, args.seconds, fd_limit)
        print(
            f"| {r['clients']} | {r['fd_limit']} | {r['health_ok']} / {r['health_failed']} | "
            f"{r['p50_ms']} ms | {r['p99_ms']} ms | {r['completion_s']} s | "
            f"{r['slow_cut_off']}/{r['clients']} | {'yes' if r['emfile_or_traceback'] else 'no'} |"
        )


if __name__ == "__main__":
    main()
