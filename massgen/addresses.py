"""Which IP addresses a webhook or a media URL may reach: public ones only, judged also by
the IPv4 address an IPv6 address carries inside it (``massgen.server.webhooks``,
``massgen.tools.media.sources``).

Several IPv6 forms lead to an IPv4 host: IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible
(``::a.b.c.d``), IPv4-translated (``::ffff:0:a.b.c.d``), NAT64 (``64:ff9b::a.b.c.d``), 6to4
(``2002:AABB:CCDD::``) and Teredo (``2001:0::/32``, server and XOR-ed client). Python's
``is_global`` calls several of them public even when they carry ``127.0.0.1``, so each
embedded IPv4 address is checked as well (see docs/architecture.md, "Webhooks").
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Resolves ``(host, port)`` to its addresses; raises ``OSError`` when the name does not.
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
#: Local-use NAT64 (RFC 8215): the operator's own translators, never a public target.
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _last_32_bits(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses ``address`` carries (none for IPv4 or a plain IPv6 address)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    if address in IPV4_MAPPED or address in IPV4_COMPATIBLE or address in IPV4_TRANSLATED:
        return [_last_32_bits(address)]
    if address in NAT64 or address in LOCAL_NAT64:  # local-use: as a /96 (refused anyway)
        return [_last_32_bits(address)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    return []


def same_host_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a socket to ``address`` actually reaches (IPv4-mapped), if any."""
    return address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a globally reachable unicast address, and so is every IPv4
    address inside it."""
    if address.is_multicast or address.is_unspecified:
        return False
    mapped = same_host_ipv4(address)
    if mapped is not None:  # Python calls every mapped address private; judge the IPv4 one
        return is_public(mapped)
    if address in LOCAL_NAT64:
        return False
    if not all(is_public(inner) for inner in embedded_ipv4(address)):
        return False
    return address.is_global


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for ``host`` (without IPv6 zone ids)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def host_addresses(
    host: str, port: int, resolver: Resolver | None = None
) -> Sequence[IPAddress]:
    """``host``'s addresses: itself when it is an IP literal (``[::1]`` too), else what
    ``resolver`` (default :func:`system_resolver`) gives; empty when the name does not
    resolve."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        return await (resolver or system_resolver)(host, port)
    except (OSError, UnicodeError, ValueError):
        return []
