"""The vote protocol, rule by rule, on the in-process scripted backend."""

from __future__ import annotations

import json

import pytest

from massgen.backends.errors import AuthenticationError, BackendConnectionError
from massgen.backends.retry import RetryPolicy
from massgen.config.schema import OrchestratorConfig
from massgen.coordination.coordinator import Coordinator
from massgen.events import Event, EventBus
from tests.support.scripted import ScriptedBackend, Step, answer, say, team, vote


async def run(agents, question="What is 2+2?", history=(), **cfg):
    bus = EventBus()
    events: list[Event] = []
    bus.add_listener(events.append)
    config = OrchestratorConfig(**{"restart_debounce_seconds": 0.0, **cfg})
    coordinator = Coordinator(agents, config, bus, retry_policy=RetryPolicy(max_attempts=1))
    result = await coordinator.run(question, history)
    return result, events


def of_type(events, kind):
    return [e for e in events if e.type == kind]


def backend(agents, i) -> ScriptedBackend:
    return agents[i].backend


# --------------------------------------------------------------------- the ideal run


async def test_three_agents_answer_vote_and_the_winner_presents_in_seven_calls():
    agents = team(
        [answer("Four.", delay=0.01), vote("agent2"), say("It is 4.")],
        [answer("2+2 = 4", delay=0.02), vote("agent2")],
        [answer("4", delay=0.03), vote("agent1")],
    )
    result, events = await run(agents)
    assert result.status == "ok"
    assert result.winner == "a2" and result.winner_label == "agent2"
    assert result.tally == {"agent2": 2, "agent1": 1}
    # agent2 won, so agent2's backend presents, not agent1's scripted "It is 4."
    assert result.final_answer.startswith("Final answer from a2")
    assert sum(len(a.backend.calls) for a in agents) == 7
    assert result.total_usage.requests == 7
    kinds = [e.type for e in events]
    for expected in ("run_started", "answer_submitted", "vote_cast", "winner_selected"):
        assert expected in kinds
    assert kinds[-2:] == ["final_answer", "run_finished"]
    deltas = "".join(e.text for e in of_type(events, "final_answer_delta"))
    assert deltas == result.final_answer


async def test_labels_follow_config_order_and_answers_are_versioned():
    agents = team(
        [answer("first"), answer("second, better"), vote("agent1")],
        [answer("other", delay=0.01), vote("agent1"), vote("agent1")],
    )
    result, events = await run(agents)
    started = of_type(events, "run_started")[0]
    assert [(a["id"], a["label"]) for a in started.agents] == [("a1", "agent1"), ("a2", "agent2")]
    assert [e.label for e in of_type(events, "answer_submitted")] == [
        "agent1.1",
        "agent2.1",
        "agent1.2",
    ]
    assert result.answer_label == "agent1.2"
    # the prompt shows labels, never config ids
    assert "<agent1>" in backend(agents, 1).calls[1].user_text
    assert "a1" not in backend(agents, 1).calls[1].user_text.replace("agent1", "")


async def test_every_event_is_json_serialisable_with_increasing_seq():
    result, events = await run(team([], [], []))
    assert result.ok
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for event in events:
        data = json.loads(json.dumps(event.to_dict()))
        assert data["type"] == event.type and data["run_id"] == result.run_id
        assert Event.from_dict(data) == event


# --------------------------------------------------------------------- first answers


async def test_first_turn_sees_no_peer_answer_and_cannot_vote():
    agents = team([answer("fast", delay=0.0)], [answer("slow", delay=0.05)])
    await run(agents)
    for agent in agents:
        first = agent.backend.calls[0]
        assert first.tools == ["new_answer"]
        assert "(no answers yet)" in first.user_text


async def test_an_answered_agent_waits_for_every_first_answer():
    agents = team([answer("fast")], [answer("slow", delay=0.2)], [answer("slower", delay=0.3)])
    await run(agents)
    fast_second_call = backend(agents, 0).calls[1]
    slowest_first_call = backend(agents, 2).calls[0]
    assert fast_second_call.started >= slowest_first_call.finished
    # and it sees all three answers, not just its own
    assert fast_second_call.vote_enum == ["agent1", "agent2", "agent3"]


