"""Background tasks and webhooks through the client, against a real ``massgen serve``:
massgen's task shape and the peer SDK's (``type``/``payload``), polling, the SSE stream and
its resume, cancel, list; webhooks registered with headers, delivered, and their signature
checked with :func:`massgen.client.verify_webhook_signature`."""

from __future__ import annotations

import json
import time

import pytest

from massgen.client import Client, ValidationError, verify_webhook_signature
from massgen.client.types import Task
from tests.client.conftest import API_KEY, Served
from tests.server.support import Receiver

ASK = [{"role": "user", "content": "Analyze this large codebase"}]


def client(server: Served) -> Client:
    return Client(base_url=server.url, api_key=API_KEY)


def until(c: Client, task_id: str, statuses: tuple[str, ...], timeout: float = 30) -> Task:
    deadline = time.monotonic() + timeout
    while True:
        task = c.tasks.get_status(task_id)
        if task.status in statuses:
            return task
        assert time.monotonic() < deadline, f"task still {task.status}"
        time.sleep(0.05)


def test_a_task_polled_to_its_result(server: Served) -> None:
    with client(server) as c:
        task = c.tasks.create(ASK, timeout=600, metadata={"ticket": "T-1"})
        assert task.status in ("queued", "running") and task.id.startswith("task_")
        done = until(c, task.id, ("completed", "failed"))
        result = c.tasks.get_result(task.id)
        listed = c.tasks.list(status="completed", limit=5)
    assert done.status == "completed" and done.progress == 100
    assert done.metadata == {"ticket": "T-1"}
    assert result.output is not None and "Analyze this large codebase" in result.output
    assert result.usage is not None and result.usage.total_tokens > 0
    assert task.id in [t.id for t in listed.data]


def test_the_peer_task_shape_maps_onto_a_massgen_task(server: Served) -> None:
    with client(server) as c:
        task = c.tasks.create(
            type="llm_completion",
            payload={"model": "claude-3-5-sonnet-20241022", "messages": ASK, "max_tokens": 10000},
            timeout=600,
        )
        until(c, task.id, ("completed",))
        assert c.tasks.get_result(task.id).output


def test_what_a_massgen_task_cannot_do_is_refused_before_sending(server: Served) -> None:
    with client(server) as c:
        before = len(c.tasks.list(limit=100).data)
        with pytest.raises(ValidationError, match="one of low, normal, high"):
            c.tasks.create(ASK, priority="urgent")
        with pytest.raises(ValidationError, match="one kind of task"):
            c.tasks.create(type="image_generation", payload={"prompt": "a cat"})
        assert len(c.tasks.list(limit=100).data) == before


def test_a_running_task_has_no_result_yet_and_can_be_cancelled(server: Served) -> None:
    server.provider.hold_after(0)
    with client(server) as c:
        task = c.tasks.create(ASK)
        until(c, task.id, ("running",))
        with pytest.raises(ValidationError, match="no result yet"):
            c.tasks.get_result(task.id)
        cancelled = c.tasks.cancel(task.id)
        assert cancelled.status == "cancelled"
        result = c.tasks.get_result(task.id)
    assert result.status == "cancelled" and result.output is None


def test_the_event_stream_runs_to_the_end_and_resumes_after_an_id(server: Served) -> None:
    with client(server) as c:
        task = c.tasks.create(ASK)
        events = list(c.tasks.stream_events(task.id))
        resumed = list(c.tasks.stream_events(task.id, last_event_id=events[2].id))
        again = list(c.tasks.stream_events(task.id, last_event_id=events[-1].id))
    types = [e.type for e in events]
    assert types[-1] == "completed" and "progress" in types and "vote_cast" in types
    assert [e.id for e in events] == sorted({e.id for e in events})
    progress = [e.progress for e in events if e.type == "progress"]
    assert progress == sorted(progress) and progress[0] > 0
    last = events[-1]
    assert last.task is not None and last.task.status == "completed" and last.task.progress == 100
    assert [e.id for e in resumed] == [e.id for e in events[3:]]
    assert [e.data for e in resumed] == [e.data for e in events[3:]]
    assert again == []  # every event was read: the server answers 204


def test_webhooks_registered_listed_delivered_signed_and_deleted(server: Served) -> None:
    secret = "whsec-client-test"
    with Receiver() as receiver, client(server) as c:
        hook = c.webhooks.create(
            receiver.url,
            events=["task.completed", "task.failed"],
            secret=secret,
            headers={"X-Custom-Header": "value"},
        )
        assert hook.id in [h.id for h in c.webhooks.list().data]
        task = c.tasks.create(ASK)
        (delivery,) = receiver.wait(1)
        deleted = c.webhooks.delete(hook.id)
        remaining = [h.id for h in c.webhooks.list().data]
        with pytest.raises(ValidationError, match="unknown webhook event"):
            c.webhooks.create(receiver.url, events=["debate.started"], secret=secret)
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    signature = headers["x-massgen-signature"]
    assert headers["x-custom-header"] == "value"
    event = json.loads(delivery.body)
    assert event["type"] == "task.completed" and event["data"]["id"] == task.id
    assert verify_webhook_signature(delivery.body, signature, secret)
    assert not verify_webhook_signature(delivery.body, signature, "another-secret")
    assert not verify_webhook_signature(delivery.body + b" ", signature, secret)
    assert not verify_webhook_signature(delivery.body, None, secret)
    assert deleted.deleted and hook.id not in remaining
