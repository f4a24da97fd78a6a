"""``Client(session=requests.Session())`` against a real ``massgen serve``: every call goes
through the session, so its proxy and headers are what reaches the wire (a recording HTTP
proxy on 127.0.0.1 stands between the client and the server)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import httpx
import pytest
import requests

from massgen.client import AuthenticationError, Client, NetworkError
from tests.client.conftest import API_KEY, Served
from tests.server.conftest import free_port


@dataclass
class Proxy:
    """A forwarding HTTP proxy that records each request line and its headers."""

    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def __enter__(self) -> Proxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def forward(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                proxy.seen.append((self.command, self.path, headers))
                size = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(size) if size else None
                sent = {k: v for k, v in headers.items() if k.lower() != "proxy-connection"}
                with httpx.Client(trust_env=False) as upstream:
                    answer = upstream.request(self.command, self.path, headers=sent, content=body)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = forward

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with Proxy() as running:
        yield running


def test_the_sessions_proxy_and_headers_carry_every_call(server: Served, proxy: Proxy) -> None:
    session = requests.Session()
    session.proxies = {"http": proxy.url}
    session.headers["X-Corp-Trace"] = "abc123"
    with Client(api_key=API_KEY, base_url=server.url, session=session) as client:
        models = client.models.list()
        answer = client.chat.completions.create(messages=[{"role": "user", "content": "Hi"}])
    assert "massgen" in [m.id for m in models.data]
    assert answer.choices[0].message.content
    # absolute-form request lines: the calls went through the proxy, with the session's header
    # and the client's own key
    assert [(method, path) for method, path, _ in proxy.seen] == [
        ("GET", f"{server.url}/v1/models"),
        ("POST", f"{server.url}/v1/chat/completions"),
    ]
    for _, _, headers in proxy.seen:
        assert headers["x-corp-trace"] == "abc123"
        assert headers["authorization"] == f"Bearer {API_KEY}"


def test_a_stream_comes_through_the_session(server: Served, proxy: Proxy) -> None:
    session = requests.Session()
    session.proxies = {"http": proxy.url}
    with Client(api_key=API_KEY, base_url=server.url, session=session) as client:
        stream = client.chat.completions.create(
            messages=[{"role": "user", "content": "Tell me a story"}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert "Tell me a story" in text
    assert proxy.seen[0][1] == f"{server.url}/v1/chat/completions"


def test_the_sessions_auth_is_applied_as_requests_applies_it(server: Served) -> None:
    session = requests.Session()
    session.auth = ("someone", "not-the-key")  # replaces the API key's Authorization
    with (
        Client(api_key=API_KEY, base_url=server.url, session=session) as client,
        pytest.raises(AuthenticationError, match="API key"),
    ):
        client.models.list()


def test_a_proxy_that_is_down_is_one_network_error(server: Served) -> None:
    session = requests.Session()
    session.proxies = {"http": f"http://127.0.0.1:{free_port()}"}
    client = Client(api_key=API_KEY, base_url=server.url, session=session, max_retries=0)
    with pytest.raises(NetworkError, match="GET /v1/models failed"):
        client.models.list()
    client.close()
    assert session.request  # the caller's session is left as it was, usable


def test_session_and_http_client_together_are_refused() -> None:
    with httpx.Client() as http, pytest.raises(ValueError, match="http_client or session"):
        Client(http_client=http, session=requests.Session())


def test_requests_is_imported_only_when_a_session_is_given() -> None:
    code = (
        "import sys; from massgen.client import Client; c = Client(); c.models; "
        "print('requests' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
