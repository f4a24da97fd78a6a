"""``massgen serve --workers N``: N worker processes, each a whole server (uvicorn, the
guarded HTTP protocol, its own task runner) on its own listening socket bound to the same
port with ``SO_REUSEPORT``, so the kernel spreads the connections over the workers (with
one shared socket, the worker that wakes first accepts a whole burst). They share the task
store and, through ``PROMETHEUS_MULTIPROC_DIR``, the metrics.

The parent only supervises: it holds the port, starts the workers, restarts one that dies,
and stops them all on SIGTERM / SIGINT. A worker dies with its parent (``PR_SET_PDEATHSIG``),
even when the parent is killed with -9.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from typing import Any

log = logging.getLogger("massgen.server")


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() == 1:  # the parent is already gone
            os.kill(os.getpid(), signal.SIGTERM)


def _listener(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` in the port's ``SO_REUSEPORT`` group."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def worker_main(
    spec: dict[str, Any], host: str, port: int, limits: dict[str, Any], options: dict[str, Any]
) -> None:
    """One worker process: the app from ``spec``, served on its own socket."""
    _die_with_parent()
    import uvicorn

    from massgen.server.app import create_app
    from massgen.server.protocol import guarded_protocol

    sock = _listener(host, port)
    app = create_app(**spec)
    app.state.massgen.runs.freeze_after_warm = True  # a process of its own (RunService.warm)
    protocol = guarded_protocol(limits["request_timeout"], limits["max_connections"])
    config = uvicorn.Config(app, http=protocol, lifespan="on", **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(
    spec: dict[str, Any],
    processes: int,
    host: str,
    port: int,
    limits: dict[str, Any],
    options: dict[str, Any],
) -> None:
    """Run ``processes`` workers on ``host:port`` until SIGTERM / SIGINT (see module)."""
    holder = _listener(host, port)  # reserves the port (port 0: picks it) without listening
    port = holder.getsockname()[1]
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="massgen-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    context = multiprocessing.get_context("spawn")
    stopping = {"now": False}

    def start() -> Any:
        process = context.Process(
            target=worker_main, args=(spec, host, port, limits, options), daemon=False
        )
        process.start()
        return process

    def stop(signum: int, frame: Any) -> None:
        stopping["now"] = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    workers = [start() for _ in range(processes)]
    try:
        while not stopping["now"]:
            for index, process in enumerate(workers):
                if not process.is_alive() and not stopping["now"]:
                    sys.stderr.write(
                        f"massgen: worker {process.pid} exited ({process.exitcode}); restarting\n"
                    )
                    _forget(process.pid)
                    time.sleep(0.5)
                    workers[index] = start()
            time.sleep(0.2)
    finally:
        for process in workers:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + 10
        for process in workers:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        holder.close()
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _forget(pid: int | None) -> None:
    """Drop a dead worker's live gauges from the shared metrics."""
    if pid is None or not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    with contextlib.suppress(Exception):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
