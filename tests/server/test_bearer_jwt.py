"""Bearer JWTs beside API keys, against a real server on 127.0.0.1: a token verified with an
HS256 secret (``massgen serve --jwt-secret``, its variable), an RSA public key and a JWKS
served over HTTP; its ``sub`` owns its tasks; an expired, early, foreign or forged token
gets one 401 line that never repeats it; bad settings stop the server with one line."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from massgen.client import AsyncClient, AuthenticationError, Client
from massgen.server.app import create_app
from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve
from tests.server.support import ask, serving, team

SECRET = "a-test-secret-of-at-least-32-bytes-0123456789"
API_KEY = "sk-jwt-test-0123456789"
AUD, ISS = "massgen-test", "https://idp.test"


def token(sub: str | None = "alice", key: Any = SECRET, alg: str = "HS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": sub, "aud": AUD, "iss": ISS, "iat": now, "exp": now + 600, **claims}
    headers = {"kid": claims.pop("kid")} if "kid" in claims else None
    body = {k: v for k, v in body.items() if k != "kid" and v is not None}
    return jwt.encode(body, key, algorithm=alg, headers=headers)


def hs256_by_hand(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token PyJWT would refuse to make (with a public key as the secret)."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signed = f"{head}.{part(json.dumps(claims).encode())}"
    return f"{signed}.{part(hmac.new(secret, signed.encode(), hashlib.sha256).digest())}"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


@pytest.fixture
def hs_server(provider: FakeChatServer, tmp_path: Path) -> Iterator[str]:
    app = create_app(
        config=team(provider),
        api_keys=[API_KEY],
        enable_logging=False,
        db=f"sqlite:///{tmp_path / 'tasks.db'}",
        jwt={"secret": SECRET, "audience": AUD, "issuer": ISS},
    )
    with serving(app) as url:
        yield url


def test_a_token_s_subject_owns_its_tasks_beside_the_api_keys(hs_server: str) -> None:
    with (
        Client(base_url=hs_server, token=token("alice")) as alice,
        Client(base_url=hs_server, token=token("bob")) as bob,
        Client(base_url=hs_server, api_key=API_KEY) as keyed,
    ):
        task = alice.tasks.create(ask())
        answer = alice.chat.completions.create(messages=ask("Hello"))
        assert answer.choices[0].message.content
        assert [t.id for t in alice.tasks.list().data] == [task.id]
        assert bob.tasks.list().data == [] and keyed.tasks.list().data == []
        with pytest.raises(Exception, match="no such task"):
            bob.tasks.get_status(task.id)
        # a fresh token of the same subject is the same owner
        with Client(base_url=hs_server, token=token("alice")) as again:
            assert again.tasks.get_status(task.id).id == task.id


async def test_the_async_client_sends_its_token_too(hs_server: str) -> None:
    async with AsyncClient(base_url=hs_server, token=token("frank")) as frank:
        task = await frank.tasks.create(ask())
        assert [t.id for t in (await frank.tasks.list()).data] == [task.id]
    async with AsyncClient(base_url=hs_server, token=token("frank", exp=1)) as late:
        with pytest.raises(AuthenticationError, match="token expired"):
            await late.tasks.list()


@pytest.mark.parametrize(
    ("claims", "key", "why"),
    [
        ({"exp": int(time.time()) - 120}, SECRET, "token expired"),
        # far ahead: the parameters are made when the suite is collected, maybe long before
        ({"nbf": int(time.time()) + 10 * 365 * 86400}, SECRET, "token not valid yet"),
        ({"aud": "another-service"}, SECRET, "audience is not this server's"),
        ({"iss": "https://evil.test"}, SECRET, "issuer is not the one trusted"),
        ({}, "another-secret-of-at-least-32-bytes-000000", "signature does not verify"),
        ({"sub": None}, SECRET, "no 'sub' claim"),
    ],
)
def test_a_bad_token_gets_one_401_line_that_does_not_repeat_it(
    hs_server: str, claims: dict[str, Any], key: str, why: str
) -> None:
    bad = token(key=key, **claims)
    for path, method in (("/v1/tasks", "GET"), ("/v1/chat/completions", "POST")):
        response = httpx.request(
            method,
            hs_server + path,
            headers={"Authorization": f"Bearer {bad}"},
            json={"messages": ask()} if method == "POST" else None,
        )
        assert response.status_code == 401, response.text
        error = response.json()["error"]
        assert why in error["message"] and error["code"] == "invalid_token"
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert bad not in response.text and bad.split(".")[1] not in response.text
    with Client(base_url=hs_server, token=bad) as c, pytest.raises(AuthenticationError) as raised:
        c.tasks.list()
    assert why in str(raised.value)


def test_a_token_signed_by_a_public_key_from_a_pem_file(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "key.pem").write_bytes(pem)
    app = create_app(
        config=team(provider),
        enable_logging=False,
        db=f"sqlite:///{tmp_path / 'tasks.db'}",
        jwt={"public_key": str(tmp_path / "key.pem"), "audience": AUD},
    )
    with serving(app) as url:
        with Client(base_url=url, token=token("carol", private, "RS256")) as c:
            assert c.tasks.list().data == []
        # no API key configured: JWTs are required all the same
        assert httpx.get(f"{url}/v1/tasks").status_code == 401
        # an HS256 token made with the public key as its secret (algorithm confusion)
        forged = hs256_by_hand({"sub": "x", "aud": AUD, "exp": int(time.time()) + 60}, pem)
        refused = httpx.get(f"{url}/v1/tasks", headers={"Authorization": f"Bearer {forged}"})
        assert refused.status_code == 401 and "algorithm not accepted" in refused.text


class JWKS:
    """A JWKS on 127.0.0.1, counting its fetches; ``keys`` is what it serves now."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, private: ec.EllipticCurvePrivateKey, kid: str) -> None:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
        self.keys.append({**public, "kid": kid, "alg": "ES256", "use": "sig"})


