"""One agent turn, from its prompt to its outcome (docs/architecture.md, "A run, step by step").

A strategy decides who plays which turn and what an outcome means; :class:`TurnRunner` plays
turns. Inside a turn it owns everything: the agent's own tools (custom, files, MCP) and their
loop, the model calls (retries, a budget lease per call, the workflow mode), the validation of
the action and its retries, lending tools and files to a backend with an agent loop of its
own, and the events of every delta. Its surface is small: :meth:`TurnRunner.start` a turn,
``await`` :meth:`TurnRunner.next_outcome` (an :class:`Outcome`, or a :class:`Tick` from a
timer set with :meth:`TurnRunner.wake_at`), :meth:`TurnRunner.cancel` one turn or
:meth:`TurnRunner.cancel_all`, and :meth:`TurnRunner.present_turn` for a final answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from massgen.backends.errors import BackendError
from massgen.backends.retry import RetryPolicy
from massgen.config.schema import OrchestratorConfig
from massgen.coordination import budget, modes, planning, workflow
from massgen.coordination.calls import call_model
from massgen.coordination.files import RunFiles
from massgen.coordination.generation import RunGeneration
from massgen.coordination.state import AgentState
from massgen.events import (
    AgentCancelled,
    AgentStatusChanged,
    AgentTurnStarted,
    Event,
    FinalAnswerDelta,
    InvalidAction,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    WorkflowModeChanged,
)
from massgen.messages import MediaChunk, Message, ToolCall, ToolSpec
from massgen.tools.base import Tool, ToolLimits, ToolResult, close_tools, run_call
from massgen.tools.lending import AgentTurn, ToolReply
from massgen.tools.mcp import MCPHub

MAX_ATTEMPTS_PER_TURN = 3


@dataclass
class Outcome:
    """How a turn ended: its action, or why it failed. ``answer_set`` is the answer-set
    version the turn was started on; ``stale`` marks a turn that was cancelled or replaced
    and finished anyway (its outcome changes nothing)."""

    agent: AgentState
    turn_id: int
    answer_set: int
    action: workflow.Action | None = None
    error: str | None = None
    error_type: str = ""
    stale: bool = False


@dataclass
class Tick:
    """Wakes the strategy's loop when a timer set with :meth:`TurnRunner.wake_at` expires."""


