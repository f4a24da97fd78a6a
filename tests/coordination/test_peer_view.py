"""vote in large teams: each voter reads a bounded view of the answers (``peer_view``), and
``stop_when`` ends the coordination once one answer holds a quorum of votes. Seen on the
wire (the fake Chat Completions server's recorded request bodies)."""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

import pytest

from massgen.backends.retry import RetryPolicy
from massgen.config.loader import load_config_dict, load_config_text
from massgen.config.schema import OrchestratorConfig
from massgen.coordination import peers
from massgen.coordination.build import build_coordinator
from massgen.coordination.coordinator import Coordinator
from massgen.coordination.state import Answer
from massgen.errors import ConfigurationError
from massgen.events import Event, EventBus
from tests.fakes.chat_server import FakeChatServer, RecordedRequest
from tests.support.scripted import answer, say, team, vote

QUESTION = "What is 2+2?"


async def fake_run(server: FakeChatServer, agents: int, **orchestrator: Any):
    cfg = {
        "agents": [
            {
                "id": f"m{i}",
                "backend": {"type": "vllm", "model": f"m{i}", "base_url": server.url},
            }
            for i in range(1, agents + 1)
        ],
        "orchestrator": {"restart_debounce_seconds": 0, **orchestrator},
    }
    bus = EventBus()
    events: list[Event] = []
    bus.add_listener(events.append)
    coordinator = build_coordinator(load_config_dict(cfg).config, bus)
    try:
        result = await coordinator.run(QUESTION)
    finally:
        for spec in coordinator.specs:
            await spec.backend.aclose()
    return result, events


def votes_offered(request: RecordedRequest) -> list[str] | None:
    for tool in request.body.get("tools") or ():
        if tool["function"]["name"] == "vote":
            return tool["function"]["parameters"]["properties"]["agent_id"]["enum"]
    return None


def answers_read(request: RecordedRequest) -> set[str]:
    """The agent labels whose answers the prompt carries."""
    user = request.body["messages"][-1]["content"]
    block = user.split("<CURRENT ANSWERS>", 1)[1]
    return set(re.findall(r"<(agent\d+)>", block))


def vote_requests(server: FakeChatServer) -> dict[str, RecordedRequest]:
    """Each agent's vote request, by its own label (agents are ``m<i>``: ``agent<i>``)."""
    return {
        f"agent{r.model.removeprefix('m')}": r
        for r in server.requests
        if votes_offered(r) is not None
    }


def bodies(server: FakeChatServer) -> list[str]:
    """The request bodies, in a stable order, with the fake's reply counters masked."""
    texts = [re.sub(r"#\d+", "#n", json.dumps(r.body, sort_keys=True)) for r in server.requests]
    return sorted(texts)


async def test_a_voter_of_an_8_agent_team_reads_the_shared_shortlist_and_its_own_answer():
    with FakeChatServer() as server:
        result, events = await fake_run(server, 8)
    assert result.ok
    votes = vote_requests(server)
    assert len(votes) == 8
    views = {e.agent_id: e for e in events if e.type == "peer_view"}
    assert len(views) == 8
    shortlist = {label.split(".")[0] for label in views["m1"].shortlist}
    assert len(shortlist) == 4  # peer_view_size's default
    for voter, request in votes.items():
        read = answers_read(request)
        # the same 4 answers for every voter, at most one more, and its own
        assert shortlist <= read and voter in read
        assert len(read - shortlist - {voter}) <= 1
        assert len(read) < 8
        assert sorted(votes_offered(request) or []) == sorted(read)  # votes only for those
        view = views[f"m{voter.removeprefix('agent')}"]
        assert {label.split(".")[0] for label in view.shown} == read
    # every answer is read by a peer (not only by its author)
    read_by_peers = {label for voter, r in votes.items() for label in answers_read(r) - {voter}}
    assert read_by_peers == {f"agent{i}" for i in range(1, 9)}
    # the presentation still reads every answer
    final = server.requests[-1]
    assert votes_offered(final) is None and len(answers_read(final)) == 8


async def test_a_small_team_reads_every_answer_as_before():
    with FakeChatServer() as server:
        result, events = await fake_run(server, 3)
    with FakeChatServer() as all_view:
        await fake_run(all_view, 3, peer_view="all")
    with FakeChatServer() as shortlisted:
        await fake_run(shortlisted, 3, peer_view="shortlist", peer_view_size=1)
    assert result.ok and len(server.requests) == 7
    assert not [e for e in events if e.type == "peer_view"]
    for request in vote_requests(server).values():
        assert answers_read(request) == {"agent1", "agent2", "agent3"}
    assert bodies(server) == bodies(all_view)
    # the option is what changes it: a shortlist of one answer, plus the voter's own
    # (and the answer that was left to it to read)
    assert any(len(answers_read(r)) < 3 for r in vote_requests(shortlisted).values())


