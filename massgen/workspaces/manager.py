"""The files of one run (docs/architecture.md, "Files").

Each agent works in a private workspace. Context paths the user granted are read-only during
coordination. When an agent submits an answer its workspace is copied into an immutable
snapshot (``snapshots/agent2.1``), and ``shared/agent2`` points at its latest snapshot, which
every agent may read: the answers they read name these folders. Only the final presenter may
write into context paths granted ``write``; before it changes a file there, the original is
kept under ``originals/`` (``massgen logs restore`` puts it back), and every change is listed.

Snapshots are copies: hard links would let an agent's later in-place write (a command's
``>>``) change an answer that peers already judged, and the file systems massgen usually runs
on (ext4) have no copy-on-write clones. ``benchmarks/bench_workspaces.py`` measures the cost.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from massgen.errors import ConfigurationError
from massgen.workspaces import safe_open, safe_tree
from massgen.workspaces.paths import PathPolicy, inside, real

MANIFEST = "manifest.json"
MAX_DIFF_CHARS = 20_000
MAX_COMMAND_BACKUP_BYTES = 200 * 1024 * 1024


class UndoUnavailable(Exception):
    """The user's write-granted files are too big to keep a copy of before a command."""


class RestoreRefused(Exception):
    """``restore`` would overwrite what someone changed after the run: ``changed`` lists
    those paths; ``unrecorded`` says the run never recorded what it left (it was stopped
    before it finished, or an older massgen ran it), so no edit can be told apart."""

    def __init__(self, changed: list[str], unrecorded: bool = False) -> None:
        self.changed = changed
        self.unrecorded = unrecorded
        super().__init__(
            "the run did not record what it left"
            if unrecorded
            else f"changed since the run: {', '.join(changed)}"
        )


@dataclass(frozen=True)
class Grant:
    """A context path the user granted: read, or write (for the presenter), with paths
    inside it that are never written."""

    path: Path
    write: bool = False
    protected: tuple[Path, ...] = ()


def grants_from(entries: list[Any], base: Path | None = None) -> list[Grant]:
    """Grants from config entries (``{path, permission, protected_paths}``); a path that does
    not exist is a config error naming it."""
    grants = []
    for index, entry in enumerate(entries):
        raw = Path(os.path.expanduser(entry.path))
        if not raw.is_absolute() and base is not None:
            raw = base / raw
        path = real(raw)
        if not path.exists():
            raise ConfigurationError(f"context_paths[{index}]: {entry.path} does not exist")
        protected = []
        for item in entry.protected_paths:
            candidate = Path(os.path.expanduser(item))
            protected.append(real(candidate if candidate.is_absolute() else path / candidate))
        grants.append(Grant(path, entry.permission == "write", tuple(protected)))
    return grants


@dataclass
class Change:
    path: str
    how: str  # created, changed, moved


