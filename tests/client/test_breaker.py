"""The client's optional circuit breaker: after calls in a row the server could not serve,
calls fail at once without being sent; after the recovery time one call goes through, and a
success closes the circuit. Against a real ``massgen serve`` whose provider fails."""

from __future__ import annotations

import logging
import time

import pytest

from massgen.client import (
    AuthenticationError,
    CircuitBreaker,
    CircuitOpenError,
    Client,
    ProviderError,
)
from massgen.testing import Reply
from tests.client.conftest import API_KEY, Served

ASK = [{"role": "user", "content": "Hello"}]


def test_the_circuit_opens_fails_fast_and_closes_after_a_success(server: Served) -> None:
    sent: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "massgen_client", {}).get("event") == "api_request":
                sent.append(record.massgen_client["method"])  # type: ignore[attr-defined]

    logger = logging.getLogger("tests.client.breaker")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Count())
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=0.5)
    server.provider.enqueue(*[Reply(status=400, error_message="bad model")] * 40)
    with Client(
        base_url=server.url, api_key=API_KEY, max_retries=0, circuit_breaker=breaker, logger=logger
    ) as c:
        for _ in range(2):  # every agent fails: the run has no answer (502)
            with pytest.raises(ProviderError):
                c.chat.completions.create(messages=ASK)
        assert breaker.state == "open"
        with pytest.raises(CircuitOpenError) as e:
            c.chat.completions.create(messages=ASK)
        assert len(sent) == 2  # the third call was not sent
        assert 0 < e.value.retry_after <= 0.5
        server.provider.reset()  # the provider recovers
        time.sleep(0.55)
        assert breaker.state == "half-open"
        answer = c.chat.completions.create(messages=ASK)
        assert breaker.state == "closed" and answer.choices[0].message.content
    assert len(sent) == 3


def test_client_mistakes_do_not_open_the_circuit(server: Served) -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    with Client(base_url=server.url, api_key="wrong", circuit_breaker=breaker) as c:
        for _ in range(3):
            with pytest.raises(AuthenticationError) as e:
                c.models.list()
            assert not isinstance(e.value, CircuitOpenError)
    assert breaker.state == "closed"
