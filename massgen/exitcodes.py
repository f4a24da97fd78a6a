"""Exit codes: one meaning each, the same in every UI (plain, json, the app, replay, logs).

| code | meaning |
|---|---|
| 0 | the run finished with an answer |
| 1 | config or usage error (bad option, bad file, unknown session) |
| 2 | the run failed: no agent produced an answer, or massgen itself crashed |
| 3 | the run timed out (the best answer so far is still printed) |
| 4 | a budget cap ended the run (the best answer so far is still printed) |
| 130 | interrupted (Ctrl+C, quitting the app mid-run) |
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    USAGE = 1
    RUN_FAILED = 2
    TIMEOUT = 3
    BUDGET = 4
    INTERRUPTED = 130


#: A run's (or a session's) status -> the exit code a run ending so has.
_BY_STATUS = {
    "ok": ExitCode.OK,
    "failed": ExitCode.RUN_FAILED,
    "timeout": ExitCode.TIMEOUT,
    "budget": ExitCode.BUDGET,
    "cancelled": ExitCode.INTERRUPTED,
    "interrupted": ExitCode.INTERRUPTED,
}


def for_status(status: str | None) -> ExitCode:
    """The exit code of a run that ended with ``status`` (unknown: a failed run)."""
    return _BY_STATUS.get(str(status), ExitCode.RUN_FAILED)