@dataclass
class Workspaces:
    """Workspaces, snapshots, the shared view and the presenter's change log of one run,
    under ``root`` (the session directory, or a temporary one)."""

    root: Path
    grants: list[Grant] = field(default_factory=list)
    workspaces_dir: Path | None = None  # orchestrator.agent_temporary_workspace
    snapshots_dir: Path | None = None  # orchestrator.snapshot_storage
    changes: list[Change] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = real(self.root)
        self.workspaces_dir = real(self.workspaces_dir or self.root / "workspaces")
        self.snapshots_dir = real(self.snapshots_dir or self.root / "snapshots")
        for folder in (
            self.workspaces_dir,
            self.snapshots_dir,
            self.shared,
            self.root / "originals",
        ):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._backed_up: set[str] = set()
        self._baseline: dict[str, tuple[int, int]] | None = None
        self._baseline_copy: Path | None = None
        self._earlier_entries = len(_entries(self.root / "originals" / MANIFEST))

    # ------------------------------------------------------------------ places

    def workspace(self, label: str) -> Path:
        assert self.workspaces_dir is not None
        path = self.workspaces_dir / label
        path.mkdir(exist_ok=True)
        return path

    @property
    def shared(self) -> Path:
        """``latest/agent2``: each agent's latest snapshot, as its peers see it."""
        assert self.snapshots_dir is not None
        return self.snapshots_dir / "latest"

    def policy(self, label: str, *, presenting: bool = False) -> PathPolicy:
        """What ``label`` may touch: its workspace (read-write), every context path and the
        peers' snapshots (read); while presenting, also the context paths granted write."""
        writable = [self.workspace(label)]
        if presenting:
            writable += [g.path for g in self.grants if g.write]
        assert self.snapshots_dir is not None and self.workspaces_dir is not None
        return PathPolicy(
            workspace=self.workspace(label),
            readable=[*(g.path for g in self.grants), self.snapshots_dir],
            writable=writable,
            protected=[p for g in self.grants for p in g.protected],
            hidden=[self.root, self.workspaces_dir],  # the session: event log, undo copies
        )

    # ------------------------------------------------------------------ snapshots

    @property
    def staging(self) -> Path:
        """Where copies of workspaces wait to become snapshots (inside the hidden root)."""
        return self.root / "staging"

    def stage(self, label: str) -> Path | None:
        """Copy ``label``'s workspace aside, for :meth:`snapshot` to publish (the slow part,
        safe in a thread: nothing else writes the workspace of an agent between turns).
        None when the workspace is empty: there is nothing to copy, or to remove later."""
        workspace = self.workspace(label)
        if not any(workspace.iterdir()):
            return None
        self.staging.mkdir(exist_ok=True, mode=0o700)
        target = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=self.staging))
        _copy_folder(workspace, target)  # links stay links: never followed out
        return target

    def snapshot(self, label: str, answer_label: str, staged: Path | None = None) -> Path | None:
        """Make ``label``'s workspace the files of answer ``answer_label``, the one peers see
        at ``shared/<label>``: its ``staged`` copy (renamed into place, no copying now), else
        a copy made now. None when the workspace was empty."""
        source = staged if staged is not None else self.workspace(label)
        if not any(source.iterdir()):
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)
            return None
        assert self.snapshots_dir is not None
        target, again = self.snapshots_dir / answer_label, 2
        while target.exists():  # a later question of the same session: keep the earlier ones
            target, again = self.snapshots_dir / f"{answer_label}~{again}", again + 1
        if staged is not None:
            os.replace(staged, target)
        else:
            target.mkdir()
            _copy_folder(source, target)
        link = self.shared / label
        temporary = self.shared / f".{label}.new"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(Path("..") / target.name)
        os.replace(temporary, link)
        return target

    def files_of(self, snapshot: Path, limit: int = 100) -> list[str]:
        """The files of a snapshot, relative to it (at most ``limit``)."""
        found = []
        for folder, _, names in os.walk(snapshot):
            for name in sorted(names):
                found.append(os.path.relpath(os.path.join(folder, name), snapshot))
                if len(found) >= limit:
                    return found
        return found

    def shared_files(self, label: str) -> Path | None:
        link = self.shared / label
        return link if link.exists() else None

    # ------------------------------------------------------------------ the presenter's writes

    def before_write(self, path: Path, how: str) -> None:
        """Keep the original of a user's file or folder (once) before the presenter changes
        it, and record the change; writes inside workspaces are not the user's files."""
        if not any(g.write and inside(path, g.path) for g in self.grants):
            return
        key = str(path)
        if key in self._backed_up:
            return
        self._backed_up.add(key)
        entry: dict[str, Any] = {"path": key, "how": how, "backup": None}
        if how in ("changed", "moved", "deleted") and path.exists():
            entry["backup"] = self._keep(path, path)
        self._record(entry)

    def _keep(self, source: Path, original: Path) -> str:
        """Copy ``source`` (the content ``original`` had) into ``originals/``; its name there."""
        backup = self.root / "originals" / f"{len(self._backed_up):05d}-{original.name}"
        _copy_entry(source, backup)
        return backup.name

    def _record(self, entry: dict[str, Any]) -> None:
        manifest = self.root / "originals" / MANIFEST
        entries = _entries(manifest)
        entries.append(entry)
        manifest.write_text(json.dumps(entries, indent=2) + "\n")
        self.changes.append(Change(entry["path"], entry["how"]))

    def seal(self) -> None:
        """Record what this run left at each path it changed (a fingerprint: content hash,
        link target, or missing), so that :func:`restore` can tell a later edit from the
        run's own changes. Called when the run's files close."""
        manifest = self.root / "originals" / MANIFEST
        entries = _entries(manifest)
        if len(entries) <= self._earlier_entries:
            return
        for entry in entries[self._earlier_entries :]:
            entry["after"] = safe_tree.fingerprint(Path(entry["path"]))
        manifest.write_text(json.dumps(entries, indent=2) + "\n")

    # ------------------------------------------------------------------ the presenter's commands

    def before_command(self) -> None:
        """Before a presenter's command may change write-granted paths: keep a copy of them
        (once; at most ``MAX_COMMAND_BACKUP_BYTES``) so what the command changes can be
        listed and undone like the file tools' writes."""
        if self._baseline is not None:
            return
        roots = [g.path for g in self.grants if g.write]
        total = sum(size for _, (size, _) in _state(roots).items())
        if total > MAX_COMMAND_BACKUP_BYTES:
            raise UndoUnavailable(
                f"the write-granted paths hold {total:,} bytes, more than can be kept for undo "
                f"({MAX_COMMAND_BACKUP_BYTES:,}); change them with the file tools instead"
            )
        copy = self.root / "originals" / "before-commands"
        for index, root in enumerate(roots):
            target = copy / str(index)
            if root.is_dir():
                _copy_entry(root, target)
            else:
                target.mkdir(parents=True)
                _copy_entry(root, target / root.name)
        self._baseline = _state(roots)
        self._baseline_copy = copy

    def after_command(self) -> None:
        """Record what a presenter's command created, changed or deleted in the user's files."""
        if self._baseline is None:
            return
        roots = [g.path for g in self.grants if g.write]
        now = _state(roots)
        for key in sorted(set(now) | set(self._baseline)):
            if key in self._backed_up or now.get(key) == self._baseline.get(key):
                continue
            path = Path(key)
            if key not in self._baseline:
                self.before_write(path, "created")
                continue
            self._backed_up.add(key)
            how = "deleted" if key not in now else "changed"
            kept = self._kept_copy(roots, path)
            entry = {"path": key, "how": how, "backup": self._keep(kept, path) if kept else None}
            self._record(entry)

    def _kept_copy(self, roots: list[Path], path: Path) -> Path | None:
        assert self._baseline_copy is not None
        for index, root in enumerate(roots):
            if inside(path, root):
                base = self._baseline_copy / str(index)
                kept = base / os.path.relpath(path, root) if root.is_dir() else base / root.name
                return kept if kept.exists() or kept.is_symlink() else None
        return None

    # ------------------------------------------------------------------ what changed

    def diffs(self) -> list[dict[str, str]]:
        """Each changed file with its diff against the kept original (capped)."""
        entries = _entries(self.root / "originals" / MANIFEST)
        out = []
        for entry in entries:
            path = Path(entry["path"])
            backup = self.root / "originals" / entry["backup"] if entry.get("backup") else None
            before = _text(backup) if backup is not None else ""
            after = _text(path)
            diff = "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    f"a{path}",
                    f"b{path}",
                )
            )
            out.append({"path": str(path), "how": entry["how"], "diff": diff[:MAX_DIFF_CHARS]})
        return out