async def test_first_answer_timeout_lets_answered_agents_go_on():
    agents = team([answer("fast")], [answer("very slow", delay=0.6)])
    result, _ = await run(agents, first_answer_timeout_seconds=0.1)
    second = backend(agents, 0).calls[1]
    assert second.started < backend(agents, 1).calls[0].finished
    # the vote enum holds only labels that have answers
    assert second.vote_enum == ["agent1"]
    assert result.ok


async def test_first_turns_are_never_cancelled_by_a_peer_answer():
    agents = team(
        [answer("quick"), answer("quick improved"), vote("agent1")],
        [answer("slow", delay=0.4)],
    )
    await run(agents, first_answer_timeout_seconds=0.05)
    assert backend(agents, 1).calls[0].completed


# --------------------------------------------------------------------- new answers


async def test_a_new_answer_clears_votes_and_restarts_the_others():
    agents = team(
        [answer("a"), vote("agent1")],
        # agent2 votes quickly, then after agent3's new answer votes again
        [answer("b"), vote("agent1"), vote("agent3")],
        [answer("c"), answer("c, much better", delay=0.1), vote("agent3")],
    )
    result, events = await run(agents)
    cleared = of_type(events, "votes_cleared")
    assert cleared and cleared[0].cleared >= 1
    restarted = {e.agent_id for e in of_type(events, "agent_restarted")}
    assert {"a1", "a2"} <= restarted
    # everyone judged the new answer set: the final votes are all on agent3.2's set
    final_votes = {v.voter_id: v.answer_label for v in result.votes}
    assert len(final_votes) == 3
    assert backend(agents, 1).calls[-1].vote_enum == ["agent1", "agent2", "agent3"]
    assert "c, much better" in backend(agents, 1).calls[-1].user_text


async def test_a_superseded_turn_is_cancelled_mid_stream():
    agents = team(
        [answer("a"), answer("a, improved", delay=0.05), vote("agent1")],
        [answer("b"), Step(text="thinking " * 50, chunk_delay=0.01), vote("agent1")],
    )
    result, events = await run(agents)
    slow_turn = backend(agents, 1).calls[1]
    assert slow_turn.cancelled and not slow_turn.completed
    assert "a2" in {e.agent_id for e in of_type(events, "agent_cancelled")}
    assert result.ok and result.winner == "a1"


async def test_restart_policy_finish_lets_the_turn_end_and_rejudges():
    agents = team(
        [answer("a"), answer("a, improved", delay=0.05), vote("agent1")],
        [answer("b"), vote("agent2", delay=0.2), vote("agent1")],
    )
    result, events = await run(agents, restart_policy="finish")
    stale = backend(agents, 1).calls[1]
    assert stale.completed and not stale.cancelled
    assert not of_type(events, "agent_cancelled")
    # the stale vote (cast on the old answer set) is not counted
    assert [v.answer_label for v in result.votes if v.voter_id == "a2"] == ["agent1.2"]


async def test_answers_arriving_together_cause_one_restart_not_several():
    # agent1 answers at once and, after the first-answer timeout, starts judging; the two
    # late first answers land 30 ms apart while it streams
    agents = team(
        [answer("a"), Step(text="long " * 60, chunk_delay=0.01), vote("agent1")],
        [answer("b", delay=0.2), vote("agent1")],
        [answer("c", delay=0.23), vote("agent1")],
    )
    result, events = await run(
        agents, first_answer_timeout_seconds=0.05, restart_debounce_seconds=0.1
    )
    a1_calls = backend(agents, 0).calls
    assert a1_calls[1].cancelled
    # one restart: the next turn already sees both late answers
    assert len(a1_calls) == 4  # answer, cancelled judge, judge, present
    assert a1_calls[2].vote_enum == ["agent1", "agent2", "agent3"]
    restarts = [e for e in of_type(events, "agent_restarted") if e.agent_id == "a1"]
    assert len(restarts) == 1
    assert result.ok


