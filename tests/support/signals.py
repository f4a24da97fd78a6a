"""Signalling a massgen process in a test: wait for a sign that it is ready (never a fixed
time), then for its exit; if it does not exit, its threads' stacks are in the failure."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

#: Set in a child's environment so that SIGABRT prints every thread's stack (faulthandler).
FAULTHANDLER = {"PYTHONFAULTHANDLER": "1"}


def wait_until(ready: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Poll ``ready`` until it holds; the timeout is only a guard against a broken test."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"never ready: {what}")
        time.sleep(0.02)


def interrupt(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    """Send SIGINT and collect the output once the process has exited. A process that does
    not exit is aborted so that its stacks (faulthandler) explain where it hung."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGABRT)
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"still running {timeout:g}s after SIGINT:\n{err[-6000:]}") from None
