"""An optional circuit breaker per client: after ``failure_threshold`` calls in a row that the
server could not serve (network errors, 5xx), calls fail at once with
:class:`CircuitOpenError` for ``recovery_timeout`` seconds; then one call goes through, and its
outcome closes the circuit or opens it again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from massgen.client.exceptions import CircuitOpenError, MassGenClientError, NetworkError


class CircuitBreaker:
    """Shared by every call of a client (thread-safe); give each client its own."""

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or recovery_timeout < 0:
            raise ValueError("failure_threshold must be >= 1 and recovery_timeout >= 0")
        self.failure_threshold, self.recovery_timeout = failure_threshold, recovery_timeout
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial = False
        self.lock = threading.Lock()

    @property
    def state(self) -> str:
        """closed, open or half-open."""
        with self.lock:
            if self.opened_at is None:
                return "closed"
            waited = self.clock() - self.opened_at
            return "half-open" if waited >= self.recovery_timeout else "open"

    def before(self, name: str) -> None:
        """Raise :class:`CircuitOpenError` unless a call may go now."""
        with self.lock:
            if self.opened_at is None:
                return
            left = self.opened_at + self.recovery_timeout - self.clock()
            if left > 0 or self.trial:
                raise CircuitOpenError(
                    f"{name}: not sent, the circuit is open after {self.failures} failed "
                    f"calls in a row (next try in {max(left, 0):.1f}s)",
                    retry_after=max(left, 0.0),
                )
            self.trial = True  # half-open: this call is the trial

    def record(self, error: MassGenClientError | None) -> None:
        """A call's outcome: None (served), or the error it ended with."""
        failed = isinstance(error, NetworkError) or (
            error is not None and error.status_code is not None and error.status_code >= 500
        )
        with self.lock:
            self.trial = False
            if not failed:
                self.failures, self.opened_at = 0, None
                return
            self.failures += 1
            if self.opened_at is not None or self.failures >= self.failure_threshold:
                self.opened_at = self.clock()
