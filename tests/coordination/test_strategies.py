"""Strategies debate and judge, and vote's ensemble options, on the scripted backend."""

from __future__ import annotations

import json

import pytest

from massgen.backends.errors import AuthenticationError
from massgen.backends.retry import RetryPolicy
from massgen.config.schema import OrchestratorConfig
from massgen.coordination.coordinator import Coordinator
from massgen.coordination.state import AgentSpec
from massgen.events import Event, EventBus
from tests.support.scripted import ScriptedBackend, Step, answer, say, team, vote


async def run(agents, question="What is 2+2?", **cfg):
    bus = EventBus()
    events: list[Event] = []
    bus.add_listener(events.append)
    config = OrchestratorConfig(**{"restart_debounce_seconds": 0.0, **cfg})
    coordinator = Coordinator(agents, config, bus, retry_policy=RetryPolicy(max_attempts=1))
    result = await coordinator.run(question)
    return result, events


def of_type(events, kind):
    return [e for e in events if e.type == kind]


def calls(agents) -> int:
    return sum(len(a.backend.calls) for a in agents)


def agree(content: str, label: str) -> Step:
    return Step(calls=[("new_answer", {"content": content, "agrees_with": label})])


# --------------------------------------------------------------------- debate


async def test_debate_revises_until_everyone_agrees_and_the_majority_answer_is_final():
    agents = team(
        [answer("4"), answer("4")],
        [answer("5"), answer("The answer is 4.")],
        [answer("4"), answer("4")],
    )
    result, events = await run(agents, strategy="debate")
    assert result.status == "ok"
    assert result.final_answer == "4"  # the majority's answer, verbatim: no extra call
    assert calls(agents) == 6  # round 1 and one revision; unanimity stopped the debate
    rounds = of_type(events, "round_finished")
    assert [(r.round, r.agreement, r.consensus) for r in rounds] == [
        (1, 0.6667, False),
        (2, 1.0, True),
    ]
    assert rounds[0].groups == [["agent1", "agent3"], ["agent2"]]
    assert rounds[0].last_round == 3  # the independent answers and max_rounds (2) revisions
    winner = of_type(events, "winner_selected")[0]
    assert winner.tally == {"agent1": 3} and winner.reason.startswith("consensus: 3 of 3")
    assert not of_type(events, "final_answer_delta")


async def test_a_revision_reads_every_latest_answer_and_may_repeat_one():
    agents = team([answer("4"), answer("4")], [answer("5"), answer("4")])
    result, _ = await run(agents, strategy="debate")
    revision = agents[1].backend.calls[1]
    assert revision.tools == ["new_answer"]
    assert "<agent1>\n4\n</agent1>" in revision.user_text
    assert "<agent2>\n5\n</agent2>" in revision.user_text
    assert "Your own latest answer is agent2's" in revision.user_text
    first = agents[1].backend.calls[0]
    assert "<CURRENT ANSWERS>" not in first.user_text  # the first answers are independent
    assert result.final_answer == "4"  # an answer identical to another's was accepted


async def test_debate_stops_once_the_consensus_threshold_is_reached():
    agents = team([answer("4")], [answer("4")], [answer("5")])
    result, events = await run(agents, strategy="debate", consensus_threshold=0.6)
    assert calls(agents) == 3  # 2 of 3 agree after round 1: no revision
    assert of_type(events, "round_finished")[0].consensus is True
    assert result.final_answer == "4"


async def test_debate_runs_at_most_max_rounds_revisions_and_a_tie_goes_to_the_earliest():
    agents = team([], [])  # the protocol policy: a different answer every time
    result, events = await run(agents, strategy="debate", max_rounds=3)
    assert calls(agents) == 8  # 2 agents x (1 + 3 rounds)
    rounds = of_type(events, "round_finished")
    assert [r.round for r in rounds] == [1, 2, 3, 4] and not rounds[-1].consensus
    assert result.winner == "a1" and result.is_tie
    assert result.answer_label == "agent1.4"


async def test_agrees_with_groups_answers_worded_differently():
    agents = team(
        [answer("Four."), answer("Four, since 2+2 is 4.")],
        [answer("5"), agree("I was wrong: it is 4.", "agent1")],
    )
    result, events = await run(agents, strategy="debate")
    rounds = of_type(events, "round_finished")
    assert rounds[-1].consensus and rounds[-1].groups == [["agent1", "agent2"]]
    assert result.final_answer == "Four, since 2+2 is 4."  # the answer agreed with


