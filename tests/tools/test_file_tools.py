"""The in-process file tools, as an agent uses them on its workspace and the user's files:
named and shaped like the reference MCP filesystem server's, with capped reads and writes,
binary files described rather than dumped, exact-match edits that return a diff."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from massgen.tools import files as file_tools
from massgen.tools.base import ToolError
from massgen.tools.files import FileTools
from massgen.workspaces.manager import Grant, Workspaces
from massgen.workspaces.paths import real

REFERENCE_NAMES = {
    "read_text_file",
    "read_multiple_files",
    "write_file",
    "edit_file",
    "create_directory",
    "list_directory",
    "directory_tree",
    "move_file",
    "search_files",
    "get_file_info",
    "list_allowed_directories",
}


@pytest.fixture
def setup(tmp_path: Path):
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "core.py").write_text("def add(a, b):\n    return a - b\n")
    (project / "pkg" / "util.py").write_text("X = 1\nX = 1\n")
    (project / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    workspaces = Workspaces(tmp_path / "run", [Grant(real(project))])
    files = FileTools(lambda: workspaces.policy("agent1"), workspaces.before_write)
    return project, workspaces, files


def run(files: FileTools, name: str, **arguments) -> str:
    tool = {t.name: t for t in files.tools()}[name]
    return asyncio.run(tool.run(arguments))


def test_the_tools_carry_the_reference_servers_names_and_schemas(setup):
    _, _, files = setup
    specs = {t.name: t.spec for t in files.tools()}
    assert set(specs) == REFERENCE_NAMES
    assert specs["edit_file"].parameters["properties"]["edits"]["items"]["required"] == [
        "oldText",
        "newText",
    ]
    assert all(t.source == "files" for t in files.tools())


def test_read_whole_head_and_tail(setup):
    project, _, files = setup
    path = str(project / "pkg" / "core.py")
    assert run(files, "read_text_file", path=path) == "def add(a, b):\n    return a - b\n"
    assert run(files, "read_text_file", path=path, head=1) == "def add(a, b):\n"
    assert run(files, "read_text_file", path=path, tail=1) == "    return a - b\n"


def test_a_binary_file_reads_as_a_short_description(setup):
    project, _, files = setup
    text = run(files, "read_text_file", path=str(project / "logo.png"))
    assert text.startswith("[logo.png: image/png, 216 bytes; not text")
    assert "\x00" not in text


def test_a_big_file_is_cut_with_a_note(setup, monkeypatch):
    project, _, files = setup
    monkeypatch.setattr(file_tools, "MAX_READ_BYTES", 1000)
    (project / "big.txt").write_text("é" * 5000)  # two bytes each: the cut is mid-character
    text = run(files, "read_text_file", path=str(project / "big.txt"))
    assert text.startswith("é" * 500)
    assert "[truncated: the file has 10,000 bytes; the first 1,000 shown]" in text


def test_a_write_over_the_cap_is_refused_and_writes_nothing(setup, monkeypatch):
    _, workspaces, files = setup
    monkeypatch.setattr(file_tools, "MAX_WRITE_BYTES", 100)
    with pytest.raises(ToolError, match="refusing to write 101 bytes"):
        run(files, "write_file", path="big.txt", content="x" * 101)
    assert not (workspaces.workspace("agent1") / "big.txt").exists()


def test_read_multiple_files_reports_each_failure_in_place(setup):
    project, _, files = setup
    text = run(
        files,
        "read_multiple_files",
        paths=[str(project / "pkg" / "util.py"), "/etc/passwd", "missing.txt"],
    )
    first, second, third = text.split("\n---\n")
    assert first.endswith("X = 1\nX = 1\n")
    assert "/etc/passwd: Error - path refused" in second
    assert third.startswith("missing.txt: Error")


def test_edit_file_replaces_exact_text_and_returns_a_diff(setup):
    _, workspaces, files = setup
    run(files, "write_file", path="core.py", content="def add(a, b):\n    return a - b\n")
    diff = run(
        files,
        "edit_file",
        path="core.py",
        edits=[{"oldText": "return a - b", "newText": "return a + b"}],
    )
    assert "-    return a - b\n+    return a + b" in diff
    assert (workspaces.workspace("agent1") / "core.py").read_text().endswith("a + b\n")
    preview = run(
        files,
        "edit_file",
        path="core.py",
        edits=[{"oldText": "add", "newText": "plus"}],
        dryRun=True,
    )
    assert "+def plus(a, b):" in preview
    assert "def add" in (workspaces.workspace("agent1") / "core.py").read_text()


@pytest.mark.parametrize(
    ("old", "error"),
    [("X = 1", "found 2 times; include more context"), ("Y = 2", "not found"), ("", "empty")],
)
def test_edit_file_refuses_ambiguous_or_missing_text(setup, old, error):
    _, workspaces, files = setup
    run(files, "write_file", path="util.py", content="X = 1\nX = 1\n")
    with pytest.raises(ToolError, match=error):
        run(files, "edit_file", path="util.py", edits=[{"oldText": old, "newText": "Z"}])
    assert (workspaces.workspace("agent1") / "util.py").read_text() == "X = 1\nX = 1\n"


def test_listing_tree_search_and_info(setup):
    project, _, files = setup
    assert run(files, "list_directory", path=str(project)) == ("[FILE] logo.png\n[DIR] pkg")
    tree = json.loads(run(files, "directory_tree", path=str(project)))
    assert tree[1] == {
        "name": "pkg",
        "type": "directory",
        "children": [{"name": "core.py", "type": "file"}, {"name": "util.py", "type": "file"}],
    }
    found = run(files, "search_files", path=str(project), pattern="*.py").splitlines()
    assert sorted(Path(f).name for f in found) == ["core.py", "util.py"]
    assert run(files, "search_files", path=str(project), pattern="nothing") == "No matches found"
    info = run(files, "get_file_info", path=str(project / "pkg" / "core.py"))
    assert "size: 32" in info and "isFile: True" in info
    allowed = run(files, "list_allowed_directories")
    assert f"read-only: {real(project)}" in allowed and "writable: " in allowed


def test_create_and_move_inside_the_workspace(setup):
    _, workspaces, files = setup
    run(files, "create_directory", path="a/b")
    run(files, "write_file", path="a/b/c.txt", content="c")
    run(files, "move_file", source="a/b/c.txt", destination="a/d.txt")
    workspace = workspaces.workspace("agent1")
    assert (workspace / "a" / "d.txt").read_text() == "c"
    with pytest.raises(ToolError, match="already exists"):
        run(files, "move_file", source="a/d.txt", destination="a/d.txt")
    with pytest.raises(ToolError, match="no such file"):
        run(files, "read_text_file", path="a/b/c.txt")


def test_a_fifo_is_an_error_at_once_and_snapshots_leave_it_out(setup):
    """Opening a named pipe for reading would wait for a writer forever."""
    _, workspaces, files = setup
    workspace = workspaces.workspace("agent1")
    os.mkfifo(workspace / "pipe")
    (workspace / "notes.md").write_text("notes")
    with pytest.raises(ToolError, match="not a regular file"):
        run(files, "read_text_file", path="pipe")
    assert "pipe: Error - " in run(files, "read_multiple_files", paths=["pipe", "notes.md"])
    snapshot = workspaces.snapshot("agent1", "agent1.1")
    assert snapshot is not None and workspaces.files_of(snapshot) == ["notes.md"]


def test_a_move_across_file_systems_copies_then_removes(tmp_path):
    """The presenter moves its work from the workspace into a write grant on another file
    system (a tmpfs): a rename cannot, so the tool copies (following no link) and removes."""
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a second file system at /dev/shm")
    output = Path(tempfile.mkdtemp(dir=other))
    try:
        workspaces = Workspaces(tmp_path / "run", [Grant(real(output), write=True)])
        files = FileTools(lambda: workspaces.policy("agent1", presenting=True))
        run(files, "write_file", path="site/index.html", content="<h1>Made</h1>")
        (workspaces.workspace("agent1") / "site" / "link").symlink_to("/etc/passwd")
        run(files, "move_file", source="site", destination=str(output / "site"))
        assert (output / "site" / "index.html").read_text() == "<h1>Made</h1>"
        assert os.readlink(output / "site" / "link") == "/etc/passwd"  # a link, not a copy
        assert not (workspaces.workspace("agent1") / "site").exists()
    finally:
        shutil.rmtree(output)
