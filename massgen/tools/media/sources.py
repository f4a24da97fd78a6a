"""Where an understanding tool's medium comes from: a file the agent may read, or an http(s) URL.

A path goes through the agent's :class:`~massgen.workspaces.paths.PathPolicy` exactly as the
file tools' paths do (real path, separator-boundary roots, the innermost root decides) and
what the policy checked is what is read (a descriptor held from the check on). A URL is
fetched by massgen, so it is held to the webhooks' rules: http(s) only, no credentials in it,
every address its host resolves to public (private, loopback, link-local and reserved ones
refused unless ``allow_private_urls``), the request sent to the address that was checked,
redirects followed by hand (each one checked again, three at most), a time limit, and a size
cap counted while it downloads. Every refusal is a :class:`ToolError`: one line for the model.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from massgen.addresses import IPAddress, Resolver, host_addresses, is_public, system_resolver
from massgen.tools.base import ToolError
from massgen.workspaces import safe_open
from massgen.workspaces.artifacts import Artifact, Artifacts
from massgen.workspaces.paths import PathPolicy, PathRefused

#: Resolves ``(host, port)`` to its addresses (tests substitute one).
MAX_REDIRECTS = 3
MAX_URL_CHARS = 2048

# (leading bytes, media type): the formats the tools take, known by their content
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
)


@dataclass(frozen=True)
class Media:
    """One medium read whole: its name (the file's or the URL's last part), its bytes, and
    its media type (from its content where it can tell, else from its name)."""

    name: str
    data: bytes
    media_type: str

    @property
    def kind(self) -> str:
        """``image``, ``audio``, ``video``, ``application`` or ``text``."""
        return self.media_type.split("/", 1)[0]


@dataclass(frozen=True)
class SourceLimits:
    """How much a tool reads, and which URLs it may fetch."""

    max_bytes: int = 25 * 2**20
    url_timeout_s: float = 30.0
    allow_private_urls: bool = False


def sniff(data: bytes, name: str) -> str:
    """The media type of ``data``: from its first bytes where they say, else from ``name``'s
    extension, else ``application/octet-stream``."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] in (b"WAVE", b"WEBP", b"AVI "):
        return {b"WAVE": "audio/wav", b"WEBP": "image/webp", b"AVI ": "video/x-msvideo"}[data[8:12]]
    if data[4:8] == b"ftyp":  # ISO media: audio when the brand says so, else video
        brand = data[8:12]
        return "audio/mp4" if brand in (b"M4A ", b"M4B ") else "video/mp4"
    if data[:2] == b"\xff\xfb" or data[:2] == b"\xff\xf3":
        return "audio/mpeg"
    guessed = mimetypes.guess_type(name)[0]
    return guessed or "application/octet-stream"


def too_big(name: str, size: int, limit: int) -> ToolError:
    """The error for a medium over its limit."""
    return ToolError(f"{name}: {size:,} bytes, over the limit of {limit:,} bytes ({_mib(limit)})")


def _mib(size: int) -> str:
    return f"{size / 2**20:.3g} MiB"


