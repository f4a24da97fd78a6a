"""The welcome screen, shown until the first run starts: the team (each agent's label,
provider and model; the strategy and its key settings), whether each agent's key and endpoint
answer, and example questions that fill the input when picked.

The check runs in a thread once the first frame is up (it imports httpx and the probe; a
model-list request per agent), so the screen paints at once and says "checking…" until then.
The CLI hands the check in (:mod:`massgen.cli.reach`): the app never imports a backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static

from massgen.tui.text import one_line

if TYPE_CHECKING:
    from massgen.config.schema import MassGenConfig, OrchestratorConfig

#: What the team does, per strategy (the strategy's own words, as everywhere in the app).
HOW = {
    "vote": "Several agents answer in parallel, read each other's answers and vote;\n"
    "the most-voted agent writes the final answer.",
    "debate": "Several agents answer, then revise round by round after reading each other;\n"
    "the largest agreeing group's answer (or the judge's synthesis) is final.",
    "judge": "Several agents answer in layers, each layer reading the one before;\n"
    "the aggregator writes the final answer from the last layer.",
}
KEYS_HINT = "Type a question below and press Enter.  F1: help  ·  Ctrl+Q: quit"


def intro(strategy: str) -> str:
    """The welcome's first lines for a team of ``strategy``."""
    return f"{HOW.get(strategy, HOW['vote'])}\n\n{KEYS_HINT}"


#: Offered when the config names none (``ui.examples``).
EXAMPLES = (
    "What are the trade-offs between SQL and NoSQL databases?",
    "Explain how HTTPS keeps a connection private, step by step.",
    "Which is larger, 9.11 or 9.9? Show your reasoning.",
    "Plan a three-day trip to Kyoto for someone who loves food.",
)
CHECKING = "checking…"

#: A backend's settings -> whether its key and endpoint answer, and a line saying so.
Probe = Callable[[Any], Awaitable[tuple[bool, str]]]


@dataclass(frozen=True)
class Member:
    """One agent as the welcome screen lists it."""

    label: str  # agent1, agent2, ... (the run's anonymous labels, in config order)
    name: str  # the config's id
    provider: str
    model: str
    backend: Any = None  # what the probe is given
    configured_model: str = ""  # the config's model ("": the provider's default)


@dataclass(frozen=True)
class Team:
    """What the welcome screen shows: the agents, the strategy, example questions."""

    members: tuple[Member, ...] = ()
    strategy: str = ""  # the strategy and its settings, as a line
    examples: tuple[str, ...] = EXAMPLES
    probe: Probe | None = field(default=None, compare=False)
    kind: str = "vote"  # the strategy's name

    def preview(self) -> list[dict[str, Any]]:
        """The agents as ``RunStarted`` lists them (``{id, label, model, backend}``): the
        cards shown while the agents are built."""
        return [
            {"id": m.name, "label": m.label, "model": m.configured_model, "backend": m.provider}
            for m in self.members
        ]


def strategy_line(o: OrchestratorConfig) -> str:
    """The strategy and the settings that shape it, in its own words."""
    from massgen.config.schema import DEFAULT_ROUNDS

    rounds = o.max_rounds or DEFAULT_ROUNDS[o.strategy]
    if o.strategy == "debate":
        parts = [f"{rounds} revision rounds", f"agreement {o.consensus_threshold:.0%}"]
        if o.judge:
            parts.append(f"final answer by {o.judge}")
    elif o.strategy == "judge":
        layers = "1 layer" if o.layers == 1 else f"{o.layers} layers"
        parts = [f"aggregated by {o.judge or 'the first agent'}", layers]
    else:
        parts = [f"up to {rounds} rounds", f"{o.max_new_answers_per_agent} answers per agent"]
        if o.final_answer == "reuse":
            parts.append("the winner's answer as it is")
    parts.append(f"timeout {o.timeout_seconds:g} s")
    if o.max_cost_usd is not None:
        parts.append(f"at most ${o.max_cost_usd:g}")
    return f"{o.strategy} · " + " · ".join(parts)


