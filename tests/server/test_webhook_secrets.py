"""Webhook secrets and headers are encrypted at rest (on SQLite and on a real PostgreSQL:
neither appears in the database's files), a store holding them refuses to open without its
key, keys rotate, and a webhook's fields and headers are checked."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

import massgen
from massgen.server import create_app
from massgen.server.schema import sqlite_path, webhooks
from massgen.server.sealing import Sealer, SecretKeyError
from massgen.server.store import Store
from tests.fakes.chat_server import FakeChatServer
from tests.server.support import (
    OTHER_SECRET_KEY,
    SECRET_KEY,
    Postgres,
    Receiver,
    ask,
    serving,
    team,
    wait_for_status,
)

SECRET = "whsec-at-rest-5f1c0e9a7b"
TOKEN = "Bearer hdr-token-8d2e4b61c9"
LOOPBACK = ["127.0.0.1/32"]


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


def database_bytes(db_url: str, request: pytest.FixtureRequest) -> bytes:
    """Every byte the database keeps on disk for ``db_url``: the SQLite file with its WAL,
    or (after a checkpoint) the PostgreSQL database's files and the server's WAL."""
    path = sqlite_path(db_url)
    if path is not None:
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    else:
        server: Postgres = request.getfixturevalue("postgres")
        engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            oid = conn.execute(
                sa.text("SELECT oid FROM pg_database WHERE datname = current_database()")
            ).scalar()
            conn.execute(sa.text("CHECKPOINT"))
        engine.dispose()
        data = Path(server.data)
        files = [p for p in (data / "base" / str(oid)).iterdir()]
        files += [p for p in (data / "pg_wal").iterdir() if p.is_file()]
    assert files
    return b"".join(p.read_bytes() for p in files if p.is_file())


def test_secrets_and_headers_are_encrypted_at_rest_and_still_delivered(
    provider: FakeChatServer, db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    app = create_app(
        config=team(provider),
        db=db_url,
        webhook_allow=LOOPBACK,
        secret_keys=[SECRET_KEY],
        log_dir=tmp_path / "logs",
    )
    headers = {"Authorization": TOKEN, "X-Team": "blue"}
    with Receiver() as receiver, serving(app) as base, httpx.Client(base_url=base) as client:
        hook = {"url": receiver.url, "secret": SECRET, "headers": headers}
        registered = client.post("/v1/webhooks", json=hook)
        assert registered.status_code == 201, registered.text
        assert SECRET not in registered.text and TOKEN not in registered.text
        task = client.post("/v1/tasks", json={"messages": ask(), "webhook": hook}).json()
        wait_for_status(client, task["id"], ("completed",))
        arrived = receiver.wait(2)  # the task's own webhook and the registered one

    for delivery in arrived:
        assert massgen.verify_webhook(
            delivery.body, delivery.headers["X-Massgen-Signature"], SECRET
        )
        assert delivery.headers["Authorization"] == TOKEN
        assert delivery.headers["X-Team"] == "blue"
        assert delivery.headers["Content-Type"] == "application/json"
    on_disk = database_bytes(db_url, request)
    assert SECRET.encode() not in on_disk
    assert TOKEN.encode() not in on_disk
    assert b"hdr-token" not in on_disk


def serve(config: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``massgen serve`` until it starts serving or refuses; the caller expects a refusal
    (a server that starts is stopped by the timeout and fails the test)."""
    command = [sys.executable, "-m", "massgen", "serve", "--config", str(config)]
    return subprocess.run(
        [*command, "--db", db_url, "--port", "0", "--no-log", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MASSGEN_SERVER_SECRET_KEY": ""},
    )


def test_a_store_with_encrypted_secrets_refuses_to_start_without_its_key(
    provider: FakeChatServer, db_url: str, tmp_path: Path
) -> None:
    store = Store(db_url, Sealer([SECRET_KEY]))
    store.add_webhook("", "https://hooks.example.com/x", ["task.completed"], SECRET)
    store.close()
    config = tmp_path / "team.yaml"
    config.write_text(yaml.safe_dump(team(provider)))

    for args, expected in (
        ((), "this store's webhook secrets are encrypted: start the server with the --secret-key"),
        (("--secret-key", OTHER_SECRET_KEY), "no --secret-key given opens this store's"),
        (("--secret-key", "not-a-key"), "--secret-key: key 1 is not a Fernet key"),
    ):
        done = serve(config, db_url, *args)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], done.stderr
        assert "Traceback" not in done.stderr
        assert OTHER_SECRET_KEY not in done.stderr

    with pytest.raises(SecretKeyError, match="encrypted"):
        Store(db_url)
    Store(db_url, Sealer([OTHER_SECRET_KEY, SECRET_KEY])).close()  # any key may open it


