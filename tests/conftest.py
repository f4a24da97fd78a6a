"""Suite-wide setup: session logs go to a temporary directory, never the user's data dir."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_LOGS = tempfile.mkdtemp(prefix="massgen-test-sessions-")
os.environ["MASSGEN_LOG_DIR"] = _LOGS  # subprocesses inherit it
atexit.register(shutil.rmtree, _LOGS, ignore_errors=True)
