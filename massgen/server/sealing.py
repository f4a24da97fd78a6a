"""Webhook credentials (the signing secret and the headers sent with each delivery),
encrypted at rest with the operator's keys (``massgen serve --secret-key``).

Keys are Fernet keys: 32 random bytes in base64 (``openssl rand -base64 32``). With several
keys the first encrypts and every one decrypts (``MultiFernet``), so a key is rotated by
putting the new one first, re-encrypting (:meth:`Sealer.reseal`, ``massgen serve
--rotate-secrets``), then dropping the old one. A stored value is ``fernet:<token>``; one
without the prefix is a plain secret written before encryption existed: it is still read,
and re-encrypting encrypts it. See docs/architecture.md, "Webhooks".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

PREFIX = "fernet:"
#: What the store's key check value encrypts (:meth:`Sealer.check_value`).
CHECK = b"massgen webhook credentials"
KEY_HINT = "32 random bytes in base64, e.g. from: openssl rand -base64 32"


class SecretKeyError(ValueError):
    """A missing, malformed or wrong secret key (one line, naming the option)."""


@dataclass(frozen=True)
class Credentials:
    """What a delivery needs that must not be readable in the store."""

    secret: str
    headers: dict[str, str] = field(default_factory=dict)


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


class Sealer:
    """Encrypts and decrypts :class:`Credentials` with the given keys (none: it can only
    read plain secrets of earlier versions)."""

    def __init__(self, keys: Sequence[str] = ()) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        fernets = []
        for number, key in enumerate((k.strip() for k in keys if k and k.strip()), start=1):
            try:
                # openssl's base64 uses + and /; Fernet wants the URL-safe alphabet
                fernets.append(Fernet(key.replace("+", "-").replace("/", "_")))
            except ValueError:
                raise SecretKeyError(
                    f"--secret-key: key {number} is not a Fernet key ({KEY_HINT})"
                ) from None
        self._fernet: MultiFernet | None = MultiFernet(fernets) if fernets else None

    @property
    def enabled(self) -> bool:
        """Whether there is a key to encrypt with."""
        return self._fernet is not None

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise SecretKeyError(
                "webhook secrets are stored encrypted: start the server with --secret-key "
                "(or MASSGEN_SERVER_SECRET_KEY) to accept webhooks"
            )
        return self._fernet

    def seal(self, credentials: Credentials) -> str:
        payload = {"secret": credentials.secret, "headers": credentials.headers}
        token = self._require().encrypt(json.dumps(payload, ensure_ascii=False).encode())
        return PREFIX + token.decode()

    def open(self, stored: str) -> Credentials:
        """The credentials in a stored value (a plain one is a secret without headers)."""
        if not is_sealed(stored):
            return Credentials(stored)
        payload = json.loads(self._decrypt(stored))
        return Credentials(payload["secret"], dict(payload.get("headers") or {}))

    def reseal(self, stored: str) -> str:
        """``stored`` encrypted with the first key (a plain secret too)."""
        if not is_sealed(stored):
            return self.seal(Credentials(stored))
        self._decrypt(stored)  # a value no key opens is refused, not passed on
        return PREFIX + self._require().rotate(stored[len(PREFIX) :].encode()).decode()

    def check_value(self) -> str:
        """A value the store keeps to tell whether later keys open its credentials."""
        return PREFIX + self._require().encrypt(CHECK).decode()

    def check(self, check_value: str) -> None:
        """Raise :class:`SecretKeyError` unless the keys open ``check_value`` (saying
        whether no key or another key was given)."""
        if self._decrypt(check_value) != CHECK:
            raise SecretKeyError("the store's key check value is not massgen's")

    def _decrypt(self, stored: str) -> bytes:
        from cryptography.fernet import InvalidToken

        fernet = self._fernet
        if fernet is None:
            raise SecretKeyError(
                "this store's webhook secrets are encrypted: start the server with the "
                "--secret-key (or MASSGEN_SERVER_SECRET_KEY) that encrypted them"
            )
        try:
            return fernet.decrypt(stored[len(PREFIX) :].encode())
        except InvalidToken:
            raise SecretKeyError(
                "no --secret-key given opens this store's webhook secrets (they were "
                "encrypted with another key: give that one too)"
            ) from None
