"""``massgen serve``'s settings, typed, with their defaults: what the CLI reads from its
flags and the environment, and :func:`massgen.server.serve.serve` runs (as uvicorn's CLI
builds the arguments of ``uvicorn.run``). Standard library only: the CLI imports it without
the server extra."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4000
#: Runs at once (chat, text completions and tasks); more are refused with 429.
DEFAULT_MAX_CONCURRENCY = 8
#: Seconds a client may take to send a request's headers, and again its body.
DEFAULT_REQUEST_TIMEOUT = 15.0
#: The most ``max_tokens`` a request may ask for, unless ``--max-request-tokens``.
DEFAULT_MAX_REQUEST_TOKENS = 16_384


@dataclass(frozen=True)
class ServeOptions:
    """Every setting of ``massgen serve`` (see ``massgen serve --help``)."""

    #: The config the server runs (path or name); or ``model``: a team on that model.
    config: str | None = None
    model: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: The keys a request must carry (none: no key asked).
    api_keys: tuple[str, ...] = ()
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    #: Open connections at most (None: 512, fewer when the process has few descriptors).
    max_connections: int | None = None
    max_request_tokens: int = DEFAULT_MAX_REQUEST_TOKENS
    #: Whether a request may set the agents' temperature and top_p.
    request_sampling: bool = True
    #: Whether each run is written as a session log (under ``log_dir``: default user data).
    enable_logging: bool = True
    log_dir: str | None = None
    #: Worker processes sharing the port and the task store.
    workers: int = 1
    #: The task store's URL (None: ``$MASSGEN_SERVER_DB``, else SQLite in the user data dir).
    db: str | None = None
    #: Private address ranges or hosts webhooks may target.
    webhook_allow: tuple[str, ...] = ()
    #: A second header carrying webhook signatures (receivers written for another platform).
    webhook_signature_header: str | None = None
    #: Fernet keys encrypting webhook secrets (the first encrypts; none: no webhooks).
    secret_keys: tuple[str, ...] = ()
    #: The models of POST /v1/embeddings (``PROVIDER/MODEL`` or ``local``).
    embeddings: tuple[str, ...] = ()
    #: Bearer JWTs accepted beside the API keys: verified with one of an HS256 secret, a PEM
    #: public key (its text or path) or a JWKS URL; with the audience and issuer required.
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    #: The tools of the config's MCP servers callers may run over HTTP (a tool's name, or
    #: ``mcp__<server>__<tool>``; none by default).
    mcp_allow_tools: tuple[str, ...] = ()

    def app_arguments(self) -> dict[str, Any]:
        """The arguments of :func:`massgen.server.app.create_app` (picklable: each worker
        process builds its own app from them)."""
        return {
            "config": self.config,
            "model": self.model,
            "api_keys": list(self.api_keys),
            "max_concurrency": self.max_concurrency,
            "enable_logging": self.enable_logging,
            "log_dir": self.log_dir,
            "body_timeout": self.request_timeout,
            "db": self.db,
            "webhook_allow": list(self.webhook_allow),
            "webhook_signature_header": self.webhook_signature_header,
            "secret_keys": list(self.secret_keys),
            "max_request_tokens": self.max_request_tokens,
            "request_sampling": self.request_sampling,
            "embeddings": list(self.embeddings),
            "mcp_allow_tools": list(self.mcp_allow_tools),
            "jwt": {
                "secret": self.jwt_secret,
                "public_key": self.jwt_public_key,
                "jwks_url": self.jwt_jwks_url,
                "audience": self.jwt_audience,
                "issuer": self.jwt_issuer,
            },
        }
