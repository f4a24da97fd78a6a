"""The view model folds events into what the user sees (no Textual involved)."""

from __future__ import annotations

from massgen.events import (
    AgentStatusChanged,
    AnswerSubmitted,
    RunFinished,
    RunStarted,
    StreamRetry,
    TextDelta,
    ToolArgumentsDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
    VoteCast,
)
from massgen.tui.state import RunView

AGENTS = [{"id": f"a{i}", "label": f"agent{i}", "model": "m"} for i in (1, 2, 3)]


def started(view: RunView) -> RunView:
    view.apply(RunStarted(question="Q", strategy="vote", agents=AGENTS, ts=100.0))
    return view


def test_a_retry_shows_as_retrying_until_text_arrives_again():
    view = started(RunView(clock=lambda: 0.0))
    view.apply(AgentStatusChanged(agent_id="a1", status="thinking"))
    view.apply(TextDelta(agent_id="a1", text="partial text"))
    view.apply(StreamRetry(agent_id="a1", attempt=1, delay=2.0, reason="429 busy"))
    agent = view.agents["a1"]
    assert agent.shown_status == "retrying" and "partial text" not in agent.transcript
    assert agent.transcript.count("429 busy") == 1
    assert not any("429 busy" in line for line in view.log)  # said once, on the card
    view.apply(TextDelta(agent_id="a1", text="again"))
    assert agent.shown_status == "thinking"


def test_the_running_tally_and_its_leader_follow_the_votes():
    view = started(RunView())
    for agent in ("a1", "a2"):
        view.apply(
            AnswerSubmitted(
                agent_id=agent,
                label=f"agent{agent[1]}.1",
                agent_label=f"agent{agent[1]}",
                version=1,
                content="x",
            )
        )
    assert view.leader is None and view.tally == {}
    view.apply(
        VoteCast(
            agent_id="a1",
            voter="agent1",
            target="agent2",
            target_answer="agent2.1",
            target_agent_id="a2",
            reason="r",
        )
    )
    view.apply(
        VoteCast(
            agent_id="a3",
            voter="agent3",
            target="agent1",
            target_answer="agent1.1",
            target_agent_id="a1",
            reason="r",
        )
    )
    assert view.tally == {"agent2": 1, "agent1": 1}
    assert view.leader == "agent1"  # a tie goes to the earliest answer, as the engine decides
    view.apply(
        VoteCast(
            agent_id="a2",
            voter="agent2",
            target="agent2",
            target_answer="agent2.1",
            target_agent_id="a2",
            reason="r",
        )
    )
    assert view.leader == "agent2" and len(view.votes) == 3


def test_a_tool_call_is_the_agents_activity():
    view = started(RunView())
    view.apply(ToolCallStarted(agent_id="a2", call_id="c", name="new_answer", arguments="{}"))
    assert view.agents["a2"].activity == "writing answer"
    view.apply(ToolCallStarted(agent_id="a3", call_id="d", name="web_search", arguments="{}"))
    assert view.agents["a3"].activity == "calling web_search"


def test_a_finished_tool_call_shows_in_the_card_with_its_result():
    view = started(RunView())
    view.apply(ToolCallStarted(agent_id="a1", call_id="c", name="mcp__time__now", arguments="{}"))
    view.apply(
        ToolCallFinished(
            agent_id="a1", call_id="c", name="mcp__time__now", result="12:00 UTC", duration_s=0.25
        )
    )
    view.apply(ToolCallStarted(agent_id="a1", call_id="d", name="lookup", arguments="{}"))
    view.apply(
        ToolCallFinished(
            agent_id="a1", call_id="d", name="lookup", result="no such key", is_error=True
        )
    )
    agent = view.agents["a1"]
    assert "✓ mcp__time__now · 0.25s" in agent.transcript and "> 12:00 UTC" in agent.transcript
    assert "✗ lookup" in agent.transcript and "no such key" in agent.transcript
    assert agent.activity == ""


