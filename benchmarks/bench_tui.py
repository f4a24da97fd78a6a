"""The terminal app under load: 8 agents each streaming 100 text deltas/s for 10 s.

DESIGN §7: updates are batched (≤ 30 repaints/s) so many fast streams stay smooth. This runs
the real app (``MassGenApp``, headless, 200x50) on the real engine: every agent's first-answer
turn streams a 1,000-word Markdown text one word per delta on an absolute schedule (delta *i*
at t0 + i/100 s, so a busy event loop makes the agent catch up instead of lowering the load),
then submits it; the rest of the run (votes, presentation) is the scripted protocol policy.
The deltas go backend → coordinator → event bus → the app's subscription → ``tick()`` →
Markdown widgets, exactly as a run from the CLI does. Measured over the streaming window
(first delta of any agent to the last delta of all):

* repaints/s: ``app.stats["repaints"]`` (ticks that drew something) over the window;
* CPU seconds of the process (``time.process_time()``) over the window: the app, the engine
  and the scripted agents, all in this one process;
* event-to-screen latency: publish of the oldest event a tick drains → end of that tick
  (the app's ``stats["max_latency"]``, reset at the window start; p50/p95 from per-tick
  samples);
* tick duration (drain + draw), the delta events the app received (the subscription merges
  consecutive deltas of one agent only when 64+ events wait: a sign of falling behind;
  nothing is lost),
  and how late the agents' deltas were against their schedule (event-loop stalls).

Scenarios: the target one (200x50: eight agents do not fit side by side, so the app shows
tabs and one agent's column); the same load on a 320-column terminal where all eight columns
are drawn; and the engine alone (no app: a subscriber drains the bus at 30 Hz) as the
baseline the app's cost is measured against.

From the repo root::

    python benchmarks/bench_tui.py [--runs 3] [--seconds 10] [--agents 8] [--rate 100] [--json F]
    python benchmarks/bench_tui.py --profile profile.txt   # needs pyinstrument (PyPI)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from massgen.backends.base import (  # noqa: E402
    Chunk,
    DoneChunk,
    Message,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.config.schema import OrchestratorConfig  # noqa: E402
from massgen.coordination.engine import Coordinator  # noqa: E402
from massgen.coordination.state import AgentSpec  # noqa: E402
from massgen.events import EventBus  # noqa: E402
from massgen.tui.app import MassGenApp  # noqa: E402
from tests.support.scripted import Call, ScriptedBackend  # noqa: E402

QUESTION = "Explain how a city becomes a capital, with examples."
REPAINT_LIMIT = 30.0  # DESIGN §7
CONFIG = OrchestratorConfig(restart_debounce_seconds=0, timeout_seconds=120)

PROSE = (
    "the capital of a country is usually where its government sits and that choice often "
    "follows history trade defence or a compromise between rival regions as with Canberra "
    "Brasilia Ottawa and Washington while Paris London and Rome grew into the role over "
    "centuries"
)
VOCABULARY = PROSE.split()


def markdown_words(count: int, seed: int) -> list[str]:
    """``count`` pieces (one word each, with its trailing space or line breaks) of Markdown
    prose the way models write it: paragraphs of ~60 words, some bold, a bullet list now and
    then. Deterministic for a given seed."""
    pieces: list[str] = []
    for i in range(count):
        word = VOCABULARY[(i * 7 + seed * 13) % len(VOCABULARY)]
        if i % 23 == 5:
            word = f"**{word}**"
        k = i % 120
        if k == 59:
            piece = word + ".\n\n"
        elif 90 <= k < 118 and k % 7 == 6:
            piece = word + "\n- "  # a bullet list: items of ~7 words
        elif k == 119:
            piece = word + ".\n\n"
        else:
            piece = word + " "
        pieces.append(piece)
    return pieces


@dataclass
class Window:
    """The streaming window, marked by the agents themselves."""

    agents: int
    app: MassGenApp | None = None
    start: float | None = None  # time.monotonic()
    end: float | None = None
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    stats_start: dict[str, float] = field(default_factory=dict)
    stats_end: dict[str, float] = field(default_factory=dict)
    done: int = 0
    deltas: int = 0
    lateness: list[float] = field(default_factory=list)  # per delta, seconds behind schedule

    def first_delta(self) -> None:
        if self.start is None:
            self.start, self.cpu_start = time.monotonic(), time.process_time()
            if self.app is not None:
                self.app.stats["max_latency"] = 0.0
                self.stats_start = dict(self.app.stats)

    def agent_done(self) -> None:
        self.done += 1
        if self.done == self.agents:
            self.end, self.cpu_end = time.monotonic(), time.process_time()
            if self.app is not None:
                self.stats_end = dict(self.app.stats)


class PacedBackend(ScriptedBackend):
    """The first call streams ``pieces`` at ``rate`` deltas/s on an absolute schedule, then
    calls ``new_answer``; later calls follow the scripted protocol policy (vote, present)."""

    def __init__(self, name: str, pieces: list[str], rate: float, window: Window) -> None:
        super().__init__(name)
        self.pieces, self.rate, self.window = pieces, rate, window

    async def stream(
        self, messages: list[Message], tools: list[ToolSpec] | None = None
    ) -> AsyncIterator[Chunk]:
        if self.calls:
            async for chunk in super().stream(messages, tools):
                yield chunk
            return
        self.calls.append(Call(list(messages), [t.name for t in tools or ()], []))
        window = self.window
        window.first_delta()
        t0 = time.monotonic()
        for i, piece in enumerate(self.pieces):
            wait = t0 + i / self.rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                window.lateness.append(-wait)
                await asyncio.sleep(0)  # late: catch up, but let the loop breathe
            window.deltas += 1
            yield TextChunk(piece)
        window.agent_done()
        content = f"{self.name}: " + "".join(self.pieces[:40]).strip()
        yield ToolCallChunk(
            ToolCall(id="call_1", name="new_answer", arguments=json.dumps({"content": content}))
        )
        yield UsageChunk(50, len(self.pieces))
        yield DoneChunk("tool_calls")


def paced_team(count: int, seconds: float, rate: float, window: Window) -> list[AgentSpec]:
    n = round(seconds * rate)
    return [
        AgentSpec(id=f"a{i}", backend=PacedBackend(f"a{i}", markdown_words(n, i), rate, window))
        for i in range(1, count + 1)
    ]


class MeasuredApp(MassGenApp):
    """The app, with each tick timed. Nothing else changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticks: list[tuple[float, float, int, float | None]] = []  # start, dur, events, lat
        self.deltas_received = 0  # text_delta events drained (fewer than published if merged)

    async def tick(self) -> None:
        sub = self.subscription
        items = getattr(sub, "_items", None) or ()  # peek at what this tick will drain
        oldest = items[0].ts if items else None
        self.deltas_received += sum(1 for event in items if event.type == "text_delta")
        events = self.stats["events"]
        start = time.monotonic()
        await super().tick()
        duration = time.monotonic() - start
        latency = time.time() - oldest if oldest is not None else None
        self.ticks.append((start, duration, self.stats["events"] - events, latency))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_app(
    agents: int, seconds: float, rate: float, size: tuple[int, int]
) -> dict[str, Any]:
    window = Window(agents)
    app = MeasuredApp(paced_team(agents, seconds, rate, window), CONFIG, question=QUESTION)
    window.app = app
    wall0 = time.monotonic()
    async with app.run_test(headless=True, size=size):
        # Plain sleeps: Pilot.pause() would wait on every widget's message queue, which is
        # itself work under load (hundreds of Markdown blocks).
        while not app.results and time.monotonic() - wall0 < seconds + 60:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        tabs = app.query_one("#agents-area").has_class("-tabs")
        result = app.results[-1] if app.results else None
    # reset at the window start: the worst latency of the streaming window and the rest of
    # the run (votes, presentation), as the app itself measures it
    max_latency = app.stats["max_latency"]
    assert window.start is not None and window.end is not None, "the agents never streamed"
    span = window.end - window.start
    in_window = [t for t in app.ticks if window.start <= t[0] <= window.end]
    drawn = [t for t in in_window if t[2] > 0]
    latencies = [t[3] for t in in_window if t[3] is not None]
    repaints = window.stats_end["repaints"] - window.stats_start["repaints"]
    return {
        "scenario": f"{agents} agents × {rate:g} deltas/s, app {size[0]}x{size[1]}"
        + (" (tabs)" if tabs else " (columns)"),
        "size": list(size),
        "tabs": tabs,
        "run_status": result.status if result else None,
        "window_s": span,
        "deltas_published": window.deltas,
        "delta_rate": window.deltas / span,
        "deltas_received": app.deltas_received,
        "events_total_run": app.stats["events"],
        "repaints": repaints,
        "repaints_per_s": repaints / span,
        "ticks_per_s": len(in_window) / span,
        "cpu_s": window.cpu_end - window.cpu_start,
        "cpu_share": (window.cpu_end - window.cpu_start) / span,
        "max_latency_s": max_latency,
        "latency_p50_s": percentile(latencies, 0.5),
        "latency_p95_s": percentile(latencies, 0.95),
        "latency_first_second_max_s": max(
            (t[3] for t in in_window if t[3] is not None and t[0] < window.start + 1), default=0.0
        ),
        "latency_last_second_max_s": max(
            (t[3] for t in in_window if t[3] is not None and t[0] > window.end - 1), default=0.0
        ),
        "tick_p50_s": percentile([t[1] for t in drawn], 0.5),
        "tick_p95_s": percentile([t[1] for t in drawn], 0.95),
        "tick_max_s": max((t[1] for t in drawn), default=0.0),
        "late_deltas": len(window.lateness),
        "max_lateness_s": max(window.lateness, default=0.0),
    }


