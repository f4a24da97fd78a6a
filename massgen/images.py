"""Images attached to a question: loaded once at the entry point, sent to every agent whose
model can see them, in its protocol's own shape.

Where an image may come from depends on who asks: the user at the command line or in Python
may name a file (read now) or a URL; data a client sends (a server request, LiteLLM messages)
may carry ``data:`` URLs and ``http(s)`` URLs, never a path, so no request can make massgen
read a file. URLs are passed to providers as they are, never fetched by massgen.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from massgen.errors import ConfigurationError

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # what the large providers accept per image
MAX_IMAGES = 10
MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_DATA_URL = re.compile(r"^data:(?P<type>[\w.+/-]+)?(?P<b64>;base64)?,(?P<data>.*)$", re.S)
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True)
class Image:
    """One image: its bytes (``data``) or a URL the provider fetches (``url``)."""

    name: str
    media_type: str
    data: bytes | None = None
    url: str | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0

    def data_url(self) -> str:
        """``data:image/png;base64,...``, or the URL itself."""
        if self.data is None:
            return self.url or ""
        return f"data:{self.media_type};base64,{self.base64()}"

    def base64(self) -> str:
        return base64.b64encode(self.data or b"").decode("ascii")

    def describe(self) -> dict[str, object]:
        """What events and sessions record (never the bytes)."""
        return {
            "name": self.name,
            "media_type": self.media_type,
            "bytes": self.size,
            "url": self.url,
        }


def _sniff(data: bytes) -> str | None:
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _too_big(name: object, size: int) -> ConfigurationError:
    limit = MAX_IMAGE_BYTES // 2**20
    return ConfigurationError(f"image {name}: {size / 1e6:.1f} MB is over the {limit} MiB limit")


def _checked(name: str, data: bytes, declared: str | None) -> Image:
    if len(data) > MAX_IMAGE_BYTES:
        raise _too_big(name, len(data))
    media_type = _sniff(data) or declared
    if media_type not in MEDIA_TYPES:
        raise ConfigurationError(
            f"image {name}: not a PNG, JPEG, GIF or WebP image"
            + (f" ({declared})" if declared else "")
        )
    return Image(name=name, media_type=media_type, data=data)


def from_url(url: str, name: str | None = None) -> Image:
    """An ``http(s)`` URL (kept as a URL) or a ``data:`` URL (decoded)."""
    url = url.strip()
    match = _DATA_URL.match(url)
    if match:
        try:
            raw = match.group("data")
            data = base64.b64decode(raw, validate=True) if match.group("b64") else raw.encode()
        except (binascii.Error, ValueError):
            raise ConfigurationError("image data URL: not valid base64") from None
        return _checked(name or "image", data, match.group("type"))
    if url.startswith(("http://", "https://")):
        guessed = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
        return Image(
            name=name or url.rsplit("/", 1)[-1][:80] or "image", media_type=guessed, url=url
        )
    raise ConfigurationError(f"image {url[:80]!r}: expected an http(s):// or data: URL")


def from_path(path: str | Path) -> Image:
    """A file the user named (the command line, the Python API)."""
    file = Path(path).expanduser()
    try:
        size = file.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise _too_big(path, size)
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"image {path}: file not found") from None
    except IsADirectoryError:
        raise ConfigurationError(f"image {path}: is a directory") from None
    except OSError as exc:
        raise ConfigurationError(f"image {path}: cannot read it ({exc.strerror or exc})") from None
    return _checked(file.name, data, mimetypes.guess_type(file.name)[0])


def load(specs: object, *, allow_paths: bool) -> list[Image]:
    """Images from what a caller gave: a list of paths (when ``allow_paths``), URLs, bytes or
    :class:`Image` objects."""
    if specs is None:
        return []
    items = [specs] if isinstance(specs, str | bytes | Path | Image) else list(specs)  # type: ignore[call-overload]
    if len(items) > MAX_IMAGES:
        raise ConfigurationError(f"too many images: {len(items)} (at most {MAX_IMAGES})")
    images = []
    for index, item in enumerate(items, 1):
        if isinstance(item, Image):
            images.append(item)
        elif isinstance(item, bytes):
            images.append(_checked(f"image{index}", item, None))
        elif isinstance(item, str) and (item.startswith(("http://", "https://", "data:"))):
            images.append(from_url(item, f"image{index}" if item.startswith("data:") else None))
        elif isinstance(item, str | Path) and allow_paths:
            images.append(from_path(item))
        else:
            raise ConfigurationError(
                f"image {index}: expected an http(s):// or data: URL"
                + (", a file path" if allow_paths else "")
                + " or bytes"
            )
    return images


def from_message_content(content: object) -> list[Image]:
    """The ``image_url`` parts of an OpenAI-style message's content (URLs only, no paths)."""
    if not isinstance(content, list):
        return []
    urls = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in ("image_url", "input_image"):
            value = part.get("image_url")
            url = value.get("url") if isinstance(value, dict) else value
            if isinstance(url, str):
                urls.append(url)
    return load(urls, allow_paths=False)


def note(count: int) -> str:
    """What an agent whose model cannot see images is told."""
    plural = "s" if count > 1 else ""
    return (
        f"(The user attached {count} image{plural} to this message. Your model cannot see "
        f"images: answer from the text, and say so if the image{plural} would matter.)"
    )
