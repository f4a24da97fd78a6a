"""What the route modules receive: who is asking (the API keys or a bearer JWT, and the
store owner each maps to), the bounds of a request, the run limiter, where webhooks may
go, and the task store, opened on first use."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from massgen.addresses import Resolver
from massgen.server.bearer import JWTVerifier, TokenRejected, looks_like_jwt
from massgen.server.http import BadRequest, error_response, read_json
from massgen.server.limiter import RunLimiter
from massgen.server.request_fields import Limits
from massgen.server.sealing import SecretKeyError
from massgen.server.store import LazyStore, Store
from massgen.server.webhooks import AllowList

log = logging.getLogger("massgen.server")

#: An endpoint behind the API key check: ``handler(request, owner)``.
Handler = Callable[[Request, str], Awaitable[Response]]


def owner_of(key: str) -> str:
    """The owner id of an API key in the store (a digest: the key itself is never stored)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def unauthorized(reason: str | None = None) -> Response:
    """The 401; ``reason`` says what was wrong with a bearer JWT (never the token)."""
    if reason is not None:
        return error_response(
            401,
            f"invalid bearer token: {reason}",
            "invalid_request_error",
            "invalid_token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},  # RFC 6750
        )
    return error_response(
        401, "invalid or missing API key", "invalid_request_error", "invalid_api_key"
    )


class ServerContext:
    """See module. ``on_store`` is called when a request opened the store (it starts the
    task runner's work on it)."""

    def __init__(
        self,
        *,
        api_keys: Sequence[str],
        store: LazyStore,
        limiter: RunLimiter,
        request_limits: Limits,
        max_body_bytes: int,
        body_timeout: float,
        webhook_allow: AllowList,
        webhook_resolver: Resolver | None = None,
        on_store: Callable[[], None] = lambda: None,
        jwt: JWTVerifier | None = None,
    ) -> None:
        self.api_keys = [k for k in api_keys if k]
        self.jwt = jwt
        self.store = store
        self.limiter = limiter
        self.request_limits = request_limits
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.webhook_allow = webhook_allow
        self.webhook_resolver = webhook_resolver
        self.on_store = on_store

    def owner(self, request: Request) -> str | None:
        """The store owner of the request's API key or bearer JWT ("" with neither
        configured); None when it is missing or wrong."""
        try:
            return self.identify(request.headers)
        except TokenRejected:
            return None

    def identify(self, headers: Any) -> str | None:
        """The owner of ``headers``' credentials (``Authorization: Bearer``, else
        ``X-API-Key``): an API key, else a JWT when ``--jwt-*`` is set; None when missing
        or wrong; :class:`TokenRejected` for a JWT refused."""
        if not self.api_keys and self.jwt is None:
            return ""
        given = headers.get("x-api-key", "")
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip() or given
        if not given:
            return None
        found = None
        for key in self.api_keys:  # every key compared, in constant time
            if hmac.compare_digest(given.encode(), key.encode()):
                found = key
        if found is not None:
            return owner_of(found)
        if self.jwt is not None and looks_like_jwt(given):
            return self.jwt.owner(given)
        return None

    def refusal(self, request: Request) -> Response | None:
        """The 401 of a request without valid credentials (None: it may go on)."""
        try:
            return unauthorized() if self.identify(request.headers) is None else None
        except TokenRejected as exc:
            return unauthorized(str(exc))

    def authorized(self, request: Request) -> bool:
        return self.owner(request) is not None

    async def read_json(self, request: Request) -> dict[str, Any]:
        """The request's JSON object, within the server's size and time bounds."""
        return await read_json(request, self.max_body_bytes, self.body_timeout)

    def busy(self) -> Response:
        """The 429 of a full server, saying when a run is expected to be free (Retry-After
        in whole seconds; retry-after-ms, which the openai clients read, exactly)."""
        wait = self.limiter.retry_after()
        return error_response(
            429,
            f"the server is busy (--max-concurrency {self.limiter.limit}); try again in "
            f"{wait:.1f}s",
            "rate_limit_error",
            "too_many_requests",
            headers={
                "Retry-After": str(max(1, math.ceil(wait))),
                "retry-after-ms": str(round(wait * 1000)),
            },
        )

    async def require_store(self) -> Store:
        """The store, opened (and :attr:`on_store` called) on first use."""
        if self.store.current is None:
            await asyncio.to_thread(self.store.open)
            self.on_store()
        store = self.store.current
        assert store is not None
        return store

    def guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """``handler`` behind the API key check, with client mistakes answered as
        OpenAI-style errors, and a store that is down or locked as a 503."""

        async def endpoint(request: Request) -> Response:
            try:
                owner = self.identify(request.headers)
            except TokenRejected as exc:
                return unauthorized(str(exc))
            if owner is None:
                return unauthorized()
            try:
                return await handler(request, owner)
            except BadRequest as exc:
                return exc.response()
            except SecretKeyError as exc:  # the store opened late, with secrets we cannot read
                return error_response(503, str(exc), "server_error", "store_locked")
            except (OSError, SQLAlchemyError) as exc:  # the database is down or refuses
                log.warning("massgen: task store: %s", type(exc).__name__)
                return error_response(
                    503,
                    "the task store is unavailable; try again later",
                    "server_error",
                    "store_unavailable",
                )

        return endpoint
