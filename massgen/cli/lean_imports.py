"""What the ``massgen`` process leaves out of the libraries it imports.

Two optional parts of the HTTP stack cost time on the way to a run's first model request and
are never used by the ``massgen`` command, so it marks them absent before they are first
imported (each library then falls back to a stub, as it does when they are not installed):

- httpx's own command-line client (``httpx._main``: rich's console, pygments, click; ~0.1 s):
  it only ever runs as the ``httpx`` command, in a process of its own;
- HTTP/2 (``h2``, imported by httpcore when installed; ~20 ms): no client in massgen enables
  it (a client that did would get httpcore's "h2 is not installed" error).

Only the command's own process does this (:func:`leave_out`, called by its entry point):
a program that imports massgen, or its CLI module, keeps both (litellm, for one, imports
``h2`` itself). docs/architecture.md, "Start-up".
"""

from __future__ import annotations

import sys

#: (module left out, the library whose first import would load it)
LEFT_OUT = (("httpx._main", "httpx"), ("h2", "httpcore"))


def leave_out() -> None:
    """Mark the modules of :data:`LEFT_OUT` absent, where their library is not loaded yet."""
    for module, library in LEFT_OUT:
        if library not in sys.modules:
            sys.modules.setdefault(module, None)  # type: ignore[arg-type]
