"""Debates (``/v1/debates``) on a real ``massgen serve`` over the fake provider, through
``massgen.client``: the rounds the fake received, the participants' roles in its prompts,
the status and results as the peer SDK reads them, refusals, the ``debate.finished``
webhook, and the task events and progress of the debate's task."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from massgen.client import Client, verify_webhook_signature
from massgen.client.exceptions import NotFoundError, ValidationError
from massgen.testing.chat_wire import text_of
from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve
from tests.server.support import SECRET_KEY, Receiver, team

KEY = "debate-key"
OTHER_KEY = "other-key"
HOOK_SECRET = "whsec-debates"

ETHICS = {
    "debateId": "ai-ethics-debate-001",
    "topic": "Should AI systems have ethical constraints built into their core architecture?",
    "maximal_repeat_rounds": 2,
    "consensus_threshold": 0.75,
    "participants": [
        {
            "name": "EthicsExpert",
            "role": "AI Ethics Specialist",
            "llms": [{"provider": "claude", "model": "claude-3-5-sonnet-20241022"}],
        },
        {
            "name": "AIScientist",
            "role": "AI Research Scientist",
            "llms": [{"provider": "vllm", "model": "scientist-model"}],
        },
    ],
}


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as hooks:
        yield hooks


@pytest.fixture(scope="module")
def url(
    provider: FakeChatServer, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("debates")
    config = folder / "team.yaml"
    config.write_text(yaml.safe_dump(team(provider)))
    args = ["--api-key", KEY, "--api-key", OTHER_KEY, "--secret-key", SECRET_KEY]
    args += ["--db", f"sqlite:///{folder / 'tasks.db'}", "--webhook-allow", "127.0.0.1/32"]
    with massgen_serve(Path(config), *args) as served:
        yield served.url


@pytest.fixture
def client(url: str) -> Iterator[Client]:
    with Client(base_url=url, api_key=KEY, max_retries=0) as made:
        yield made


def finished(client: Client, debate_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    status = client.debates.get_status(debate_id)
    while status.status not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"debate still {status.status}"
        time.sleep(0.1)
        status = client.debates.get_status(debate_id)
    return status


def prompts_of(provider: FakeChatServer, topic: str) -> list[dict[str, Any]]:
    """The requests the fake received for ``topic``'s debate."""
    return [
        r.body
        for r in provider.requests
        if any(topic in text_of(m.get("content")) for m in r.body.get("messages") or ())
    ]


def system_text(body: dict[str, Any]) -> str:
    return " ".join(
        text_of(m.get("content")) for m in body["messages"] if m.get("role") == "system"
    )


def test_a_debate_plays_its_rounds_with_the_participants_roles(
    client: Client, provider: FakeChatServer, receiver: Receiver
) -> None:
    client.webhooks.create(receiver.url, secret=HOOK_SECRET, events=["debate.finished"])
    debate = client.debates.create(ETHICS)
    assert debate.debateId == "ai-ethics-debate-001"
    assert debate.total_rounds == 3  # the independent answers, then 2 revision rounds
    scientist = debate.participants[1].llm
    assert scientist is not None
    assert (scientist.provider, scientist.model) == ("vllm", "scientist-model")
    ethics = debate.participants[0].llm  # claude is not a provider of this server
    assert ethics is not None and ethics.substituted and ethics.provider == "vllm"

    status = finished(client, "ai-ethics-debate-001")
    assert status.status == "completed"
    assert (status.current_round, status.total_rounds) == (3, 3)

    sent = prompts_of(provider, ETHICS["topic"])
    by_role = {
        role: [b for b in sent if role in system_text(b)]
        for role in ("AI Ethics Specialist", "AI Research Scientist")
    }
    # every participant answered in each of the 3 rounds, each with its own role and model
    assert len(by_role["AI Ethics Specialist"]) == 3
    assert len(by_role["AI Research Scientist"]) == 3
    assert {b["model"] for b in by_role["AI Research Scientist"]} == {"scientist-model"}
    assert {b["model"] for b in by_role["AI Ethics Specialist"]} == {"m"}
    assert "EthicsExpert" in system_text(by_role["AI Ethics Specialist"][0])
    # a revision round shows the other participant's answer
    last = by_role["AI Ethics Specialist"][-1]
    assert "from scientist-model" in " ".join(text_of(m.get("content")) for m in last["messages"])

    results = client.debates.get_results("ai-ethics-debate-001")
    assert results.topic == ETHICS["topic"]
    # the fake's answers always differ: nobody agreed, so no consensus and no agreement
    assert results.consensus.achieved is False
    assert results.consensus.final_position.startswith("Answer #")
    stats = {p.name: p for p in results.participants}
    assert set(stats) == {"EthicsExpert", "AIScientist"}
    assert all(p.total_responses == 3 for p in stats.values())
    assert all(p.avg_quality_score == 0.0 for p in stats.values())

    hook = receiver.wait(1)[0]
    assert verify_webhook_signature(hook.body, hook.headers["X-Massgen-Signature"], HOOK_SECRET)
    event = json.loads(hook.body)
    assert event["type"] == "debate.finished"
    assert event["data"]["debateId"] == "ai-ethics-debate-001"
    assert event["data"]["status"] == "completed"


