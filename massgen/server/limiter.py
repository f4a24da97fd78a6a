"""At most ``--max-concurrency`` runs at once (chat and text completions and tasks share the
slots). A request past the limit is refused with 429, and :meth:`RunLimiter.retry_after` says
honestly when to come back (docs/architecture.md, "The server").

The estimate: each running run is expected to last as long as the median of the last runs
and a quarter more (runs that share the machine slow each other, and a caller told too early
is refused again while a standard client retries only a few times); before any run has
finished, as long as the oldest has run so far plus a second. Callers refused earlier are
expected to take the slots as they free up, so callers refused together are told successive
times rather than all the same one (which would refuse most of them again).
"""

from __future__ import annotations

import heapq
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

#: Run durations the estimate is taken from (the most recent).
HISTORY = 20
#: The shortest wait a 429 asks for, in seconds.
MIN_WAIT = 1.0
#: The median run's duration is stretched by this much in the estimate.
MARGIN = 1.25


@dataclass(eq=False)
class Slot:
    """One run's place under the limit; :meth:`release` frees it (once)."""

    limiter: RunLimiter
    started: float
    released: bool = field(default=False)

    def release(self, *, ran: bool = True) -> None:
        """Free the slot; ``ran`` False when no run used it (its time says nothing)."""
        if self.released:
            return
        self.released = True
        self.limiter.running.discard(self)
        if ran:
            self.limiter.durations.append(self.limiter.clock() - self.started)


class RunLimiter:
    """Counts running runs; a run beyond ``limit`` is refused (429), not queued."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = max(1, int(limit))
        self.clock = clock
        self.running: set[Slot] = set()
        self.durations: deque[float] = deque(maxlen=HISTORY)
        #: When callers refused so far were told to come back (pruned as the times pass).
        self.promised: list[float] = []

    @property
    def active(self) -> int:
        return len(self.running)

    def try_acquire(self) -> Slot | None:
        """A slot, or None when ``limit`` runs are running."""
        if len(self.running) >= self.limit:
            return None
        slot = Slot(self, self.clock())
        self.running.add(slot)
        return slot

    def typical(self, now: float) -> float:
        """How long a run is expected to take, in seconds."""
        if self.durations:
            return statistics.median(self.durations) * MARGIN
        return max((now - slot.started for slot in self.running), default=0.0) + MIN_WAIT

    def retry_after(self) -> float:
        """Seconds until a slot is expected to be free for one more caller (at least
        :data:`MIN_WAIT`); the caller is counted as coming back then."""
        now = self.clock()
        typical = self.typical(now)
        self.promised = sorted(p for p in self.promised if p > now)
        free = [max(slot.started + typical, now) for slot in self.running]
        free += [now] * (self.limit - len(free))
        heapq.heapify(free)
        for promise in self.promised:  # each caller told earlier takes the first free slot
            heapq.heappush(free, max(heapq.heappop(free), promise) + typical)
        at = max(heapq.heappop(free), now + MIN_WAIT)
        self.promised.append(at)
        return at - now