async def run_engine_only(agents: int, seconds: float, rate: float) -> dict[str, Any]:
    """The same agents and engine with no app: a subscriber drains the bus at 30 Hz."""
    window = Window(agents)
    bus = EventBus()
    sub = bus.subscribe()
    received = 0

    async def drain() -> None:
        nonlocal received
        while not bus.closed or sub.pending():
            while sub.get_nowait() is not None:
                received += 1
            await asyncio.sleep(1 / 30)

    drainer = asyncio.create_task(drain())
    result = await Coordinator(paced_team(agents, seconds, rate, window), CONFIG, bus).run(QUESTION)
    bus.close()
    await drainer
    assert window.start is not None and window.end is not None
    span = window.end - window.start
    return {
        "scenario": f"{agents} agents × {rate:g} deltas/s, engine only (no app)",
        "run_status": result.status,
        "window_s": span,
        "deltas_published": window.deltas,
        "delta_rate": window.deltas / span,
        "events_total_run": received,
        "cpu_s": window.cpu_end - window.cpu_start,
        "cpu_share": (window.cpu_end - window.cpu_start) / span,
        "late_deltas": len(window.lateness),
        "max_lateness_s": max(window.lateness, default=0.0),
    }


def measure(
    agents: int = 8, seconds: float = 10.0, rate: float = 100.0, wide: bool = True, runs: int = 1
) -> dict[str, Any]:
    scenarios = []
    for _ in range(runs):  # interleaved, so that a noisy moment does not hit one scenario only
        scenarios.append(asyncio.run(run_app(agents, seconds, rate, (200, 50))))
        if wide:
            width = 40 + 35 * agents  # the panel and a 35-cell column per agent
            scenarios.append(asyncio.run(run_app(agents, seconds, rate, (width, 50))))
        scenarios.append(asyncio.run(run_engine_only(agents, seconds, rate)))
    order = {name: i for i, name in enumerate(dict.fromkeys(s["scenario"] for s in scenarios))}
    return {
        "agents": agents,
        "seconds": seconds,
        "rate": rate,
        "cpus": len(os.sched_getaffinity(0)),
        "runs": runs,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "scenarios": sorted(scenarios, key=lambda s: order[s["scenario"]]),  # grouped
    }