def test_agreeing_participants_reach_consensus_early(
    client: Client, provider: FakeChatServer
) -> None:
    """Both participants give the same answer in round 1: consensus, no further round, and
    each has the agreement of the other (quality 1.0)."""
    topic = "What is 6 times 7? Agreement case."
    provider.enqueue_for("agree-model", *[_answer("The answer is 42.") for _ in range(2)])
    body = {
        "debateId": "agree-1",
        "topic": topic,
        "maximal_repeat_rounds": 3,
        "participants": [
            {
                "name": "A",
                "role": "Mathematician",
                "llms": [{"provider": "vllm", "model": "agree-model"}],
            },
            {
                "name": "B",
                "role": "Physicist",
                "llms": [{"provider": "vllm", "model": "agree-model"}],
            },
        ],
    }
    client.debates.create(body)
    status = finished(client, "agree-1")
    assert (status.current_round, status.total_rounds) == (1, 4)
    results = client.debates.get_results("agree-1")
    assert results.consensus.achieved is True
    assert results.consensus.final_position == "The answer is 42."
    assert results.consensus.supporters == ["A", "B"]
    assert [p.avg_quality_score for p in results.participants] == [1.0, 1.0]
    assert len(prompts_of(provider, topic)) == 2  # one round: two calls


def _answer(content: str) -> Any:
    from massgen.testing.chat_wire import Reply

    return Reply(tool_calls=[("new_answer", json.dumps({"content": content}))])


def test_the_debate_task_streams_its_rounds_and_progress(client: Client) -> None:
    deepseek = {"name": "X", "llms": [{"provider": "deepseek", "model": "deepseek-coder"}]}
    debate = client.debates.create(
        {
            "topic": "Tabs or spaces?",
            "maximal_repeat_rounds": 1,
            "participants": [deepseek, {"name": "Y"}],
        }
    )
    assert debate.debateId.startswith("debate-")  # generated
    llm = debate.participants[0].llm  # a provider this server does not use: its team's model
    assert llm is not None and llm.substituted and (llm.provider, llm.model) == ("vllm", "m")
    assert llm.requested == {"provider": "deepseek", "model": "deepseek-coder"}
    finished(client, debate.debateId)
    events = list(client.tasks.stream_events(debate.task_id))
    rounds = [e.data for e in events if e.type == "round_finished"]
    assert [(r["round"], r["last_round"]) for r in rounds] == [(1, 2), (2, 2)]
    progress = [e.data["progress"] for e in events if e.type == "progress"]
    assert progress == sorted(progress) and len(progress) >= 3
    assert any(45 <= p <= 85 for p in progress)  # moved with the rounds, not only at the end
    assert client.tasks.get_status(debate.task_id).progress == 100


