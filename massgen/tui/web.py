"""``massgen --web``: the terminal app in a browser, served by textual-serve.

Every browser tab that connects gets its own ``massgen`` process, run with the flags and
question ``massgen --web`` was given and drawn by Textual's web driver. The server binds
loopback unless told otherwise. It also refuses what a web page the user visits could do
to a local server: a ``Host`` it was not addressed by (DNS rebinding) and a websocket opened
from another site's page (a browser lets any page open one; ``Origin`` says whose it is).
"""

from __future__ import annotations

import ipaddress
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """The one-line warning for a bind address other machines can reach, else None."""
    if is_loopback(host):
        return None
    return (
        f"massgen: warning: serving on {host}: anyone who can reach this port can use the "
        "app (and the API keys it runs with); there is no login"
    )


def app_command(args: Sequence[str]) -> str:
    """The shell command textual-serve runs for each browser: this Python running massgen
    with ``args``. textual-serve runs it through a shell, so every word is quoted."""
    return shlex.join([sys.executable, "-m", "massgen.cli", "--served", *args])


def host_name(host_header: str) -> str:
    """The host part of a ``Host`` header or an origin's netloc (no port, no brackets)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")].lower()
    return host_header.rsplit(":", 1)[0].lower() if host_header.count(":") == 1 else host_header


def allowed(bind: str, host_header: str, origin: str | None) -> bool:
    """Whether a request addressed to ``host_header`` (from a page of ``origin``, if any)
    may reach a server bound to ``bind``: a loopback server answers only to loopback names
    (a DNS-rebinding page uses its own); a page may only be from the server itself."""
    name = host_name(host_header)
    if bind in WILDCARDS:
        pass  # open to the network on purpose: any name it is reached by
    elif name not in {*LOOPBACK_NAMES, host_name(bind)}:
        return False
    if origin is None:
        return True  # not a browser page (a browser always sends Origin on a websocket)
    scheme, _, netloc = origin.partition("://")
    return scheme in ("http", "https") and netloc.lower() == host_header.lower()


def make_server(args: Sequence[str], host: str, port: int) -> Any:
    """A textual-serve ``Server`` of the app run with ``args``, with the checks above."""
    from aiohttp import web
    from textual_serve.server import Server

    class AppServer(Server):
        """textual-serve's server, answering only requests :func:`allowed` lets through;
        its page's links use the address the browser used (so ``0.0.0.0`` works)."""

        def check(self, request: web.Request) -> None:
            if not allowed(self.host, request.host, request.headers.get("Origin")):
                raise web.HTTPForbidden(text="massgen --web: not from this host\n")

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            self.check(request)
            self.public_url = f"{request.scheme}://{request.host}"
            response: web.StreamResponse = await super().handle_index(request)
            return response

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            self.check(request)
            return await super().handle_websocket(request)

        async def on_startup(self, app: web.Application) -> None:
            url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
            print(f"massgen: the app is served on {url} (Ctrl+C stops)", flush=True)

    return AppServer(app_command(args), host=host, port=port, title="massgen")


def serve(
    args: Sequence[str],
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    warn: Callable[[str], object] = sys.stderr.write,
) -> None:
    """Serve the app run with ``args`` on ``host``:``port`` until Ctrl+C."""
    warning = exposure_warning(host)
    if warning:
        warn(warning + "\n")
    make_server(args, host, port).serve()