def _text(path: Path) -> str:
    """A file's text for a diff ('' for folders, links, missing and binary files); a link
    on the way is not followed."""
    try:
        with safe_open.locate(path, follow=False) as location:
            fd = safe_open.open_file(location)
    except OSError:
        return ""
    try:
        data = safe_open.read_at_most(fd, MAX_DIFF_CHARS * 4)
    finally:
        os.close(fd)
    return "" if b"\x00" in data[:8192] else data.decode("utf-8", "replace")


def _copy_folder(source: Path, target: Path) -> None:
    """Copy what the folder ``source`` holds into the folder ``target``; no link is followed,
    on the way to ``source`` or inside it."""
    with safe_open.locate(source, follow=False) as found, safe_open.locate(target) as into:
        if found.rest or into.rest:
            raise NotADirectoryError(errno.ENOTDIR, "is not a directory", str(found.path))
        safe_tree.copy_into(found.folder, into.folder)


def _copy_entry(source: Path, target: Path) -> None:
    """Copy the file, link or folder at ``source`` to ``target`` (which must not exist; its
    folder is made); no link is followed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        safe_open.locate(source, follow=False) as found,
        safe_open.locate(target.parent) as into,
    ):
        if into.rest:
            raise NotADirectoryError(errno.ENOTDIR, "is not a directory", str(into.path))
        folder, name = found.parent()
        try:
            safe_tree.copy_entry(folder, name, into.folder, target.name)
        finally:
            os.close(folder)


def _state(roots: list[Path]) -> dict[str, tuple[int, int]]:
    """``{path: (size, mtime_ns)}`` of every file, link and folder under ``roots`` (links are
    entries, never followed)."""
    found: dict[str, tuple[int, int]] = {}
    for root in roots:
        try:
            location = safe_open.locate(root, follow=False)
        except OSError:
            continue
        with location:
            info = location.lstat()
            if info is None:
                continue
            if not stat.S_ISDIR(info.st_mode):
                found[str(root)] = (info.st_size, info.st_mtime_ns)
                continue
            found[str(root)] = (-1, 0)  # a folder: only whether it is there
            for names, entry, holder in safe_tree.walk(location.folder):
                path = root.joinpath(*names, entry.name)
                if entry.kind == "dir":
                    found[str(path)] = (-1, 0)
                    continue
                try:
                    info = os.stat(entry.name, dir_fd=holder, follow_symlinks=False)
                except OSError:
                    continue
                found[str(path)] = (info.st_size, info.st_mtime_ns)
    return found


def _entries(manifest: Path) -> list[dict[str, Any]]:
    """The undo log's entries (none before the first change)."""
    return json.loads(manifest.read_text()) if manifest.exists() else []


