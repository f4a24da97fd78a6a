"""A task's artifact read whole or written to a file as it arrives (what the sync and async
``tasks`` resources share): a file is written to ``<name>.part`` beside the target and renamed
once complete, so the target is never half a file, and a body over ``max_bytes`` is stopped
(nothing left behind)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx

from massgen.client.exceptions import ValidationError
from massgen.client.transport import Call, network_error

#: Bytes read from the connection at a time.
CHUNK = 64 * 1024


def part_of(path: Path) -> Path:
    """Where ``path`` is written until it is complete."""
    return path.with_name(path.name + ".part")


def too_large(call: Call, max_bytes: int) -> ValidationError:
    return ValidationError(
        f"{call.path}: larger than max_bytes ({max_bytes:,} bytes); not saved", param="max_bytes"
    )


def read(response: httpx.Response, call: Call) -> bytes:
    """The whole body of a streamed ``response`` (then closed)."""
    try:
        return response.read()
    except httpx.TransportError as exc:
        raise network_error(call, exc) from exc
    finally:
        response.close()


async def aread(response: httpx.Response, call: Call) -> bytes:
    """:func:`read`, awaited."""
    try:
        return await response.aread()
    except httpx.TransportError as exc:
        raise network_error(call, exc) from exc
    finally:
        await response.aclose()


def save(response: httpx.Response, path: Path, max_bytes: int | None, call: Call) -> Path:
    """The body of a streamed ``response`` written to ``path`` (then closed)."""
    part, written = part_of(path), 0
    try:
        with part.open("wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    raise too_large(call, max_bytes)
                out.write(chunk)
        os.replace(part, path)
    except httpx.TransportError as exc:
        raise network_error(call, exc) from exc
    finally:
        part.unlink(missing_ok=True)
        response.close()
    return path


async def asave(response: httpx.Response, path: Path, max_bytes: int | None, call: Call) -> Path:
    """:func:`save`, awaited (the file written from a thread)."""
    part, written = part_of(path), 0
    try:
        out = await asyncio.to_thread(part.open, "wb")
        try:
            async for chunk in response.aiter_bytes(CHUNK):
                written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    raise too_large(call, max_bytes)
                await asyncio.to_thread(out.write, chunk)
        finally:
            out.close()
        await asyncio.to_thread(os.replace, part, path)
    except httpx.TransportError as exc:
        raise network_error(call, exc) from exc
    finally:
        part.unlink(missing_ok=True)
        await response.aclose()
    return path