def test_a_recorded_view_keeps_the_recorded_times():
    now = [130.0]
    view = started(RunView(clock=lambda: now[0], recorded=True))
    assert view.elapsed == 30.0  # the recording's clock, not the wall clock
    view.apply(AgentStatusChanged(agent_id="a1", status="thinking", ts=101.0))
    view.apply(AgentStatusChanged(agent_id="a1", status="answered", ts=111.5))
    view.apply(RunFinished(status="ok", duration_s=28.0, ts=128.0))
    assert view.elapsed == 28.0 and view.agents["a1"].elapsed(999) == 10.5


def test_a_judge_run_names_its_layers_on_cards_scoreboard_and_log():
    from massgen.events import AgentTurnStarted, RoundFinished
    from massgen.tui.scoreboard import summary

    view = RunView()
    view.apply(
        RunStarted(
            question="Q",
            strategy="judge",
            step_noun="layer",
            has_votes=False,
            steps=2,
            agents=AGENTS,
            ts=100.0,
        )
    )
    view.apply(AgentTurnStarted(agent_id="a1", turn=1, kind="answer", round=1))
    view.apply(RoundFinished(strategy="judge", round=1, last_round=2, answers=["agent1.1"]))
    view.apply(AgentTurnStarted(agent_id="a1", turn=2, kind="propose", round=2))
    transcript = view.agents["a1"].transcript
    assert "— layer 1: first answer —" in transcript
    assert "— layer 2: combining the answers —" in transcript
    assert "layer 1/2 done" in view.log
    assert summary(view, 60).plain.startswith("Layer 2/2 · running")


def pieces(raw: str, size: int = 7) -> list[str]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def test_an_answer_written_as_a_tool_argument_shows_as_it_grows():
    view = started(RunView(clock=lambda: 0.0))
    view.apply(AgentStatusChanged(agent_id="a1", status="thinking"))
    agent = view.agents["a1"]
    raw = '{"content": "Paris is the capital of France.\\nIt has been since 987."}'
    shown = []
    for piece in pieces(raw):
        view.apply(ToolArgumentsDelta(agent_id="a1", call_id="c1", name="new_answer", text=piece))
        shown.append((agent.transcript, agent.tokens))
    assert "Paris is the" in shown[len(shown) // 2][0]  # halfway, the first words are there
    assert "Paris is the capital of France.\nIt has been since 987." in shown[-1][0]
    assert [t for _, t in shown] == sorted(t for _, t in shown) and shown[-1][1] > 0
    assert agent.activity == "writing answer"
    view.apply(ToolCallStarted(agent_id="a1", call_id="c1", name="new_answer", arguments=raw))
    view.apply(Usage(agent_id="a1", prompt_tokens=50, completion_tokens=20))
    assert agent.tokens == 70  # the call's own count replaces the estimate
    view.apply(
        AnswerSubmitted(
            agent_id="a1",
            label="agent1.1",
            agent_label="agent1",
            version=1,
            content="Paris is the capital of France.\nIt has been since 987.",
        )
    )
    # once submitted, the card shows what it always did: the answer, once
    assert agent.transcript.count("Paris is the capital") == 1
    assert "**New answer agent1.1:**" in agent.transcript and "writing…" not in agent.transcript


def test_a_vote_reason_streams_and_a_retry_voids_the_partial_call():
    view = started(RunView(clock=lambda: 0.0))
    agent = view.agents["a2"]
    for piece in pieces('{"agent_id": "agent1", "reason": "It cites the date'):
        view.apply(ToolArgumentsDelta(agent_id="a2", call_id="c9", name="vote", text=piece))
    assert "**Voting for agent1**: It cites the date" in agent.transcript
    view.apply(StreamRetry(agent_id="a2", attempt=1, delay=1.0, reason="cut off"))
    assert "It cites" not in agent.transcript and agent.tokens == 0
    # another tool's arguments are not shown as an answer
    view.apply(ToolArgumentsDelta(agent_id="a2", call_id="c2", name="read_file", text='{"p'))
    assert "read_file" not in agent.transcript and '{"p' not in agent.transcript
