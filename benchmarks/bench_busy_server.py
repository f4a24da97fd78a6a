"""``massgen serve`` past ``--max-concurrency``: N requests sent at once by the openai client
(its default ``max_retries``) to a server with K run slots, against the fake provider. The
server's 429s carry ``Retry-After`` / ``retry-after-ms``; the goal is that every request gets
its answer, in a time near the ideal (the runs back to back on K slots).

Reports: answers, failures, 429s the server sent, wall time, the ideal wall time (from the
median run's duration), and the retries the clients made.

Run from the repo root: ``python benchmarks/bench_busy_server.py [--requests 12] [--slots 2]
[--ttft 0.05] [--retries 3]``.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import openai

from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer
from tests.server.support import serving, team


def _refused(metrics: str) -> int:
    pattern = r'massgen_http_requests_total\{[^}]*status="429"[^}]*\} (\S+)'
    return int(sum(float(value) for value in re.findall(pattern, metrics)))


def measure(requests: int, slots: int, ttft: float, retries: int) -> dict[str, float]:
    with FakeChatServer(ttft=ttft) as provider:
        app = create_app(config=team(provider), max_concurrency=slots, enable_logging=False)
        with serving(app) as base:
            client = openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=retries)
            question = [{"role": "user", "content": "q"}]
            client.chat.completions.create(model="massgen", messages=question)  # warm-up
            alone = time.monotonic()
            client.chat.completions.create(model="massgen", messages=question)
            run = time.monotonic() - alone
            before = _refused(httpx.get(f"{base}/metrics").text)

            def one(i: int) -> float | None:
                started = time.monotonic()
                try:
                    client.chat.completions.create(
                        model="massgen", messages=[{"role": "user", "content": f"q{i}"}]
                    )
                except openai.APIError:
                    return None
                return time.monotonic() - started

            started = time.monotonic()
            with ThreadPoolExecutor(requests) as pool:
                times = list(pool.map(one, range(requests)))
            wall = time.monotonic() - started
            refused = _refused(httpx.get(f"{base}/metrics").text) - before
    answered = [t for t in times if t is not None]
    return {
        "answered": len(answered),
        "failed": requests - len(answered),
        "refused_429": refused,
        "wall_s": round(wall, 2),
        "ideal_wall_s": round(math.ceil(requests / slots) * run, 2),
        "run_s": round(run, 2),
        "median_request_s": round(statistics.median(answered), 2) if answered else math.nan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--ttft", type=float, default=0.05)
    parser.add_argument("--retries", type=int, default=3)
    args = parser.parse_args()
    result = measure(args.requests, args.slots, args.ttft, args.retries)
    for key, value in result.items():
        print(f"{key:>18}: {value}")
    if result["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