class MediaReader:
    """Reads media for one agent: the media this run made, by the name their tool gave
    (``artifacts``), paths through ``policy()`` (None: no files granted in this run), URLs
    under ``limits``."""

    def __init__(
        self,
        policy: Callable[[], PathPolicy] | None,
        limits: SourceLimits,
        *,
        resolver: Resolver | None = None,
        artifacts: Artifacts | None = None,
    ) -> None:
        self.policy = policy
        self.limits = limits
        self.resolver = resolver or system_resolver
        self.artifacts = artifacts

    async def read(self, given: Any, max_bytes: int | None = None) -> Media:
        """The medium at ``given`` (a path or an http(s) URL), at most ``max_bytes`` long
        (default: the limits')."""
        if not isinstance(given, str) or not given.strip():
            raise ToolError("path: give a file path or an http(s) URL")
        limit = max_bytes or self.limits.max_bytes
        if urlsplit(given).scheme.lower() in ("http", "https"):
            return await self._fetch(given.strip(), limit)
        if "://" in given:
            raise ToolError(f"{given}: only files you may read and http(s) URLs are accepted")
        return await asyncio.to_thread(self._read_file, given, limit)

    # ---------------------------------------------------------------- files

    def _read_file(self, given: str, limit: int) -> Media:
        made = self.artifacts.named(given) if self.artifacts is not None else None
        if made is not None:  # media the run made are every agent's to look at
            return _read_artifact(made, limit)
        if self.policy is None:
            raise ToolError(
                f"{given}: this run grants no files (give an http(s) URL, or the name of a "
                "medium made in this run)"
            )
        try:
            location = self.policy().locate(given)
        except PathRefused as exc:
            raise ToolError(f"path refused: {exc}") from None
        with location:
            try:
                fd = safe_open.open_file(location)
            except FileNotFoundError:
                raise ToolError(f"{given}: no such file") from None
            except OSError as exc:
                raise ToolError(f"{given}: {exc.strerror or exc}") from None
            data = _read_whole(fd, given, limit)
        name = location.path.name
        return Media(name, data, sniff(data, name))

    # ---------------------------------------------------------------- URLs

    async def _fetch(self, url: str, limit: int) -> Media:
        import httpx

        timeout = httpx.Timeout(self.limits.url_timeout_s)
        try:
            async with (
                asyncio.timeout(self.limits.url_timeout_s),
                httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
            ):
                for _ in range(MAX_REDIRECTS + 1):
                    request = await self._pinned_request(client, url)
                    response = await client.send(request, stream=True)
                    try:
                        if response.is_redirect and "location" in response.headers:
                            url = urljoin(url, response.headers["location"])
                            continue
                        if response.status_code != 200:
                            raise ToolError(f"{url}: HTTP {response.status_code}")
                        data = await _body(response, url, limit)
                        declared = response.headers.get("content-type", "").split(";")[0]
                    finally:
                        await response.aclose()
                    name = PurePosixPath(urlsplit(url).path).name or urlsplit(url).hostname or url
                    media_type = sniff(data, name)
                    if media_type == "application/octet-stream" and declared:
                        media_type = declared.strip().lower()
                    return Media(name, data, media_type)
                raise ToolError(f"{url}: more than {MAX_REDIRECTS} redirects")
        except TimeoutError:
            raise ToolError(
                f"{url}: not downloaded within {self.limits.url_timeout_s:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise ToolError(f"{url}: download failed ({type(exc).__name__})") from None

    async def _pinned_request(self, client: Any, url: str) -> Any:
        """A request to the address checked for ``url``'s host (DNS rebinding cannot move it
        to a private address between the check and the connection)."""
        scheme, host, port = check_url(url)
        address = await self._checked_address(host, port)
        parts = urlsplit(url)
        shown = str(address) if address.version == 4 else f"[{address}]"
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        pinned = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": "massgen-media"}
        return client.build_request("GET", pinned, headers=headers, extensions=extensions)

    async def _checked_address(self, host: str, port: int) -> IPAddress:
        addresses = await host_addresses(host, port, self.resolver)
        if not addresses:
            raise ToolError(f"URL host {host!r} does not resolve")
        if not self.limits.allow_private_urls:
            for address in addresses:
                if not is_public(address):
                    raise ToolError(
                        f"URL host {host} resolves to a private or loopback address "
                        f"({address}); refused (allow_private_urls admits it)"
                    )
        return addresses[0]


def _read_artifact(artifact: Artifact, limit: int) -> Media:
    """A medium this run made, from the run's artifacts folder (massgen's own, never a link)."""
    try:
        fd = os.open(artifact.path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ToolError(f"{artifact.name}: {exc.strerror or exc}") from None
    data = _read_whole(fd, artifact.name, limit)
    return Media(artifact.name, data, sniff(data, artifact.name))


def _read_whole(fd: int, name: str, limit: int) -> bytes:
    """All of the open file ``fd`` (closed after), or :func:`too_big` past ``limit`` bytes,
    before reading or as it grew while it was read."""
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise too_big(name, size, limit)
        data = safe_open.read_at_most(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise too_big(name, len(data), limit)
    return data


def check_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a well-formed http(s) URL without credentials."""
    if len(url) > MAX_URL_CHARS or not url.isprintable():
        raise ToolError("the URL is too long or has control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ToolError(f"{url}: not an http(s) URL")
    if parts.username or parts.password:
        raise ToolError(f"{url}: a URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise ToolError(f"{url}: invalid port") from None
    return parts.scheme.lower(), parts.hostname.lower().rstrip("."), port


async def _body(response: Any, url: str, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big(url, int(declared), limit)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise too_big(url, size, limit)
        chunks.append(chunk)
    return b"".join(chunks)
