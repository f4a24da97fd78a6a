"""``ask_team``: one run of the team for an MCP client, its progress told as it goes, its
result as structured content and text; a refused input or a failed run is one error line
(``isError``), and a cancelled call cancels the run (its model requests are closed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from massgen.errors import ConfigurationError, RunFailedError, describe
from massgen.events import Subscription
from massgen.exitcodes import ExitCode, for_status
from massgen.mcp_server.progress import milestone
from massgen.mcp_server.sessions import session_uri
from massgen.mcp_server.team import Team
from massgen.redaction import redact_env

if TYPE_CHECKING:
    from massgen.runs import Prepared

#: Sends one progress line (the SDK's ``Context.report_progress``, bound to the call).
Report = Callable[[float, str], Awaitable[None]]


class TeamAnswer(BaseModel):
    """What ``ask_team`` returns as structured content."""

    final_answer: str | None = Field(description="The team's final answer.")
    status: str = Field(description="ok, timeout, budget (a cap ended the run), failed.")
    winner: str | None = Field(description="The agent whose answer won.")
    votes: dict[str, float] = Field(description="Votes per agent id.")
    voters: dict[str, list[dict[str, str]]] = Field(
        description="Per agent id: who voted for it, and why."
    )
    is_tie: bool
    answers: list[dict[str, str]] = Field(description="Every answer: label, agent_id, content.")
    cost_usd: float | None = Field(description="What the run cost (None: a price is unknown).")
    usage: dict[str, Any] = Field(description="Tokens and requests, in all and per agent.")
    config: str = Field(description="The config that ran.")
    session: str | None = Field(description="The session's resource (massgen://sessions/ID).")


async def ask_team(
    team: Team,
    question: str,
    config: str | None,
    strategy: str | None,
    context_paths: Sequence[str] | None,
    report: Report,
) -> CallToolResult:
    """Run the team on ``question`` (when one of the server's runs is free) and return its
    answer, or an error result."""
    if not question.strip():
        return error_result("question: empty; ask the team something")
    try:
        prepared = team.prepare(config, strategy, context_paths)
    except ConfigurationError as exc:
        return error_result(str(exc))

    async def waiting() -> None:
        limit = team.options.max_concurrency
        with contextlib.suppress(Exception):  # a client that went away hears nothing
            await report(0, f"waiting: {limit} run(s) going, the server's --max-concurrency")

    async with team.slot(waiting):
        return await _run(team, prepared, question, report)


async def _run(team: Team, prepared: Prepared, question: str, report: Report) -> CallToolResult:
    """One run of ``prepared`` on ``question``, its milestones told, its session recorded."""
    from massgen.runs import ActiveRun

    recorder = team.recorder(prepared)
    active = ActiveRun(prepared, question, (), recorder)
    assert active.subscription is not None
    telling = asyncio.create_task(_tell(active.subscription, report))
    code: int = ExitCode.INTERRUPTED  # what the session records if the call is cancelled
    try:
        # Waited on, not awaited: a cancelled call must not cancel the run's task over and
        # over (anyio repeats a cancel), which broke off the closing of its HTTP requests;
        # active.cancel() below cancels it once.
        await asyncio.wait({active.task})
        data = await active.outcome()
        code = for_status(data.get("status"))
    except (ConfigurationError, RunFailedError) as exc:
        code = ExitCode.USAGE if isinstance(exc, ConfigurationError) else ExitCode.RUN_FAILED
        return error_result(describe(exc))
    finally:
        with anyio.CancelScope(shield=True):  # a cancelled call still closes its run
            await active.cancel()
            with anyio.move_on_after(2):  # the last milestones, told before the result
                await asyncio.wait({telling})
            telling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await telling
            if recorder is not None:
                recorder.close(code)
    answer = _answer(data, session_uri(active.session.id) if active.session else None)
    return CallToolResult(
        content=[TextContent(type="text", text=_text(answer))],
        structured_content=answer.model_dump(mode="json"),
    )


def error_result(message: str) -> CallToolResult:
    """One line for the client's model, marked as an error."""
    line = " ".join(redact_env(message).split())
    return CallToolResult(content=[TextContent(type="text", text=f"error: {line}")], is_error=True)


async def _tell(subscription: Subscription, report: Report) -> None:
    """Each milestone of the run as a progress notification (1, 2, 3, ...)."""
    count = 0
    async for event in subscription:
        line = milestone(event.to_dict())
        if line is None:
            continue
        count += 1
        with contextlib.suppress(Exception):  # a client that went away hears nothing
            await report(count, redact_env(line))


def _answer(data: dict[str, Any], session: str | None) -> TeamAnswer:
    votes = data["vote_results"]
    usage = data["usage"]
    return TeamAnswer(
        final_answer=data["final_answer"],
        status=data["status"],
        winner=data["selected_agent"],
        votes=votes["vote_counts"],
        voters=votes["voters"],
        is_tie=votes["is_tie"],
        answers=data["answers"],
        cost_usd=usage["cost_usd"],
        usage={k: v for k, v in usage.items() if k != "cost_usd"},
        config=data["config_used"],
        session=session,
    )


def _text(answer: TeamAnswer) -> str:
    """The answer, then one line of how it was reached."""
    tally = ", ".join(f"{agent} {n:g}" for agent, n in answer.votes.items()) or "none"
    cost = "unknown" if answer.cost_usd is None else f"${answer.cost_usd:.6f}"
    facts = [
        f"winner: {answer.winner or '-'}",
        f"votes: {tally}",
        f"cost: {cost}",
        f"{answer.usage.get('total_tokens', 0):,} tokens",
    ]
    if answer.status != "ok":
        facts.insert(0, f"status: {answer.status}")
    if answer.session:
        facts.append(f"session: {answer.session}")
    return f"{(answer.final_answer or '').rstrip()}\n\n---\n{' · '.join(facts)}"
