"""``massgen serve`` once its flags are read: :func:`serve` runs the app of a
:class:`~massgen.server.options.ServeOptions` under uvicorn (or ``--workers`` processes), and
:func:`rotate_secrets` re-encrypts the store's webhook secrets. Both raise
:class:`ServeError` (one line) for what the operator must fix; the CLI exits with USAGE.

Imports the server's dependencies only when called: the CLI imports this module without the
server extra.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from massgen.errors import ConfigurationError
from massgen.server.options import ServeOptions


class ServeError(Exception):
    """A setting the server cannot start with, or a store it cannot use (one line)."""


class MissingExtra(ServeError):
    """The ``server`` extra is not installed (the message says how to install it)."""


def _missing_extra(exc: ImportError) -> MissingExtra:
    return MissingExtra(
        f"the server needs the 'server' extra ({exc.name} is missing): "
        "pip install 'massgen[server]'"
    )


def _summary(options: ServeOptions) -> str:
    """The start-up line's account of keys, the run limit, workers and webhooks."""
    keys = options.api_keys
    summary = f"{len(keys)} API key(s)" if keys else "no API key"
    if options.jwt_secret or options.jwt_public_key or options.jwt_jwks_url:
        summary += ", bearer JWTs"
    summary += f", up to {options.max_concurrency} runs at once"
    if options.workers > 1:
        summary += f" per worker, {options.workers} workers"
    if not options.secret_keys:
        summary += "; webhooks off: no --secret-key"
    return summary


def serve(options: ServeOptions) -> None:
    """Build the app (a bad config, database URL or secret key fails now), say where it
    serves on stderr, and serve until stopped."""
    try:
        import uvicorn

        from massgen.server.app import Services, create_app
        from massgen.server.protocol import (
            accept_backlog,
            default_max_connections,
            guarded_protocol,
        )
        from massgen.server.schema import check_url
    except ImportError as exc:
        raise _missing_extra(exc) from None

    spec = options.app_arguments()
    try:
        if options.db:
            check_url(options.db)
        asgi = create_app(**spec)
        services: Services = asgi.state.massgen
        services.check_store()
        services.runs.freeze_after_warm = True
    except (ConfigurationError, ValueError) as exc:  # SecretKeyError is a ValueError
        raise ServeError(str(exc)) from None
    host, port = options.host, options.port
    connections = options.max_connections or default_max_connections()
    sys.stderr.write(f"massgen: serving on http://{host}:{port}/v1 ({_summary(options)})\n")
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "backlog": accept_backlog(connections),
        "timeout_graceful_shutdown": 5,
    }
    if options.workers <= 1:
        uvicorn.run(asgi, http=guarded_protocol(options.request_timeout, connections), **common)
        return
    from massgen.server.worker import serve_workers

    if services.store is not None:  # checked above; each worker opens its own
        services.store.close()
    uvicorn_options = {k: v for k, v in common.items() if k not in ("host", "port")}
    limits = {"request_timeout": options.request_timeout, "max_connections": connections}
    try:
        serve_workers(spec, options.workers, host, port, limits, uvicorn_options)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def rotate_secrets(db: str | None, keys: Sequence[str]) -> int:
    """Re-encrypt every webhook secret in the store at ``db`` (default: the server's) with
    the first of ``keys`` (plain ones from earlier versions too); how many were rewritten."""
    if not keys:
        raise ServeError(
            "--rotate-secrets needs --secret-key: the new key first, then the old ones"
        )
    try:
        from massgen.server.schema import check_url, default_url
        from massgen.server.sealing import Sealer
        from massgen.server.store import Store
    except ImportError as exc:
        raise _missing_extra(exc) from None
    url = db or default_url()
    try:
        check_url(url)
        store = Store(url, Sealer(keys))
    except ValueError as exc:  # SecretKeyError is a ValueError
        raise ServeError(str(exc)) from None
    try:
        return store.reseal()
    except ValueError as exc:  # a secret that none of the keys opens
        raise ServeError(str(exc)) from None
    finally:
        store.close()
