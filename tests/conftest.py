"""Suite-wide setup: session logs go to a temporary directory, never the user's data dir, and
subprocesses (``python -m massgen``) import the checkout under test, whichever one the
virtualenv's editable install points at."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_LOGS = tempfile.mkdtemp(prefix="massgen-test-sessions-")
os.environ["MASSGEN_LOG_DIR"] = _LOGS  # subprocesses inherit it
atexit.register(shutil.rmtree, _LOGS, ignore_errors=True)

_CHECKOUT = str(Path(__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_CHECKOUT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)
