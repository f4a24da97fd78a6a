"""Ensemble completions (``POST /v1/ensemble/completions``) on a real ``massgen serve`` over
the fake provider, through ``massgen.client``: the peer's ``ensemble_config`` mapped onto
massgen's strategies (what the fake received shows it), ``confidence_score`` on votes whose
true share is known, the threshold, and the refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from massgen.client import Client
from massgen.client.exceptions import ValidationError
from massgen.testing.chat_wire import CoordinationBrain, Reply, tool_named
from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve

KEY = "ensemble-key"
#: Each agent's model, and how it votes: m1 and m2 for agent1's answer, m3 for agent2's;
#: the confidence each states when asked for one.
VOTES = {"m1": ("agent1", 0.9), "m2": ("agent1", 0.6), "m3": ("agent2", 0.3)}


class Voters(CoordinationBrain):
    """The coordination brain, with each model's vote fixed by :data:`VOTES`."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        vote = tool_named(body, "vote")
        if vote is None:
            return super().__call__(body)
        props = (vote.get("parameters") or {}).get("properties") or {}
        labels = (props.get("agent_id") or {}).get("enum") or []
        target, confidence = VOTES[body["model"]]
        args: dict[str, Any] = {
            "agent_id": target if target in labels else sorted(labels)[0],
            "reason": "fixed",
        }
        if "confidence" in props:
            args["confidence"] = confidence
        return Reply(tool_calls=[("vote", json.dumps(args))])


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer(brain=Voters()) as server:
        yield server


@pytest.fixture(scope="module")
def url(provider: FakeChatServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = tmp_path_factory.mktemp("ensemble") / "team.yaml"
    agents = [
        {"id": f"a{i}", "backend": {"type": "vllm", "model": f"m{i}", "base_url": provider.url}}
        for i in (1, 2, 3)
    ]
    config.write_text(yaml.safe_dump({"agents": agents}))
    with massgen_serve(Path(config), "--api-key", KEY) as served:
        yield served.url


@pytest.fixture
def client(url: str, provider: FakeChatServer) -> Iterator[Client]:
    provider.reset()
    with Client(base_url=url, api_key=KEY, max_retries=0) as made:
        yield made


def ask(client: Client, config: dict[str, Any]) -> Any:
    return client.ensemble.completions.create(
        messages=[{"role": "user", "content": "What is the future of AI?"}],
        ensemble_config=config,
    )


def vote_tools(provider: FakeChatServer) -> list[dict[str, Any]]:
    return [t for r in provider.requests if (t := tool_named(r.body, "vote")) is not None]


def test_majority_vote_confidence_is_the_winners_share_of_the_votes(
    client: Client, provider: FakeChatServer
) -> None:
    response = ask(client, {"strategy": "majority_vote", "min_providers": 3})
    ensemble = response.ensemble
    assert ensemble.votes == {"agent1": 2.0, "agent2": 1.0}
    assert ensemble.confidence_score == pytest.approx(2 / 3, abs=1e-4)
    assert ensemble.providers_used == ["vllm/m1", "vllm/m2", "vllm/m3"]
    assert ensemble.massgen_strategy == "vote"
    assert ensemble.options == {"vote_weighting": "equal", "min_agents": 3}
    assert response.choices[0].message.content
    # equal votes: the vote tool the models were given asks for no confidence
    tools = vote_tools(provider)
    assert tools and all("confidence" not in t["parameters"]["properties"] for t in tools)


def test_confidence_weighted_weighs_each_vote_by_its_stated_confidence(
    client: Client, provider: FakeChatServer
) -> None:
    response = ask(client, {"strategy": "confidence_weighted", "confidence_threshold": 0.8})
    ensemble = response.ensemble
    assert ensemble.votes == pytest.approx({"agent1": 1.5, "agent2": 0.3})
    assert ensemble.confidence_score == pytest.approx(1.5 / 1.8, abs=1e-4)
    assert ensemble.threshold_met is True
    tools = vote_tools(provider)
    assert tools and all("confidence" in t["parameters"]["required"] for t in tools)


def test_below_the_threshold_is_refused_unless_fallback_to_best(client: Client) -> None:
    with pytest.raises(ValidationError, match=r"0\.67, is below 0\.9") as caught:
        ask(client, {"strategy": "majority_vote", "confidence_threshold": 0.9})
    assert caught.value.status_code == 422 and caught.value.code == "low_confidence"
    response = ask(
        client,
        {"strategy": "majority_vote", "confidence_threshold": 0.9, "fallback_to_best": True},
    )
    assert response.ensemble.threshold_met is False
    assert response.ensemble.options["fallback_to_best"] is True
    assert response.choices[0].message.content


def test_debate_confidence_is_the_agreement_of_the_last_round(
    client: Client, provider: FakeChatServer
) -> None:
    for model in ("m1", "m2"):  # two of three give the same answer, at once: 67% agree
        provider.enqueue_for(model, Reply(tool_calls=[("new_answer", '{"content": "42"}')]))
    provider.enqueue_for("m3", Reply(tool_calls=[("new_answer", '{"content": "41"}')]))
    response = ask(client, {"strategy": "debate"})
    assert response.ensemble.massgen_strategy == "debate"
    # the fake's revisions all differ, so the last round (round 3) had no agreement
    assert response.ensemble.confidence_score == pytest.approx(1 / 3, abs=1e-4)


@pytest.mark.parametrize(
    ("config", "param"),
    [
        ({"strategy": "best_of_n"}, "ensemble_config.strategy"),
        ({"min_providers": 4}, "ensemble_config.min_providers"),
        ({"min_providers": 0}, "ensemble_config.min_providers"),
        ({"confidence_threshold": 2}, "ensemble_config.confidence_threshold"),
        ({"fallback_to_best": "yes"}, "ensemble_config.fallback_to_best"),
        ({"providers": ["claude"]}, "ensemble_config.providers"),
    ],
)
def test_what_cannot_map_is_refused_naming_the_field(
    client: Client, provider: FakeChatServer, config: dict[str, Any], param: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ask(client, config)
    assert caught.value.status_code == 400 and caught.value.param == param
    assert str(caught.value).startswith(param)
    assert not provider.requests  # refused before any model was called
