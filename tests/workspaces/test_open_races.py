"""The check-then-open race: an agent flips a folder of its workspace between a real folder
and a symlink to the outside (a command of its own, in a loop) while its file tool calls run
in parallel. Whatever the timing, no call reads, lists, writes or snapshots anything outside
the grants: the tools open what was checked (``massgen.workspaces.safe_open``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from massgen.tools.base import ToolError
from massgen.tools.files import FileTools
from massgen.workspaces.manager import Workspaces
from tests.support.signals import wait_until

SECRET = "SECRET-MARKER-launch-codes"
ROUNDS = 300  # x 8 tool calls, plus snapshots: ~2,500 attempts in a few seconds

#: The agent's command: ``d`` is a real folder, then missing and a link to the outside in turn.
FLIPPER = """
import os, shutil, sys, time
workspace, outside, stop, started = sys.argv[1:]
os.chdir(workspace)
open(started, "w").close()
while not os.path.exists(stop):
    try:
        os.rename("d", "d.real")
        for _ in range(5):
            os.symlink(outside, "d")
            os.unlink("d")
    except OSError:  # a tool made a folder d meanwhile
        pass
    while os.path.lexists("d.real"):
        try:
            if os.path.islink("d"):
                os.unlink("d")
            elif os.path.isdir("d"):
                shutil.rmtree("d")
            os.rename("d.real", "d")
            break
        except OSError:
            continue
    time.sleep(0.001)  # a real folder about half of the time
"""


def test_symlink_swaps_during_parallel_reads_writes_and_snapshots_reach_nothing_outside(
    tmp_path: Path,
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text(SECRET)
    (outside / "FOREIGN-NAME.txt").write_text(SECRET)
    workspaces = Workspaces(tmp_path / "session")
    workspace = workspaces.workspace("agent1")
    (workspace / "d").mkdir()
    (workspace / "d" / "x.txt").write_text("inside")
    files = FileTools(lambda: workspaces.policy("agent1"), workspaces.before_write)
    run = {tool.name: tool.run for tool in files.tools()}

    async def attempts() -> list[object]:
        calls = []
        for index in range(ROUNDS):
            calls += [
                run["read_text_file"]({"path": "d/x.txt"}),
                run["read_multiple_files"]({"paths": ["d/x.txt", "d/x.txt"]}),
                run["write_file"]({"path": f"d/w{index % 7}.txt", "content": "written"}),
                run["edit_file"](
                    {"path": "d/x.txt", "edits": [{"oldText": "inside", "newText": "inside"}]}
                ),
                run["create_directory"]({"path": f"d/made{index % 5}"}),
                run["list_directory"]({"path": "d"}),
                run["search_files"]({"path": "d", "pattern": "FOREIGN"}),
                run["get_file_info"]({"path": "d/x.txt"}),
            ]
            if index % 10 == 0:
                calls.append(asyncio.to_thread(workspaces.stage, "agent1"))
        return await asyncio.gather(*calls, return_exceptions=True)

    stop, started = tmp_path / "stop", tmp_path / "started"
    flipper = subprocess.Popen(
        [sys.executable, "-c", FLIPPER, str(workspace), str(outside), str(stop), str(started)]
    )
    try:
        wait_until(started.exists, "the flipper runs", timeout=30)
        results = asyncio.run(attempts())
    finally:
        stop.touch()
        flipper.wait(timeout=30)

    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, ToolError | OSError) for r in failures), failures[:3]
    outputs = [str(r) for r in results if isinstance(r, str)]
    leaks = [
        o for o in outputs if SECRET in o or "FOREIGN-NAME" in o or f"size: {len(SECRET)}" in o
    ]
    staged = [p for p in workspaces.staging.rglob("*") if p.is_file() and not p.is_symlink()]
    copied = [p for p in staged if p.name == "FOREIGN-NAME.txt" or SECRET in p.read_text()]
    written = sorted(p.name for p in outside.iterdir())
    print(
        f"{len(results)} attempts, {len(outputs)} succeeded, {len(leaks)} leaked, "
        f"{len(copied)} outside files in snapshots, {len(written) - 2} written outside"
    )
    assert leaks == []
    assert copied == []
    assert written == ["FOREIGN-NAME.txt", "x.txt"]
    assert (outside / "x.txt").read_text() == SECRET
    assert len(outputs) > len(results) // 4  # the race was run, not just refused throughout
