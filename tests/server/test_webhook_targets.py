"""Webhook SSRF: IPv6 forms that carry a private IPv4 address are refused, and a name is
resolved and checked again at each delivery (a name that turns to loopback after the webhook
was accepted is not called). Real server under uvicorn, real receiver on 127.0.0.1; the
names resolve through an injected resolver, so no test reaches beyond this machine."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from massgen.addresses import IPAddress, embedded_ipv4, is_public
from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer
from tests.server.support import SECRET_KEY, Receiver, ask, serving, team, wait_for_status
from tests.support.signals import wait_until

SECRET = "whsec-targets-0123456789"
#: A public address the tests only ever resolve to, never connect to.
PUBLIC = "93.184.215.14"

#: IPv6 forms of 127.0.0.1 (and one of 10.0.0.1) that Python's ``is_global`` calls public.
CARRYING_LOOPBACK = [
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
    "64:ff9b::7f00:1",  # NAT64, well-known prefix
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::7f00:1",  # local-use NAT64
    "2002:7f00:1::",  # 6to4
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (XOR-ed)
]


class Names:
    """A resolver with a table the test changes, as a DNS server under someone's control."""

    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"{host}: no such name")
        return [ipaddress.ip_address(a) for a in self.table[host]]


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


@pytest.mark.parametrize("address", CARRYING_LOOPBACK)
def test_ipv6_forms_carrying_a_private_ipv4_are_not_public(address: str) -> None:
    parsed = ipaddress.ip_address(address)
    assert not is_public(parsed)
    assert any(not inner.is_global for inner in embedded_ipv4(parsed))


@pytest.mark.parametrize(
    "address", ["64:ff9b::808:808", "2002:808:808::", "::ffff:8.8.8.8", "2001:4860::8888"]
)
def test_ipv6_forms_carrying_a_public_ipv4_stay_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_webhooks_to_ipv6_forms_of_private_addresses_are_refused(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    names = Names()
    names.table["rebind.example.test"] = [PUBLIC, "64:ff9b::7f00:1"]
    app = create_app(config=team(provider), db=f"sqlite:///{tmp_path}/t.db", webhook_resolver=names)
    urls = [f"http://[{a}]:9/hook" for a in CARRYING_LOOPBACK]
    urls.append("http://rebind.example.test/hook")  # one of its addresses carries loopback
    with serving(app) as base, httpx.Client(base_url=base) as client:
        for url in urls:
            hook = {"url": url, "secret": SECRET}
            for path, body in (
                ("/v1/tasks", {"messages": ask(), "webhook": hook}),
                ("/v1/webhooks", hook),
            ):
                refused = client.post(path, json=body)
                assert refused.status_code == 400, (url, refused.text)
                message = refused.json()["error"]["message"]
                assert "private or loopback" in message and "\n" not in message, message
                assert refused.json()["error"]["code"] == "webhook_refused"
        assert "which carries 127.0.0.1" in message
        assert client.get("/v1/tasks").json()["data"] == []
        assert client.get("/v1/webhooks").json()["data"] == []


def test_a_name_that_turns_to_loopback_is_refused_at_delivery(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    names = Names()
    names.table["hooks.example.test"] = [PUBLIC]
    app = create_app(
        config=team(provider),
        db=f"sqlite:///{tmp_path}/t.db",
        webhook_resolver=names,
        secret_keys=[SECRET_KEY],
        webhook_options={"max_attempts": 1},
    )
    with Receiver() as receiver, serving(app) as base, httpx.Client(base_url=base) as client:
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"http://hooks.example.test:{port}/hook"
        task = client.post(
            "/v1/tasks", json={"messages": ask(), "webhook": {"url": url, "secret": SECRET}}
        )
        assert task.status_code == 202, task.text  # public when it was given ...
        names.table["hooks.example.test"] = ["127.0.0.1"]  # ... loopback when it is called
        wait_for_status(client, task.json()["id"], ("completed",))

        path = f"/v1/tasks/{task.json()['id']}/deliveries"
        found: list[dict[str, Any]] = []

        def delivered() -> bool:
            found[:] = client.get(path).json()["data"]
            return bool(found) and found[0]["status"] != "pending"

        wait_until(delivered, "the delivery is tried", timeout=30)
        done = found[0]
        assert done["status"] == "failed"
        (attempt,) = done["attempts"]
        assert "private or loopback address (127.0.0.1)" in attempt["error"]
        assert attempt["status_code"] is None
        assert receiver.received == []  # nothing reached the address the name turned to
        assert names.asked.count("hooks.example.test") == 2