async def test_without_debounce_each_late_answer_restarts_again():
    agents = team(
        [
            answer("a"),
            Step(text="long " * 60, chunk_delay=0.01),
            Step(text="more " * 60, chunk_delay=0.01),
        ],
        [answer("b", delay=0.2)],
        [answer("c", delay=0.26)],
    )
    _, events = await run(agents, first_answer_timeout_seconds=0.05, restart_debounce_seconds=0)
    restarts = [e for e in of_type(events, "agent_restarted") if e.agent_id == "a1"]
    assert len(restarts) == 2


# --------------------------------------------------------------------- bounds


async def test_answer_cap_leaves_only_vote():
    always_answer = iter(range(100))

    def eager(call):
        if "new_answer" in call.tools:
            return answer(f"version {next(always_answer)}")
        return vote(call.vote_enum[0]) if call.vote_enum else None

    agents = team(eager, [])
    result, _ = await run(agents, max_new_answers_per_agent=2)
    a1 = backend(agents, 0)
    assert [c.tools for c in a1.calls][-2] == ["vote"]
    assert sum(1 for a in result.answers if a.agent_id == "a1") == 2
    assert result.ok


async def test_max_rounds_makes_the_last_round_vote_only():
    counter = iter(range(100))

    def eager(call):
        if "new_answer" in call.tools:
            return answer(f"v{next(counter)}")
        if "vote" in call.tools:
            return vote(call.vote_enum[0])
        return None

    agents = team(eager, eager)
    result, events = await run(agents, max_rounds=3, max_new_answers_per_agent=50)
    assert result.ok
    rounds = [e.round for e in of_type(events, "agent_turn_started") if e.kind == "evaluate"]
    assert max(rounds) == 3
    last_round_tools = [
        e.tools
        for e in of_type(events, "agent_turn_started")
        if e.kind == "evaluate" and e.round == 3
    ]
    assert last_round_tools and all(tools == ["vote"] for tools in last_round_tools)


async def test_turn_timeout_fails_that_agent_and_the_rest_finish():
    agents = team([answer("a"), vote("agent1")], [answer("b", delay=5)])
    result, events = await run(agents, turn_timeout_seconds=0.2)
    failed = of_type(events, "agent_failed")
    assert [(e.agent_id, e.error_type) for e in failed] == [("a2", "timeout")]
    assert result.ok and result.winner == "a1"
    assert result.final_answer.startswith("Final answer from a1")


async def test_run_timeout_returns_the_best_answer_without_another_call():
    agents = team(
        [answer("a"), vote("agent2")],
        [answer("b"), vote("agent2")],
        [answer("c"), Step(text="hmm", delay=5)],
    )
    result, events = await run(agents, timeout_seconds=0.5)
    assert result.status == "timeout"
    assert result.final_answer == "b"  # most-voted answer, verbatim
    assert result.winner == "a2"
    assert not of_type(events, "final_answer_delta")  # no presentation call
    assert sum(len(a.backend.calls) for a in agents) == 6
    assert backend(agents, 2).calls[-1].cancelled
    assert of_type(events, "final_answer")[0].presented is False


async def test_run_timeout_without_votes_returns_the_latest_answer():
    agents = team([answer("a"), Step(delay=5)], [answer("b", delay=0.05), Step(delay=5)])
    result, _ = await run(agents, timeout_seconds=0.4)
    assert result.status == "timeout" and result.final_answer == "b"


# --------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("bad_step", "message"),
    [
        (Step(text="I think 4."), "must end your turn"),
        (vote("agent9"), "unknown agent 'agent9'"),
        (
            Step(
                calls=[
                    ("vote", {"agent_id": "agent1", "reason": "x"}),
                    ("new_answer", {"content": "y"}),
                ]
            ),
            "not both",
        ),
        (
            Step(calls=[("vote", {"agent_id": "agent1"}), ("vote", {"agent_id": "agent2"})]),
            "exactly once",
        ),
        (answer("b"), "identical to agent2.1"),
        (Step(calls=[("vote", '{"agent_id": "agent1", ')]), "not valid JSON"),
        (Step(calls=[("search", {"q": "x"})]), "unknown tool 'search'"),
        # a small model copying the prompt's own markup as its answer (the offline default)
        (answer("{{<CURRENT ANSWERS>}}"), "only repeats the prompt's markup"),
    ],
)
async def test_invalid_actions_are_sent_back_and_retried(bad_step, message):
    agents = team([answer("a"), bad_step, vote("agent1")], [answer("b"), vote("agent1")])
    result, events = await run(agents)
    invalid = of_type(events, "invalid_action")
    assert len(invalid) == 1 and message in invalid[0].message
    retry_call = backend(agents, 0).calls[2]
    sent_back = [m for m in retry_call.messages if m.role in ("tool", "user")][-1]
    assert message in sent_back.content
    if bad_step.calls:
        assert sent_back.role == "tool" and sent_back.tool_call_id
    assert result.ok and {v.voter_id for v in result.votes} == {"a1", "a2"}


