"""Keeps secrets out of session files: every known secret value is replaced before writing."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"
#: Environment variables whose values are secrets, beyond the providers' key variables.
_SECRET_NAME = re.compile(r"(API_KEY|_KEY|TOKEN|SECRET|PASSWORD)S?$", re.I)
#: Shorter values are too likely to occur in ordinary text to be replaced blindly.
MIN_SECRET_LENGTH = 8


def secrets_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the providers' key variables and of any variable named like a secret."""
    from massgen.backends.registry import PROVIDER_KEY_VARS

    env = os.environ if environ is None else environ
    names = set(PROVIDER_KEY_VARS) | {name for name in env if _SECRET_NAME.search(name)}
    names.add("MASSGEN_SERVER_API_KEYS")
    values: list[str] = []
    for name in names:
        value = env.get(name) or ""
        values.extend(v.strip() for v in value.split(",") if name.endswith("_KEYS"))
        values.append(value.strip())
    return values


class Redactor:
    """Replaces each secret (longest first) with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        unique = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        self.secrets = sorted(unique, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text
