"""What a file tool call costs now that it opens what it checked: each path is walked one name
at a time from held directory descriptors (``massgen.workspaces.safe_open``) instead of being
resolved by ``realpath`` and opened again by name.

    python benchmarks/bench_file_tools.py [--calls 2000] [--depth 3] [--files 1000] [--dir D]

Times, per call and in one thread, the tools' methods (no event loop, no tool-loop overhead):
``read_text_file`` and ``write_file`` on a file ``--depth`` folders below the workspace,
``get_file_info``, ``list_directory``, and ``search_files`` over a workspace of ``--files``
files; and, as the floor, a plain ``open().read()`` of the same file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from massgen.tools.files import FileTools  # noqa: E402
from massgen.workspaces.manager import Workspaces  # noqa: E402


def per_call_us(action: Callable[[], object], calls: int) -> str:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            action()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return f"{statistics.median(samples):.1f} µs (median of 5 x {calls} calls)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-files-", dir=args.dir) as tmp:
        workspaces = Workspaces(Path(tmp) / "session")
        workspace = workspaces.workspace("agent1")
        folder = "/".join(f"level{i}" for i in range(args.depth))
        (workspace / folder).mkdir(parents=True, exist_ok=True)
        (workspace / folder / "notes.md").write_text("some notes\n" * 50)
        for index in range(args.files):
            sub = workspace / "tree" / f"pkg{index % 20:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"module_{index:04d}.py").write_text("x = 1\n")
        files = FileTools(lambda: workspaces.policy("agent1"), workspaces.before_write)
        target = f"{folder}/notes.md"
        real = workspace / target
        rows = {
            "open().read() (the floor)": lambda: real.read_bytes(),
            "read_text_file": lambda: files.read_text_file(target),
            "write_file": lambda: files.write_file(f"{folder}/out.md", "new text\n"),
            "get_file_info": lambda: files.get_file_info(target),
            "list_directory": lambda: files.list_directory(folder),
        }
        print(f"File tools, a file {args.depth} folders below the workspace, in {args.dir}")
        print("| Call | Time |\n|---|---|")
        for name, action in rows.items():
            print(f"| {name} | {per_call_us(action, args.calls)} |")
        search = per_call_us(lambda: files.search_files("tree", "module_09"), 10)
        print(f"| search_files over {args.files} files | {search} |")


if __name__ == "__main__":
    main()