def test_a_duplicate_id_is_a_conflict_and_another_key_sees_none(client: Client, url: str) -> None:
    body = {"debateId": "dup-1", "topic": "One", "maximal_repeat_rounds": 1}
    created = client.debates.create({**body, "metadata": {"ticket": "T-1"}})
    assert created.metadata == {"ticket": "T-1"}
    with pytest.raises(ValidationError, match="debateId") as caught:
        client.debates.create({"debateId": "dup-1", "topic": "Two"})
    assert caught.value.status_code == 409
    with Client(base_url=url, api_key=OTHER_KEY, max_retries=0) as other:
        with pytest.raises(NotFoundError):
            other.debates.get_status("dup-1")
        # the same id is free for another key
        assert other.debates.create({"debateId": "dup-1", "topic": "Mine"}).topic == "Mine"
    finished(client, "dup-1")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"topic": "x", "enable_cognee": True}, "enable_cognee"),
        (
            {"topic": "x", "participants": [{"name": "P", "enable_cognee": True}]},
            "participants[0].enable_cognee",
        ),
        ({"topic": "x", "cognee_config": {"dataset_name": "d"}}, "cognee_config"),
        (
            {"topic": "x", "participants": [{"name": "P", "llms": [{"provider": "a b"}]}]},
            "participants[0].llms[0].provider",
        ),
        ({"topic": "x", "maximal_repeat_rounds": 50}, "maximal_repeat_rounds"),
        ({"topic": "x", "consensus_threshold": 1.5}, "consensus_threshold"),
        ({"topic": ""}, "topic"),
        ({"topic": "x", "participants": [{"name": "P"}, {"name": "P"}]}, "participants[1].name"),
        ({"topic": "x", "debateId": "a/b"}, "debateId"),
        ({"topic": "x", "style": "oxford"}, "style"),
    ],
)
def test_refusals_name_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        client.debates.create(body)
    assert caught.value.param == field
    assert str(caught.value).startswith(field)


def test_an_unknown_debate_is_404(url: str) -> None:
    response = httpx.get(
        f"{url}/v1/debates/nothing-here", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 404


def test_a_budget_cap_shows_in_the_debate_tasks_events(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    """The operator's budget caps hold in a debate: a call that could cross one is not made,
    and the task's event stream says so."""
    config = tmp_path / "capped.yaml"
    capped = {**team(provider), "orchestrator": {"max_total_tokens": 50}}
    config.write_text(yaml.safe_dump(capped))
    args = ["--api-key", KEY, "--db", f"sqlite:///{tmp_path / 'tasks.db'}"]
    with (
        massgen_serve(config, *args) as served,
        Client(base_url=served.url, api_key=KEY, max_retries=0) as capped_client,
    ):
        topic = "A debate on a budget of fifty tokens"
        debate = capped_client.debates.create({"topic": topic})
        status = finished(capped_client, debate.debateId)
        events = list(capped_client.tasks.stream_events(debate.task_id))
    budget = [e.data for e in events if e.type == "budget_exceeded"]
    assert budget and budget[0]["limit"] == "max_total_tokens" and budget[0]["cap"] == 50
    assert status.status == "failed"
    assert not prompts_of(provider, topic)  # no call was made past the cap


def test_debates_survive_a_restart_as_tasks_do(provider: FakeChatServer, tmp_path: Path) -> None:
    """A debate queued when its server stops runs when a server on the same store starts;
    the one that was running is failed as a task would be, and both still answer."""
    config = tmp_path / "team.yaml"
    config.write_text(yaml.safe_dump(team(provider)))
    args = ["--api-key", KEY, "--db", f"sqlite:///{tmp_path / 'tasks.db'}"]
    provider.hold_after(0)  # the first debate's first calls wait: it stays running
    try:
        with (
            massgen_serve(config, *args, "--max-concurrency", "1") as served,
            Client(base_url=served.url, api_key=KEY, max_retries=0) as first,
        ):
            first.debates.create({"debateId": "held", "topic": "Held debate"})
            assert provider.wait_for(lambda: bool(prompts_of(provider, "Held debate")), 10)
            first.debates.create({"debateId": "waiting", "topic": "Queued debate"})
            assert first.debates.get_status("waiting").status == "queued"
    finally:
        provider.release()
    with (
        massgen_serve(config, *args) as served,
        Client(base_url=served.url, api_key=KEY, max_retries=0) as second,
    ):
        held = finished(second, "held")
        waiting = finished(second, "waiting")
        results = second.debates.get_results("waiting")
    assert held.status == "failed" and "submit it again" in (held.error or "")
    assert waiting.status == "completed"
    assert results.topic == "Queued debate" and results.consensus.final_position