async def test_a_debate_judge_writes_the_final_answer_from_the_final_answers():
    agents = team(
        [answer("4"), answer("4")],
        [answer("5"), answer("5")],
        [answer("6"), answer("4"), say("Synthesis: 4.")],
    )
    result, events = await run(agents, strategy="debate", max_rounds=1, judge="a3")
    assert result.final_answer == "Synthesis: 4."
    final_call = agents[2].backend.calls[-1]
    assert final_call.tools == []
    for label, content in (("agent1", "4"), ("agent2", "5"), ("agent3", "4")):
        assert f"<{label}>\n{content}\n</{label}>" in final_call.user_text
    deltas = of_type(events, "final_answer_delta")
    assert {d.agent_id for d in deltas} == {"a3"}
    assert "".join(d.text for d in deltas) == "Synthesis: 4."


# --------------------------------------------------------------------- judge


async def test_judge_layers_read_the_previous_layer_and_the_judge_aggregates():
    agents = team(
        [answer("A1"), answer("A2")],
        [answer("B1"), answer("B2"), say("Final from the judge.")],
        [answer("C1"), answer("C2")],
    )
    result, events = await run(agents, strategy="judge", layers=2, judge="a2")
    assert calls(agents) == 7  # 3 + 3 + the aggregation
    second_layer = agents[0].backend.calls[1]
    for text in ("A1", "B1", "C1"):
        assert text in second_layer.user_text
    aggregation = agents[1].backend.calls[2]
    assert aggregation.tools == []
    for text in ("A2", "B2", "C2"):
        assert text in aggregation.user_text
    assert "A1" not in aggregation.user_text  # only the last layer
    assert result.final_answer == "Final from the judge."
    assert [r.round for r in of_type(events, "round_finished")] == [1, 2]
    kinds = [(e.agent_id, e.kind) for e in of_type(events, "agent_turn_started")]
    assert kinds[-1] == ("a2", "present") and ("a1", "propose") in kinds
    assert of_type(events, "final_answer")[0].agent_id == "a2"


async def test_the_judge_defaults_to_the_first_agent_and_a_failed_judge_is_replaced():
    agents = team([answer("A1"), say("By a1.")], [answer("B1")])
    result, _ = await run(agents, strategy="judge")
    assert result.final_answer == "By a1."
    agents = team(
        [Step(error=AuthenticationError("bad key", provider="scripted"))],
        [answer("B1"), say("By a2 instead.")],
    )
    result, _ = await run(agents, strategy="judge")
    assert result.status == "ok" and result.final_answer == "By a2 instead."


# --------------------------------------------------------------------- vote's ensemble options


def confident(target: str, confidence: float) -> Step:
    return Step(calls=[("vote", {"agent_id": target, "reason": "r", "confidence": confidence})])


async def test_confidence_weighted_votes_decide_the_winner():
    agents = team(
        [answer("A"), confident("agent1", 0.2)],
        [answer("B"), confident("agent1", 0.3)],
        [answer("C"), confident("agent3", 0.9)],
    )
    result, events = await run(agents, vote_weighting="confidence", final_answer="reuse")
    assert result.winner == "a3"  # 0.9 beats two votes worth 0.5 together
    assert result.tally == {"agent3": 0.9, "agent1": 0.5}
    cast = of_type(events, "vote_cast")
    assert sorted(v.confidence for v in cast) == [0.2, 0.3, 0.9]


async def test_a_vote_without_its_confidence_is_sent_back():
    agents = team(
        [answer("A"), vote("agent1"), confident("agent1", 0.7)],
        [answer("B"), confident("agent1", 1)],
    )
    result, events = await run(agents, vote_weighting="confidence", final_answer="reuse")
    invalid = of_type(events, "invalid_action")
    assert invalid and "confidence" in invalid[0].message
    assert result.tally == {"agent1": 1.7}


