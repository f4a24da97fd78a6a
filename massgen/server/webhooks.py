"""Webhook targets (SSRF checks) and their delivery: signed JSON POSTs, retried with
exponential backoff on 5xx, 408, 429, timeouts and connection errors, each attempt recorded
in the store.

A target's host must resolve only to public addresses (``addresses.is_public``: IPv6 forms
that carry an IPv4 address are judged by it too), unless an allow-list entry (an address
range such as ``127.0.0.1/32``, or a host name) admits it. The check runs when the webhook is
given and again at each delivery, on every address the name resolves to, and the request goes
to the address that was checked (so a name cannot resolve to a private address in between:
DNS rebinding).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from massgen.addresses import (
    IPAddress,
    Resolver,
    embedded_ipv4,
    host_addresses,
    is_public,
    same_host_ipv4,
)
from massgen.server.sealing import SecretKeyError
from massgen.server.signing import HEADER, sign

if TYPE_CHECKING:
    from massgen.server.store import DeliveryRows, Store

log = logging.getLogger("massgen.server")

#: Events a webhook can subscribe to (``debate.finished``: a debate's task ended, whatever
#: its status; its data is the debate's status, :mod:`massgen.server.debate_routes`).
EVENTS = ("task.running", "task.completed", "task.failed", "task.cancelled", "debate.finished")
DEFAULT_EVENTS = ("task.completed", "task.failed", "task.cancelled")
RETRY_STATUSES = frozenset({408, 425, 429})
MAX_URL = 2048
#: The fields of a webhook, per task (``webhook``) or registered (``POST /v1/webhooks``).
FIELDS = ("url", "secret", "events", "headers")
MAX_HEADERS = 32
MAX_HEADER_VALUE = 4096
#: Headers a webhook may not set: hop-by-hop ones, and those each delivery sets itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
SET_BY_MASSGEN = frozenset({"host", "content-type", "content-length", "content-encoding", "expect"})
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(ValueError):
    """A webhook URL that may not be called (the message says why, without secrets)."""


@dataclass
class AllowList:
    """Private targets let through: address ranges and exact host names."""

    networks: list[IPNetwork] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, entries: Sequence[str]) -> AllowList:
        allow = cls()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                allow.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                allow.hosts.add(entry.lower().rstrip("."))
        return allow

    def admits(self, host: str, address: IPAddress) -> bool:
        if host in self.hosts:
            return True
        reached = [address, same_host_ipv4(address)]
        return any(
            a in net
            for a in reached
            if a is not None
            for net in self.networks
            if net.version == a.version
        )


def _described(address: IPAddress) -> str:
    inner = [str(a) for a in embedded_ipv4(address) if not is_public(a)]
    return f"{address}, which carries {inner[0]}" if inner else str(address)


def check_url(url: Any) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a well-formed http(s) URL without credentials."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not url.isprintable():
        raise TargetRefused("webhook url must be an http(s) URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("webhook url must be an http(s) URL")
    if parts.username or parts.password:
        raise TargetRefused("webhook url must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("webhook url has an invalid port") from None
    return parts.scheme, parts.hostname.lower().rstrip("."), port


async def resolve_target(url: Any, allow: AllowList, resolver: Resolver | None = None) -> IPAddress:
    """The address to call for ``url``; raises :class:`TargetRefused` when any address the
    host resolves to (through ``resolver``, default :func:`system_resolver`) is private,
    loopback, link-local or reserved, or carries such an IPv4 address, and is not allowed."""
    _, host, port = check_url(url)
    addresses = await host_addresses(host, port, resolver)
    if not addresses:
        raise TargetRefused(f"webhook host {host!r} does not resolve")
    for address in addresses:
        if not is_public(address) and not allow.admits(host, address):
            raise TargetRefused(
                f"webhook target {host} resolves to a private or loopback address "
                f"({_described(address)}); refused (the server's --webhook-allow option "
                "admits it)"
            )
    return addresses[0]


def validate_events(events: Any, default: Sequence[str] = DEFAULT_EVENTS) -> list[str]:
    if events is None:
        return list(default)
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ValueError("webhook events must be a non-empty list of event names")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise ValueError(f"unknown webhook event(s) {unknown}; known: {', '.join(EVENTS)}")
    return list(dict.fromkeys(events))


def validate_fields(value: dict[str, Any]) -> None:
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        names = ", ".join(repr(u[:100]) for u in unknown)
        raise ValueError(f"unknown webhook field(s) {names}; known: {', '.join(FIELDS)}")


def signature_header_name(name: str) -> str:
    """``name`` as the header that carries each delivery's signature, or ``ValueError``."""
    if not HEADER_NAME.fullmatch(name):
        raise ValueError(f"--webhook-signature-header: {name!r} is not a header name")
    lowered = name.lower()
    if lowered in HOP_BY_HOP or lowered in SET_BY_MASSGEN or lowered.startswith("x-massgen-"):
        raise ValueError(f"--webhook-signature-header: {name} is a header massgen sets itself")
    return name


