"""What every strategy shares (docs/architecture.md, "Strategies").

A :class:`Strategy` is one run of one question: the run's state in public fields (the agents,
their answers, the config, the budget, the files), its lifecycle (:meth:`Strategy.execute`,
:meth:`Strategy.end_status`, :meth:`Strategy.finish`) and the one final-answer path
(:meth:`Strategy.present`). Turns are played by its :class:`TurnRunner` (``turns``). A
strategy supplies the order of turns (``coordinate``), what a turn may do and is told
(``turn_rules``, ``turn_messages``), what an outcome does (``apply_action``), the winning
answer (``select_winner``), who writes the final answer (``finisher``) from what
(``final_messages``), and its vocabulary for views (``step_noun``, ``has_votes``, ``steps``).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from massgen.backends.retry import RetryPolicy
from massgen.config.schema import OrchestratorConfig
from massgen.coordination import budget, modes, prompts, workflow
from massgen.coordination.controls import RunControls
from massgen.coordination.files import FilesPlan, RunFiles
from massgen.coordination.presenting import Presenting
from massgen.coordination.presenting import Winner as Winner  # part of its public face
from massgen.coordination.state import AgentSpec, AgentState, Answer, Usage, Vote
from massgen.coordination.steering import ANSWER_NOW, Steering
from massgen.coordination.turns import Outcome, TurnRunner
from massgen.events import (
    AgentFailed,
    AgentNotice,
    AnswerSubmitted,
    ErrorEvent,
    Event,
    EventBus,
    RunFinished,
    RunStarted,
)
from massgen.images import Image
from massgen.messages import Message
from massgen.tools.mcp import MCPHub

#: MCP notices held until the run can publish them: ``(agent ids, text)`` each.
Notices = list[tuple[list[str], str]]


class RunOwner(Protocol):
    """What a run is given by its coordinator."""

    specs: list[AgentSpec]
    config: OrchestratorConfig
    bus: EventBus
    retry_policy: RetryPolicy | None
    workspace_root: Path | None
    files_plan: FilesPlan | None
    #: The run's workspaces (made off the event loop by the owner), when it has files.
    run_files: RunFiles | None

    def take_mcp(self) -> Awaitable[tuple[MCPHub, Notices]]: ...


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
    tally: dict[str, float]  # whole numbers of votes are ints
    is_tie: bool
    usage: dict[str, Usage]  # per agent id
    total_usage: Usage
    duration_s: float
    labels: dict[str, str]  # agent id -> label
    error: str | None = None
    #: the user's files the final presenter created or changed: ``{path, how}`` each
    files_changed: list[dict[str, str]] = field(default_factory=list)
    #: the user asked for the answer now: the coordination ended there, the leader presented
    answered_now: bool = False
    #: the media the agents generated (:class:`massgen.workspaces.artifacts.Artifact` dicts)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Strategy(Steering, Presenting, ABC):
    """The state and lifecycle of one coordination (the user's requests: :class:`Steering`)."""

    #: what one step of the run is called ("round", "layer"), for views
    step_noun: ClassVar[str] = "round"
    #: whether agents vote on the answers (else they only answer)
    has_votes: ClassVar[bool] = False

    def __init__(
        self,
        owner: RunOwner,
        question: str,
        history: prompts.History,
        images: tuple[Image, ...] = (),
    ) -> None:
        self.cfg = owner.config
        self.bus = owner.bus
        self.question = question
        self.history = history
        self.images = images
        self.run_id = self.bus.run_id  # stamped on the bus by the coordinator
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
        self.round = 1  # the current step (a round, a layer)
        self.started = time.monotonic()
        self.owner = owner
        plan = owner.files_plan
        self.run_files = owner.run_files
        self.files = self.run_files.workspaces if self.run_files else None
        self.command_problem = plan.command_problem if plan else None
        self.budget = budget.Budget.for_run(self.cfg, self.agents, self.emit)
        self.ending = "ok"  # why the coordination ended: ok, budget or failed (end_status)
        self.notes: list[str] = []  # the user's notes, read by every turn started after each
        self.coordinating = False  # between run_started and the end of ``coordinate``
        self.answered_now = False  # the user asked for the answer now (answer_now)
        self.work: asyncio.Task[None] | None = None  # ``coordinate``, while it runs
        self.turns = TurnRunner(
            self.cfg,
            self.agents,
            self.emit,
            self.budget,
            step=lambda: self.round,
            retry_policy=owner.retry_policy,
            run_files=self.run_files,
            artifacts_root=owner.workspace_root,
        )

    # ------------------------------------------------------------------ what a strategy supplies

    def steps(self) -> int | None:
        """How many steps the run may take, when that is fixed in advance."""
        return None

    @abstractmethod
    def options(self) -> dict[str, object]:
        """The strategy's settings, for ``run_started.options``."""

    @abstractmethod
    async def coordinate(self) -> None:
        """Play turns until the strategy's end (a budget stop, too few agents, or its rules)."""

    @abstractmethod
    def turn_rules(
        self, agent: AgentState, kind: str, snapshot: list[Answer]
    ) -> workflow.TurnRules:
        """What a turn of ``kind`` may do, seeing the answers of ``snapshot``."""

    @abstractmethod
    def turn_messages(self, agent: AgentState, kind: str, snapshot: list[Answer]) -> list[Message]:
        """A turn's prompt (built again when its workflow mode changes)."""

    @abstractmethod
    def apply_action(self, outcome: Outcome) -> None:
        """What a turn's action does to the run (the turn is over and did not fail)."""

    @abstractmethod
    def select_winner(self, fallback: bool = False) -> Winner | None:
        """The winning answer (``fallback``: the run ended early), or None with no answer."""

    @abstractmethod
    def finisher(self, winner: Winner) -> AgentState | None:
        """The agent that writes the final answer, or None: the winner's answer is final."""

    @abstractmethod
    def final_messages(self, finisher: AgentState, winner: Winner) -> list[Message]:
        """The finisher's prompt."""

    # ------------------------------------------------------------------ events

    def emit(self, event: Event) -> None:
        self.bus.publish(event)

    def set_status(self, agent: AgentState, status: str) -> None:
        self.turns.set_status(agent, status)

    def mcp_notice(self, agent_ids: list[str], message: str) -> None:
        for agent_id in agent_ids:
            self.emit(AgentNotice(agent_id=agent_id, message=message))

    # ------------------------------------------------------------------ the run

    async def execute(self, controls: RunControls | None = None) -> RunResult:
        """The run: ``run_started``, the coordination, the final answer, ``run_finished``;
        ``controls`` bring the user's notes and "answer now" while it coordinates."""
        try:
            self.turns.hub, early_notices = await self.owner.take_mcp()
        except BaseException:  # a tool name a server does not have: nothing has started
            await self.release()
            raise
        self.turns.hub.notice = self.mcp_notice
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
                step_noun=self.step_noun,
                has_votes=self.has_votes,
                steps=self.steps(),
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
        self.coordinating = True
        if controls is not None:
            controls.attach(self)
        status, error = "ok", None
        winner: Winner | None = None
        final: str | None = None
        try:
            async with asyncio.timeout(self.cfg.timeout_seconds):
                await self.coordinate_until_answer_now()
                self.coordinating = False
                if self.answered_now:
                    await self.turns.cancel_all(ANSWER_NOW)
                status, error = self.end_status()
                winner = self.select_winner(fallback=status != "ok")
                if status == "failed" and not self.cfg.fallback_to_best:
                    winner = None
                if winner is not None:
                    final = await self.present(winner)
                    winner = self.announced if final is not None else None  # judge may re-choose
                    if status == "ok":  # the run's cap may have refused the final answer
                        status, error = self.end_status()
        except TimeoutError:
            status = "timeout"
            await self.turns.cancel_all("run timed out")
            winner = self.announced or winner  # the one announced last (judge may re-choose)
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
            await self.turns.cancel_all("run cancelled")
            self.finish("cancelled", None, None, "run cancelled")
            raise
        finally:
            self.coordinating = False
            if controls is not None:
                controls.detach()
            await self.turns.cancel_all("run finished")
            await self.release()
        if winner is None and status == "ok":
            status = "failed"
            error = f"no agent produced an answer ({self.failures() or 'no answers'})"
            self.emit(ErrorEvent(message=error, error_type="no_answer"))
        return self.finish(status, winner, final, error)

    def leader_now(self) -> tuple[str, str] | None:
        """For "answer now": the leader's label and what happens next, or None without an
        answer (see ``Steering.answer_now``)."""
        leader = self.select_winner() if self.answers else None
        if leader is None:
            return None
        finisher = self.finisher(leader)
        if finisher is None or self.skips_final_call():
            return leader.label, f"{leader.answer.label} is final ({leader.reason})"
        if finisher.label == leader.label and self.has_votes:
            return leader.label, f"{leader.label} presents {leader.answer.label} ({leader.reason})"
        return leader.label, f"{finisher.label} writes the final answer from the answers so far"

    async def release(self) -> None:
        """Stop the MCP servers and tool workers, and close the run's files."""
        await self.turns.close()
        if self.run_files is not None:  # rmtree and the manifest: off the event loop
            await asyncio.to_thread(self.run_files.close)

    def finish(
        self, status: str, winner: Winner | None, final: str | None, error: str | None
    ) -> RunResult:
        total = Usage()
        for agent in self.agents:
            total.add(agent.usage)
        if self.bus.redact is not None:
            final = self.bus.redact(final) if final else final
            error = self.bus.redact(error) if error else error
        duration = time.monotonic() - self.started
        winner_agent = self.by_label[winner.label] if winner else None
        artifacts = [a.to_dict() for a in self.turns.generation.saved]
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
                cached_tokens=total.cached_tokens,
                usage={
                    a.id: {
                        "prompt_tokens": a.usage.prompt_tokens,
                        "completion_tokens": a.usage.completion_tokens,
                        "requests": a.usage.requests,
                        "cost_usd": a.usage.cost,
                    }
                    for a in self.agents
                },
                artifacts=artifacts,
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
            answered_now=self.answered_now,
            artifacts=artifacts,
        )

    def failures(self) -> str:
        """Why agents failed: ``id: reason; ...``."""
        return "; ".join(f"{a.id}: {a.failed_reason}" for a in self.agents if a.failed_reason)

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
            needed = self.cfg.min_agents
            error = f"min_agents: {live} live agent(s), {needed} needed ({self.failures()})"
            if self.cfg.fallback_to_best and self.answers:
                error += "; the best answer so far is final (fallback_to_best)"
            self.emit(ErrorEvent(message=error, error_type="min_agents"))
        self.ending = status
        return status, error

    # ------------------------------------------------------------------ turns and answers

    def turn_snapshot(self, agent: AgentState, kind: str) -> list[Answer]:
        """The answers a turn of ``kind`` reads: all latest, none for ``answer`` (vote: peers)."""
        return [a.latest for a in self.agents if a.latest is not None] if kind != "answer" else []

    def start_turn(self, agent: AgentState, kind: str) -> None:
        """Start a turn of ``kind`` reading :meth:`turn_snapshot`."""
        snapshot = self.turn_snapshot(agent, kind)
        rules = self.turn_rules(agent, kind, snapshot)

        def messages() -> list[Message]:  # the notes sent so far, when the turn builds it
            return prompts.with_notes(self.turn_messages(agent, kind, snapshot), self.notes)

        self.turns.start(agent, kind, rules, messages, answer_set=self.answer_set)

    def apply(self, outcome: Outcome) -> None:
        """A turn's outcome: a stale one changes nothing, a failure fails its agent, an
        action goes to :meth:`apply_action`."""
        if outcome.stale:
            return  # a cancelled turn that finished anyway
        if outcome.error is None:
            self.apply_action(outcome)
            return
        self.fail(outcome.agent, outcome.error, outcome.error_type)

    def fail(self, agent: AgentState, reason: str, error_type: str = "") -> None:
        """``agent`` has failed: it takes no further turn and its vote is gone."""
        agent.failed_reason = reason
        agent.vote = None
        self.set_status(agent, "failed")
        self.emit(
            AgentFailed(agent_id=agent.id, turn=agent.turns, reason=reason, error_type=error_type)
        )

    def add_answer(self, author: AgentState, content: str) -> Answer:
        """Record ``author``'s new answer, with a snapshot of its workspace when the run has
        files, and announce it."""
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

    def files_note(self, agent: AgentState, presenting: bool = False) -> str:
        """The ``<FILES>`` block of the agent's prompt (empty in a run without files)."""
        return self.run_files.note(agent.label, presenting) if self.run_files else ""

    def planning_note(self, agent: AgentState, presenting: bool = False) -> str:
        """The ``<PLANNING MODE>`` block of the agent's prompt (see the turn runner's)."""
        return self.turns.planning_note(agent, presenting)

    # ------------------------------------------------------------------ the end

    def skips_final_call(self) -> bool:
        """The answer chosen is final as it is: ``final_answer: reuse``, one agent (unless
        the final answer is capped or has stop sequences), or an early end (budget, too few
        agents)."""
        alone = len(self.agents) == 1 and not self.cfg.shapes_final_answer
        return self.cfg.final_answer == "reuse" or alone or self.ending != "ok"
