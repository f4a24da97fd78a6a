"""The server's own 429 (past ``--max-concurrency``) says when to come back: ``Retry-After``
(whole seconds) and ``retry-after-ms``, an estimate from the running runs, staggered over the
callers refused together, so the openai client's standard retries get every answer."""

from __future__ import annotations

import math
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai

from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer
from tests.server.support import ask, serving, team


def _refused(metrics: str) -> float:
    pattern = r'massgen_http_requests_total\{[^}]*status="429"[^}]*\} (\S+)'
    return sum(float(value) for value in re.findall(pattern, metrics))


def test_the_openai_client_gets_every_answer_past_the_limit() -> None:
    """Twelve requests at once on two slots: the ten refused come back when told and get
    their answers within the client's default max_retries (the 429s are counted)."""
    with FakeChatServer(ttft=0.02) as provider:
        app = create_app(config=team(provider), max_concurrency=2, enable_logging=False)
        with serving(app) as base:
            client = openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=3)

            def ask_one(i: int) -> str:
                reply = client.chat.completions.create(model="massgen", messages=ask(f"q{i}"))
                return reply.choices[0].message.content or ""

            with ThreadPoolExecutor(12) as pool:
                answers = list(pool.map(ask_one, range(12)))
            refused = _refused(httpx.get(f"{base}/metrics").text)
    assert all(f"q{i}" in answer for i, answer in enumerate(answers)), answers
    assert refused >= 10  # every request past the limit was refused at first, then served


def test_a_429_says_when_a_run_is_expected_to_end() -> None:
    with FakeChatServer() as slow:
        slow.hold_after(0)  # the first run's first call waits until released
        app = create_app(config=team(slow, 1), max_concurrency=1, enable_logging=False)
        with serving(app) as base:
            url = f"{base}/v1/chat/completions"
            body = {"model": "massgen", "messages": ask()}
            first = threading.Thread(target=lambda: httpx.post(url, json=body, timeout=30))
            first.start()
            assert slow.wait_for(lambda: len(slow.requests) == 1)
            busy = [httpx.post(url, json=body) for _ in range(2)]
            slow.release()
            first.join(timeout=30)
    for response in busy:
        assert response.status_code == 429
        assert response.json()["error"]["type"] == "rate_limit_error"
        seconds = int(response.headers["retry-after"])
        milliseconds = int(response.headers["retry-after-ms"])
        assert seconds == max(1, math.ceil(milliseconds / 1000)) and milliseconds >= 1000
    # the second caller is told to come after the first, who will hold the slot a while
    assert int(busy[1].headers["retry-after-ms"]) > int(busy[0].headers["retry-after-ms"])


def test_the_estimate_follows_the_runs() -> None:
    from massgen.server.limiter import MIN_WAIT, RunLimiter

    now = [0.0]
    limiter = RunLimiter(2, clock=lambda: now[0])
    first, second = limiter.try_acquire(), limiter.try_acquire()
    assert first and second and limiter.try_acquire() is None
    now[0] = 4.0
    # no run has ended: each is expected to take as long as it has run, plus MIN_WAIT (5 s);
    # the first two callers take the two slots at 5 s, the third the first slot after them
    assert [limiter.retry_after() for _ in range(3)] == [1.0, 1.0, 6.0]
    now[0] = 10.0
    first.release()
    second.release()
    second.release()  # once only
    assert list(limiter.durations) == [10.0, 10.0] and limiter.active == 0
    third = limiter.try_acquire()
    assert third is not None
    third.release(ran=False)  # a slot no run used says nothing about run times
    assert list(limiter.durations) == [10.0, 10.0]
    limiter.try_acquire(), limiter.try_acquire()
    now[0] = 12.0
    assert limiter.retry_after() == 10.5  # the median run (10 s) and a quarter: at 22.5 s
    now[0] = 22.0
    assert limiter.retry_after() == MIN_WAIT  # never sooner than a second