def markdown(results: dict[str, Any]) -> str:
    ms = 1000.0
    columns = [
        "Scenario",
        "Window",
        "Deltas published (/s)",
        "Delta events the app got",
        "Repaints/s (≤ 30)",
        "CPU s in window (share of a core)",
        "Event-to-screen latency max / p95 / p50",
        "Tick (drain + draw) p50 / p95 / max",
        "Late deltas (max)",
    ]
    rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for s in results["scenarios"]:
        late = f"{s['late_deltas']} ({s['max_lateness_s'] * ms:.0f} ms)"
        cpu = f"{s['cpu_s']:.2f} s ({s['cpu_share']:.0%})"
        published = f"{s['deltas_published']:,} ({s['delta_rate']:.0f})"
        if "repaints" not in s:
            cells = [s["scenario"], f"{s['window_s']:.2f} s", published, "—", "—", cpu, "—", "—"]
            rows.append("| " + " | ".join([*cells, late]) + " |")
            continue
        verdict = "pass" if s["repaints_per_s"] <= REPAINT_LIMIT + 0.5 else "**MISS**"
        latency = [s["max_latency_s"], s["latency_p95_s"], s["latency_p50_s"]]
        tick = [s["tick_p50_s"], s["tick_p95_s"], s["tick_max_s"]]
        cells = [
            s["scenario"],
            f"{s['window_s']:.2f} s",
            published,
            f"{s['deltas_received']:,}",
            f"{s['repaints_per_s']:.1f} ({verdict})",
            cpu,
            " / ".join(f"{v * ms:.0f}" for v in latency) + " ms",
            " / ".join(f"{v * ms:.0f}" for v in tick) + " ms",
            late,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="text deltas/s per agent")
    parser.add_argument("--runs", type=int, default=1, help="repeat every scenario")
    parser.add_argument("--no-wide", action="store_true", help="skip the all-columns scenario")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    parser.add_argument("--profile", type=Path, help="profile the target scenario (pyinstrument)")
    args = parser.parse_args()
    if args.profile:
        from pyinstrument import Profiler

        with Profiler(async_mode="disabled") as profiler:
            asyncio.run(run_app(args.agents, args.seconds, args.rate, (200, 50)))
        args.profile.write_text(profiler.output_text(unicode=True, show_all=False))
        print(f"profile written to {args.profile}")
        return
    results = measure(args.agents, args.seconds, args.rate, not args.no_wide, args.runs)
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
