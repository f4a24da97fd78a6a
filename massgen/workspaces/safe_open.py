"""Open what was checked: paths resolved one name at a time from a held directory descriptor,
never by the kernel following a link after the check (docs/architecture.md, "Files").

:func:`locate` walks a path from ``/``: each folder is opened with ``O_NOFOLLOW`` relative to
the one before (``dir_fd``), a symlink is read and its target walked the same way, and the
result is the real path together with a descriptor of its deepest existing folder. Whatever
is then opened, created, listed, moved or copied is named relative to that descriptor, so a
link swapped in after the check (an agent's own command, racing its file tools) cannot
redirect it: at worst the operation fails. Copies (:func:`copy_into`) never follow a link.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_LINKS = 40  # as the kernel's own limit (ELOOP)
DIRECTORY_FLAGS = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
WALK_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | DIRECTORY_FLAGS  # O_PATH: folders we may not list
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO never blocks
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Changed(OSError):
    """An entry turned into a link (or stopped being a folder) while it was being opened, or
    a link stands where none may be followed."""

    def __init__(self, path: Path | str, why: str = "changed while it was opened; try again"):
        super().__init__(errno.ELOOP, why, str(path))


@dataclass
class Location:
    """Where a path really is: ``folder`` is a descriptor of the deepest existing folder on
    the way (``folder_path`` its real path), ``rest`` the names below it that did not exist
    (or, alone, the name of an existing entry that is not a folder). Close it when done."""

    folder: int
    folder_path: Path
    rest: list[str]

    @property
    def path(self) -> Path:
        """The real path (as ``os.path.realpath`` would give it)."""
        return self.folder_path.joinpath(*self.rest)

    def close(self) -> None:
        if self.folder >= 0:
            os.close(self.folder)
            self.folder = -1

    def __enter__(self) -> Location:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def lstat(self) -> os.stat_result | None:
        """The entry itself (a link is not followed), or None when it does not exist."""
        if not self.rest:
            return os.fstat(self.folder)
        if len(self.rest) > 1:
            return None
        try:
            return os.stat(self.rest[0], dir_fd=self.folder, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def parent(self, *, create: bool = False) -> tuple[int, str]:
        """A descriptor of the entry's folder (the caller closes it) and the entry's name in
        it; with ``create``, missing folders on the way are made (never through a link)."""
        if not self.rest:
            if self.folder_path == Path("/"):
                raise PermissionError(errno.EPERM, "not for the root folder", "/")
            return os.open("..", WALK_FLAGS, dir_fd=self.folder), self.folder_path.name
        folder = os.dup(self.folder)
        try:
            for name in self.rest[:-1]:
                if not create:
                    raise missing(self.path)
                folder = _replace(folder, make_folder(folder, name))
            return folder, self.rest[-1]
        except BaseException:
            os.close(folder)
            raise


def missing(path: Path | str) -> FileNotFoundError:
    """The error for a path that does not exist."""
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))


def _replace(old: int, new: int) -> int:
    os.close(old)
    return new


def locate(path: Path | str, *, follow: bool = True) -> Location:
    """Walk the absolute ``path`` from ``/`` without letting the kernel follow any link.
    With ``follow``, links are resolved here (``..`` after a link means the target's
    parent, as for ``realpath``); without it, a link on the way is an error and a link at the
    end is the entry itself."""
    names = [name for name in reversed(str(path).split("/")) if name not in ("", ".")]
    folder = os.open("/", WALK_FLAGS)
    real: list[str] = []
    rest: list[str] = []
    links = 0
    try:
        while names:
            name = names.pop()
            if rest:  # below something that does not exist (or is not a folder)
                if name == "..":
                    rest.pop()
                else:
                    rest.append(name)
                continue
            if name == "..":
                if real:
                    folder = _replace(folder, os.open("..", WALK_FLAGS, dir_fd=folder))
                    real.pop()
                continue
            try:
                info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                rest.append(name)
                continue
            if stat.S_ISLNK(info.st_mode):
                if not follow:
                    if names:
                        raise Changed(Path("/", *real, name), "a symbolic link on the way")
                    rest.append(name)
                    continue
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
                target = os.readlink(name, dir_fd=folder)
                if target.startswith("/"):
                    folder, real = _replace(folder, os.open("/", WALK_FLAGS)), []
                names.extend(n for n in reversed(target.split("/")) if n not in ("", "."))
            elif stat.S_ISDIR(info.st_mode):
                try:
                    folder = _replace(folder, open_child(folder, name))
                except Changed:
                    raise Changed(Path("/", *real, name)) from None
                real.append(name)
            else:
                rest.append(name)
        _still_named(folder, Path("/", *real))
    except BaseException:
        os.close(folder)
        raise
    return Location(folder, Path("/", *real), rest)


def _still_named(folder: int, path: Path) -> None:
    """The held ``folder`` is still what ``path`` names: not moved elsewhere while it was
    walked to (the path is what the caller will judge)."""
    held = os.fstat(folder)
    try:
        now = os.stat(path)
    except OSError:
        raise Changed(path) from None
    if (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
        raise Changed(path)


def open_child(parent: int, name: str, shown: Path | str | None = None) -> int:
    """Open the folder ``name`` of ``parent``; a link (or anything not a folder) in its place
    is :class:`Changed`."""
    try:
        return os.open(name, WALK_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            raise Changed(shown or name) from None
        raise


def make_folder(parent: int, name: str) -> int:
    """Make folder ``name`` in ``parent`` (if missing) and open it, never through a link."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o777, dir_fd=parent)
    return open_child(parent, name, name)


def open_file(location: Location) -> int:
    """A read descriptor of the regular file at ``location`` (a folder, a missing file or
    anything else is an ``OSError`` saying so)."""
    if not location.rest:
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(location.path))
    if len(location.rest) > 1:
        raise missing(location.path)
    try:
        fd = os.open(location.rest[0], READ_FLAGS, dir_fd=location.folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Changed(location.path) from None
        raise type(exc)(exc.errno, exc.strerror, str(location.path)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(location.path))
    return fd


def read_at_most(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from the start of ``fd``."""
    chunks, left = [], limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_file(location: Location, data: bytes) -> None:
    """Replace the file at ``location`` with ``data`` in one step (a new file renamed over
    the name: never written through a link), making missing folders on the way."""
    folder, name = location.parent(create=True)
    try:
        try:
            old = os.stat(name, dir_fd=folder, follow_symlinks=False)
            mode = stat.S_IMODE(old.st_mode) if stat.S_ISREG(old.st_mode) else None
        except FileNotFoundError:
            mode = None  # a new file: as the umask says
        temporary = f".{name[:200]}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temporary, CREATE_FLAGS, 0o666 if mode is None else 0o600, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if mode is not None:
                    os.fchmod(handle.fileno(), mode)
            os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            _unlink_quietly(folder, temporary)
            raise
    finally:
        os.close(folder)


def make_folders(location: Location) -> None:
    """Make the folder at ``location`` and any missing ones above it."""
    if not location.rest:
        return
    folder, name = location.parent(create=True)
    try:
        os.close(make_folder(folder, name))
    finally:
        os.close(folder)


def _unlink_quietly(folder: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=folder)
