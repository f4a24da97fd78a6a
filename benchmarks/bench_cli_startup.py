"""CLI start-up: ``massgen --help`` wall time, peak RSS, and what it imports.

- wall time: each command run as a fresh process (the installed ``massgen`` script), from
  spawn to exit, median and max of ``--runs`` runs after one warm-up (hyperfine is not
  required);
- peak RSS: ``ru_maxrss`` of that very child, from ``os.wait4`` (the kernel's high-water mark
  of the process's resident set), spawned from a minimal launcher process (see
  ``_LAUNCHER``);
- imports: a child runs ``massgen.cli.main()`` with ``--help`` and reports ``sys.modules``;
  provider SDKs (openai, anthropic, google.genai), Textual and litellm must be absent.

Run from the repo root: ``python benchmarks/bench_cli_startup.py [--runs 10] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: Must not be imported by ``massgen --help``.
FORBIDDEN = ("openai", "anthropic", "google.genai", "textual", "litellm", "autogen")
#: Reported for information: heavier libraries a run needs but ``--help`` should not.
NOTABLE = ("httpx", "pydantic", "yaml", "rich", "dotenv", "massgen.config", "massgen.backends")

COMMANDS = {
    "massgen --help": ["--help"],
    "massgen --version": ["--version"],
    "massgen --list-examples": ["--list-examples"],
}

_MODULES_PROBE = """
import json, os, sys
argv = json.loads(sys.argv[1])
sys.argv = ["massgen", *argv]
out = os.fdopen(os.dup(1), "w")
devnull = open(os.devnull, "w")
os.dup2(devnull.fileno(), 1)
from massgen.cli import main
try:
    main()
except SystemExit:
    pass
out.write(json.dumps(sorted(sys.modules)))
out.flush()
"""


def massgen_command() -> list[str]:
    script = Path(sys.executable).parent / "massgen"
    return [str(script)] if script.exists() else [sys.executable, "-m", "massgen"]


#: Spawns the command ``runs`` times and reports wall time and ``ru_maxrss`` of each child.
#: It runs in its own small process (``python -S``, stdlib ``os``/``time``/``json`` only)
#: because Linux carries a process's RSS high-water mark across ``execve``, and Python spawns
#: children with vfork/posix_spawn: a child's ``ru_maxrss`` is at least the RSS of whoever
#: spawned it, so spawning from the (bigger) benchmark process would inflate the number.
_LAUNCHER = """
import json, os, sys, time
cmd, runs = json.loads(sys.argv[1]), int(sys.argv[2])
null = os.open(os.devnull, os.O_RDWR)
actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
           (os.POSIX_SPAWN_DUP2, null, 2)]
results = []
for _ in range(runs):
    start = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    results.append((time.perf_counter() - start, usage.ru_maxrss * 1024,
                    os.waitstatus_to_exitcode(status)))
own = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024
print(json.dumps({"runs": results, "launcher_rss": own}))
"""


def run_many(cmd: list[str], runs: int) -> dict[str, Any]:
    """``runs`` fresh processes of ``cmd``: (wall s, peak RSS bytes, exit code) each."""
    done = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, json.dumps(cmd), str(runs)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return json.loads(done.stdout)


def time_command(args: list[str], runs: int) -> dict[str, Any]:
    cmd = [*massgen_command(), *args]
    measured = run_many(cmd, runs + 1)  # the first warms the page cache and .pyc files
    walls, rss, codes = zip(*measured["runs"][1:], strict=True)
    return {
        "runs": runs,
        "wall": {"median": statistics.median(walls), "max": max(walls), "min": min(walls)},
        "peak_rss_bytes": {"median": statistics.median(rss), "max": max(rss)},
        "launcher_rss_bytes": measured["launcher_rss"],  # a floor for peak_rss_bytes
        "exit_codes": sorted(set(codes)),
    }


def imported_modules(args: list[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _MODULES_PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return json.loads(done.stdout)


def is_loaded(modules: list[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def slowest_imports(args: list[str], top: int = 5) -> list[tuple[str, float]]:
    """The slowest imports (``-X importtime``, cumulative seconds) made by the CLI itself or
    directly by the modules it imports (nesting depth 0 and 1)."""
    code = "import sys; from massgen.cli import main; sys.argv = ['massgen', *sys.argv[1:]]\n"
    code += "try:\n    main()\nexcept SystemExit:\n    pass\n"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    found: list[tuple[str, float]] = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        depth = (len(parts[2]) - len(parts[2].lstrip()) - 1) // 2
        if depth <= 1:
            found.append((parts[2].strip(), int(parts[1]) / 1e6))
    ranked = sorted(found, key=lambda kv: -kv[1])
    return [(name, round(seconds, 4)) for name, seconds in ranked[:top]]


#: Commands whose imports are checked.
IMPORT_CHECKED = {"massgen --help": ["--help"], "massgen --list-examples": ["--list-examples"]}


def measure(runs: int = 10) -> dict[str, Any]:
    results: dict[str, Any] = {"commands": {}, "imports": {}}
    for name, args in COMMANDS.items():
        results["commands"][name] = time_command(args, runs)
    for name, args in IMPORT_CHECKED.items():
        modules = imported_modules(args)
        results["imports"][name] = {
            "count": len(modules),
            "forbidden_loaded": [m for m in FORBIDDEN if is_loaded(modules, m)],
            "notable_loaded": [m for m in NOTABLE if is_loaded(modules, m)],
            "top_level": sorted({m.split(".")[0] for m in modules if not m.startswith("_")}),
            "slowest": slowest_imports(args),
        }
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| Command | Wall (median / max) | Peak RSS (median / max) | Exit code |",
        "|---|---|---|---|",
    ]
    for name, r in results["commands"].items():
        wall, rss = r["wall"], r["peak_rss_bytes"]
        lines.append(
            f"| `{name}` | {wall['median'] * 1000:.0f} ms / {wall['max'] * 1000:.0f} ms "
            f"| {rss['median'] / 1e6:.1f} MB / {rss['max'] / 1e6:.1f} MB "
            f"| {', '.join(map(str, r['exit_codes']))} |"
        )
    lines += ["", "| Command | Modules | Forbidden imported | Also imported | Slowest imports |"]
    lines.append("|---|---|---|---|---|")
    for name, mods in results["imports"].items():
        forbidden = ", ".join(mods["forbidden_loaded"]) or "none"
        notable = ", ".join(mods["notable_loaded"]) or "none"
        slowest = ", ".join(f"{n} {s * 1000:.0f} ms" for n, s in mods["slowest"])
        lines.append(f"| `{name}` | {mods['count']} | **{forbidden}** | {notable} | {slowest} |")
    lines += [
        "",
        f"Forbidden: {', '.join(FORBIDDEN)}. Also checked: {', '.join(NOTABLE)}. Slowest "
        "imports: cumulative `-X importtime` of the modules the CLI imports and of their "
        "direct imports (a module's time includes what it imports).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="massgen CLI start-up benchmark")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    results = measure(args.runs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