def changed_since_the_run(entries: list[dict[str, Any]]) -> list[str]:
    """The paths whose content is no longer what the run left (each path judged by its
    latest entry); :class:`RestoreRefused` when the run did not record what it left."""
    latest = {entry["path"]: entry for entry in entries}
    if any("after" not in entry for entry in latest.values()):
        raise RestoreRefused([], unrecorded=True)
    return [
        path
        for path, entry in latest.items()
        if safe_tree.fingerprint(Path(path)) != entry["after"]
    ]


def restore(session: Path, *, force: bool = False) -> list[str]:
    """Undo the presenter's changes recorded in ``session``: originals copied back, files it
    created removed. Returns one line per file put back. A file changed since the run (or a
    run that never recorded what it left) is :class:`RestoreRefused`, and nothing is touched,
    unless ``force``."""
    folder = session / "originals"
    manifest = folder / MANIFEST
    if not manifest.exists():
        return []
    entries = _entries(manifest)
    if not force:
        changed = changed_since_the_run(entries)
        if changed:
            raise RestoreRefused(changed)
    done = []
    for entry in reversed(entries):
        path = Path(entry["path"])
        backup = folder / entry["backup"] if entry.get("backup") else None
        try:
            if backup is not None and (backup.exists() or backup.is_symlink()):
                _put_back(backup, path)
                done.append(f"restored {path}")
            elif entry["how"] == "created" and _remove(path):
                done.append(f"removed {path}")
        except safe_open.Changed:
            done.append(f"skipped {path}: a symbolic link stands on its way")
    manifest.rename(folder / f"{MANIFEST}.restored")
    return done


def _put_back(backup: Path, path: Path) -> None:
    """Copy the kept original ``backup`` to ``path`` in place of what is there now; no link
    on the way to ``path`` is followed (:class:`safe_open.Changed` if there is one)."""
    with safe_open.locate(path, follow=False) as place, safe_open.locate(backup.parent) as kept:
        folder, name = place.parent(create=True)
        try:
            if place.lstat() is not None:
                safe_tree.remove_entry(folder, name)
            safe_tree.copy_entry(kept.folder, backup.name, folder, name)
        finally:
            os.close(folder)


def _remove(path: Path) -> bool:
    """Remove what is at ``path`` (a folder with all it holds), following no link; whether
    there was anything."""
    with safe_open.locate(path, follow=False) as place:
        if place.lstat() is None:
            return False
        folder, name = place.parent()
        try:
            safe_tree.remove_entry(folder, name)
        finally:
            os.close(folder)
    return True