async def test_voting_before_any_answer_exists_is_rejected():
    agents = team([vote("agent1"), answer("a")], [answer("b"), vote("agent1")])
    # agent1 first "votes"; the rejection tells it to answer
    result, events = await run(agents)
    assert "no answers to vote for yet" in of_type(events, "invalid_action")[0].message
    assert result.answers[0].content == "a"


async def test_three_invalid_attempts_on_a_vote_turn_are_an_abstention():
    agents = team(
        [answer("a"), say("no"), say("still no"), say("never")],
        [answer("b"), vote("agent2")],
    )
    result, events = await run(agents)
    assert len(backend(agents, 0).calls) == 4  # 1 answer + exactly 3 attempts
    assert not of_type(events, "agent_failed")
    abstained = of_type(events, "agent_abstained")
    assert [e.agent_id for e in abstained] == ["a1"] and "3 attempts" in abstained[0].reason
    assert result.ok and result.winner == "a2" and result.tally == {"agent2": 1}


async def test_a_first_turn_of_prose_becomes_the_agents_answer():
    agents = team(
        [say("Paris is the capital."), say("Paris, really."), say("It is Paris."), vote("agent1")],
        [answer("b"), vote("agent1")],
    )
    result, events = await run(agents)
    assert not of_type(events, "agent_failed")
    assert result.answers[0].agent_id == "a1" and result.answers[0].content == "It is Paris."
    assert result.ok and result.winner == "a1"


async def test_when_every_agent_abstains_the_earliest_answer_wins():
    agents = team(
        [answer("first"), say("hmm"), say("hmm"), say("hmm")],
        [answer("second", delay=0.05), say("no"), say("no"), say("no")],
    )
    result, events = await run(agents, final_answer="reuse")
    assert len(of_type(events, "agent_abstained")) == 2
    assert result.ok and result.final_answer == "first" and result.is_tie


async def test_an_agent_over_its_answer_cap_is_told_to_vote():
    agents = team([answer("a"), answer("a2"), vote("agent1")], [answer("b"), vote("agent1")])
    result, events = await run(agents, max_new_answers_per_agent=1)
    assert "limit of 1 answers" in of_type(events, "invalid_action")[0].message
    assert result.ok


# --------------------------------------------------------------------- failures


async def test_a_failing_agent_is_excluded_and_the_others_finish():
    agents = team(
        [answer("a"), vote("agent1")],
        [Step(error=AuthenticationError("Incorrect API key", provider="grok", status=401))],
        [answer("c"), vote("agent1")],
    )
    result, events = await run(agents)
    failed = of_type(events, "agent_failed")
    assert [e.agent_id for e in failed] == ["a2"]
    assert "Incorrect API key" in failed[0].reason and failed[0].error_type == "AuthenticationError"
    assert result.ok and result.tally == {"agent1": 2}


async def test_all_agents_failing_is_a_failed_run_with_the_reasons():
    err = BackendConnectionError("connection refused", provider="vllm")
    result, _ = await run(team([Step(error=err)], [Step(error=err)]))
    assert result.status == "failed" and result.final_answer is None
    assert "connection refused" in result.error


async def test_a_retryable_error_is_retried_and_announced():
    agents = team(
        [
            Step(error=BackendConnectionError("stream ended unexpectedly", provider="x")),
            answer("a"),
            vote("agent1"),
        ],
        [answer("b"), vote("agent1")],
    )
    bus = EventBus()
    events: list[Event] = []
    bus.add_listener(events.append)
    config = OrchestratorConfig(restart_debounce_seconds=0)
    policy = RetryPolicy(max_attempts=2, initial_delay=0.01)
    result = await Coordinator(agents, config, bus, retry_policy=policy).run("q")
    retries = of_type(events, "stream_retry")
    assert len(retries) == 1 and retries[0].agent_id == "a1"
    assert result.ok and result.usage["a1"].requests == 4  # failed try + answer + vote + present


