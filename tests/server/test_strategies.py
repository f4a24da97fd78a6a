"""The server's team under another strategy (debates, ensembles): what carries over from the
operator's config and what starts afresh."""

from __future__ import annotations

from typing import Any

import pytest

from massgen.config.loader import load_config_dict
from massgen.runs import Prepared
from massgen.server.debates import Participant, parse, team_of
from massgen.server.http import BadRequest
from massgen.server.strategies import with_strategy


def prepared(**orchestrator: Any) -> Prepared:
    agents = [
        {"id": f"a{i}", "backend": {"type": "vllm", "model": "m", "base_url": "http://x/v1"}}
        for i in (1, 2)
    ]
    config = {"agents": agents, "orchestrator": orchestrator}
    return Prepared(load_config_dict(config).config, "test")


def test_another_strategys_rounds_do_not_carry_over() -> None:
    # vote's 4 rounds are not 4 debate revisions: the debate starts from its default (2)
    team = with_strategy(prepared(max_rounds=4), "debate", {}).config.orchestrator
    assert (team.strategy, team.rounds) == ("debate", 2)


def test_the_operators_own_debate_options_carry_over() -> None:
    base = prepared(strategy="debate", max_rounds=3, consensus_threshold=0.6, timeout_seconds=9)
    team = with_strategy(base, "debate", {}).config.orchestrator
    assert (team.rounds, team.consensus_threshold, team.timeout_seconds) == (3, 0.6, 9)
    assert with_strategy(base, "debate", {"max_rounds": 1}).config.orchestrator.rounds == 1


def test_a_judge_who_is_not_a_participant_is_replaced_by_the_first() -> None:
    spec = parse({"topic": "t", "participants": [{"name": "X"}, {"name": "Y"}]}, "d")
    team, _ = team_of(spec, prepared(strategy="debate", judge="a2"))
    assert team.config.orchestrator.judge == "X"
    assert [a.id for a in team.config.agents] == ["X", "Y"]


def test_a_team_that_cannot_run_it_is_a_400_naming_the_field() -> None:
    planning = prepared(coordination={"enable_planning_mode": True})
    with pytest.raises(BadRequest) as caught:
        with_strategy(planning, "debate", {}, field="ensemble_config.strategy")
    assert caught.value.param == "ensemble_config.strategy"
    assert "enable_planning_mode" in caught.value.message


def test_a_participants_role_is_in_its_system_message_before_the_operators() -> None:
    base = prepared()
    base.config.agents[0].system_message = "Answer in English."
    spec = parse({"topic": "t", "participants": [{"name": "X", "role": "Economist"}]}, "d")
    assert spec.participants == (Participant("X", "Economist", ()),)
    agent = team_of(spec, base)[0].config.agents[0]
    assert agent.system_message is not None
    assert agent.system_message.startswith("You are X, Economist.")
    assert agent.system_message.endswith("\n\nAnswer in English.")
