"""What the ``massgen`` process leaves out of the libraries it imports.

``import httpx`` also imports httpx's own command-line client (``httpx._main``: rich's console,
pygments, click), ~0.1 s on the way to a run's first model request. That client only ever runs
as the ``httpx`` command, in a process of its own; httpx treats it as optional (a missing
module gives a stub). So the ``massgen`` command marks it absent before httpx is first
imported. Library users of massgen (``massgen.run``) are not affected: only the command does
this (docs/architecture.md, "Start-up").
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