def validate_headers(headers: Any) -> dict[str, str]:
    """Extra headers for each delivery: ``{name: value}``, text only, never a hop-by-hop
    header or one massgen sets (content, host, ``X-Massgen-*``)."""
    if headers is None:
        return {}
    if not isinstance(headers, dict) or len(headers) > MAX_HEADERS:
        raise ValueError(f"webhook headers must be an object of at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    for name, value in headers.items():
        if not HEADER_NAME.fullmatch(name):
            raise ValueError(f"webhook header name {name[:100]!r} is not a valid header name")
        lower = name.lower()
        if lower in HOP_BY_HOP:
            raise ValueError(f"webhook header {name!r} is hop-by-hop and cannot be set")
        if lower in SET_BY_MASSGEN or lower.startswith("x-massgen-"):
            raise ValueError(f"webhook header {name!r} is set by massgen and cannot be set")
        if lower in seen:
            raise ValueError(f"webhook header {name!r} is given twice")
        seen.add(lower)
        if (
            not isinstance(value, str)
            or len(value) > MAX_HEADER_VALUE
            or not all(" " <= c <= "~" or c == "\t" for c in value)
        ):
            raise ValueError(
                f"webhook header {name!r} must be printable ASCII text of at most "
                f"{MAX_HEADER_VALUE} characters"
            )
    return dict(headers)


def validate_secret(secret: Any) -> str:
    if not isinstance(secret, str) or len(secret) < 8 or len(secret) > 512:
        raise ValueError("webhook secret must be a string of 8 to 512 characters")
    return secret


def deliveries_on(status: str, public: Callable[[dict[str, Any]], dict[str, Any]]) -> DeliveryRows:
    """What :meth:`~massgen.server.store.Store.finish` calls to queue the deliveries of a task
    that ends with ``status``: the rows of :func:`deliveries_for` ``task.<status>``, each
    payload carrying ``public(row)`` (the API's view of the task)."""

    def build(row: dict[str, Any], registered: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return deliveries_for(f"task.{status}", row, registered, public(row))

    return build


def deliveries_for(
    event: str, task: dict[str, Any], registered: list[dict[str, Any]], public: dict[str, Any]
) -> list[dict[str, Any]]:
    """The delivery rows for ``event`` of ``task``: its own webhook and the owner's
    registered ones that subscribe to it."""
    now = time.time()
    targets: list[tuple[str | None, str]] = []
    own = json.loads(task["webhook"]) if task.get("webhook") else None
    if own and event in own.get("events", DEFAULT_EVENTS):
        targets.append((None, own["url"]))
    for hook in registered:
        if event in json.loads(hook["events"]):
            targets.append((hook["id"], hook["url"]))
    rows = []
    for webhook_id, url in targets:
        delivery_id = f"dlv_{uuid.uuid4().hex}"
        payload = {"id": delivery_id, "type": event, "created": int(now), "data": public}
        rows.append(
            {
                "id": delivery_id,
                "task_id": task["id"],
                "webhook_id": webhook_id,
                "event": event,
                "url": url,
                "payload": json.dumps(payload, ensure_ascii=False),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    return rows


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before retry ``attempt + 1`` (``attempt`` tries done): base · 2^(attempt-1)."""
    return float(min(cap, base * 2 ** (attempt - 1)))


class Deliverer:
    """Sends due deliveries from the store, in this process, until stopped."""

    def __init__(
        self,
        store: Store,
        allow: AllowList,
        *,
        timeout: float = 10.0,
        max_attempts: int = 6,
        backoff_base: float = 2.0,
        backoff_cap: float = 300.0,
        poll: float = 1.0,
        on_result: Callable[[str], None] | None = None,
        resolver: Resolver | None = None,
        signature_header: str | None = None,
    ) -> None:
        self.store = store
        #: A second header carrying the signature, for receivers written for another
        #: platform (``X-Massgen-Signature`` is always sent; :func:`signature_header_name`).
        self.signature_header = signature_header
        self.allow = allow
        self.resolver = resolver
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.poll = poll
        self.on_result = on_result or (lambda outcome: None)
        self.wake = asyncio.Event()
        self._client: Any = None

    async def run(self) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            self._client = client
            while True:
                try:
                    batch = await asyncio.to_thread(self.store.claim_deliveries, self.timeout * 3)
                except Exception as exc:
                    log.warning("massgen: webhook deliveries: %s", type(exc).__name__)
                    batch = []
                if batch:
                    await asyncio.gather(*(self._send(d) for d in batch))
                    continue
                self.wake.clear()
                wait = self.poll
                with contextlib.suppress(Exception):
                    due = await asyncio.to_thread(self.store.next_delivery_at)
                    if due is not None:
                        wait = min(self.poll, max(0.01, due - time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), wait)

    async def _send(self, delivery: dict[str, Any]) -> None:
        import httpx

        started = time.time()
        status_code: int | None = None
        error: str | None = None
        retry = False
        try:
            credentials = await asyncio.to_thread(self.store.webhook_credentials, delivery)
            if credentials is None:
                raise TargetRefused("the webhook was deleted")
            address = await resolve_target(delivery["url"], self.allow, self.resolver)
            body = delivery["payload"].encode()
            parts = urlsplit(delivery["url"])
            host = str(address) if address.version == 4 else f"[{address}]"
            netloc = f"{host}:{parts.port}" if parts.port else host
            pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
            signature = sign(body, credentials.secret)
            headers = {
                "User-Agent": "massgen-webhooks",
                **credentials.headers,
                "Content-Type": "application/json",
                "Host": parts.netloc,
                HEADER: signature,
                "X-Massgen-Event": delivery["event"],
                "X-Massgen-Delivery": delivery["id"],
            }
            if self.signature_header:
                headers[self.signature_header] = signature
            extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
            response = await self._client.post(
                pinned, content=body, headers=headers, extensions=extensions
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
                retry = status_code >= 500 or status_code in RETRY_STATUSES
        except (TargetRefused, SecretKeyError) as exc:
            error = str(exc)
        except httpx.TimeoutException:
            error, retry = "timed out", True
        except httpx.HTTPError as exc:
            error, retry = f"connection failed ({type(exc).__name__})", True
        except Exception as exc:  # never let one delivery stop the loop
            error = f"delivery error ({type(exc).__name__})"
        duration = time.time() - started
        attempt = int(delivery["attempts"]) + 1
        if error is None:
            outcome, next_at = "delivered", None
        elif retry and attempt < self.max_attempts:
            outcome = "pending"
            next_at = time.time() + backoff(attempt, self.backoff_base, self.backoff_cap)
        else:
            outcome, next_at = "failed", None
        try:
            await asyncio.to_thread(
                self.store.record_attempt,
                delivery,
                started_at=started,
                duration=duration,
                status_code=status_code,
                error=error,
                outcome=outcome,
                next_attempt_at=next_at,
            )
        except Exception as exc:
            log.warning("massgen: webhook delivery not recorded: %s", type(exc).__name__)
        self.on_result("retry" if outcome == "pending" else outcome)