def test_rotating_keys_reencrypts_every_secret(db_url: str) -> None:
    old = Store(db_url, Sealer([SECRET_KEY]))
    hook = old.add_webhook("", "https://hooks.example.com/a", ["task.completed"], SECRET)
    task = old.create_task(
        "",
        {"messages": ask()},
        webhook={
            "url": "https://hooks.example.com/b",
            "events": ["task.completed"],
            "secret": SECRET,
            "headers": {"Authorization": TOKEN},
        },
    )
    with old.engine.begin() as conn:  # a plain secret written before encryption existed
        conn.execute(
            webhooks.insert().values(
                id="wh_legacy",
                owner="",
                url="https://hooks.example.com/c",
                events='["task.completed"]',
                secret="legacy-plain-secret",
                created_at=0.0,
            )
        )
    old.close()

    command = [sys.executable, "-m", "massgen", "serve", "--db", db_url, "--rotate-secrets"]
    keys = ["--secret-key", OTHER_SECRET_KEY, "--secret-key", SECRET_KEY]
    done = subprocess.run([*command, *keys], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 3 webhook secret(s)" in done.stderr

    new = Store(db_url, Sealer([OTHER_SECRET_KEY]))  # the old key is no longer needed
    try:
        own = new.webhook_credentials({"task_id": task["id"], "webhook_id": None})
        registered = new.webhook_credentials({"webhook_id": hook["id"]})
        legacy = new.webhook_credentials({"webhook_id": "wh_legacy"})
        assert own is not None and own.secret == SECRET and own.headers["Authorization"] == TOKEN
        assert registered is not None and registered.secret == SECRET
        assert legacy is not None and legacy.secret == "legacy-plain-secret"
        with new.reader.connect() as conn:
            stored = conn.execute(sa.select(webhooks.c.secret)).scalars().all()
        assert all(s.startswith("fernet:") for s in stored) and len(stored) == 2
    finally:
        new.close()
    with pytest.raises(SecretKeyError, match="another key"):
        Store(db_url, Sealer([SECRET_KEY]))

    refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "--rotate-secrets needs --secret-key" in refused.stderr


def test_webhooks_without_a_secret_key_are_refused(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    app = create_app(config=team(provider), db=f"sqlite:///{tmp_path}/t.db", webhook_allow=LOOPBACK)
    with Receiver() as receiver, serving(app) as base, httpx.Client(base_url=base) as client:
        hook = {"url": receiver.url, "secret": SECRET}
        for path, body in (
            ("/v1/webhooks", hook),
            ("/v1/tasks", {"messages": ask(), "webhook": hook}),
        ):
            refused = client.post(path, json=body)
            assert refused.status_code == 400
            error = refused.json()["error"]
            assert error["code"] == "webhooks_disabled"
            assert "--secret-key" in error["message"] and "\n" not in error["message"]
        assert client.get("/v1/tasks").json()["data"] == []
    assert SECRET.encode() not in (tmp_path / "t.db").read_bytes()


BAD_WEBHOOKS = [
    ({"extra": 1}, "unknown webhook field(s) 'extra'; known: url, secret, events, headers"),
    ({"headers": {"Connection": "close"}}, "'Connection' is hop-by-hop"),
    ({"headers": {"Transfer-Encoding": "chunked"}}, "hop-by-hop"),
    ({"headers": {"X-Massgen-Signature": "t=1,v1=00"}}, "is set by massgen"),
    ({"headers": {"content-type": "text/plain"}}, "is set by massgen"),
    ({"headers": {"Host": "internal"}}, "is set by massgen"),
    ({"headers": {"Bad Name": "x"}}, "not a valid header name"),
    ({"headers": {"X-A": "one\r\nX-B: two"}}, "printable ASCII"),
    ({"headers": {"X-A": 3}}, "printable ASCII"),
    ({"headers": ["X-A"]}, "must be an object"),
]


def test_a_webhooks_fields_and_headers_are_checked(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    app = create_app(
        config=team(provider),
        db=f"sqlite:///{tmp_path}/t.db",
        webhook_allow=LOOPBACK,
        secret_keys=[SECRET_KEY],
    )
    with serving(app) as base, httpx.Client(base_url=base) as client:
        for change, why in BAD_WEBHOOKS:
            hook = {"url": "http://127.0.0.1:9/hook", "secret": SECRET, **change}
            for path, body in (
                ("/v1/webhooks", hook),
                ("/v1/tasks", {"messages": ask(), "webhook": hook}),
            ):
                refused = client.post(path, json=body)
                assert refused.status_code == 400, (change, refused.text)
                error = refused.json()["error"]
                assert error["code"] == "invalid_webhook"
                assert why in error["message"] and "\n" not in error["message"], error
        assert client.get("/v1/webhooks").json()["data"] == []
        assert client.get("/v1/tasks").json()["data"] == []


def test_a_process_given_another_key_writes_no_secret(db_url: str) -> None:
    first = Store(db_url, Sealer([SECRET_KEY]))  # both open an empty store ...
    second = Store(db_url, Sealer([OTHER_SECRET_KEY]))
    try:
        first.add_webhook("", "https://hooks.example.com/a", ["task.completed"], SECRET)
        with pytest.raises(SecretKeyError, match="another key"):  # ... the first one wrote
            second.add_webhook("", "https://hooks.example.com/b", ["task.completed"], SECRET)
        assert len(first.list_webhooks("")) == 1
    finally:
        first.close()
        second.close()


def test_a_key_from_openssl_rand_base64_works() -> None:
    """The README's `openssl rand -base64 32` writes + and /, not Fernet's - and _."""
    import base64

    from massgen.server.sealing import Credentials, Sealer

    raw = bytes([0xFB, 0xFF] * 16)  # encodes to a key full of + and /
    key = base64.b64encode(raw).decode()
    assert "+" in key and "/" in key
    sealer = Sealer([key])
    sealed = sealer.seal(Credentials("s3cret"))
    assert "s3cret" not in sealed and sealer.open(sealed).secret == "s3cret"
