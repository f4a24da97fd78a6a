"""Background tasks through the real server (uvicorn on an ephemeral port, lifespan on), a
FakeChatServer provider, webhooks delivered to a real receiver on 127.0.0.1, on SQLite and
on a real PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import massgen
from massgen.errors import ConfigurationError
from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer
from tests.server.support import (
    SECRET_KEY,
    Receiver,
    ask,
    serving,
    sse_events,
    team,
    wait_for_status,
)

SECRET = "whsec-test-0123456789"
KEY_A, KEY_B = "sk-tenant-a-0123456789", "sk-tenant-b-0123456789"
LOOPBACK = ["127.0.0.1/32"]


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text output (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if sample.split("{")[0] == name and all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def test_task_with_webhook_completes_signed_replayed_and_counted(
    provider: FakeChatServer, db_url: str, tmp_path: Path
) -> None:
    app = create_app(
        config=team(provider),
        db=db_url,
        webhook_allow=LOOPBACK,
        secret_keys=[SECRET_KEY],
        log_dir=tmp_path / "logs",
    )
    with Receiver() as receiver, serving(app) as base, httpx.Client(base_url=base) as client:
        created = client.post(
            "/v1/tasks",
            json={
                "messages": ask("q-task: why is the sky blue?"),
                "metadata": {"ticket": "T-1"},
                "webhook": {"url": receiver.url, "secret": SECRET},
            },
        )
        assert created.status_code == 202, created.text
        task = created.json()
        assert task["status"] == "queued" and task["id"].startswith("task_")
        assert created.headers["location"] == f"/v1/tasks/{task['id']}"
        assert "secret" not in created.text

        done = wait_for_status(client, task["id"], ("completed", "failed"))
        assert done["status"] == "completed", done
        assert done["progress"] == 100
        assert (
            done["started_at"] >= done["created_at"] and done["finished_at"] >= done["started_at"]
        )
        assert done["metadata"] == {"ticket": "T-1"}
        result = done["result"]
        assert result["object"] == "chat.completion"
        assert "q-task" in result["choices"][0]["message"]["content"]
        assert result["usage"]["total_tokens"] > 0

        # the webhook arrives, signed; a wrong secret or a changed body does not verify
        (hook,) = receiver.wait(1)
        signature = hook.headers["X-Massgen-Signature"]
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", signature)
        assert massgen.verify_webhook(hook.body, signature, SECRET)
        assert not massgen.verify_webhook(hook.body, signature, "another-secret")
        assert not massgen.verify_webhook(hook.body + b" ", signature, SECRET)
        payload = httpx.Response(200, content=hook.body).json()
        assert payload["type"] == "task.completed"
        assert payload["data"]["id"] == task["id"]
        assert payload["data"]["result"]["choices"][0]["message"]["content"]
        assert SECRET not in hook.body.decode()

        # the events replay from the start, in order, ending with the task's end
        with client.stream("GET", f"/v1/tasks/{task['id']}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = list(sse_events(response))
        kinds = [e["event"] for e in events]
        assert kinds[0] == "queued" and kinds[1] == "running" and kinds[-1] == "completed"
        for kind in ("run_started", "answer_submitted", "vote_cast", "winner_selected"):
            assert kind in kinds
        assert "final_answer" in kinds and "progress" in kinds
        ids = [int(e["id"]) for e in events]
        assert ids == list(range(1, len(ids) + 1))
        assert events[-1]["data"]["task"]["result"] == result
        progress = [e["data"]["progress"] for e in events if e["event"] == "progress"]
        assert progress == sorted(progress)

        # ... and resume after the Last-Event-ID
        cut = ids[len(ids) // 2]
        with client.stream(
            "GET", f"/v1/tasks/{task['id']}/events", headers={"Last-Event-ID": str(cut)}
        ) as response:
            rest = list(sse_events(response))
        assert [int(e["id"]) for e in rest] == ids[cut:]

        # the delivery is recorded
        (delivery,) = client.get(f"/v1/tasks/{task['id']}/deliveries").json()["data"]
        assert delivery["status"] == "delivered" and delivery["event"] == "task.completed"
        assert [a["status_code"] for a in delivery["attempts"]] == [200]

        # /metrics counts it
        text = client.get("/metrics").text
        assert metric(text, "massgen_tasks", status="completed") == 1
        assert metric(text, "massgen_tasks_submitted_total") == 1
        assert metric(text, "massgen_runs_total", strategy="vote", status="ok") == 1
        assert metric(text, "massgen_webhook_deliveries_total", outcome="delivered") == 1
        assert metric(text, "massgen_model_calls_total", provider="chatcompletion", model="m") == 5
        assert (
            metric(
                text, "massgen_tokens_total", provider="chatcompletion", model="m", kind="prompt"
            )
            > 0
        )
        assert (
            metric(
                text, "massgen_http_requests_total", route="/v1/tasks", method="POST", status="202"
            )
            == 1
        )
        assert metric(text, "massgen_run_duration_seconds_count", strategy="vote") == 1


def test_each_api_key_sees_only_its_own_tasks(provider: FakeChatServer, tmp_path: Path) -> None:
    app = create_app(
        config=team(provider), api_keys=[KEY_A, KEY_B], db=f"sqlite:///{tmp_path}/t.db"
    )
    with serving(app) as base:
        a = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY_A}"})
        b = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY_B}"})
        nobody = httpx.Client(base_url=base)
        mine = a.post("/v1/tasks", json={"messages": ask("a's question")}).json()
        theirs = b.post("/v1/tasks", json={"messages": ask("b's question")}).json()
        wait_for_status(a, mine["id"], ("completed",))
        wait_for_status(b, theirs["id"], ("completed",))

        assert [t["id"] for t in a.get("/v1/tasks").json()["data"]] == [mine["id"]]
        assert [t["id"] for t in b.get("/v1/tasks").json()["data"]] == [theirs["id"]]
        for path in ("", "/events", "/deliveries"):
            refused = b.get(f"/v1/tasks/{mine['id']}{path}")
            assert refused.status_code == 404, path
            assert refused.json()["error"]["code"] == "not_found"
        assert b.post(f"/v1/tasks/{mine['id']}/cancel").status_code == 404
        assert nobody.get("/v1/tasks").status_code == 401
        assert nobody.post("/v1/tasks", json={"messages": ask()}).status_code == 401
        wrong = httpx.get(f"{base}/v1/tasks", headers={"Authorization": "Bearer sk-wrong"})
        assert wrong.status_code == 401


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:9/hook", "private or loopback"),
        ("http://localhost:9/hook", "private or loopback"),
        ("http://10.1.2.3/hook", "private or loopback"),
        ("http://192.168.0.10/hook", "private or loopback"),
        ("http://169.254.169.254/latest/meta-data", "private or loopback"),
        ("http://[::1]:9/hook", "private or loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "private or loopback"),
        ("http://0.0.0.0/hook", "private or loopback"),
        ("http://user:pw@example.com/hook", "credentials"),
        ("ftp://example.com/hook", "http(s) URL"),
        ("not a url", "http(s) URL"),
    ],
)
def test_webhook_targets_are_refused_unless_allowed(
    provider: FakeChatServer, tmp_path: Path, url: str, why: str
) -> None:
    app = create_app(config=team(provider), db=f"sqlite:///{tmp_path}/t.db")
    with serving(app) as base, httpx.Client(base_url=base) as client:
        hook = {"url": url, "secret": SECRET}
        for path, body in (
            ("/v1/tasks", {"messages": ask(), "webhook": hook}),
            ("/v1/webhooks", hook),
        ):
            refused = client.post(path, json=body)
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert why in error["message"] and "\n" not in error["message"]
            assert error["code"] in ("webhook_refused", "invalid_webhook")
        assert client.get("/v1/tasks").json()["data"] == []  # nothing was queued


def test_webhooks_retry_with_backoff_and_record_each_attempt(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    app = create_app(
        config=team(provider),
        db=f"sqlite:///{tmp_path}/t.db",
        webhook_allow=LOOPBACK,
        secret_keys=[SECRET_KEY],
        webhook_options={"backoff_base": 0.2, "max_attempts": 3, "timeout": 2.0},
    )
    with (
        Receiver(statuses=[500, 503, 200]) as flaky,
        Receiver(statuses=[500, 500, 500]) as broken,
        Receiver(statuses=[400, 400]) as rejecting,
        serving(app) as base,
        httpx.Client(base_url=base) as client,
    ):
        # a registered webhook of the same key also receives the task's events
        registered = client.post(
            "/v1/webhooks", json={"url": rejecting.url, "secret": SECRET}
        ).json()
        assert registered["events"] == ["task.completed", "task.failed", "task.cancelled"]
        assert "secret" not in registered
        assert [w["id"] for w in client.get("/v1/webhooks").json()["data"]] == [registered["id"]]
        task = client.post(
            "/v1/tasks",
            json={"messages": ask(), "webhook": {"url": flaky.url, "secret": SECRET}},
        ).json()
        other = client.post(
            "/v1/tasks",
            json={"messages": ask(), "webhook": {"url": broken.url, "secret": SECRET}},
        ).json()
        wait_for_status(client, task["id"], ("completed",))
        wait_for_status(client, other["id"], ("completed",))
        flaky.wait(3)
        broken.wait(3)
        rejecting.wait(2)  # one per task, never retried

        def deliveries(task_id: str, url: str) -> dict[str, Any]:
            for _ in range(200):
                found = [
                    d
                    for d in client.get(f"/v1/tasks/{task_id}/deliveries").json()["data"]
                    if d["url"] == url
                ]
                if found and found[0]["status"] != "pending":
                    return found[0]
                flaky.wait(0, timeout=0.05)
            raise AssertionError(f"delivery to {url} still pending")

        retried = deliveries(task["id"], flaky.url)
        assert retried["status"] == "delivered"
        attempts = retried["attempts"]
        assert [a["status_code"] for a in attempts] == [500, 503, 200]
        assert attempts[0]["error"] == "HTTP 500" and attempts[2]["error"] is None
        # exponential backoff: 0.2 s after the first failure, 0.4 s after the second
        first = attempts[0]["next_attempt_at"] - attempts[0]["started_at"]
        second = attempts[1]["next_attempt_at"] - attempts[1]["started_at"]
        assert first >= 0.2 and second >= 0.4 and second > first
        assert attempts[1]["started_at"] >= attempts[0]["next_attempt_at"]
        assert attempts[2]["next_attempt_at"] is None
        # every retry is signed afresh and still verifies
        assert all(
            massgen.verify_webhook(r.body, r.headers["X-Massgen-Signature"], SECRET)
            for r in flaky.received
        )

        gave_up = deliveries(other["id"], broken.url)
        assert gave_up["status"] == "failed"
        assert [a["status_code"] for a in gave_up["attempts"]] == [500, 500, 500]
        not_retried = deliveries(task["id"], rejecting.url)
        assert not_retried["status"] == "failed"
        assert [a["status_code"] for a in not_retried["attempts"]] == [400]

        text = client.get("/metrics").text
        assert metric(text, "massgen_webhook_deliveries_total", outcome="retry") == 4
        assert metric(text, "massgen_webhook_deliveries_total", outcome="delivered") == 1
        assert metric(text, "massgen_webhook_deliveries_total", outcome="failed") == 3
        assert client.delete(f"/v1/webhooks/{registered['id']}").json()["deleted"] is True
        assert client.delete(f"/v1/webhooks/{registered['id']}").status_code == 404


def test_cancel_and_timeout(tmp_path: Path) -> None:
    with FakeChatServer(ttft=30) as slow:
        app = create_app(config=team(slow), db=f"sqlite:///{tmp_path}/t.db", max_concurrency=1)
        with serving(app) as base, httpx.Client(base_url=base) as client:
            running = client.post("/v1/tasks", json={"messages": ask("slow one")}).json()
            queued = client.post("/v1/tasks", json={"messages": ask("waits")}).json()
            wait_for_status(client, running["id"], ("running",))
            assert client.get(f"/v1/tasks/{queued['id']}").json()["status"] == "queued"
            listed = client.get("/v1/tasks", params={"status": "queued"}).json()["data"]
            assert [t["id"] for t in listed] == [queued["id"]]

            cancelled = client.post(f"/v1/tasks/{queued['id']}/cancel")
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
            stopped = client.post(f"/v1/tasks/{running['id']}/cancel").json()
            assert stopped["status"] == "cancelled" and stopped["result"] is None
            with client.stream("GET", f"/v1/tasks/{running['id']}/events") as response:
                assert [e["event"] for e in sse_events(response)][-1] == "cancelled"
            slow.wait_for(lambda: all(r.finished_at for r in slow.requests), timeout=10)

            timed = client.post("/v1/tasks", json={"messages": ask("too slow"), "timeout": 1})
            failed = wait_for_status(client, timed.json()["id"], ("failed",))
            assert failed["error"] == "the task timed out after 1s"


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/v1/tasks", b"{not json", "invalid_json"),
        ("/v1/tasks", b"[]", "invalid_body"),
        ("/v1/tasks", b'{"messages": []}', "invalid_messages"),
        (
            "/v1/tasks",
            b'{"messages": [{"role": "user", "content": "q"}], "timeout": "x"}',
            "invalid_timeout",
        ),
        (
            "/v1/tasks",
            b'{"messages": [{"role": "user", "content": "q"}], "timeout": 0}',
            "invalid_timeout",
        ),
        (
            "/v1/tasks",
            b'{"messages": [{"role": "user", "content": "q"}], "metadata": [1]}',
            "invalid_metadata",
        ),
        (
            "/v1/tasks",
            b'{"messages": [{"role": "user", "content": "q"}], "webhook": "http://x"}',
            "invalid_webhook",
        ),
        (
            "/v1/tasks",
            b'{"messages": [{"role": "user", "content": "q"}], "webhook": {"url": "https://example.com", "secret": "short"}}',
            "invalid_webhook",
        ),
        (
            "/v1/tasks",
            b'{"messages": [{"role": "user", "content": "q"}], "webhook": {"url": "https://example.com", "secret": "long-enough-secret", "events": ["task.exploded"]}}',
            "invalid_webhook",
        ),
        (
            "/v1/tasks",
            b'{"messages": [{"role": "user", "content": "q"}], "model": "massgen/model:"}',
            "invalid_model",
        ),
        ("/v1/webhooks", b'{"url": 3}', "invalid_webhook"),
    ],
)
def test_bad_task_requests_get_one_readable_error(
    provider: FakeChatServer, tmp_path: Path, path: str, body: bytes, code: str
) -> None:
    app = create_app(config=team(provider), db=f"sqlite:///{tmp_path}/t.db")
    with serving(app) as base, httpx.Client(base_url=base) as client:
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == code
        assert "Traceback" not in response.text and "\n" not in error["message"]


def test_bad_task_queries(provider: FakeChatServer, tmp_path: Path) -> None:
    app = create_app(config=team(provider), db=f"sqlite:///{tmp_path}/t.db")
    with serving(app) as base, httpx.Client(base_url=base) as client:
        task = client.post("/v1/tasks", json={"messages": ask()}).json()
        for method, path, kwargs, status in [
            ("GET", "/v1/tasks?status=exploded", {}, 400),
            ("GET", "/v1/tasks?limit=0", {}, 400),
            ("GET", "/v1/tasks?limit=abc", {}, 400),
            ("GET", "/v1/tasks/task_nope", {}, 404),
            ("GET", "/v1/tasks/task_nope/events", {}, 404),
            ("POST", "/v1/tasks/task_nope/cancel", {}, 404),
            ("GET", f"/v1/tasks/{task['id']}/events", {"headers": {"Last-Event-ID": "x"}}, 400),
            ("DELETE", "/v1/tasks", {}, 405),
        ]:
            response = client.request(method, path, **kwargs)
            assert response.status_code == status, (path, response.text)
            assert response.json()["error"]["message"]


def test_a_store_that_is_down_is_a_503_not_a_traceback(provider: FakeChatServer) -> None:
    app = create_app(config=team(provider), db="postgresql://postgres@127.0.0.1:1/none")
    with serving(app) as base, httpx.Client(base_url=base) as client:
        response = client.post("/v1/tasks", json={"messages": ask()})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "store_unavailable"
        assert client.get("/health").json() == {"status": "ok"}
        assert client.post("/v1/chat/completions", json={"messages": ask()}).status_code == 200


def test_a_second_signature_header_for_receivers_of_another_platform(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    app = create_app(
        config=team(provider),
        db=f"sqlite:///{tmp_path / 'tasks.db'}",
        webhook_allow=LOOPBACK,
        webhook_signature_header="X-HelixAgent-Signature",
        secret_keys=[SECRET_KEY],
        enable_logging=False,
    )
    with Receiver() as receiver, serving(app) as base, httpx.Client(base_url=base) as client:
        webhook = {"url": receiver.url, "secret": SECRET}
        created = client.post("/v1/tasks", json={"messages": ask("q"), "webhook": webhook})
        assert created.status_code == 202, created.text
        (hook,) = receiver.wait(1)
    assert hook.headers["X-HelixAgent-Signature"] == hook.headers["X-Massgen-Signature"]
    assert massgen.verify_webhook(hook.body, hook.headers["X-HelixAgent-Signature"], SECRET)


@pytest.mark.parametrize("name", ["X-Massgen-Event", "Content-Type", "bad header"])
def test_a_signature_header_massgen_sets_or_that_is_no_header_is_refused(
    provider: FakeChatServer, name: str
) -> None:
    with pytest.raises(ConfigurationError, match="--webhook-signature-header"):
        create_app(config=team(provider), webhook_signature_header=name, enable_logging=False)