class TurnRunner:
    """Plays the turns of one run's ``agents``.

    ``step`` gives the run's current step (round, layer) for ``agent_turn_started``;
    ``hub`` is the run's MCP servers, set once the run starts."""

    def __init__(
        self,
        cfg: OrchestratorConfig,
        agents: Sequence[AgentState],
        emit: Callable[[Event], None],
        budget: budget.Budget,
        *,
        step: Callable[[], int],
        retry_policy: RetryPolicy | None = None,
        run_files: RunFiles | None = None,
        artifacts_root: Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.agents = agents
        self.emit = emit
        self.budget = budget
        self.step = step
        self.retry_policy = retry_policy
        self.run_files = run_files
        self.files = run_files.workspaces if run_files else None
        self.hub = MCPHub()
        self.generation = RunGeneration(emit, budget, artifacts_root, run_files)
        self.own_tools: dict[str, dict[str, Tool]] = {}  # agent id -> its tools, once known
        self.planning = cfg.coordination.enable_planning_mode
        self.plans: dict[str, planning.Plan] = {}  # agent id -> its current turn's plan
        self.tool_limits = ToolLimits(
            calls_per_turn=cfg.max_tool_calls_per_turn,
            timeout_s=cfg.tool_timeout_seconds,
            result_chars=cfg.tool_result_max_chars,
        )
        self._queue: asyncio.Queue[Outcome | Tick] = asyncio.Queue()
        self._turn_ids = itertools.count(1)
        self._timers: list[asyncio.TimerHandle] = []
        self._stale_tasks: set[asyncio.Task[None]] = set()

    def set_status(self, agent: AgentState, status: str) -> None:
        if agent.status != status:
            agent.status = status
            self.emit(AgentStatusChanged(agent_id=agent.id, turn=agent.turns, status=status))

    # ------------------------------------------------------------------ the surface

    def start(
        self,
        agent: AgentState,
        kind: str,
        rules: workflow.TurnRules,
        messages: Callable[[], list[Message]],
        *,
        answer_set: int = 0,
    ) -> None:
        """Start a turn of ``kind`` (``answer`` is an agent's first): ``messages`` builds
        its prompt (again when the workflow mode changes); its outcome, tagged with
        ``answer_set``, comes out of :meth:`next_outcome`."""
        agent.turns += 1
        turn_id = next(self._turn_ids)
        agent.turn_id = turn_id
        self.set_status(agent, "thinking")
        agent.task = asyncio.create_task(
            self._turn_task(agent, turn_id, kind, rules, messages, answer_set),
            name=f"massgen:{agent.id}:turn{agent.turns}",
        )

    async def next_outcome(self) -> Outcome | Tick:
        """The next turn's outcome (the agent's turn is then over), or a timer's tick."""
        item = await self._queue.get()
        if isinstance(item, Outcome):
            agent = item.agent
            if item.turn_id != agent.turn_id:
                item.stale = True
            else:
                agent.task = None
                agent.turn_id = None
        return item

    def wake_at(self, deadline: float) -> None:
        """A :class:`Tick` out of :meth:`next_outcome` at ``deadline`` (``time.monotonic``)."""
        delay = max(0.0, deadline - time.monotonic())
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(delay, self._queue.put_nowait, Tick()))

    def cancel(self, agent: AgentState, reason: str) -> None:
        """Cancel ``agent``'s turn (its HTTP request is closed; its outcome is stale)."""
        if agent.task is not None:
            agent.task.cancel()
            self._stale_tasks.add(agent.task)
        agent.task = None
        agent.turn_id = None
        self.emit(AgentCancelled(agent_id=agent.id, turn=agent.turns, reason=reason))

    async def cancel_all(self, reason: str) -> None:
        """Cancel the timers and every turn, and wait until the cancelled turns are gone."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for agent in self.agents:
            if agent.busy:
                self.cancel(agent, reason)
                if agent.live:
                    self.set_status(agent, "cancelled")
        tasks, self._stale_tasks = self._stale_tasks, set()
        if tasks:
            # let cancelled turns close their HTTP streams before the run returns
            await asyncio.gather(*tasks, return_exceptions=True)

    async def present_turn(self, agent: AgentState, messages: list[Message]) -> str:
        """A final-answer turn: the answer, after any tool calls the presenter makes (in the
        ``tools`` mode; the json and text modes present in plain text)."""
        own = await self.tools_of(agent) if agent.mode == "tools" else {}
        lent = self._lend(agent, own)
        used = 0
        cap, stop = self.cfg.final_answer_max_tokens, self.cfg.final_answer_stop
        with agent.spec.backend.final_call(cap, stop):  # on the wire: its max_tokens, stop
            while True:
                extra = self._offered(agent, own, used)
                text, calls = await self._call(
                    agent, messages, extra or None, FinalAnswerDelta, lent
                )
                if not (calls and extra):
                    return text + self.generation.native_note(agent)
                used += len(calls)
                results = await self._run_tools(agent, calls, own)
                messages = [*messages, Message("assistant", text, tool_calls=calls), *results]

    async def tools_of(self, agent: AgentState) -> dict[str, Tool]:
        """The agent's own tools: its custom ones, and its MCP servers' once they are up."""
        if agent.id not in self.own_tools:
            tools: list[Tool] = []
            if self.run_files is not None:
                tools += self.run_files.tools(agent.label, lambda: agent.presenting)
            if agent.spec.understanding is not None:
                tools += self._understanding_tools(agent)
            tools += self.generation.tools(agent)
            tools += agent.spec.tools  # an agent's own custom tools win over same-named ones
            if agent.spec.mcp_servers:
                tools += await self.hub.tools_for(agent.id, agent.spec.mcp_servers)
            self.own_tools[agent.id] = {tool.name: tool for tool in tools}
        return self.own_tools[agent.id]

    def _understanding_tools(self, agent: AgentState) -> list[Tool]:
        from massgen.coordination.media import understanding_tools

        policy = None
        if self.run_files is not None:
            policy = self.run_files.agent_files(agent.label, lambda: agent.presenting).policy
        return understanding_tools(agent, policy, self.emit, self.budget, self.generation.artifacts)

    def planning_note(self, agent: AgentState, presenting: bool = False) -> str:
        """The ``<PLANNING MODE>`` block of the agent's prompt: in planning mode, for an
        agent with tools that change things (empty otherwise)."""
        if not self.planning:
            return ""
        own = self.own_tools.get(agent.id, {}).values()
        note = planning.presentation_note if presenting else planning.coordination_note
        return note(own)

    async def close(self) -> None:
        """Stop the MCP servers and the agents' tool workers."""
        await self.hub.close()
        await close_tools(tool for agent in self.agents for tool in agent.spec.tools)

    # ------------------------------------------------------------------ a turn

    async def _turn_task(
        self,
        agent: AgentState,
        turn_id: int,
        kind: str,
        rules: workflow.TurnRules,
        messages: Callable[[], list[Message]],
        answer_set: int,
    ) -> None:
        outcome = Outcome(agent=agent, turn_id=turn_id, answer_set=answer_set)
        try:
            async with asyncio.timeout(self.cfg.turn_timeout_seconds):
                outcome.action = await self._run_turn(agent, kind, rules, messages)
            if self.files is not None and isinstance(outcome.action, workflow.NewAnswerAction):
                await self._stage_files(agent)
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
        self._queue.put_nowait(outcome)

    async def _run_turn(
        self,
        agent: AgentState,
        kind: str,
        rules: workflow.TurnRules,
        fresh: Callable[[], list[Message]],
    ) -> workflow.Action:
        tools = workflow.tool_specs(rules)
        self.emit(
            AgentTurnStarted(
                agent_id=agent.id,
                turn=agent.turns,
                kind=kind,
                round=self.step() if kind != "answer" else 1,
                tools=[t.name for t in tools],
            )
        )
        own = await self.tools_of(agent)  # before the prompt, which may name them
        messages = fresh()
        texts: list[str] = []
        self.plans[agent.id] = planning.Plan()
        lent = self._lend(agent, own)
        used = 0  # the agent's own tool calls in this turn
        attempt = 0
        while attempt < MAX_ATTEMPTS_PER_TURN:
            extra = self._offered(agent, own, used)
            text, calls = await self._call(agent, messages, [*tools, *extra], TextDelta, lent)
            action_calls = [c for c in calls if c.name in workflow.WORKFLOW_TOOLS]
            tool_calls = [c for c in calls if c.name not in workflow.WORKFLOW_TOOLS]
            if tool_calls and not action_calls and extra:
                used += len(tool_calls)  # a tool round: the turn goes on, no attempt used
                results = await self._run_tools(agent, tool_calls, own)
                messages = [
                    *messages,
                    Message("assistant", text, tool_calls=tool_calls),
                    *results,
                ]
                continue
            attempt += 1
            texts.append(text)
            try:
                return self._with_plan(agent, workflow.validate(action_calls or calls, rules))
            except workflow.InvalidActionError as exc:
                said = str(exc)
                if said == workflow.NO_ACTION_REMINDER:  # as the model is told, in its mode
                    said = workflow.reminder(agent.mode)
                invalid = InvalidAction(
                    agent_id=agent.id, turn=agent.turns, message=said, attempt=attempt
                )
                self.emit(invalid)
                if attempt >= MAX_ATTEMPTS_PER_TURN:
                    return self._with_plan(agent, last_resort(rules, texts, str(exc)))
                if agent.auto_mode and agent.mode in modes.NEXT:
                    self._change_mode(agent, modes.NEXT[agent.mode], str(exc))
                    messages = fresh()  # the new mode's own instructions, from the start
                else:
                    messages = [*messages, *feedback(text, calls, str(exc), agent.mode)]
        raise AssertionError("unreachable")

    async def _call(
        self,
        agent: AgentState,
        messages: list[Message],
        tools: list[ToolSpec] | None,
        delta_type: type[TextDelta] | type[FinalAnswerDelta],
        lent: AgentTurn | None,
    ) -> tuple[str, list[ToolCall]]:
        async def on_media(chunk: MediaChunk) -> None:
            await self.generation.save_native(agent, chunk)

        with self.generation.native_images(agent):
            return await call_model(
                agent,
                messages,
                tools,
                delta_type,
                self.emit,
                self.budget,
                self.retry_policy,
                lent,
                on_media,
            )

    async def _stage_files(self, agent: AgentState) -> None:
        """Copy the agent's workspace for the answer it just gave, in a thread: the copy is
        I/O-bound (up to half a second for 1,000 small files) and the other agents' streams
        go on meanwhile. The strategy's ``add_answer`` then only renames it into place."""
        assert self.files is not None
        if agent.staged is not None:  # an earlier answer that was not taken
            shutil.rmtree(agent.staged, ignore_errors=True)
            agent.staged = None
        agent.staged = await asyncio.to_thread(self.files.stage, agent.label)

    def _with_plan(self, agent: AgentState, action: workflow.Action) -> workflow.Action:
        """A new answer with the calls its turn planned (planning mode), for all to read."""
        made = self.generation.native_note(agent)  # images the provider's own tool made
        if made and isinstance(action, workflow.NewAnswerAction):
            action = dataclasses.replace(action, content=action.content + made)
        plan = self.plans.get(agent.id)
        if plan is None or not plan.calls or not isinstance(action, workflow.NewAnswerAction):
            return action
        return dataclasses.replace(action, content=action.content + plan.block())

    def _change_mode(self, agent: AgentState, mode: str, reason: str) -> None:
        previous, agent.mode = agent.mode, mode
        self.emit(
            WorkflowModeChanged(
                agent_id=agent.id, turn=agent.turns, mode=mode, previous=previous, reason=reason
            )
        )

    # ------------------------------------------------------------------ the agent's own tools

    def _offered(self, agent: AgentState, own: dict[str, Tool], used: int) -> list[ToolSpec]:
        """The agent's own tool specs while it may still call tools in this turn (not in
        the ``text`` mode, which has no way to call them)."""
        if agent.mode == "text" or used >= self.tool_limits.calls_per_turn:
            return []
        return [tool.spec for tool in own.values()]

    async def _run_tools(
        self, agent: AgentState, calls: list[ToolCall], own: dict[str, Tool]
    ) -> list[Message]:
        """Run the model's calls of its own tools, concurrently; their results as the
        messages that go back to it (errors included: the turn goes on)."""

        results = await asyncio.gather(*(self._run_one(agent, call, own) for call in calls))
        return [Message("tool", r.text, tool_call_id=r.call.id, name=r.call.name) for r in results]

    async def _run_one(self, agent: AgentState, call: ToolCall, own: dict[str, Tool]) -> ToolResult:
        """One call of the agent's own tools (held in planning mode), with its events."""
        tool = own.get(call.name)
        held = self.planning and not agent.presenting and tool is not None and tool.side_effects
        if held:
            assert tool is not None
            tool = self.plans.setdefault(agent.id, planning.Plan()).hold(tool)
        result = await run_call(tool, call, self.tool_limits)
        self._tool_finished(agent, result, planned=held and not result.is_error)
        return result

    def _tool_finished(self, agent: AgentState, result: ToolResult, planned: bool = False) -> None:
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

    def _lend(self, agent: AgentState, own: dict[str, Tool]) -> AgentTurn | None:
        """What a backend that runs its own agent loop (Claude Code, AG2) is lent for this
        turn's calls: it calls the agent's own tools through the runner, bounded like any
        other agent's, and keeps the same file rules in its native tools."""
        if not agent.spec.backend.runs_own_loop:
            return None
        limit, used = self.tool_limits.calls_per_turn, 0

        async def run_tool(call: ToolCall) -> ToolReply:
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
                self._tool_finished(agent, ToolResult(call, text, True, 0.0, len(text)))
                return ToolReply(text, is_error=True)
            result = await self._run_one(agent, call, own)
            return ToolReply(result.text, is_error=result.is_error)

        files = None
        if self.run_files is not None:
            files = self.run_files.agent_files(agent.label, lambda: agent.presenting)
        default = self.tool_limits.timeout_s
        longest = max((tool.timeout_s or default for tool in own.values()), default=default)
        return AgentTurn(run_tool, frozenset(own), files, longest)


def last_resort(rules: workflow.TurnRules, texts: list[str], error: str) -> workflow.Action:
    """After the last invalid attempt: with ``rules.text_is_answer`` (a first turn) the
    turn's text is taken as the agent's answer (a model that only writes prose still
    contributes); otherwise the turn abstains. Only a turn that must answer and has no usable
    text fails the agent."""
    if rules.text_is_answer and rules.can_answer:
        for text in reversed(texts):
            try:
                return workflow.answer_from_text(text, rules)
            except workflow.InvalidActionError:
                continue
        raise workflow.InvalidActionError(error)
    return workflow.Abstention(reason=f"no valid vote after {len(texts)} attempts ({error})")


def feedback(text: str, calls: list[ToolCall], error: str, mode: str = "tools") -> list[Message]:
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
