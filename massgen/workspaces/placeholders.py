"""Protected names that a sandboxed command could otherwise create.

A protected path inside a writable root (a write grant while the agent presents) is mounted
read-only over itself in the sandbox, so the command can neither write it, delete it, rename
it, nor replace it with a link (``docs/architecture.md``, "Security, in one place"). A mount
needs something to mount, so a protected path that does not exist yet gets a placeholder
for the duration of the command: an empty, read-only file (and the missing folders above it),
made just before the sandbox starts and removed as soon as the command ends — unless it is
no longer the untouched thing massgen made (a folder the command filled is the command's
work, listed like any other change). The sandbox sees an empty file at the protected name;
the user's project is left as it was. The folders between the writable root and a protected
path are mounted over themselves too (:func:`pinned`), so that none of them can be renamed
away with the protected path inside and made again without it.

Several commands (and several agents' tools in one process) may hold the same placeholder:
it is made by the first and removed by the last.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from massgen.workspaces.paths import PathPolicy, inside


class PlaceholderError(Exception):
    """A protected path that could not be held in place; the command must not run."""


def exposed(policy: PathPolicy) -> list[Path]:
    """The protected paths a command could change: those whose innermost root is writable."""
    return [p for p in policy.protected if policy.access(p) == "write"]


def pinned(policy: PathPolicy) -> list[Path]:
    """The folders strictly between an exposed protected path and its innermost writable
    root: renaming one of them would move the protected path away from its name."""
    found: list[Path] = []
    for path in exposed(policy):
        for folder in _between(policy, path):
            if folder not in found:
                found.append(folder)
    return found


def _between(policy: PathPolicy, path: Path) -> list[Path]:
    """The folders strictly between ``path`` and its innermost writable root, outermost
    first."""
    root = max((r for r in policy.writable if inside(path, r)), key=lambda r: len(r.parts))
    return [f for f in reversed(path.parents) if f != root and inside(f, root)]


@dataclass
class _Made:
    """A placeholder massgen made: which inode it is, and how many commands hold it."""

    device: int
    inode: int
    folder: bool
    holders: int = 1


_LOCK = threading.Lock()
_MADE: dict[Path, _Made] = {}


class Placeholders:
    """While held, every exposed protected path of ``policy`` exists, so that the sandbox
    can mount it read-only; :meth:`release` removes what :meth:`hold` made."""

    def __init__(self, policy: PathPolicy) -> None:
        self.policy = policy
        self.held: list[Path] = []

    def hold(self) -> Placeholders:
        """Make what is missing; :class:`PlaceholderError` (with nothing left made) if a
        protected path cannot be made to exist."""
        with _LOCK:
            try:
                for path in exposed(self.policy):
                    for folder in _between(self.policy, path):
                        if folder in _MADE or not _exists(folder):
                            self._make(folder, folder=True)
                    if path in _MADE or not _exists(path):
                        self._make(path, folder=False)
            except OSError as exc:
                self._release_locked()
                where = exc.filename or "a protected path"
                reason = exc.strerror or type(exc).__name__
                raise PlaceholderError(f"cannot hold {where} in place: {reason}") from None
        return self

    def release(self) -> None:
        """Remove, deepest first, what this holder made and no other holder still needs."""
        with _LOCK:
            self._release_locked()

    def __enter__(self) -> Placeholders:
        return self.hold()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _make(self, path: Path, *, folder: bool) -> None:
        made = _MADE.get(path)
        if made is not None:
            made.holders += 1
        else:
            if folder:
                os.mkdir(path, 0o755)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444))
            info = os.lstat(path)
            _MADE[path] = _Made(info.st_dev, info.st_ino, folder)
        self.held.append(path)

    def _release_locked(self) -> None:
        while self.held:
            path = self.held.pop()
            made = _MADE[path]
            made.holders -= 1
            if made.holders == 0:
                del _MADE[path]
                _remove_if_untouched(path, made)


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _remove_if_untouched(path: Path, made: _Made) -> None:
    """Remove a placeholder that is still the one made: the same inode, and empty."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if (info.st_dev, info.st_ino) != (made.device, made.inode):
        return
    try:
        if made.folder:
            os.rmdir(path)  # fails, and stays, if the command put files in it
        elif stat.S_ISREG(info.st_mode) and info.st_size == 0:
            os.unlink(path)
    except OSError:
        pass
