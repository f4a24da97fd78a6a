"""File tools on the tool loop, in-process, named and shaped as the reference MCP filesystem
server's (``read_text_file``, ``write_file``, ``edit_file``, ...), so prompts written for it
carry over and no Node is needed.

Every path goes through the agent's current :class:`PathPolicy` (it changes when the agent
becomes the presenter); reads and writes are size-capped; a binary file reads as a short
description; writes replace the file in one step (never through a symlink or a hard link).
"""

from __future__ import annotations

import asyncio
import difflib
import fnmatch
import json
import mimetypes
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from massgen.backends.base import ToolSpec
from massgen.tools.base import Tool, ToolError
from massgen.workspaces.paths import PathPolicy, PathRefused

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


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise ToolError(f"{path} is a directory (use list_directory)")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        data = handle.read(MAX_READ_BYTES)
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


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (a rename: never through a symlink)."""
    data = text.encode("utf-8")
    if len(data) > MAX_WRITE_BYTES:
        raise ToolError(f"refusing to write {len(data):,} bytes (at most {MAX_WRITE_BYTES:,})")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileTools:
    """The file tools of one agent. ``policy()`` is its current view; ``before_write`` is
    told before a file is changed."""

    def __init__(self, policy: Callable[[], PathPolicy], before_write: BeforeWrite | None = None):
        self.policy = policy
        self.before_write = before_write or (lambda path, how: None)

    def _path(self, given: Any, *, write: bool = False) -> Path:
        try:
            if write:
                return self.policy().check_writable_file(str(given))
            return self.policy().check(str(given))
        except PathRefused as exc:
            raise ToolError(f"path refused: {exc}") from None

    def _new_folders(self, target: Path) -> None:
        """Tell ``before_write`` about the outermost folder a write will create."""
        top = target
        while not top.parent.exists():
            top = top.parent
        if top != target:
            self.before_write(top, "created")

    # ---------------------------------------------------------------- the tools

    def read_text_file(self, path: str, head: int | None = None, tail: int | None = None) -> str:
        text = _read_text(self._path(path))
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
                parts.append(f"{given}:\n{_read_text(self._path(given))}")
            except (ToolError, OSError) as exc:
                parts.append(f"{given}: Error - {exc}")
        return "\n---\n".join(parts)

    def write_file(self, path: str, content: str) -> str:
        target = self._path(path, write=True)
        self._new_folders(target)
        self.before_write(target, "changed" if target.exists() else "created")
        _write_atomic(target, content)
        return f"Successfully wrote to {path}"

    def edit_file(self, path: str, edits: list[dict[str, str]], dryRun: bool = False) -> str:
        target = self._path(path, write=True)
        before = _read_text(target)
        after = before
        for index, edit in enumerate(edits, 1):
            old, new = edit.get("oldText", ""), edit.get("newText", "")
            if not old:
                raise ToolError(f"edit {index}: oldText is empty")
            count = after.count(old)
            if count != 1:
                found = "not found" if count == 0 else f"found {count} times; include more context"
                raise ToolError(f"edit {index}: oldText {found}")
            after = after.replace(old, new, 1)
        diff = "".join(
            difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True), path, path
            )
        )
        if not dryRun:
            self.before_write(target, "changed")
            _write_atomic(target, after)
        return diff or "(no change)"

    def create_directory(self, path: str) -> str:
        target = self._path(path, write=True)
        if not target.exists():
            self._new_folders(target)
            self.before_write(target, "created")
        target.mkdir(parents=True, exist_ok=True)
        return f"Successfully created directory {path}"

    def list_directory(self, path: str) -> str:
        target = self._path(path)
        if not target.is_dir():
            raise ToolError(f"{path} is not a directory")
        entries = sorted(target.iterdir(), key=lambda p: p.name)[:MAX_LISTED]
        return "\n".join(f"[{'DIR' if e.is_dir() else 'FILE'}] {e.name}" for e in entries)

    def directory_tree(self, path: str) -> str:
        target = self._path(path)

        def tree(folder: Path, depth: int) -> list[dict[str, Any]]:
            out = []
            for entry in sorted(folder.iterdir(), key=lambda p: p.name)[:MAX_LISTED]:
                node: dict[str, Any] = {
                    "name": entry.name,
                    "type": "directory" if entry.is_dir() else "file",
                }
                if entry.is_dir() and not entry.is_symlink() and depth < TREE_DEPTH:
                    node["children"] = tree(entry, depth + 1)
                out.append(node)
            return out

        return json.dumps(tree(target, 1), indent=2)

    def move_file(self, source: str, destination: str) -> str:
        origin = self._path(source, write=True)
        target = self._path(destination, write=True)
        if target.exists():
            raise ToolError(f"{destination} already exists")
        self.before_write(origin, "moved")
        self._new_folders(target)
        self.before_write(target, "created")
        shutil.move(origin, target)
        return f"Successfully moved {source} to {destination}"

    def search_files(
        self, path: str, pattern: str, excludePatterns: list[str] | None = None
    ) -> str:
        root = self._path(path)
        found: list[str] = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = [
                d for d in dirs if not any(fnmatch.fnmatch(d, p) for p in excludePatterns or ())
            ]
            for name in [*dirs, *files]:
                if fnmatch.fnmatch(name.lower(), f"*{pattern.lower()}*") or fnmatch.fnmatch(
                    name, pattern
                ):
                    found.append(os.path.join(folder, name))
                    if len(found) >= MAX_LISTED:
                        return "\n".join(found) + "\n[more matches not shown]"
        return "\n".join(found) or "No matches found"

    def get_file_info(self, path: str) -> str:
        target = self._path(path)
        info = target.stat()

        def when(seconds: float) -> str:
            return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")

        return "\n".join(
            [
                f"size: {info.st_size}",
                f"modified: {when(info.st_mtime)}",
                f"accessed: {when(info.st_atime)}",
                f"isDirectory: {target.is_dir()}",
                f"isFile: {target.is_file()}",
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
