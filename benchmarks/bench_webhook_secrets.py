"""What encrypting webhook secrets at rest costs: one seal and one open (Fernet, each
delivery opens once), the key check when a store opens, and ``massgen serve
--rotate-secrets`` (``Store.reseal``) over a SQLite store of ``--tasks`` tasks with webhooks.

    python benchmarks/bench_webhook_secrets.py [--tasks 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cryptography.fernet import Fernet  # noqa: E402

from massgen.server.sealing import Credentials, Sealer  # noqa: E402
from massgen.server.store import Store  # noqa: E402


def _per_call_us(fn, count: int = 2000) -> float:  # type: ignore[no-untyped-def]
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(count):
            fn()
        rounds.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(rounds)


def measure(tasks: int) -> dict[str, float]:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealer = Sealer([old])
    credentials = Credentials("whsec-" + "x" * 32, {"Authorization": "Bearer " + "t" * 40})
    sealed = sealer.seal(credentials)
    result = {
        "seal_us": _per_call_us(lambda: sealer.seal(credentials)),
        "open_us": _per_call_us(lambda: sealer.open(sealed)),
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        store = Store(url, sealer)
        hook = {"url": "https://hooks.example.com/x", "events": ["task.completed"]}
        for i in range(tasks):
            store.create_task("", {"messages": []}, webhook={**hook, "secret": f"s-{i:08d}"})
        store.close()
        started = time.perf_counter()
        Store(url, Sealer([old])).close()
        result["open_store_ms"] = (time.perf_counter() - started) * 1000
        rotating = Store(url, Sealer([new, old]))
        started = time.perf_counter()
        count = rotating.reseal()
        result["reseal_s"] = time.perf_counter() - started
        result["resealed"] = count
        rotating.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(args.tasks)
    print(
        f"seal {result['seal_us']:.1f} µs, open {result['open_us']:.1f} µs; "
        f"opening a keyed store {result['open_store_ms']:.1f} ms; "
        f"--rotate-secrets over {int(result['resealed'])} secrets {result['reseal_s']:.2f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
