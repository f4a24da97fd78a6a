"""Webhook signatures: ``X-Massgen-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The HMAC (key: the webhook's secret) is over ``"<t>.<body>"``, as in Stripe's scheme, so a
receiver can refuse a replayed delivery by its age. Standard library only: receivers need
nothing else (``massgen.verify_webhook``).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Massgen-Signature"


def _digest(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str | bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` (signed now unless ``timestamp`` is given)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={_digest(secret, t, body)}"


def verify_webhook(
    body: bytes | str,
    header: str | None,
    secret: str | bytes,
    tolerance: float = 300,
) -> bool:
    """Whether ``header`` (the ``X-Massgen-Signature`` value) signs ``body`` (the raw request
    body, exactly as received) with ``secret``, at most ``tolerance`` seconds ago. Any
    ``v1`` entry may match (the sender may sign with several secrets while rotating)."""
    if not header or not secret:
        return False
    raw = body.encode() if isinstance(body, str) else bytes(body)
    timestamp, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if tolerance is not None and abs(time.time() - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, raw)
    return any(hmac.compare_digest(expected, c) for c in candidates)
