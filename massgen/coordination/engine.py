"""The coordination engine, strategy ``vote`` (docs/architecture.md, "Strategies").

One :class:`Coordinator` runs one question. Agent turns run as tasks; every turn ends in an
outcome (an answer, a vote, a failure) that the engine's loop applies to the state one at a
time, so the rules below are plain sequential code:

- first answers are independent: every agent's first turn sees no peer answer and is never
  interrupted; answered agents wait until all live agents have one (or a timeout passes);
- a new answer clears every vote and restarts the other agents (in-flight turns cancelled,
  their HTTP requests closed, unless ``restart_policy: finish``); restarts caused by answers
  arriving close together are debounced into one;
- the run ends when every live agent holds a vote on the current answer set; the most-voted
  answer wins (tie: the earliest answer) and its author presents the final answer.

The engine publishes events and never imports a UI.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from massgen.backends.base import (
    AgentTurn,
    Message,
    ProviderToolChunk,
    ReasoningChunk,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.backends.errors import BackendError
from massgen.backends.pricing import cost_usd
from massgen.backends.retry import RetryPolicy, stream_with_retries
from massgen.config.schema import OrchestratorConfig
from massgen.coordination import budget, modes, planning, prompts, workflow
from massgen.coordination.files import RunFiles, plan_files
from massgen.coordination.state import AgentSpec, AgentState, Answer, Usage, Vote
from massgen.errors import describe
from massgen.events import (
    AgentAbstained,
    AgentCancelled,
    AgentFailed,
    AgentNotice,
    AgentRestarted,
    AgentStatusChanged,
    AgentTurnStarted,
    AnswerSubmitted,
    ErrorEvent,
    Event,
    EventBus,
    FilesChanged,
    FinalAnswer,
    FinalAnswerDelta,
    InvalidAction,
    ReasoningDelta,
    RunFinished,
    RunStarted,
    StreamRetry,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    VoteCast,
    VotesCleared,
    WinnerSelected,
    WorkflowModeChanged,
)
from massgen.events import Usage as UsageEvent
from massgen.images import Image
from massgen.terminal import clean_text
from massgen.tools.base import Tool, ToolLimits, ToolResult, close_tools, run_call
from massgen.tools.mcp import MCPHub

MAX_ATTEMPTS_PER_TURN = 3


def _rounded(weight: float) -> float | int:
    """A tally's value: a whole number of votes as an int, a weighted sum to 4 places."""
    value = round(weight, 4)
    return int(value) if value == int(value) else value


@dataclass
class RunResult:
    """What a run produced. ``status``: ok, timeout, budget, failed or cancelled."""

    run_id: str
    question: str
    status: str
    final_answer: str | None
    winner: str | None  # agent id
    winner_label: str | None  # agent label, e.g. "agent2"
    answer_label: str | None  # versioned label of the winning answer, e.g. "agent2.1"
    answers: list[Answer]
    votes: list[Vote]
    tally: dict[str, int]
    is_tie: bool
    usage: dict[str, Usage]  # per agent id
    total_usage: Usage
    duration_s: float
    labels: dict[str, str]  # agent id -> label
    error: str | None = None
    #: the user's files the final presenter created or changed: ``{path, how}`` each
    files_changed: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# ----------------------------------------------------------------------- turn outcomes


@dataclass
class _Outcome:
    agent: AgentState
    turn_id: int
    answer_set: int  # the answer-set version the turn saw
    action: workflow.Action | None = None
    error: str | None = None
    error_type: str = ""


@dataclass
class _Tick:
    """Wakes the loop when a timer (first-answer wait, restart debounce) expires."""


@dataclass
class _Winner:
    label: str
    answer: Answer
    tally: dict[str, float]
    is_tie: bool
    reason: str = "votes"


@dataclass
class _TurnContext:
    """Per-turn bookkeeping of streamed output."""

    text: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)


class Coordinator:
    """Runs one coordination over ``agents``; reusable for follow-up questions."""

    def __init__(
        self,
        agents: Sequence[AgentSpec],
        config: OrchestratorConfig | None = None,
        bus: EventBus | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        workspace_root: Path | None = None,
    ) -> None:
        """``workspace_root``: where a run with files keeps its workspaces and snapshots (the
        session directory; a temporary one, removed after the run, by default)."""
        if not agents:
            raise ValueError("a coordination needs at least one agent")
        self.specs = list(agents)
        self.config = config or OrchestratorConfig()
        self.bus = bus or EventBus()
        self.retry_policy = retry_policy
        self.workspace_root = workspace_root
        self.files_plan = plan_files(self.config)  # checked now: a bad path is a config error
        budget.check_prices(self.specs, self.config)
        self._mcp: tuple[MCPHub, list[tuple[list[str], str]]] | None = None

    async def prepare(self) -> None:
        """Start the next run's MCP servers now, in the background, and check the tool
        names the config gives them: a name a server does not have is a
        :class:`ConfigurationError` before anything is recorded. ``run`` does this itself
        when it has not been done; only servers whose entries name tools are waited for."""
        if self._mcp is not None:
            return
        held: list[tuple[list[str], str]] = []  # notices, until the run can publish them
        hub = MCPHub(lambda agent_ids, text: held.append((agent_ids, text)))
        for index, spec in enumerate(self.specs):
            for number, server in enumerate(spec.mcp_servers):
                where = f"agents[{index}] ({spec.id}): mcp_servers[{number}] ({server.name})"
                hub.add(spec.id, server, where)
        hub.start()
        try:
            await hub.check_tool_names()
        except BaseException:
            await hub.close()
            raise
        self._mcp = (hub, held)

    async def take_mcp(self) -> tuple[MCPHub, list[tuple[list[str], str]]]:
        """The prepared MCP hub and its notices so far, for the run about to start."""
        await self.prepare()
        assert self._mcp is not None
        prepared, self._mcp = self._mcp, None
        return prepared

    # ------------------------------------------------------------------ public entry

    async def run(
        self, question: str, history: prompts.History = (), images: Sequence[Image] = ()
    ) -> RunResult:
        """Coordinate ``question`` (with earlier ``(question, final answer)`` turns as
        ``history``, and ``images`` attached to it) and return the result. Never raises for
        agent failures or timeouts: they are reported in the result and as events."""
        history = tuple((clean_text(q), clean_text(a)) for q, a in history)
        run = run_class(self.config.strategy)(self, clean_text(question), history, tuple(images))
        return await run.execute()