async def test_stop_when_ends_the_vote_once_a_majority_agrees_with_fewer_requests():
    with FakeChatServer() as plain:
        everyone, _ = await fake_run(plain, 5)
    with FakeChatServer() as server:
        result, events = await fake_run(server, 5, stop_when="majority")
    assert everyone.ok and result.ok
    assert result.winner_label == everyone.winner_label == "agent1"
    assert len(plain.requests) == 11  # 5 answers, 5 votes, the presentation
    assert len(server.requests) == 9  # 5 answers, 3 votes (a majority of 5), the presentation
    assert result.total_usage.prompt_tokens < everyone.total_usage.prompt_tokens
    assert result.tally == {"agent1": 3}
    [notice] = [e for e in events if e.type == "agent_notice"]
    assert notice.message.startswith("stop_when: agent1.1 holds the votes of 3 of 5 live agents")
    assert result.final_answer and server.requests[-1].completed


async def test_stop_when_asks_more_voters_while_the_votes_are_split():
    agents = team(
        [answer("four"), vote("agent1"), say("4")],
        [answer("4"), vote("agent2")],
        [answer("IV"), vote("agent1")],
        [answer("2+2=4"), vote("agent1")],
        [answer("quatre"), vote("agent1")],
    )
    bus = EventBus()
    config = OrchestratorConfig(restart_debounce_seconds=0.0, stop_when=3)
    coordinator = Coordinator(agents, config, bus, retry_policy=RetryPolicy(max_attempts=1))
    result = await coordinator.run(QUESTION)
    assert result.ok and result.winner_label == "agent1" and result.final_answer == "4"
    # 3 voters first (2 for agent1, 1 for agent2), then one more: agent5 is never asked
    assert [len(a.backend.calls) for a in agents] == [3, 2, 2, 2, 1]
    assert result.tally == {"agent1": 3, "agent2": 1}


def test_every_answer_is_read_by_a_peer_and_the_shortlist_is_shared():
    for size in range(1, 7):
        for count in range(2, 21):
            answers = [
                Answer(f"m{i}", f"agent{i}", 1, f"answer {i}", order=i) for i in range(count)
            ]
            voters = [a.agent_label for a in answers]
            views = peers.assign(answers, voters, size, {}, {}, seed=count)
            assert len({view.shortlist for view in views.values()}) == 1
            for item in answers:
                assert any(
                    item in view.answers
                    for voter, view in views.items()
                    if voter != item.agent_label
                )
            assert all(len(view.answers) <= size + 2 for view in views.values())


def test_the_shortlist_puts_answers_that_held_votes_then_unread_ones_first():
    answers = [Answer(f"m{i}", f"agent{i}", 1, str(i), order=i) for i in range(8)]
    held = {"agent5.1": 3.0, "agent2.1": 1.0}
    read = {a.label: 2 for a in answers[:6]}  # agent6.1 and agent7.1 were not read yet
    short = peers.shortlist(answers, 4, held, read, seed=7)
    assert [a.label for a in short] == ["agent5.1", "agent2.1", "agent6.1", "agent7.1"]


# ------------------------------------------------------------------ the config, one line each

TEAM = """\
agents:
  - {id: a1, backend: {type: vllm, model: m}}
  - {id: a2, backend: {type: vllm, model: m}}
  - {id: a3, backend: {type: vllm, model: m}}
orchestrator:
"""


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("peer_view: some", "peer_view: must be one of: auto, all, shortlist"),
        ("peer_view_size: 0", "peer_view_size: must be at least 1, got 0"),
        ("peer_view_above: -1", "peer_view_above: must be at least 1, got -1"),
        (
            "stop_when: most",
            "stop_when: must be 'majority', a share of the live agents (above 0, at most 1, "
            "e.g. 0.6) or a number of agents (2 or more), got 'most'",
        ),
        ("stop_when: 1", "stop_when: must be 'majority', "),
        ("stop_when: 1.5", "stop_when: must be 'majority', "),
        ("stop_when: true", "stop_when: must be 'majority', "),
        ("stop_when: 4", "stop_when: 4 agents must agree, the config has 3"),
        ("strategy: debate\nstop_when: majority", "stop_when: applies to strategy vote"),
        ("strategy: judge\npeer_view: shortlist", "peer_view: applies to strategy vote"),
    ],
)
def test_bad_values_are_refused_in_one_line(option: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config_text(TEAM + textwrap.indent(option, "  ") + "\n", "team.yaml")
    message = str(info.value)
    assert "\n" not in message and f": orchestrator.{expected}" in message, message


def test_good_values_load() -> None:
    for option in ("stop_when: majority", "stop_when: 0.6", "stop_when: 3", "peer_view: all"):
        config = load_config_text(TEAM + f"  {option}\n", "team.yaml").config
        key, value = option.split(": ")
        assert str(getattr(config.orchestrator, key)) == value
    assert json.dumps(OrchestratorConfig().model_dump()["peer_view"]) == '"auto"'