async def test_the_vote_tool_asks_for_a_confidence_only_when_votes_are_weighted():
    captured = []

    class Recording(ScriptedBackend):
        async def stream(self, messages, tools=None, **kw):
            captured.extend(t for t in tools or () if t.name == "vote")
            async for chunk in super().stream(messages, tools, **kw):
                yield chunk

    agents = [
        AgentSpec(f"a{i}", Recording(f"a{i}", [answer(f"x{i}"), confident("agent1", 1)]))
        for i in (1, 2)
    ]
    await run(agents, vote_weighting="confidence", final_answer="reuse")
    schema = captured[0].parameters
    assert "confidence" in schema["required"]
    assert schema["properties"]["confidence"]["maximum"] == 1
    captured.clear()
    await run(team([], []), final_answer="reuse")
    assert not captured


async def test_min_agents_fails_the_run_cleanly_when_too_few_are_left():
    agents = team(
        [answer("A", delay=0.05), vote("agent1", delay=5)],
        [Step(error=AuthenticationError("bad key", provider="scripted"))],
        [answer("C", delay=0.05), vote("agent1", delay=5)],
    )
    result, events = await run(agents, min_agents=3)
    assert result.status == "failed" and result.final_answer is None
    assert "min_agents: 2 live agent(s), 3 needed" in result.error
    assert "a2: scripted: bad key" in result.error
    assert calls(agents) <= 3  # nobody went on to vote or present
    assert of_type(events, "error")[-1].error_type == "min_agents"


async def test_fallback_to_best_keeps_the_best_answer_when_the_run_fails():
    agents = team(
        [answer("A", delay=0.05), vote("agent1", delay=5)],
        [Step(error=AuthenticationError("bad key", provider="scripted"), delay=0.3)],
        [answer("C", delay=0.05), vote("agent1", delay=5)],
    )
    result, _ = await run(agents, min_agents=3, fallback_to_best=True)
    assert result.status == "failed"
    assert result.final_answer in ("A", "C")
    assert "fallback_to_best" in result.error


async def test_fallback_to_best_on_timeout_takes_the_answer_that_held_the_most_votes():
    def scripts():
        return team(
            [answer("A"), vote("agent1"), vote("agent1", delay=30)],
            [answer("B"), vote("agent1"), vote("agent1", delay=30)],
            [answer("C"), answer("C, later", delay=1.0), vote("agent1", delay=30)],
        )

    plain, _ = await run(scripts(), timeout_seconds=3)
    assert plain.status == "timeout"
    assert plain.final_answer == "C, later"  # no votes stand: the latest answer
    best, events = await run(scripts(), timeout_seconds=3, fallback_to_best=True)
    assert best.status == "timeout"
    assert best.final_answer == "A"  # agent1.1 held two votes before they were cleared
    reason = of_type(events, "winner_selected")[0].reason
    assert "best-scored" in reason and "agent1.1" in reason


def test_strategy_options_are_checked_with_the_key_named():
    with pytest.raises(ValueError, match="max_rounds"):
        OrchestratorConfig(max_rounds=1)
    assert OrchestratorConfig(strategy="debate", max_rounds=1).rounds == 1
    assert OrchestratorConfig(strategy="debate").rounds == 2
    assert OrchestratorConfig().rounds == 6
    with pytest.raises(ValueError, match="vote_weighting"):
        OrchestratorConfig(strategy="judge", vote_weighting="confidence")


async def test_run_started_describes_the_strategy_for_the_app():
    _, events = await run(team([], [], []), strategy="debate", consensus_threshold=0.5)
    started = of_type(events, "run_started")[0]
    assert started.strategy == "debate"
    assert started.options["rounds"] == 2 and started.options["consensus_threshold"] == 0.5
    data = json.loads(json.dumps(started.to_dict()))
    assert Event.from_dict(data) == started


@pytest.mark.parametrize(
    ("strategy", "options", "noun", "votes", "steps"),
    [
        ("vote", {}, "round", True, None),
        ("debate", {"max_rounds": 3}, "round", False, 4),
        ("judge", {"layers": 2}, "layer", False, 2),
    ],
)
async def test_run_started_names_the_strategy_s_step_and_whether_it_votes(
    strategy, options, noun, votes, steps
):
    _, events = await run(team([], [], []), strategy=strategy, **options)
    started = of_type(events, "run_started")[0]
    assert (started.step_noun, started.has_votes, started.steps) == (noun, votes, steps)
