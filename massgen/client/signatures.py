"""Checking a webhook delivery from ``massgen serve`` on the receiving side."""

from __future__ import annotations

#: The header that carries a delivery's signature.
SIGNATURE_HEADER = "X-Massgen-Signature"


def verify_webhook_signature(
    body: bytes | str, signature: str | None, secret: str | bytes, tolerance: float = 300
) -> bool:
    """Whether ``signature`` (the :data:`SIGNATURE_HEADER` value, ``t=<unix>,v1=<hex>``)
    signs ``body`` (the raw request body, exactly as received) with ``secret``, at most
    ``tolerance`` seconds ago. The server's own check (``massgen.server.signing``, standard
    library only), imported when first called."""
    from massgen.server.signing import verify_webhook

    return verify_webhook(body, signature, secret, tolerance)
