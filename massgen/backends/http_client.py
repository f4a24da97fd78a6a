"""HTTP details every SDK-based backend shares. Imports no provider SDK."""

from __future__ import annotations

import functools
import os
import ssl
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client in the process. Each SDK client otherwise loads the
    CA bundle itself (20–40 ms, blocking the event loop while agents are built).
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are honoured, else certifi's bundle is used."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
