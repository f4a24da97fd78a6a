"""What ``massgen mcp`` was started with, checked before anything is served."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

from massgen.errors import ConfigurationError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Runs at once unless ``--max-concurrency`` says (each is several model calls at once).
DEFAULT_MAX_CONCURRENCY = 4
#: Where the streamable HTTP endpoint answers.
HTTP_PATH = "/mcp"


@dataclass(frozen=True)
class McpOptions:
    """The server's own settings: its team (``config``, else the default team), the files
    every run may be granted (``context_paths``: ``PATH`` or ``PATH:write``), the run
    ``timeout``, the runs at once (``max_concurrency``; more calls wait their turn), where
    sessions are recorded, and the transport."""

    config: str | None = None
    context_paths: tuple[str, ...] = ()
    timeout: float | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    log_dir: str | None = None
    no_log: bool = False
    http: bool = False
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_keys: tuple[str, ...] = field(default=(), repr=False)

    def check(self) -> None:
        """Refuse what cannot be served safely: a bad timeout or port, HTTP options without
        ``--http``, and a non-loopback address without an API key."""
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ConfigurationError(
                f"--timeout: must be a positive number of seconds, got {self.timeout:g}"
            )
        if self.max_concurrency < 1:
            raise ConfigurationError(
                f"--max-concurrency: must be 1 or more, got {self.max_concurrency}"
            )
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"--port: must be 0 to 65535, got {self.port}")
        if any(not key.strip() for key in self.api_keys):
            raise ConfigurationError("--api-key: empty key")
        if not self.http:
            if self.host != DEFAULT_HOST or self.port != DEFAULT_PORT or self.api_keys:
                raise ConfigurationError(
                    "--host, --port and --api-key are for --http (stdio needs none)"
                )
            return
        if not is_loopback(self.host) and not self.api_keys:
            raise ConfigurationError(
                f"--host {self.host}: serving beyond this machine needs --api-key "
                "(or MASSGEN_MCP_API_KEY); clients then send 'Authorization: Bearer KEY'"
            )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (``localhost``, 127.0.0.0/8,
    ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
