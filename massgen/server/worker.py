"""``massgen serve --workers N``: each worker process builds its app here, from the settings
the parent process put in ``$MASSGEN_SERVER_SPEC`` (JSON), with the same connection bounds
as a single process (:class:`~massgen.server.protocol.WorkerH11Protocol`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import Any

SPEC = "MASSGEN_SERVER_SPEC"


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when its parent dies (even by ``kill -9``), so no
    worker outlives the server it belongs to."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the parent is already gone
            os.kill(os.getpid(), signal.SIGTERM)


def app() -> Any:
    """The ASGI app of one worker (uvicorn's ``factory=True``)."""
    from massgen.server.app import create_app
    from massgen.server.protocol import WorkerH11Protocol

    _die_with_parent()
    spec = json.loads(os.environ[SPEC])
    WorkerH11Protocol.request_timeout = float(spec.pop("request_timeout"))
    WorkerH11Protocol.max_connections = int(spec.pop("max_connections"))
    return create_app(**spec)