def team_of(config: MassGenConfig, probe: Probe | None = None) -> Team:
    """The welcome screen's view of ``config``, its agents checked with ``probe``."""
    members = tuple(
        Member(
            label=f"agent{i}",
            name=agent.id or f"agent{i}",
            provider=agent.backend.type,
            model=agent.backend.model or "its default model",
            backend=agent.backend,
            configured_model=agent.backend.model or "",
        )
        for i, agent in enumerate(config.agents, 1)
    )
    examples = tuple(config.ui.examples) or EXAMPLES
    return Team(
        members, strategy_line(config.orchestrator), examples, probe, config.orchestrator.strategy
    )


class Welcome(Vertical):
    """Shown while no run has started: the intro, the team, the example questions."""

    DEFAULT_CSS: ClassVar[str] = """
    Welcome {
        width: 1fr;
        height: 1fr;
        align: center middle;
        overflow-y: auto;
    }
    Welcome > Static { width: auto; max-width: 100%; height: auto; margin-bottom: 1; }
    Welcome #welcome-examples-title { margin-bottom: 0; }
    Welcome #welcome-intro { text-align: center; color: $foreground 70%; }
    Welcome #welcome-examples { width: auto; max-width: 100%; height: auto; max-height: 8; }
    """

    class Picked(Message):
        """An example question was picked: it goes into the input."""

        def __init__(self, question: str) -> None:
            super().__init__()
            self.question = question

    def __init__(self, team: Team | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.team = team or Team()
        self.checked: list[tuple[bool | None, str]] = [
            (None, CHECKING if self.team.probe else "") for _ in self.team.members
        ]

    def compose(self) -> ComposeResult:
        yield Static(intro(self.team.kind), id="welcome-intro")
        if self.team.members:
            yield Static(id="welcome-team")
        hint = " · Tab, then Enter (or a click) puts one in the input"
        yield Static(
            Text.assemble(("Example questions", "bold"), hint), id="welcome-examples-title"
        )
        questions = (one_line(q, 200) for q in self.team.examples)
        yield OptionList(*questions, id="welcome-examples")

    def on_mount(self) -> None:
        self.draw_team()
        if self.team.probe is not None and self.team.members:
            self.call_after_refresh(self.start_checks)

    def draw_team(self) -> None:
        if not self.team.members:
            return
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        for column in ("label", "name", "model", "reach"):
            table.add_column(column, no_wrap=column != "reach")
        for member, (ok, line) in zip(self.team.members, self.checked, strict=True):
            style = "green" if ok else "red" if ok is False else "dim"
            table.add_row(
                Text(member.label, style="bold"),
                Text(one_line(member.name, 24)),
                Text(f"{member.provider} · {one_line(member.model, 40)}"),
                Text(line, style=style),
            )
        title = Text(f"The team · {self.team.strategy}", style="bold")
        self.query_one("#welcome-team", Static).update(Group(title, table))

    def start_checks(self) -> None:
        """Check every agent in a thread of its own loop; each row updates as it answers."""
        app = self.app  # looked up here: the thread has no active app
        threading.Thread(
            target=self.run_checks, args=(app,), name="massgen-welcome-checks", daemon=True
        ).start()

    def run_checks(self, app: App[Any]) -> None:
        probe = self.team.probe
        assert probe is not None

        async def one(index: int, member: Member) -> None:
            try:
                result = await probe(member.backend)
            except Exception as exc:  # a check must never take the app down
                result = (False, f"✗ {one_line(type(exc).__name__, 40)}")
            with contextlib.suppress(RuntimeError):  # the app has closed meanwhile
                app.call_from_thread(self.reached, index, result)

        async def every() -> None:
            await asyncio.gather(*(one(i, m) for i, m in enumerate(self.team.members)))

        asyncio.run(every())

    def reached(self, index: int, result: tuple[bool, str]) -> None:
        self.checked[index] = result
        if self.is_attached:
            self.draw_team()

    @on(OptionList.OptionSelected, "#welcome-examples")
    def picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Picked(self.team.examples[event.option_index]))