async def test_a_failed_presentation_falls_back_to_the_winning_answer():
    agents = team(
        [answer("a"), vote("agent1"), Step(error=BackendConnectionError("down", provider="x"))],
        [answer("b"), vote("agent1")],
    )
    result, events = await run(agents)
    assert result.ok and result.final_answer == "a"
    assert "final presentation failed" in of_type(events, "error")[0].message


async def test_a_presentation_that_times_out_says_so():
    agents = team(
        [answer("a"), vote("agent1"), say("late", delay=5)],
        [answer("b"), vote("agent1")],
    )
    result, events = await run(agents, turn_timeout_seconds=0.3)
    assert result.ok and result.final_answer == "a"
    message = of_type(events, "error")[0].message
    assert message == "final presentation failed (timed out after 0.3s); using agent1.1"


# --------------------------------------------------------------------- the winner


async def test_a_tie_goes_to_the_earliest_answer():
    agents = team(
        [answer("a", delay=0.05), vote("agent2")],
        [answer("b"), vote("agent1")],
    )
    result, events = await run(agents)
    assert result.is_tie and result.winner == "a2"  # agent2 answered first
    assert of_type(events, "winner_selected")[0].is_tie


async def test_reuse_skips_the_presentation_call():
    agents = team([answer("a"), vote("agent2")], [answer("b"), vote("agent2")])
    result, events = await run(agents, final_answer="reuse")
    assert result.final_answer == "b"
    assert sum(len(a.backend.calls) for a in agents) == 4
    assert not of_type(events, "final_answer_delta")


async def test_one_agent_its_answer_is_final_without_a_vote():
    agents = team([answer("The answer.")])
    result, events = await run(agents)
    assert result.final_answer == "The answer." and result.winner == "a1"
    assert len(backend(agents, 0).calls) == 1
    assert not of_type(events, "vote_cast")


async def test_presentation_has_no_tools_and_sees_all_answers_and_the_tally():
    agents = team([answer("alpha"), vote("agent1")], [answer("beta"), vote("agent1")])
    await run(agents)
    present = backend(agents, 0).calls[-1]
    assert present.tools == []
    assert "alpha" in present.user_text and "beta" in present.user_text
    assert "agent1: 2" in present.user_text


# --------------------------------------------------------------------- prompts


async def test_the_agents_system_message_and_history_reach_the_prompt():
    agents = team([answer("a"), vote("agent1")], [answer("b"), vote("agent1")])
    agents[0].system_message = "You are a careful mathematician."
    history = [("What is 1+1?", "2.")]
    await run(agents, question="And 2+2?", history=history)
    first = backend(agents, 0).calls[0]
    assert first.system_text.startswith("You are a careful mathematician.")
    assert "What is 1+1?" in first.user_text and "2." in first.user_text
    assert "And 2+2?" in first.user_text


async def test_each_agent_reads_the_answers_in_label_order_and_is_told_its_own_last():
    """The order is the same for every voter (a prefix provider caches reuse); the line
    naming the voter's own answer comes after all of them."""
    agents = team(
        [answer("a"), vote("agent1")], [answer("b"), vote("agent1")], [answer("c"), vote("agent1")]
    )
    await run(agents)
    text = backend(agents, 1).calls[1].user_text
    assert text.index("<agent1>") < text.index("<agent2>") < text.index("<agent3>")
    assert text.rstrip().endswith("Your own latest answer is agent2's.")
    other = backend(agents, 2).calls[1].user_text
    shared = text[: text.index("Your own")]
    assert other.startswith(shared) and other.rstrip().endswith("agent3's.")


# --------------------------------------------------------------------- scripted backend


async def test_scripted_backend_runs_out_into_the_protocol_policy():
    b = ScriptedBackend("x")
    chunks = [c async for c in b.stream([], None)]
    assert chunks[0].text.startswith("Final")