def run_class(strategy: str) -> type[_Run]:
    """The run of a strategy: vote is this module's; the others subclass it."""
    if strategy == "debate":
        from massgen.coordination.debate import DebateRun

        return DebateRun
    if strategy == "judge":
        from massgen.coordination.judge import JudgeRun

        return JudgeRun
    return _Run


class _Run:
    """The state and loop of one coordination."""

    def __init__(
        self,
        owner: Coordinator,
        question: str,
        history: prompts.History,
        images: tuple[Image, ...] = (),
    ) -> None:
        self.cfg = owner.config
        self.bus = owner.bus
        self.question = question
        self.history = history
        self.images = images
        self.run_id = uuid.uuid4().hex[:12]
        if not self.bus.run_id:
            self.bus.run_id = self.run_id
        self.run_id = self.bus.run_id
        if self.bus.redact is None:
            from massgen.redaction import Redactor, backend_secrets, secrets_from_env

            backends = [spec.backend.config for spec in owner.specs]
            keys = [spec.backend.api_key or "" for spec in owner.specs]
            redactor = Redactor([*secrets_from_env(), *backend_secrets(backends), *keys])
            if redactor.secrets:
                self.bus.redact = redactor
        self.agents = [
            AgentState(
                spec=spec,
                label=f"agent{i}",
                mode=modes.first_mode(spec.backend.config.workflow_mode, spec.backend),
                auto_mode=spec.backend.config.workflow_mode == "auto",
            )
            for i, spec in enumerate(owner.specs, 1)
        ]
        self.by_label = {a.label: a for a in self.agents}
        self.answers: list[Answer] = []
        self.answer_set = 0  # bumped on every new answer
        self.round = 1
        self.queue: asyncio.Queue[_Outcome | _Tick] = asyncio.Queue()
        self.turn_ids = itertools.count(1)
        self.started = time.monotonic()
        self.first_answer_deadline = self.started + self.cfg.first_answer_timeout_seconds
        self.restart_not_before = 0.0
        self.timers: list[asyncio.TimerHandle] = []
        self.stale_tasks: set[asyncio.Task] = set()
        self.retry_policy = owner.retry_policy
        self.owner = owner
        self.hub = MCPHub()  # the run's own, from the coordinator, once it executes
        self.own_tools: dict[str, dict[str, Tool]] = {}  # agent id -> its tools, once known
        self.planning = self.cfg.coordination.enable_planning_mode
        self.plans: dict[str, planning.Plan] = {}  # agent id -> its current turn's plan
        self.tool_limits = ToolLimits(
            calls_per_turn=self.cfg.max_tool_calls_per_turn,
            timeout_s=self.cfg.tool_timeout_seconds,
            result_chars=self.cfg.tool_result_max_chars,
        )
        plan = owner.files_plan
        self.run_files = RunFiles(plan, self.cfg, owner.workspace_root) if plan else None
        self.files = self.run_files.workspaces if self.run_files else None
        self.command_problem = plan.command_problem if plan else None
        self.budget = budget.Budget.for_run(self.cfg, self.agents, self.emit)
        self.best_scores: dict[str, float] = {}  # answer label -> the most votes it held
        self.ending = "ok"  # why the coordination ended: ok, budget or failed (end_status)

    # ------------------------------------------------------------------ events

    def emit(self, event: Event) -> None:
        self.bus.publish(event)

    def set_status(self, agent: AgentState, status: str) -> None:
        if agent.status != status:
            agent.status = status
            self.emit(AgentStatusChanged(agent_id=agent.id, turn=agent.turns, status=status))

    # ------------------------------------------------------------------ the run

    async def execute(self) -> RunResult:
        try:
            self.hub, early_notices = await self.owner.take_mcp()
        except BaseException:  # a tool name a server does not have: nothing has started
            await self.release()
            raise
        self.hub.notice = self.mcp_notice
        self.emit(
            RunStarted(
                question=self.question,
                strategy=self.cfg.strategy,
                options=self.options(),
                budget=self.budget.describe(),
                attachments=[image.describe() for image in self.images],
                agents=[
                    {
                        "id": a.id,
                        "label": a.label,
                        "model": a.spec.backend.model,
                        "backend": a.spec.backend.type,
                    }
                    for a in self.agents
                ],
            )
        )
        if self.images:
            for agent in self.agents:
                if not agent.spec.backend.supports_images:
                    self.emit(
                        AgentNotice(
                            agent_id=agent.id,
                            message=f"{agent.spec.backend.model or agent.spec.backend.type} "
                            f"cannot see images: told that {len(self.images)} are attached",
                        )
                    )
        if self.command_problem:
            self.emit(AgentNotice(message=self.command_problem))
        for agent_ids, text in early_notices:
            self.mcp_notice(agent_ids, text)
        status, error = "ok", None
        winner: _Winner | None = None
        final: str | None = None
        try:
            async with asyncio.timeout(self.cfg.timeout_seconds):
                await self.coordinate()
                status, error = self.end_status()
                winner = self.select_winner(fallback=status != "ok")
                if status == "failed" and not self.cfg.fallback_to_best:
                    winner = None
                if winner is not None:
                    final = await self.present(winner)
                    if status == "ok":  # the run's cap may have refused the final answer
                        status, error = self.end_status()
        except TimeoutError:
            status = "timeout"
            await self.cancel_all("run timed out")
            if winner is None:
                winner = self.select_winner(fallback=True)
                if winner is not None:
                    self.announce_winner(winner)
            if winner is not None:
                final = winner.answer.content
                self.announce_final(winner, final, presented=False)
            error = f"run timed out after {self.cfg.timeout_seconds:g}s"
            self.emit(ErrorEvent(message=error, error_type="timeout"))
        except asyncio.CancelledError:
            await self.cancel_all("run cancelled")
            self.finish("cancelled", None, None, "run cancelled")
            raise
        finally:
            await self.cancel_all("run finished")
            await self.release()
        if winner is None and status == "ok":
            status = "failed"
            reasons = "; ".join(
                f"{a.id}: {a.failed_reason}" for a in self.agents if a.failed_reason
            )
            error = f"no agent produced an answer ({reasons or 'no answers'})"
            self.emit(ErrorEvent(message=error, error_type="no_answer"))
        return self.finish(status, winner, final, error)

    async def release(self) -> None:
        """Stop the MCP servers and tool workers, and close the run's files."""
        await self.hub.close()
        await close_tools(tool for agent in self.agents for tool in agent.spec.tools)
        if self.run_files is not None:
            self.run_files.close()

    def finish(
        self, status: str, winner: _Winner | None, final: str | None, error: str | None
    ) -> RunResult:
        total = Usage()
        for agent in self.agents:
            total.add(agent.usage)
        if self.bus.redact is not None:
            final = self.bus.redact(final) if final else final
            error = self.bus.redact(error) if error else error
        duration = time.monotonic() - self.started
        winner_agent = self.by_label[winner.label] if winner else None
        self.emit(
            RunFinished(
                status=status,
                duration_s=round(duration, 4),
                final_answer=final,
                winner=winner_agent.id if winner_agent else None,
                prompt_tokens=total.prompt_tokens,
                completion_tokens=total.completion_tokens,
                requests=total.requests,
                cost_usd=total.cost,
                usage={
                    a.id: {
                        "prompt_tokens": a.usage.prompt_tokens,
                        "completion_tokens": a.usage.completion_tokens,
                        "requests": a.usage.requests,
                        "cost_usd": a.usage.cost,
                    }
                    for a in self.agents
                },
            )
        )
        return RunResult(
            run_id=self.run_id,
            question=self.question,
            status=status,
            final_answer=final,
            winner=winner_agent.id if winner_agent else None,
            winner_label=winner.label if winner else None,
            answer_label=winner.answer.label if winner else None,
            answers=list(self.answers),
            votes=[a.vote for a in self.agents if a.vote is not None],
            tally=winner.tally if winner else {},
            is_tie=winner.is_tie if winner else False,
            usage={a.id: a.usage for a in self.agents},
            total_usage=total,
            duration_s=duration,
            labels={a.id: a.label for a in self.agents},
            error=error,
            files_changed=[
                {"path": c.path, "how": c.how} for c in (self.files.changes if self.files else [])
            ],
        )

    def options(self) -> dict[str, object]:
        """The strategy's settings, for ``run_started.options``."""
        return {
            "rounds": self.cfg.rounds,
            "vote_weighting": self.cfg.vote_weighting,
            "min_agents": self.cfg.min_agents,
            "fallback_to_best": self.cfg.fallback_to_best,
        }

    def too_few_agents(self) -> bool:
        """Fewer live agents than ``min_agents``: the coordination stops."""
        needed = self.cfg.min_agents
        return needed is not None and sum(a.live for a in self.agents) < needed

    def end_status(self) -> tuple[str, str | None]:
        """Why the coordination ended: ``ok``; ``budget`` (the run's cap refused a call, or
        agents' own caps left too few agents); ``failed`` (``min_agents``). Sets
        :attr:`ending`, which stops the presentation of an early end."""
        status, error = "ok", None
        live = sum(a.live for a in self.agents)
        refusal = self.budget.stopped
        if refusal is None and self.budget.dropped and (live == 0 or self.too_few_agents()):
            refusal = next(iter(self.budget.dropped.values()))
        if refusal is not None:
            status = "budget"
            error = f"{refusal}; " + (
                "the best answer so far is final" if self.answers else "no answer was produced"
            )
        elif self.too_few_agents():
            status = "failed"
            reasons = "; ".join(
                f"{a.id}: {a.failed_reason}" for a in self.agents if a.failed_reason
            )
            error = f"min_agents: {live} live agent(s), {self.cfg.min_agents} needed ({reasons})"
            if self.cfg.fallback_to_best and self.answers:
                error += "; the best answer so far is final (fallback_to_best)"
            self.emit(ErrorEvent(message=error, error_type="min_agents"))
        self.ending = status
        return status, error

    async def coordinate(self) -> None:
        """Run turns until every live agent has voted on the current answer set. Once a
        budget cap refuses a call, no turn starts and the turns in flight finish."""
        for agent in self.agents:
            self.start_turn(agent, "answer")
        self.arm_timer(self.first_answer_deadline)
        while True:
            live = [a for a in self.agents if a.live]
            if not live or self.too_few_agents():
                return
            if self.budget.stopped is not None and not any(a.busy for a in live):
                return
            if len(self.agents) == 1 and self.answers:
                return  # a single agent: its answer is final, no vote
            if all(a.settled for a in live) and not any(a.busy for a in live):
                return
            item = await self.queue.get()
            if isinstance(item, _Outcome):
                self.apply(item)
            if self.budget.stopped is None:
                self.schedule()

    # ------------------------------------------------------------------ outcomes

    def apply(self, outcome: _Outcome) -> None:
        agent = outcome.agent
        if outcome.turn_id != agent.turn_id:
            return  # a cancelled turn that finished anyway
        agent.task = None
        agent.turn_id = None
        if outcome.error is not None:
            agent.failed_reason = outcome.error
            agent.vote = None
            self.set_status(agent, "failed")
            self.emit(
                AgentFailed(
                    agent_id=agent.id,
                    turn=agent.turns,
                    reason=outcome.error,
                    error_type=outcome.error_type,
                )
            )
            return
        action = outcome.action
        if isinstance(action, workflow.Abstention):
            if outcome.answer_set != self.answer_set:  # the answers changed meanwhile
                self.set_status(agent, "restarting")
                return
            agent.abstained = True
            self.set_status(agent, "voted")
            self.emit(AgentAbstained(agent_id=agent.id, turn=agent.turns, reason=action.reason))
        elif isinstance(action, workflow.NewAnswerAction):
            self.record_answer(agent, action.content)
        elif isinstance(action, workflow.VoteAction):
            if outcome.answer_set != self.answer_set:
                # judged an answer set that has changed since (restart_policy: finish)
                self.set_status(agent, "restarting")
                self.emit(
                    AgentRestarted(agent_id=agent.id, turn=agent.turns, reason="answers changed")
                )
                return
            target = self.by_label[action.target]
            assert target.latest is not None
            agent.vote = Vote(
                voter_id=agent.id,
                voter_label=agent.label,
                target_label=target.label,
                answer_label=target.latest.label,
                reason=action.reason,
                confidence=action.confidence,
            )
            self.set_status(agent, "voted")
            self.emit(
                VoteCast(
                    agent_id=agent.id,
                    turn=agent.turns,
                    voter=agent.label,
                    target=target.label,
                    target_answer=target.latest.label,
                    target_agent_id=target.id,
                    reason=action.reason,
                    confidence=action.confidence,
                )
            )
            score = sum(
                a.vote.weight
                for a in self.agents
                if a.vote is not None and a.vote.answer_label == target.latest.label
            )
            label = target.latest.label
            self.best_scores[label] = max(score, self.best_scores.get(label, 0.0))

    def add_answer(self, author: AgentState, content: str) -> Answer:
        """Record ``author``'s new answer, with a snapshot of its workspace when the run has
        files, and announce it (every strategy)."""
        version = len(author.answers) + 1
        snapshot = None
        if self.files is not None:  # the answer's files: its author's workspace, as staged
            staged, author.staged = author.staged, None
            snapshot = self.files.snapshot(author.label, f"{author.label}.{version}", staged)
        answer = Answer(
            agent_id=author.id,
            agent_label=author.label,
            version=version,
            content=content,
            order=len(self.answers),
            files=str(self.files.shared / author.label) if snapshot and self.files else None,
        )
        author.answers.append(answer)
        self.answers.append(answer)
        self.answer_set += 1
        self.set_status(author, "answered")
        self.emit(
            AnswerSubmitted(
                agent_id=author.id,
                turn=author.turns,
                label=answer.label,
                agent_label=author.label,
                version=answer.version,
                content=content,
                files=self.files.files_of(snapshot) if snapshot and self.files else [],
            )
        )
        return answer

    def record_answer(self, author: AgentState, content: str) -> None:
        """A new answer (vote): votes are cleared and the others restart."""
        answer = self.add_answer(author, content)
        cleared = [a for a in self.agents if a.settled]
        for agent in cleared:
            agent.vote = None
            agent.abstained = False
        if cleared:
            self.emit(VotesCleared(reason=f"new answer {answer.label}", cleared=len(cleared)))
        restarted = list(cleared)
        if self.cfg.restart_policy == "cancel":
            for agent in self.agents:
                if agent is not author and agent.busy and agent.turns > 1 and agent.live:
                    self.cancel_turn(agent, f"new answer {answer.label}")
                    restarted.append(agent)
        for agent in restarted:
            if agent is not author:
                self.set_status(agent, "restarting")
                self.emit(
                    AgentRestarted(
                        agent_id=agent.id, turn=agent.turns, reason=f"new answer {answer.label}"
                    )
                )
        if restarted:
            if time.monotonic() >= self.restart_not_before:
                self.round += 1  # a new restart wave (answers inside one window share it)
            self.restart_not_before = time.monotonic() + self.cfg.restart_debounce_seconds
            self.arm_timer(self.restart_not_before)

    # ------------------------------------------------------------------ scheduling

    def schedule(self) -> None:
        """Start an evaluation turn for every idle live agent that needs one."""
        live = [a for a in self.agents if a.live]
        now = time.monotonic()
        all_answered = all(a.answers for a in live)
        if not all_answered and now < self.first_answer_deadline:
            return
        if now < self.restart_not_before:
            return
        if not self.answers:
            return
        if len(self.agents) == 1:
            return
        if self.round == 1:
            self.round = 2  # evaluation begins
        for agent in live:
            if agent.busy or agent.settled:
                continue
            if not agent.answers and agent.turns > 0:
                continue  # still owes its first answer (its first turn is running)
            self.start_turn(agent, "evaluate")

    def arm_timer(self, deadline: float) -> None:
        delay = max(0.0, deadline - time.monotonic())
        loop = asyncio.get_running_loop()
        self.timers.append(loop.call_later(delay, self.queue.put_nowait, _Tick()))

    def start_turn(self, agent: AgentState, kind: str) -> None:
        agent.turns += 1
        turn_id = next(self.turn_ids)
        agent.turn_id = turn_id
        snapshot = (
            [a.latest for a in self.agents if a.latest is not None] if kind != "answer" else []
        )
        rules = self.turn_rules(agent, kind, snapshot)
        self.set_status(agent, "thinking")
        agent.task = asyncio.create_task(
            self.turn_task(agent, turn_id, kind, snapshot, rules, self.answer_set),
            name=f"massgen:{agent.id}:turn{agent.turns}",
        )

    def turn_rules(
        self, agent: AgentState, kind: str, snapshot: list[Answer]
    ) -> workflow.TurnRules:
        """What a turn may do (vote: answer below the caps, vote once answers exist)."""
        return workflow.TurnRules(
            vote_labels=tuple(a.agent_label for a in snapshot),
            can_answer=(
                len(agent.answers) < self.cfg.max_new_answers_per_agent
                and self.round < self.cfg.rounds
            ),
            answer_cap=self.cfg.max_new_answers_per_agent,
            existing_answers=tuple((a.label, a.content) for a in self.answers),
            confidence=self.cfg.vote_weighting == "confidence",
        )

    def turn_messages(self, agent: AgentState, kind: str, snapshot: list[Answer]) -> list[Message]:
        """A turn's prompt (vote: the coordination rules, the question, the answers)."""
        return prompts.coordination_messages(
            system_message=agent.spec.system_message,
            question=self.question,
            history=self.history,
            answers=snapshot,
            viewer_label=agent.label,
            mode=agent.mode,
            images=self.images,
            can_see_images=agent.spec.backend.supports_images,
            files=self.files_note(agent),
            planning=self.planning_note(agent),
        )

    def cancel_turn(self, agent: AgentState, reason: str) -> None:
        if agent.task is not None:
            agent.task.cancel()
            self.stale_tasks.add(agent.task)
        agent.task = None
        agent.turn_id = None
        self.emit(AgentCancelled(agent_id=agent.id, turn=agent.turns, reason=reason))

    async def cancel_all(self, reason: str) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        for agent in self.agents:
            if agent.busy:
                self.cancel_turn(agent, reason)
                if agent.live:
                    self.set_status(agent, "cancelled")
        tasks, self.stale_tasks = self.stale_tasks, set()
        if tasks:
            # let cancelled turns close their HTTP streams before the run returns
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ a turn

    async def turn_task(
        self,
        agent: AgentState,
        turn_id: int,
        kind: str,
        snapshot: list[Answer],
        rules: workflow.TurnRules,
        answer_set: int,
    ) -> None:
        outcome = _Outcome(agent=agent, turn_id=turn_id, answer_set=answer_set)
        try:
            async with asyncio.timeout(self.cfg.turn_timeout_seconds):
                outcome.action = await self.run_turn(agent, kind, snapshot, rules)
            if self.files is not None and isinstance(outcome.action, workflow.NewAnswerAction):
                await self.stage_files(agent)
        except TimeoutError:
            outcome.error = f"turn timed out after {self.cfg.turn_timeout_seconds:g}s"
            outcome.error_type = "timeout"
        except BackendError as exc:
            outcome.error = str(exc)
            outcome.error_type = type(exc).__name__
        except workflow.InvalidActionError as exc:
            outcome.error = f"no valid action after {MAX_ATTEMPTS_PER_TURN} attempts ({exc})"
            outcome.error_type = "invalid_action"
        except budget.BudgetExceeded as exc:
            outcome.error = str(exc)
            outcome.error_type = "budget"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unexpected SDK error: fail this agent only
            outcome.error = f"{type(exc).__name__}: {exc}"
            outcome.error_type = "internal"
        self.queue.put_nowait(outcome)

    async def run_turn(
        self,
        agent: AgentState,
        kind: str,
        snapshot: list[Answer],
        rules: workflow.TurnRules,
    ) -> workflow.Action:
        tools = workflow.tool_specs(rules)
        self.emit(
            AgentTurnStarted(
                agent_id=agent.id,
                turn=agent.turns,
                kind=kind,
                round=self.round if kind != "answer" else 1,
                tools=[t.name for t in tools],
            )
        )

        def fresh() -> list[Message]:
            return self.turn_messages(agent, kind, snapshot)

        own = await self.tools_of(agent)  # before the prompt, which may name them
        messages = fresh()
        texts: list[str] = []
        self.plans[agent.id] = planning.Plan()
        self.lend(agent, own)
        used = 0  # the agent's own tool calls in this turn
        attempt = 0
        while attempt < MAX_ATTEMPTS_PER_TURN:
            extra = self.offered(agent, own, used)
            text, calls = await self.call_model(agent, messages, [*tools, *extra], TextDelta)
            action_calls = [c for c in calls if c.name in workflow.WORKFLOW_TOOLS]
            tool_calls = [c for c in calls if c.name not in workflow.WORKFLOW_TOOLS]
            if tool_calls and not action_calls and extra:
                used += len(tool_calls)  # a tool round: the turn goes on, no attempt used
                results = await self.run_tools(agent, tool_calls, own)
                messages = [
                    *messages,
                    Message("assistant", text, tool_calls=tool_calls),
                    *results,
                ]
                continue
            attempt += 1
            texts.append(text)
            try:
                return self.with_plan(agent, workflow.validate(action_calls or calls, rules))
            except workflow.InvalidActionError as exc:
                said = str(exc)
                if said == workflow.NO_ACTION_REMINDER:  # as the model is told, in its mode
                    said = workflow.reminder(agent.mode)
                invalid = InvalidAction(
                    agent_id=agent.id, turn=agent.turns, message=said, attempt=attempt
                )
                self.emit(invalid)
                if attempt >= MAX_ATTEMPTS_PER_TURN:
                    action = self.last_resort(agent, kind, rules, texts, str(exc))
                    return self.with_plan(agent, action)
                if agent.auto_mode and agent.mode in modes.NEXT:
                    self.change_mode(agent, modes.NEXT[agent.mode], str(exc))
                    messages = fresh()  # the new mode's own instructions, from the start
                else:
                    messages = [*messages, *self.feedback(text, calls, str(exc), agent.mode)]
        raise AssertionError("unreachable")

    async def stage_files(self, agent: AgentState) -> None:
        """Copy the agent's workspace for the answer it just gave, in a thread: the copy is
        I/O-bound (up to half a second for 1,000 small files) and the other agents' streams
        go on meanwhile. ``add_answer`` then only renames it into place."""
        assert self.files is not None
        if agent.staged is not None:  # an earlier answer that was not taken
            shutil.rmtree(agent.staged, ignore_errors=True)
            agent.staged = None
        agent.staged = await asyncio.to_thread(self.files.stage, agent.label)

    def files_note(self, agent: AgentState, presenting: bool = False) -> str:
        """The ``<FILES>`` block of the agent's prompt (empty in a run without files)."""
        return self.run_files.note(agent.label, presenting) if self.run_files else ""

    def planning_note(self, agent: AgentState, presenting: bool = False) -> str:
        """The ``<PLANNING MODE>`` block of the agent's prompt: in planning mode, for an
        agent with tools that change things (empty otherwise)."""
        if not self.planning:
            return ""
        own = self.own_tools.get(agent.id, {}).values()
        note = planning.presentation_note if presenting else planning.coordination_note
        return note(own)

    def with_plan(self, agent: AgentState, action: workflow.Action) -> workflow.Action:
        """A new answer with the calls its turn planned (planning mode), for all to read."""
        plan = self.plans.get(agent.id)
        if plan is None or not plan.calls or not isinstance(action, workflow.NewAnswerAction):
            return action
        return dataclasses.replace(action, content=action.content + plan.block())

    def report_file_changes(self, agent: AgentState) -> None:
        if self.files is not None and self.files.changes:
            self.emit(FilesChanged(agent_id=agent.id, changes=self.files.diffs()))

    def mcp_notice(self, agent_ids: list[str], message: str) -> None:
        for agent_id in agent_ids:
            self.emit(AgentNotice(agent_id=agent_id, message=message))

    async def tools_of(self, agent: AgentState) -> dict[str, Tool]:
        """The agent's own tools: its custom ones, and its MCP servers' once they are up."""
        if agent.id not in self.own_tools:
            tools: list[Tool] = []
            if self.run_files is not None:
                tools += self.run_files.tools(agent.label, lambda agent=agent: agent.presenting)
            tools += agent.spec.tools  # an agent's own custom tools win over same-named ones
            if agent.spec.mcp_servers:
                tools += await self.hub.tools_for(agent.id, agent.spec.mcp_servers)
            self.own_tools[agent.id] = {tool.name: tool for tool in tools}
        return self.own_tools[agent.id]

    def offered(self, agent: AgentState, own: dict[str, Tool], used: int) -> list[ToolSpec]:
        """The agent's own tool specs while it may still call tools in this turn (not in
        the ``text`` mode, which has no way to call them)."""
        if agent.mode == "text" or used >= self.tool_limits.calls_per_turn:
            return []
        return [tool.spec for tool in own.values()]

    async def run_tools(
        self, agent: AgentState, calls: list[ToolCall], own: dict[str, Tool]
    ) -> list[Message]:
        """Run the model's calls of its own tools, concurrently; their results as the
        messages that go back to it (errors included: the turn goes on)."""

        async def one(call: ToolCall) -> ToolResult:
            tool = own.get(call.name)
            held = self.planning and not agent.presenting and tool is not None and tool.side_effects
            if held:
                assert tool is not None
                tool = self.plans.setdefault(agent.id, planning.Plan()).hold(tool)
            result = await run_call(tool, call, self.tool_limits)
            self.tool_finished(agent, result, planned=held and not result.is_error)
            return result

        results = await asyncio.gather(*(one(call) for call in calls))
        return [Message("tool", r.text, tool_call_id=r.call.id, name=r.call.name) for r in results]

    def tool_finished(self, agent: AgentState, result: ToolResult, planned: bool = False) -> None:
        call = result.call
        self.emit(
            ToolCallFinished(
                agent_id=agent.id,
                turn=agent.turns,
                call_id=call.id,
                name=call.name,
                result=result.preview,
                is_error=result.is_error,
                duration_s=round(result.duration_s, 4),
                output=result.text,
                planned=planned,
            )
        )

    def lend(self, agent: AgentState, own: dict[str, Tool]) -> None:
        """Give a backend that runs its own agent loop (Claude Code, AG2) this turn's tools
        and files: it calls the agent's own tools through the engine, bounded like any
        other agent's, and keeps the same file rules in its native tools."""
        backend = agent.spec.backend
        if not backend.runs_own_loop:
            return
        limit, used = self.tool_limits.calls_per_turn, 0

        async def run_tool(call: ToolCall) -> str:
            nonlocal used
            used += 1
            self.emit(
                ToolCallStarted(
                    agent_id=agent.id,
                    turn=agent.turns,
                    call_id=call.id,
                    name=call.name,
                    arguments=call.arguments,
                )
            )
            if used > limit:
                text = f"Error: this turn's {limit} tool calls are used up; act on what you have"
                self.tool_finished(agent, ToolResult(call, text, True, 0.0, len(text)))
                return text
            [message] = await self.run_tools(agent, [call], own)
            return message.content

        files = None
        if self.run_files is not None:
            files = self.run_files.agent_files(agent.label, lambda: agent.presenting)
        backend.turn = AgentTurn(run_tool, frozenset(own), files)

    def change_mode(self, agent: AgentState, mode: str, reason: str) -> None:
        previous, agent.mode = agent.mode, mode
        self.emit(
            WorkflowModeChanged(
                agent_id=agent.id, turn=agent.turns, mode=mode, previous=previous, reason=reason
            )
        )

    @staticmethod
    def last_resort(
        agent: AgentState, kind: str, rules: workflow.TurnRules, texts: list[str], error: str
    ) -> workflow.Action:
        """After the last invalid attempt: a first turn's text is taken as the agent's answer
        (a model that only writes prose still contributes); an evaluation turn abstains. Only
        a first turn with no usable text fails the agent."""
        if kind == "answer" and rules.can_answer:
            for text in reversed(texts):
                try:
                    return workflow.answer_from_text(text, rules)
                except workflow.InvalidActionError:
                    continue
            raise workflow.InvalidActionError(error)
        return workflow.Abstention(reason=f"no valid vote after {len(texts)} attempts ({error})")

    @staticmethod
    def feedback(
        text: str, calls: list[ToolCall], error: str, mode: str = "tools"
    ) -> list[Message]:
        """What goes back to the model after an invalid action: the error as the result of
        each of its tool calls, or a reminder when it made none."""
        if not calls:
            if error == workflow.NO_ACTION_REMINDER:
                error = workflow.reminder(mode)
            return [Message("assistant", text), Message("user", error)]
        return [
            Message("assistant", text, tool_calls=list(calls)),
            *(Message("tool", f"Error: {error}", tool_call_id=c.id, name=c.name) for c in calls),
        ]

    async def call_model(
        self,
        agent: AgentState,
        messages: list[Message],
        tools: list[ToolSpec] | None,
        delta_type: type[TextDelta] | type[FinalAnswerDelta],
    ) -> tuple[str, list[ToolCall]]:
        """One model call with retries; streams deltas as events, records usage."""
        ctx = _TurnContext()
        lease = self.budget.reserve(agent, messages, tools)  # BudgetExceeded: not started
        agent.usage.requests += 1

        def on_retry(attempt: int, delay: float, error: BackendError) -> None:
            ctx.text.clear()
            ctx.calls.clear()
            agent.usage.requests += 1
            self.emit(
                StreamRetry(
                    agent_id=agent.id,
                    turn=agent.turns,
                    attempt=attempt,
                    delay=round(delay, 3),
                    reason=str(error),
                )
            )

        policy = self.retry_policy or RetryPolicy(
            max_attempts=agent.spec.backend.config.max_retries + 1
        )
        backend = modes.ModeBackend(agent.spec.backend, agent.mode)
        stream = lease.stream(
            stream_with_retries(backend, messages, tools or None, policy, on_retry)
        )
        async for chunk in stream:
            if isinstance(chunk, TextChunk):
                if chunk.text:
                    ctx.text.append(chunk.text)
                    self.emit(delta_type(agent_id=agent.id, turn=agent.turns, text=chunk.text))
            elif isinstance(chunk, ReasoningChunk):
                self.emit(ReasoningDelta(agent_id=agent.id, turn=agent.turns, text=chunk.text))
            elif isinstance(chunk, ToolCallChunk):
                ctx.calls.append(chunk.call)
                self.emit(
                    ToolCallStarted(
                        agent_id=agent.id,
                        turn=agent.turns,
                        call_id=chunk.call.id,
                        name=chunk.call.name,
                        arguments=chunk.call.arguments,
                    )
                )
            elif isinstance(chunk, ProviderToolChunk):
                event_type = ToolCallStarted if chunk.status == "started" else ToolCallFinished
                detail = (
                    {"arguments": chunk.detail}
                    if chunk.status == "started"
                    else {"result": chunk.detail}
                )
                self.emit(
                    event_type(
                        agent_id=agent.id,
                        turn=agent.turns,
                        call_id=chunk.call_id,
                        name=chunk.name,
                        **detail,
                    )
                )
            elif isinstance(chunk, UsageChunk):
                backend = agent.spec.backend
                cost = chunk.cost_usd
                if cost is None:
                    cost = cost_usd(backend.model, chunk, self_hosted=backend.self_hosted)
                agent.usage.add_call(chunk, cost)
                self.emit(
                    UsageEvent(
                        agent_id=agent.id,
                        turn=agent.turns,
                        prompt_tokens=chunk.prompt_tokens,
                        completion_tokens=chunk.completion_tokens,
                        reasoning_tokens=chunk.reasoning_tokens,
                        cached_tokens=chunk.cached_tokens,
                        cost_usd=cost,
                    )
                )
        return "".join(ctx.text), ctx.calls

    # ------------------------------------------------------------------ the end

    def select_winner(self, fallback: bool = False) -> _Winner | None:
        """Most votes wins (each weighted by its confidence with ``vote_weighting:
        confidence``); a tie goes to the earliest answer. When every agent judged the
        answers but none voted (all abstained), that is a tie of all: the earliest answer.
        With no judgement at all (a single agent, or a timeout before any vote) the latest
        answer is chosen; with ``fallback`` (an early end) and ``fallback_to_best``, the
        answer that held the most votes at any time, if any did."""
        if not self.answers:
            return None
        current = {a.label: a.latest for a in self.agents if a.latest is not None}
        votes = [a.vote for a in self.agents if a.vote is not None]
        tally: Counter[str] = Counter()
        for vote in votes:
            tally[vote.target_label] += vote.weight
        tally = Counter({label: _rounded(n) for label, n in tally.items()})
        if tally:
            top = max(tally.values())
            leaders = [label for label, n in tally.items() if n == top]
            label = min(leaders, key=lambda lbl: current[lbl].order)
            ordered = dict(sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))
            return _Winner(label, current[label], ordered, is_tie=len(leaders) > 1)
        if fallback and self.cfg.fallback_to_best and self.best_scores:
            by_label = {a.label: a for a in self.answers}
            best = max(
                self.best_scores, key=lambda lbl: (self.best_scores[lbl], -by_label[lbl].order)
            )
            answer = by_label[best]
            score = _rounded(self.best_scores[best])
            return _Winner(
                answer.agent_label,
                answer,
                {answer.agent_label: score},
                False,
                f"best-scored answer so far ({best}, {score:g} votes; fallback_to_best)",
            )
        if any(a.abstained for a in self.agents):
            earliest = min(current.values(), key=lambda answer: answer.order)
            return _Winner(
                earliest.agent_label,
                earliest,
                {},
                True,
                "no votes (all abstained): earliest answer",
            )
        latest = self.answers[-1]
        reason = "only agent" if len(self.agents) == 1 else "latest answer (no votes)"
        return _Winner(latest.agent_label, current[latest.agent_label], {}, False, reason)

    def announce_winner(self, winner: _Winner) -> None:
        agent = self.by_label[winner.label]
        self.emit(
            WinnerSelected(
                agent_id=agent.id,
                label=winner.label,
                answer_label=winner.answer.label,
                tally=winner.tally,
                votes=[
                    {"voter": v.voter_label, "target": v.target_label, "reason": v.reason}
                    for v in (a.vote for a in self.agents)
                    if v is not None
                ],
                is_tie=winner.is_tie,
                reason=winner.reason,
            )
        )

    async def present(self, winner: _Winner) -> str:
        """The winner writes the final answer (streamed), unless reuse is configured, the
        run has one agent, or the winner has failed."""
        agent = self.by_label[winner.label]
        self.announce_winner(winner)
        if (
            self.cfg.final_answer == "reuse"
            or (len(self.agents) == 1 and not self.cfg.shapes_final_answer)
            or not agent.live
            or self.ending != "ok"
        ):
            self.announce_final(winner, winner.answer.content, presented=False)
            return winner.answer.content
        agent.turns += 1
        self.set_status(agent, "thinking")
        self.emit(AgentTurnStarted(agent_id=agent.id, turn=agent.turns, kind="present"))
        messages = prompts.presentation_messages(
            system_message=agent.spec.system_message,
            question=self.question,
            history=self.history,
            answers=[a.latest for a in self.agents if a.latest is not None],
            tally=winner.tally,
            winner_label=winner.label,
            images=self.images,
            can_see_images=agent.spec.backend.supports_images,
            files=self.files_note(agent, presenting=True),
            planning=self.planning_note(agent, presenting=True),
        )
        agent.presenting = True  # the user's write-granted files open up for this turn only
        try:
            async with asyncio.timeout(self.cfg.turn_timeout_seconds):
                text = await self.presentation(agent, messages)
        except Exception as exc:  # any failure here still leaves the winning answer
            cause = describe(exc)
            if isinstance(exc, TimeoutError):
                cause = f"timed out after {self.cfg.turn_timeout_seconds:g}s"
            self.emit(
                ErrorEvent(
                    agent_id=agent.id,
                    message=f"final presentation failed ({cause}); using {winner.answer.label}",
                    error_type=type(exc).__name__,
                )
            )
            text = ""
        finally:
            agent.presenting = False
            self.report_file_changes(agent)
        if not text.strip():
            self.announce_final(winner, winner.answer.content, presented=False)
            return winner.answer.content
        self.announce_final(winner, text, presented=True)
        return text

    async def presentation(self, agent: AgentState, messages: list[Message]) -> str:
        """The presentation turn: the final answer, after any tool calls the presenter makes
        (in the ``tools`` mode; the json and text modes present in plain text)."""
        own = await self.tools_of(agent) if agent.mode == "tools" else {}
        self.lend(agent, own)
        used = 0
        cap, stop = self.cfg.final_answer_max_tokens, self.cfg.final_answer_stop
        with agent.spec.backend.final_call(cap, stop):  # on the wire: its max_tokens, stop
            while True:
                extra = self.offered(agent, own, used)
                text, calls = await self.call_model(
                    agent, messages, extra or None, FinalAnswerDelta
                )
                if not (calls and extra):
                    return text
                used += len(calls)
                results = await self.run_tools(agent, calls, own)
                messages = [*messages, Message("assistant", text, tool_calls=calls), *results]

    def announce_final(self, winner: _Winner, content: str, *, presented: bool) -> None:
        agent = self.by_label[winner.label]
        if agent.live:
            self.set_status(agent, "voted" if agent.vote else "answered")
        self.emit(
            FinalAnswer(
                agent_id=agent.id,
                content=content,
                label=winner.label,
                answer_label=winner.answer.label,
                presented=presented,
            )
        )
