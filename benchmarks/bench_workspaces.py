"""What snapshotting an answer's workspace costs, and the alternatives it was chosen over.

    python benchmarks/bench_workspaces.py [--files 1000] [--size 4096] [--repeat 7] [--dir D]

(``--dir``: where the workspaces go; sessions normally live in the user's data folder, so the
default is the repository's own file system rather than /tmp.)

A workspace of N files (in 20 folders, ``--size`` bytes each, a few symlinks) is snapshotted
the way :meth:`Workspaces.snapshot` does it — a real copy through directory descriptors that
follows no link (``safe_tree.copy_into``, links kept as links) — and, for comparison, as a
tree of hard links and as copy-on-write clones (``cp -a --reflink=always``), where the file
system supports them. Hard links are measured but
not used: an agent's in-place write (a command's ``>>``, an editor saving in place) would
change the snapshot that peers already judged. Reflinks would be the best of both, but ext4,
the usual Linux file system, has none.

Also: a whole 2-agent run in which one agent's answer carries the N-file workspace, against
the same run without files, so the cost shows as it adds to a coordination, and the longest
pause of the event loop in it (what the other agents' streams would feel: the copy is staged
in a thread, the snapshot itself is a rename).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from massgen.config.schema import ContextPathConfig, OrchestratorConfig  # noqa: E402
from massgen.coordination.coordinator import Coordinator  # noqa: E402
from massgen.coordination.state import AgentSpec  # noqa: E402
from massgen.events import EventBus  # noqa: E402
from massgen.workspaces.manager import Workspaces  # noqa: E402
from tests.support.scripted import ScriptedBackend, answer, vote  # noqa: E402


def make_workspace(folder: Path, files: int, size: int) -> None:
    payload = os.urandom(size)
    for index in range(files):
        sub = folder / f"pkg{index % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"module_{index:04d}.py").write_bytes(payload)
    for index in range(5):
        (folder / f"link{index}").symlink_to(f"pkg{index:02d}")


def hardlink_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True, copy_function=os.link)


def reflink_supported(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_bytes(b"x")
    done = subprocess.run(
        ["cp", "--reflink=always", str(probe), str(folder / "probe2")], capture_output=True
    )
    return done.returncode == 0


def time_ms(action, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        out.append((time.perf_counter() - started) * 1000)
    return out


def snapshot_costs(files: int, size: int, repeat: int, where: Path) -> dict[str, str]:
    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ws-", dir=where) as tmp:
        root = Path(tmp)
        workspaces = Workspaces(root / "session")
        make_workspace(workspaces.workspace("agent1"), files, size)
        counter = iter(range(1, 10_000))
        copies = time_ms(lambda: workspaces.snapshot("agent1", f"agent1.{next(counter)}"), repeat)
        links_dir = root / "links"
        links_dir.mkdir()
        links = time_ms(
            lambda: hardlink_tree(
                workspaces.workspace("agent1"), links_dir / str(time.perf_counter_ns())
            ),
            repeat,
        )
        results["copy (used)"] = _fmt(copies)
        results["hard links (not used: in-place writes would change the snapshot)"] = _fmt(links)
        if reflink_supported(root):
            target = root / "reflinks"
            target.mkdir()
            reflinks = time_ms(
                lambda: subprocess.run(
                    [
                        "cp",
                        "-a",
                        "--reflink=always",
                        str(workspaces.workspace("agent1")),
                        str(target / str(time.perf_counter_ns())),
                    ],
                    check=True,
                ),
                repeat,
            )
            results["reflink clones (cp --reflink)"] = _fmt(reflinks)
        else:
            results["reflink clones (cp --reflink)"] = "not supported on this file system"
    return results


async def _run(files: int, size: int, with_files: bool, where: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-run-", dir=where) as tmp:
        root = Path(tmp)
        project = root / "project"
        project.mkdir()
        config = OrchestratorConfig(final_answer="reuse")
        if with_files:
            config = OrchestratorConfig(
                final_answer="reuse", context_paths=[ContextPathConfig(path=str(project))]
            )
            workspace = root / "session" / "workspaces" / "agent1"
            make_workspace(workspace, files, size)  # as if the agent had written them
        agents = [
            AgentSpec("a1", ScriptedBackend("a1", [answer("a"), vote("agent1")])),
            AgentSpec("a2", ScriptedBackend("a2", [answer("b"), vote("agent1")])),
        ]
        coordinator = Coordinator(agents, config, EventBus(), workspace_root=root / "session")
        pauses: list[float] = []
        last = [time.perf_counter()]

        async def ticker() -> None:  # what another agent's stream would feel
            while True:
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                pauses.append((now - last[0]) * 1000)
                last[0] = now

        watching = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        started = last[0] = time.perf_counter()
        await coordinator.run("q")
        ended = time.perf_counter()
        pauses.append((ended - last[0]) * 1000)  # the gap the run ended in
        watching.cancel()
        return (ended - started) * 1000, max(pauses)


def run_costs(files: int, size: int, repeat: int, where: Path) -> dict[str, str]:
    plain = [asyncio.run(_run(files, size, False, where)) for _ in range(repeat)]
    with_files = [asyncio.run(_run(files, size, True, where)) for _ in range(repeat)]
    added = statistics.median(w for w, _ in with_files) - statistics.median(w for w, _ in plain)
    return {
        "2-agent run, no files": _fmt([w for w, _ in plain]),
        f"2-agent run, one answer with {files} files": _fmt([w for w, _ in with_files]),
        "added by the snapshot (median difference)": f"{added:.1f} ms",
        "longest event-loop pause, no files": _fmt([p for _, p in plain]),
        f"longest event-loop pause, one answer with {files} files": _fmt(
            [p for _, p in with_files]
        ),
    }


def _fmt(values: list[float]) -> str:
    median, most = statistics.median(values), max(values)
    return f"{median:.1f} ms median, {most:.1f} ms max ({len(values)} runs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args()
    print(f"Snapshot of a {args.files}-file workspace ({args.size} bytes each) in {args.dir}")
    print("| Method | Time |\n|---|---|")
    for name, value in snapshot_costs(args.files, args.size, args.repeat, args.dir).items():
        print(f"| {name} | {value} |")
    print("\n| Run | Wall |\n|---|---|")
    for name, value in run_costs(args.files, args.size, args.repeat, args.dir).items():
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
