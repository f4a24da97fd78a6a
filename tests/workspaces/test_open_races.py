"""The check-then-open race: an agent flips a name in its workspace between a real folder
and a symlink to the outside (a command of its own, in a loop) while its file tool calls run
in parallel. Whatever the timing, no call reads, lists, writes or snapshots anything outside
the grants: the tools open what was checked (``massgen.workspaces.safe_open``)."""

from __future__ import annotations

import asyncio
import ctypes
import subprocess
import sys
from pathlib import Path

import pytest

from massgen.tools.base import ToolError
from massgen.tools.files import FileTools
from massgen.workspaces.manager import Workspaces
from tests.support.signals import wait_until

SECRET = "SECRET-MARKER-launch-codes"
ROUNDS = 200  # x 8 tool calls, plus snapshots: ~1,600 attempts in a few seconds
DEEP = "/".join(["n"] * 16)  # the deeper below the swapped link, the longer an old check took

#: The agent's command: swap the names of the folder ``d`` and the link ``l`` (to the
#: outside) as fast as it can, each swap one atomic ``renameat2(RENAME_EXCHANGE)``.
FLIPPER = """
import ctypes, os, sys
workspace, stop, started = sys.argv[1:]
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(workspace)
open(started, "w").close()
while not os.path.exists(stop):
    for _ in range(1000):
        if libc.renameat2(-100, b"d", -100, b"l", 2) != 0:
            sys.exit(os.strerror(ctypes.get_errno()))
"""


def test_symlink_swaps_during_parallel_reads_writes_and_snapshots_reach_nothing_outside(
    tmp_path: Path,
):
    if not hasattr(ctypes.CDLL(None), "renameat2"):
        pytest.skip("needs renameat2 (Linux, glibc 2.28 or later) for atomic swaps")
    outside = tmp_path / "outside"
    (outside / DEEP).mkdir(parents=True)
    (outside / DEEP / "x.txt").write_text(SECRET)
    (outside / DEEP / "FOREIGN-NAME.txt").write_text(SECRET)
    before = _tree(outside)
    workspaces = Workspaces(tmp_path / "session")
    workspace = workspaces.workspace("agent1")
    (workspace / "d" / DEEP).mkdir(parents=True)
    (workspace / "d" / DEEP / "x.txt").write_text("inside")
    (workspace / "l").symlink_to(outside)
    files = FileTools(lambda: workspaces.policy("agent1"), workspaces.before_write)
    run = {tool.name: tool.run for tool in files.tools()}

    async def attempts() -> list[object]:
        calls = []
        for index in range(ROUNDS):
            calls += [
                run["read_text_file"]({"path": f"d/{DEEP}/x.txt"}),
                run["read_multiple_files"]({"paths": [f"d/{DEEP}/x.txt"] * 2}),
                run["write_file"]({"path": f"d/{DEEP}/w{index % 7}.txt", "content": "written"}),
                run["edit_file"](
                    {
                        "path": f"d/{DEEP}/x.txt",
                        "edits": [{"oldText": "inside", "newText": "inside"}],
                    }
                ),
                run["create_directory"]({"path": f"d/{DEEP}/made{index % 5}"}),
                run["list_directory"]({"path": f"d/{DEEP}"}),
                run["search_files"]({"path": "d", "pattern": "FOREIGN"}),
                run["get_file_info"]({"path": f"d/{DEEP}/x.txt"}),
            ]
            if index % 10 == 0:
                calls.append(asyncio.to_thread(workspaces.stage, "agent1"))
        return await asyncio.gather(*calls, return_exceptions=True)

    stop, started = tmp_path / "stop", tmp_path / "started"
    flipper = subprocess.Popen(
        [sys.executable, "-c", FLIPPER, str(workspace), str(stop), str(started)]
    )
    try:
        wait_until(started.exists, "the flipper runs", timeout=30)
        results = asyncio.run(attempts())
    finally:
        stop.touch()
        assert flipper.wait(timeout=30) == 0  # it swapped until told to stop

    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, ToolError | OSError) for r in failures), failures[:3]
    outputs = [str(r) for r in results if isinstance(r, str)]
    leaks = [
        o for o in outputs if SECRET in o or "FOREIGN-NAME" in o or f"size: {len(SECRET)}" in o
    ]
    staged = [p for p in workspaces.staging.rglob("*") if p.is_file() and not p.is_symlink()]
    copied = [p for p in staged if p.name == "FOREIGN-NAME.txt" or SECRET in p.read_text()]
    written = sorted(set(_tree(outside)) - set(before))
    print(
        f"{len(results)} attempts, {len(outputs)} succeeded, {len(leaks)} leaked, "
        f"{len(copied)} outside files in snapshots, {len(written)} written outside"
    )
    assert leaks == []
    assert copied == []
    assert written == []
    assert (outside / DEEP / "x.txt").read_text() == SECRET
    assert "inside" in outputs  # reads that raced a swap and won still read the real file


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
