"""``client.debates`` and ``client.ensemble.completions``, sync and async, against a real
``massgen serve``: the typed answers the peer SDK's code reads, and what the client refuses
before sending anything."""

from __future__ import annotations

import asyncio

import pytest

from massgen.client import AsyncClient, Client
from massgen.client.exceptions import ValidationError
from massgen.client.types import DebateResults, EnsembleCompletion
from tests.client.conftest import API_KEY, Served

QUESTION = [{"role": "user", "content": "Name a prime number"}]


async def test_the_async_client_runs_a_debate_to_its_results(server: Served) -> None:
    async with AsyncClient(api_key=API_KEY, base_url=server.url) as client:
        debate = await client.debates.create(
            {"topic": "Is 7 prime?", "maximal_repeat_rounds": 1},
            debateId="async-debate-1",  # keywords add to (or override) the config dict
        )
        assert debate.debateId == "async-debate-1" and debate.status == "queued"
        for _ in range(600):
            status = await client.debates.get_status("async-debate-1")
            if status.status in ("completed", "failed"):
                break
            await asyncio.sleep(0.05)
        results = await client.debates.get_results("async-debate-1")
    assert isinstance(results, DebateResults)
    assert results.status == "completed" and results.rounds_played == 2
    assert [p.name for p in results.participants] == ["a1", "a2"]  # the server's team
    assert all(p.total_responses == 2 for p in results.participants)
    assert results.consensus.final_position


async def test_the_async_ensemble_completion(server: Served) -> None:
    async with AsyncClient(api_key=API_KEY, base_url=server.url) as client:
        response = await client.ensemble.completions.create(
            messages=QUESTION, ensemble_config={"strategy": "majority_vote"}
        )
    assert isinstance(response, EnsembleCompletion)
    # the fake's voters all back the first answer: every vote for the winner
    assert response.ensemble.confidence_score == 1.0
    assert response.ensemble.providers_used == ["vllm/m", "vllm/m"]
    assert "Name a prime number" in (response.choices[0].message.content or "")


def test_a_debate_id_that_is_not_one_is_refused_before_sending(server: Served) -> None:
    with Client(api_key=API_KEY, base_url=server.url) as client:
        with pytest.raises(ValidationError, match="not a debate id") as caught:
            client.debates.get_status("a/b")
        with pytest.raises(ValidationError, match="debate_config must be a dict"):
            client.debates.create("Is 7 prime?")  # type: ignore[arg-type]
    assert caught.value.status_code is None  # nothing was sent
    assert not server.provider.requests