def test_a_token_signed_by_a_key_of_a_jwks(provider: FakeChatServer, tmp_path: Path) -> None:
    jwks = JWKS()
    first, unknown = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    jwks.add(first, "k1")
    app = create_app(
        config=team(provider),
        enable_logging=False,
        db=f"sqlite:///{tmp_path / 'tasks.db'}",
        jwt={"jwks_url": jwks.url, "audience": AUD, "issuer": ISS},
    )
    try:
        with serving(app) as url:
            good = token("dave", first, "ES256", kid="k1")
            with Client(base_url=url, token=good) as c:
                task = c.tasks.create(ask())
                assert c.tasks.get_status(task.id).id == task.id
            stranger = token("dave", unknown, "ES256", kid="k2")
            refused = httpx.get(f"{url}/v1/tasks", headers={"Authorization": f"Bearer {stranger}"})
            assert refused.status_code == 401 and "unknown kid" in refused.text
            assert jwks.fetches == 1  # fetched at start, not per request
    finally:
        jwks.server.shutdown()


def test_massgen_serve_takes_the_jwt_options_from_its_variables(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    config = tmp_path / "team.yaml"
    config.write_text(yaml.safe_dump(team(provider)))
    env = {"MASSGEN_SERVER_JWT_SECRET": SECRET, "MASSGEN_SERVER_JWT_AUDIENCE": AUD}
    db = ["--db", f"sqlite:///{tmp_path / 'tasks.db'}", "--jwt-issuer", ISS]
    with massgen_serve(config, *db, env=env) as served:
        with Client(base_url=served.url, token=token("erin")) as c:
            assert c.tasks.list().data == []
        other = token("erin", aud="elsewhere")
        response = httpx.get(f"{served.url}/v1/tasks", headers={"Authorization": f"Bearer {other}"})
        assert response.status_code == 401


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--jwt-secret", "short"], "--jwt-secret: at least 32 bytes"),
        (["--jwt-audience", AUD], "--jwt-audience and --jwt-issuer need one of"),
        (["--jwt-jwks-url", "http://example.com/jwks"], "--jwt-jwks-url: an https:// URL"),
        (["--jwt-public-key", "/nonexistent/key.pem"], "--jwt-public-key: cannot read"),
        (["--jwt-secret", SECRET, "--jwt-jwks-url", "https://x/j"], "use exactly one of"),
    ],
)
def test_bad_jwt_settings_stop_the_server_with_one_line(
    provider: FakeChatServer, tmp_path: Path, args: list[str], line: str
) -> None:
    config = tmp_path / "team.yaml"
    config.write_text(yaml.safe_dump(team(provider)))
    command = [sys.executable, "-m", "massgen", "serve", "--config", str(config), "--port", "0"]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert line in done.stderr and "Traceback" not in done.stderr
