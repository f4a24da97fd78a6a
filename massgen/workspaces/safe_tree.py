"""Whole trees, handled through :mod:`massgen.workspaces.safe_open` descriptors: listing
and walking (links are entries, never followed), copying (snapshots, the presenter's undo
copies), moving, removing, and a fingerprint of what a path holds
(docs/architecture.md, "Files")."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from massgen.workspaces.safe_open import (
    CREATE_FLAGS,
    READ_FLAGS,
    Changed,
    Location,
    locate,
    make_folder,
    missing,
    open_child,
    open_file,
)

MAX_DEPTH = 256  # folders deeper than this are not copied or walked


@dataclass(frozen=True)
class Entry:
    """One entry of a folder, as it is (a link is a link): kind is ``dir``, ``file``,
    ``link`` or ``other`` (FIFOs, sockets, devices)."""

    name: str
    kind: str


def entries(folder: int) -> list[Entry]:
    """The entries of the folder ``folder`` (any descriptor of it, ``O_PATH`` included),
    sorted by name."""
    readable = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=folder)
    try:
        with os.scandir(readable) as listing:
            found = [Entry(e.name, _kind(e)) for e in listing]
    finally:
        os.close(readable)
    return sorted(found, key=lambda e: e.name)


def _kind(entry: os.DirEntry[str]) -> str:
    try:
        if entry.is_symlink():
            return "link"
        if entry.is_dir(follow_symlinks=False):
            return "dir"
        if entry.is_file(follow_symlinks=False):
            return "file"
    except OSError:
        pass
    return "other"


def walk(folder: int, depth: int = 0) -> Iterator[tuple[list[str], Entry, int]]:
    """Every entry below ``folder``: the names leading to it, the entry, and a descriptor of
    the folder holding it (valid until the next step); folders come before what they hold,
    links are entries, never followed; a folder that changes meanwhile is skipped."""
    if depth >= MAX_DEPTH:
        return
    for entry in entries(folder):
        yield [], entry, folder
        if entry.kind != "dir":
            continue
        try:
            child = open_child(folder, entry.name)
        except OSError:
            continue
        try:
            for names, inner, holder in walk(child, depth + 1):
                yield [entry.name, *names], inner, holder
        finally:
            os.close(child)


def copy_entry(folder: int, name: str, target: int, new_name: str, depth: int = 0) -> None:
    """Copy ``name`` of ``folder`` to ``new_name`` of ``target``: files with their mode and
    modification time, links as links, folders with what they hold (to :data:`MAX_DEPTH`);
    FIFOs, sockets and devices are left out. Nothing is followed or opened through a link."""
    info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(name, dir_fd=folder), new_name, dir_fd=target)
    elif stat.S_ISDIR(info.st_mode):
        source = open_child(folder, name)
        try:
            made = make_folder(target, new_name)
            try:
                copy_into(source, made, depth + 1)
                _set_mode(made, stat.S_IMODE(info.st_mode))
            finally:
                os.close(made)
        finally:
            os.close(source)
    elif stat.S_ISREG(info.st_mode):
        _copy_file(folder, name, target, new_name)


def _set_mode(folder: int, mode: int) -> None:
    """``chmod`` a folder through a descriptor (an ``O_PATH`` one cannot be changed)."""
    writable = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=folder)
    try:
        os.fchmod(writable, mode)
    finally:
        os.close(writable)


def copy_into(source: int, target: int, depth: int = 0) -> None:
    """Copy what the folder ``source`` holds into the folder ``target`` (see
    :func:`copy_entry`)."""
    if depth >= MAX_DEPTH:
        raise OSError(errno.ELOOP, f"folders nested deeper than {MAX_DEPTH}")
    for entry in entries(source):
        if entry.kind in ("dir", "file", "link"):
            try:
                copy_entry(source, entry.name, target, entry.name, depth)
            except FileNotFoundError:  # removed meanwhile
                continue


def _copy_file(folder: int, name: str, target: int, new_name: str) -> None:
    try:
        source = os.open(name, READ_FLAGS, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return  # turned into a link meanwhile: not copied
        raise
    try:
        info = os.fstat(source)
        if not stat.S_ISREG(info.st_mode):
            return
        copy = os.open(new_name, CREATE_FLAGS, 0o600, dir_fd=target)
        try:
            _copy_data(source, copy, info.st_size)
            os.fchmod(copy, stat.S_IMODE(info.st_mode))
            os.utime(copy, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(copy)
    finally:
        os.close(source)


def _copy_data(source: int, target: int, size: int) -> None:
    sent = 0
    try:
        while True:
            done = os.sendfile(target, source, sent, max(size - sent, 1 << 20))
            if done == 0:
                return
            sent += done
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP) or sent:
            raise
    while chunk := os.read(source, 1 << 20):
        os.write(target, chunk)


def fingerprint(path: Path) -> str:
    """What is at ``path`` now, as one string to compare later: ``missing``, ``link:<target>``,
    ``file:<sha256>``, ``dir:<sha256 of its entries>`` (links on the way are not followed:
    ``unreachable``)."""
    try:
        with locate(path, follow=False) as location:
            info = location.lstat()
            if info is None:
                return "missing"
            if stat.S_ISLNK(info.st_mode):
                return "link:" + os.readlink(location.rest[0], dir_fd=location.folder)
            if stat.S_ISDIR(info.st_mode):
                folder = (
                    os.dup(location.folder)
                    if not location.rest
                    else open_child(location.folder, location.rest[0])
                )
                try:
                    return "dir:" + _tree_digest(folder)
                finally:
                    os.close(folder)
            if not stat.S_ISREG(info.st_mode):
                return "other"
            fd = open_file(location)
            try:
                return "file:" + _digest(fd)
            finally:
                os.close(fd)
    except Changed:
        return "unreachable"


def _digest(fd: int) -> str:
    digest = hashlib.sha256()
    while chunk := os.read(fd, 1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _tree_digest(folder: int, depth: int = 0) -> str:
    digest = hashlib.sha256()
    for entry in entries(folder) if depth < MAX_DEPTH else []:
        digest.update(f"{entry.name}\0{entry.kind}\0".encode("utf-8", "surrogateescape"))
        try:
            if entry.kind == "link":
                digest.update(os.readlink(entry.name, dir_fd=folder).encode("utf-8", "replace"))
            elif entry.kind == "dir":
                child = open_child(folder, entry.name)
                try:
                    digest.update(_tree_digest(child, depth + 1).encode())
                finally:
                    os.close(child)
            elif entry.kind == "file":
                fd = os.open(entry.name, READ_FLAGS, dir_fd=folder)
                try:
                    digest.update(_digest(fd).encode())
                finally:
                    os.close(fd)
        except OSError:
            digest.update(b"?")
        digest.update(b"\n")
    return digest.hexdigest()


def move(source: Location, target: Location) -> None:
    """Move the entry at ``source`` to ``target`` (missing folders made); across file
    systems, a copy that follows no link, then the original removed."""
    origin, name = source.parent()
    try:
        if source.rest and source.lstat() is None:
            raise missing(source.path)
        folder, new_name = target.parent(create=True)
        try:
            try:
                os.rename(name, new_name, src_dir_fd=origin, dst_dir_fd=folder)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                copy_entry(origin, name, folder, new_name)
                remove_entry(origin, name)
        finally:
            os.close(folder)
    finally:
        os.close(origin)


def remove_entry(folder: int, name: str) -> None:
    """Remove ``name`` from ``folder``: a folder with all it holds, never through a link."""
    info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=folder)
    else:
        os.unlink(name, dir_fd=folder)
