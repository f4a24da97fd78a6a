"""Which paths an agent may read and write, checked the way the path-escape bugs of file
servers teach: every path is resolved to its real location first (``..``, symlinks — also
ones an agent planted in its own workspace — and absolute paths all end up somewhere real)
and compared with the granted roots at a separator boundary (``/data/x`` is not inside
``/data/xy``). A refused path is an error naming the rule, never a crash.

The resolution holds what it found open (:meth:`PathPolicy.locate`), so the file tools touch
what was checked even while an agent's command swaps links (docs/architecture.md, "Files").
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from massgen.workspaces import safe_open
from massgen.workspaces.safe_open import Location

MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 255


class PathRefused(Exception):
    """A path outside what the agent may touch; the message says which rule refused it."""


def real(path: str | Path) -> Path:
    """The real location of ``path`` (symlinks and ``..`` resolved, as far as it exists)."""
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def inside(path: Path, root: Path) -> bool:
    """``path`` is ``root`` or below it, at a separator boundary (both real)."""
    try:
        return os.path.commonpath([str(path), str(root)]) == str(root)
    except ValueError:  # different drives, or a relative and an absolute path
        return False


@dataclass
class PathPolicy:
    """An agent's view of the file system at one moment: where it works (relative paths
    start there), what it may read, what it may write, what it may never write, and what it
    may not touch even inside a grant (``hidden``: the run's own files — other agents'
    workspaces, the undo copies — when a grant such as ``.`` contains them).

    Where roots nest, the innermost one decides: a workspace inside a hidden folder is
    writable, a read grant inside a write grant stays read-only."""

    workspace: Path
    readable: list[Path] = field(default_factory=list)
    writable: list[Path] = field(default_factory=list)
    protected: list[Path] = field(default_factory=list)
    hidden: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workspace = real(self.workspace)
        self.readable = [real(p) for p in self.readable]
        self.writable = [real(p) for p in self.writable]
        self.protected = [real(p) for p in self.protected]
        self.hidden = [real(p) for p in self.hidden]

    def access(self, resolved: Path) -> str | None:
        """``"write"``, ``"read"``, ``"hidden"`` or None (outside every root) for a real
        path: what its innermost root allows."""
        best: tuple[int, int, str] | None = None
        for rank, (kind, roots) in enumerate(
            (("hidden", self.hidden), ("read", self.readable), ("write", self.writable))
        ):
            for root in roots:
                if inside(resolved, root):
                    key = (len(root.parts), rank, kind)  # deeper wins; then write over read
                    best = key if best is None or key > best else best
        return best[2] if best else None

    def visible(self, resolved: Path) -> bool:
        """Whether a listing or a search may show ``resolved`` (a real path): only what the
        agent may read. A hidden root's names (a peer's workspace, the event log, the undo
        copies) never show, not even inside a grant that contains them."""
        return self.access(resolved) in ("read", "write")

    def hides_inside(self, folder: Path) -> bool:
        """Whether a hidden root lies below the real path ``folder`` (a search over it would
        have to leave names out)."""
        return any(root != folder and inside(root, folder) for root in self.hidden)

    def shown_in(self, folder: Path) -> Callable[[str], bool]:
        """Which names of the (visible, real) ``folder`` a listing or a search may show: all
        of them, unless some root begins inside it; then each is judged by :meth:`visible`.
        Every tool that lists or searches asks this, so they all hide the same roots."""
        roots = (*self.hidden, *self.readable, *self.writable)
        if not any(root != folder and inside(root, folder) for root in roots):
            return lambda name: True
        return lambda name: self.visible(folder / name)

    def locate(self, given: str, *, write: bool = False) -> Location:
        """Where ``given`` really is, held open (:mod:`massgen.workspaces.safe_open`), if the
        agent may read it (or write it, with ``write``); else :class:`PathRefused` with the
        rule. The file tools open what this returns, so what they touch is what was checked."""
        if not isinstance(given, str) or not given.strip():
            raise PathRefused("a path must be a non-empty string")
        if "\x00" in given:
            raise PathRefused("a path cannot contain a NUL byte")
        if len(given) > MAX_PATH_CHARS or any(
            len(part) > MAX_NAME_CHARS for part in given.split("/")
        ):
            raise PathRefused("the path is too long")
        candidate = Path(os.path.expanduser(given))
        if not candidate.is_absolute():
            candidate = self.workspace / candidate
        try:
            location = safe_open.locate(candidate)
        except OSError as exc:
            raise PathRefused(f"{given}: {exc.strerror or exc}") from None
        try:
            self._allow(given, location, write)
        except BaseException:
            location.close()
            raise
        return location

    def check(self, given: str, *, write: bool = False) -> Path:
        """The real path for ``given``, if the agent may read it (or write it, with
        ``write``); else :class:`PathRefused` with the rule."""
        with self.locate(given, write=write) as location:
            return location.path

    def check_writable_file(self, given: str) -> Path:
        """:meth:`check` for writing (a hard-linked target is refused: a second name of a
        file elsewhere, which a write would change too)."""
        return self.check(given, write=True)

    def _allow(self, given: str, location: Location, write: bool) -> None:
        resolved = location.path
        access = self.access(resolved)
        if access == "hidden":
            raise PathRefused(f"{given}: another agent's workspace or massgen's own files")
        if access is None or (write and access != "write"):
            roots = self.writable if write else [*self.readable, *self.writable]
            shown = ", ".join(str(r) for r in roots) or "nothing"
            if access == "read":
                raise PathRefused(f"{given}: read-only here (you may write only in: {shown})")
            verb = "write" if write else "read"
            raise PathRefused(f"{given}: outside the paths you may {verb} ({shown})")
        if write:
            for protected in self.protected:
                if inside(resolved, protected):
                    raise PathRefused(f"{given}: protected path ({protected}), never written")
        if (write or inside(resolved, self.workspace)) and _linked_elsewhere(location):
            # the agent's own folder holds only what it made: a second name of another file
            # (``ln /secret ws/x`` by a command) is a way out, not its work; and a write
            # would change the other name's file too
            verb = "write" if write else "read"
            raise PathRefused(f"{given}: has other hard links; refusing to {verb} through one")


def _linked_elsewhere(location: Location) -> bool:
    """The entry at ``location`` is a file with more than one name (a hard link)."""
    try:
        info = location.lstat()
    except OSError:
        return False
    return info is not None and stat.S_ISREG(info.st_mode) and info.st_nlink > 1
