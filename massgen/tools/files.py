"""File tools on the tool loop, in-process, named and shaped as the reference MCP filesystem
server's (``read_text_file``, ``write_file``, ``edit_file``, ...), so prompts written for it
carry over and no Node is needed.

Every path goes through the agent's current :class:`PathPolicy` (it changes when the agent
becomes the presenter), and what it resolved is what is opened: a descriptor held from the
check on (``massgen.workspaces.safe_open``), so a link swapped in meanwhile leads nowhere.
Reads and writes are size-capped; a binary file reads as a short description; writes replace
the file in one step (never through a symlink or a hard link); listings and searches show
only what the agent may read (:meth:`PathPolicy.shown_in`).
"""

from __future__ import annotations

import asyncio
import difflib
import errno
import fnmatch
import json
import mimetypes
import os
import re
import stat
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from massgen.messages import ToolSpec
from massgen.tools.base import Tool, ToolError
from massgen.workspaces import safe_open, safe_tree
from massgen.workspaces.paths import PathPolicy, PathRefused
from massgen.workspaces.safe_open import Location

MAX_READ_BYTES = 256 * 1024
MAX_WRITE_BYTES = 1024 * 1024
MAX_LISTED = 1000
TREE_DEPTH = 6

#: Called before a file the agent may write is changed (``"created"``, ``"changed"``,
#: ``"moved"``), so originals of the user's files can be kept for undo.
BeforeWrite = Callable[[Path, str], None]


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _schema(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def _describe_binary(path: Path, data: bytes) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "binary data"
    return f"[{path.name}: {kind}, {len(data):,} bytes; not text, so not shown]"


def _read_text(location: Location) -> str:
    """The text of the file at ``location``, capped; a binary file as a short description."""
    path = location.path
    if not location.rest:
        raise ToolError(f"{path} is a directory (use list_directory)")
    fd = safe_open.open_file(location)
    try:
        size = os.fstat(fd).st_size
        data = safe_open.read_at_most(fd, MAX_READ_BYTES)
    finally:
        os.close(fd)
    if b"\x00" in data[:8192]:
        return _describe_binary(path, data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 4:  # not just a character cut at the cap
            return _describe_binary(path, data)
        text = data[: exc.start].decode("utf-8")
    if size > MAX_READ_BYTES:
        text += f"\n[truncated: the file has {size:,} bytes; the first {MAX_READ_BYTES:,} shown]"
    return text


def _encoded(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > MAX_WRITE_BYTES:
        raise ToolError(f"refusing to write {len(data):,} bytes (at most {MAX_WRITE_BYTES:,})")
    return data


def _shown_kind(policy: PathPolicy, real: Path, entry: safe_tree.Entry) -> str:
    """``directory`` or ``file``, as the reference server shows it; a link is a directory
    when it leads to a folder the agent may read (only its kind is looked at)."""
    if entry.kind == "link":
        try:
            with safe_open.locate(real / entry.name) as target:
                readable_folder = not target.rest and policy.visible(target.path)
        except OSError:
            return "file"
        return "directory" if readable_folder else "file"
    return "directory" if entry.kind == "dir" else "file"


class FileTools:
    """The file tools of one agent. ``policy()`` is its current view; ``before_write`` is
    told before a file is changed. Each call opens what its policy checked
    (:meth:`PathPolicy.locate`), never the path string again."""

    def __init__(self, policy: Callable[[], PathPolicy], before_write: BeforeWrite | None = None):
        self.policy = policy
        self.before_write = before_write or (lambda path, how: None)

    def _locate(
        self, given: Any, *, write: bool = False, policy: PathPolicy | None = None
    ) -> Location:
        try:
            return (policy or self.policy()).locate(str(given), write=write)
        except PathRefused as exc:
            raise ToolError(f"path refused: {exc}") from None

    def _new_folders(self, location: Location) -> None:
        """Tell ``before_write`` about the outermost folder a write will create."""
        if len(location.rest) > 1:
            self.before_write(location.folder_path / location.rest[0], "created")

    # ---------------------------------------------------------------- the tools

    def read_text_file(self, path: str, head: int | None = None, tail: int | None = None) -> str:
        with self._locate(path) as location:
            text = _read_text(location)
        lines = text.splitlines(keepends=True)
        if head:
            return "".join(lines[:head])
        if tail:
            return "".join(lines[-tail:])
        return text

    def read_multiple_files(self, paths: list[str]) -> str:
        parts = []
        for given in paths[:50]:
            try:
                with self._locate(given) as location:
                    parts.append(f"{given}:\n{_read_text(location)}")
            except (ToolError, OSError) as exc:
                parts.append(f"{given}: Error - {exc}")
        return "\n---\n".join(parts)

    def write_file(self, path: str, content: str) -> str:
        data = _encoded(content)
        with self._locate(path, write=True) as location:
            self._new_folders(location)
            exists = location.lstat() is not None
            self.before_write(location.path, "changed" if exists else "created")
            safe_open.write_file(location, data)
        return f"Successfully wrote to {path}"

    def edit_file(self, path: str, edits: list[dict[str, str]], dryRun: bool = False) -> str:
        with self._locate(path, write=True) as location:
            before = _read_text(location)
            after = before
            for index, edit in enumerate(edits, 1):
                old, new = edit.get("oldText", ""), edit.get("newText", "")
                if not old:
                    raise ToolError(f"edit {index}: oldText is empty")
                count = after.count(old)
                if count != 1:
                    found = (
                        "not found" if count == 0 else f"found {count} times; include more context"
                    )
                    raise ToolError(f"edit {index}: oldText {found}")
                after = after.replace(old, new, 1)
            diff = "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True), after.splitlines(keepends=True), path, path
                )
            )
            if not dryRun:
                data = _encoded(after)
                self.before_write(location.path, "changed")
                safe_open.write_file(location, data)
        return diff or "(no change)"

    def create_directory(self, path: str) -> str:
        with self._locate(path, write=True) as location:
            if location.rest:
                self._new_folders(location)
                self.before_write(location.path, "created")
            safe_open.make_folders(location)
        return f"Successfully created directory {path}"

    def list_directory(self, path: str) -> str:
        policy = self.policy()
        with self._locate(path, policy=policy) as location:
            if location.rest:
                raise ToolError(f"{path} is not a directory")
            shown = policy.shown_in(location.path)
            found = [e for e in safe_tree.entries(location.folder) if shown(e.name)][:MAX_LISTED]
            kinds = {e.name: _shown_kind(policy, location.path, e) for e in found}
        return "\n".join(
            f"[{'DIR' if kinds[e.name] == 'directory' else 'FILE'}] {e.name}" for e in found
        )

    def directory_tree(self, path: str) -> str:
        policy = self.policy()

        def tree(folder: int, real: Path, depth: int) -> list[dict[str, Any]]:
            out = []
            shown = policy.shown_in(real)
            for entry in safe_tree.entries(folder):
                if not shown(entry.name):
                    continue
                node: dict[str, Any] = {
                    "name": entry.name,
                    "type": _shown_kind(policy, real, entry),
                }
                if entry.kind == "dir" and depth < TREE_DEPTH:
                    try:
                        child = safe_open.open_child(folder, entry.name)
                    except OSError:
                        child = None
                    if child is not None:
                        try:
                            node["children"] = tree(child, real / entry.name, depth + 1)
                        finally:
                            os.close(child)
                out.append(node)
                if len(out) >= MAX_LISTED:
                    break
            return out

        with self._locate(path, policy=policy) as location:
            if location.rest:
                raise ToolError(f"{path} is not a directory")
            return json.dumps(tree(location.folder, location.path, 1), indent=2)

    def move_file(self, source: str, destination: str) -> str:
        policy = self.policy()
        with (
            self._locate(source, write=True, policy=policy) as origin,
            self._locate(destination, write=True, policy=policy) as target,
        ):
            if target.lstat() is not None:
                raise ToolError(f"{destination} already exists")
            if origin.lstat() is None:
                raise ToolError(f"{source}: no such file or directory")
            self.before_write(origin.path, "moved")
            self._new_folders(target)
            self.before_write(target.path, "created")
            safe_tree.move(origin, target)
        return f"Successfully moved {source} to {destination}"

    def search_files(
        self, path: str, pattern: str, excludePatterns: list[str] | None = None
    ) -> str:
        policy = self.policy()
        excluded = excludePatterns or ()
        found: list[str] = []

        contains = re.compile(fnmatch.translate(f"*{pattern.lower()}*"))
        exactly = re.compile(fnmatch.translate(pattern))

        def matches(name: str) -> bool:
            return bool(contains.match(name.lower()) or exactly.match(name))

        with self._locate(path, policy=policy) as location:
            if location.rest:
                raise ToolError(f"{path} is not a directory")
            pending = deque([(os.dup(location.folder), location.path, 0)])
            try:
                while pending and len(found) < MAX_LISTED:
                    folder, real, depth = pending.popleft()
                    shown = policy.shown_in(real)
                    try:
                        for entry in safe_tree.entries(folder):
                            if not shown(entry.name):
                                continue
                            if entry.kind == "dir" and any(
                                fnmatch.fnmatch(entry.name, p) for p in excluded
                            ):
                                continue
                            if matches(entry.name):
                                found.append(os.path.join(real, entry.name))
                            if entry.kind == "dir" and depth < safe_tree.MAX_DEPTH:
                                try:
                                    child = safe_open.open_child(folder, entry.name)
                                except OSError:
                                    continue
                                pending.append((child, real / entry.name, depth + 1))
                    finally:
                        os.close(folder)
            finally:
                for folder, _, _ in pending:
                    os.close(folder)
        if len(found) >= MAX_LISTED:
            return "\n".join(found[:MAX_LISTED]) + "\n[more matches not shown]"
        return "\n".join(found) or "No matches found"

    def get_file_info(self, path: str) -> str:
        with self._locate(path) as location:
            info = location.lstat()
            if info is None:
                raise FileNotFoundError(errno.ENOENT, "no such file", str(location.path))

        def when(seconds: float) -> str:
            return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")

        return "\n".join(
            [
                f"size: {info.st_size}",
                f"modified: {when(info.st_mtime)}",
                f"accessed: {when(info.st_atime)}",
                f"isDirectory: {stat.S_ISDIR(info.st_mode)}",
                f"isFile: {stat.S_ISREG(info.st_mode)}",
                f"permissions: {stat.filemode(info.st_mode)}",
            ]
        )

    def list_allowed_directories(self) -> str:
        policy = self.policy()
        readable = [p for p in policy.readable if p not in policy.writable]
        lines = [f"writable: {p}" for p in policy.writable] + [f"read-only: {p}" for p in readable]
        return "\n".join(lines)

    # ---------------------------------------------------------------- as tools

    def tools(self) -> list[Tool]:
        path = _string("A path (relative paths start in your workspace).")
        specs = [
            ("read_text_file", "Read a text file (head / tail: only the first or last lines).",
             _schema(["path"], path=path, head={"type": "integer"}, tail={"type": "integer"})),
            ("read_multiple_files", "Read several text files at once.",
             _schema(["paths"], paths={"type": "array", "items": {"type": "string"}})),
            ("write_file", "Create or overwrite a file with the given content.",
             _schema(["path", "content"], path=path, content=_string("The whole new content."))),
            ("edit_file", "Replace exact text in a file (each oldText must occur once); "
             "returns a diff.",
             _schema(["path", "edits"], path=path, dryRun={"type": "boolean"}, edits={
                 "type": "array",
                 "items": _schema(["oldText", "newText"], oldText=_string("Text to replace."),
                                  newText=_string("Replacement.")),
             })),
            ("create_directory", "Create a directory (and its parents).",
             _schema(["path"], path=path)),
            ("list_directory", "List a directory's entries.", _schema(["path"], path=path)),
            ("directory_tree", "A directory's tree as JSON.", _schema(["path"], path=path)),
            ("move_file", "Move or rename a file or directory.",
             _schema(["source", "destination"], source=path, destination=path)),
            ("search_files", "Find files and directories whose names match a pattern.",
             _schema(["path", "pattern"], path=path, pattern=_string("A name or glob pattern."),
                     excludePatterns={"type": "array", "items": {"type": "string"}})),
            ("get_file_info", "Size, times and permissions of a file or directory.",
             _schema(["path"], path=path)),
            ("list_allowed_directories", "The directories you may read and write.", _schema([])),
        ]  # fmt: skip
        return [
            Tool(ToolSpec(name, description, schema), self._runner(name), "files")
            for name, description, schema in specs
        ]

    def _runner(self, name: str) -> Callable[[dict[str, Any]], Any]:
        method = getattr(self, name)

        async def run(arguments: dict[str, Any]) -> str:
            try:
                return await asyncio.to_thread(method, **arguments)
            except TypeError as exc:
                raise ToolError(f"{name}: {exc}") from None
            except FileNotFoundError as exc:
                raise ToolError(f"{name}: no such file or directory: {exc.filename}") from None
            except OSError as exc:
                raise ToolError(f"{name}: {exc.strerror or exc}") from None

        return run
