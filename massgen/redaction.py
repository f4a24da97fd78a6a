"""Keeps secrets out of everything massgen writes: session files, the terminal (plain, JSON,
the app), server responses. Every known secret value is replaced before it leaves."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig

REDACTED = "[redacted]"
#: Environment variables whose values are secrets, beyond the providers' key variables.
_SECRET_NAME = re.compile(r"(API_KEY|_KEY|TOKEN|SECRET|PASSWORD)S?$", re.I)
#: Query parameters and headers whose values are credentials (``?token=...``).
_SECRET_PARAM = re.compile(r"key|token|secret|password|passwd|signature|sig$|auth", re.I)
#: Shorter values are too likely to occur in ordinary text to be replaced blindly.
MIN_SECRET_LENGTH = 8


def secrets_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the providers' key variables and of any variable named like a secret."""
    from massgen.providers import PROVIDER_KEY_VARS

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


def url_secrets(url: str | None) -> list[str]:
    """Credentials inside a URL: a password in ``user:pass@``, and the values of query
    parameters named like a key or token (``?token=...``, ``?api-key=...``)."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
        found += [v for k, v in parse_qsl(parts.query) if _SECRET_PARAM.search(k)]
    except ValueError:
        return []
    return [value for value in found if value]


def backend_secrets(backends: Iterable[BackendConfig]) -> list[str]:
    """The keys written in backend configs, and credentials inside their URLs."""
    found: list[str] = []
    for backend in backends:
        key: Any = getattr(backend, "api_key", None)
        if key is not None:
            found.append(key.get_secret_value() if hasattr(key, "get_secret_value") else str(key))
        found += url_secrets(getattr(backend, "base_url", None))
    return found


def env_redactor() -> Redactor:
    """A redactor for the secrets in the environment (no config known)."""
    return Redactor(secrets_from_env())


def redact_env(text: str) -> str:
    """``text`` with the environment's secrets replaced (for one-off error lines)."""
    return env_redactor()(text)
