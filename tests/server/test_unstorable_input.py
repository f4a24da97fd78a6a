"""Input no database or encoder takes: a lone UTF-16 surrogate (JSON allows ``\\ud800``, UTF-8
does not) and an event id past what the store's column holds (64 bits on SQLite, 32 on
PostgreSQL). Each gets a 4xx in the OpenAI error shape, or is cleaned where it is the
question's text, on SQLite and PostgreSQL, and the server's log has no traceback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.routing import Route

from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer
from tests.server.support import ask, serving, team, wait_for_status

LONE = "\\ud800"  # as it appears in the JSON text


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


def _post(client: httpx.Client, path: str, raw: str) -> httpx.Response:
    return client.post(path, content=raw.encode(), headers={"content-type": "application/json"})


def test_a_lone_surrogate_in_a_task_is_cleaned_in_the_question_and_refused_elsewhere(
    provider: FakeChatServer, db_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app(config=team(provider), db=db_url, enable_logging=False)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        question = f'{{"messages": [{{"role": "user", "content": "q-task {LONE} end"}}]}}'
        created = _post(client, "/v1/tasks", question)
        assert created.status_code == 202, created.text
        done = wait_for_status(client, created.json()["id"], ("completed", "failed"))
        assert done["status"] == "completed", done
        asked = [r.body["messages"][-1]["content"] for r in provider.requests]
        assert any("q-task \ufffd end" in text for text in asked), asked

        for raw, param, where in [
            (
                f'{{"messages": [{{"role": "user", "content": "q"}}], '
                f'"metadata": {{"ticket": "T-{LONE}"}}}}',
                "metadata",
                "metadata.ticket",
            ),
            (
                f'{{"messages": [{{"role": "user", "content": "q"}}], '
                f'"webhook": {{"url": "https://example.com/h", "secret": "long-secret-{LONE}"}}}}',
                "webhook",
                "webhook.secret",
            ),
            (
                f'{{"messages": [{{"role": "user", "content": "q"}}], "stop": ["a", "{LONE}"]}}',
                "stop",
                "stop[1]",
            ),
        ]:
            refused = _post(client, "/v1/tasks", raw)
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error["param"] == param and error["code"] == "invalid_text"
            assert error["message"].startswith(f"{where}: contains a lone UTF-16 surrogate")
        assert len(client.get("/v1/tasks").json()["data"]) == 1  # nothing refused was stored
    assert "Traceback" not in capfd.readouterr().err


def test_a_lone_surrogate_in_a_chat_request_field_is_a_400(
    provider: FakeChatServer, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app(config=team(provider), enable_logging=False)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        raw = f'{{"messages": [{{"role": "user", "content": "q"}}], "user": "u-{LONE}"}}'
        refused = _post(client, "/v1/chat/completions", raw)
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "user"
        unknown = _post(client, "/v1/chat/completions", f'{{"x{LONE}": 1, "messages": []}}')
        assert unknown.status_code == 400  # the name is quoted in the message, cleaned
        assert "x\ufffd" in unknown.json()["error"]["message"]
    assert not provider.requests
    assert "Traceback" not in capfd.readouterr().err


def test_an_event_id_past_what_a_store_holds_is_a_400_and_the_largest_is_read(
    provider: FakeChatServer, db_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app(config=team(provider), db=db_url, enable_logging=False)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        task = client.post("/v1/tasks", json={"messages": ask()}).json()
        wait_for_status(client, task["id"], ("completed",))
        url = f"/v1/tasks/{task['id']}/events"
        past = ("2147483648", "9223372036854775808", "99999999999999999999")
        for value in (*past, "-1", "1e3", "\u00b2"):
            for kwargs in (
                {"headers": {"Last-Event-ID": value.encode("latin-1")}},
                {"params": {"after": value}},
            ):
                response = client.get(url, **kwargs)
                assert response.status_code == 400, (value, response.text)
                error = response.json()["error"]
                assert error["code"] == "invalid_event_id"
                assert "from 0 to 2147483647" in error["message"]
        # past the last event of a finished task: 204, which tells an EventSource to stop
        # reconnecting (rather than a stream held open on nothing)
        for value in ("2147483647", str(_last_id(client, url))):
            ended = client.get(url, headers={"Last-Event-ID": value})
            assert ended.status_code == 204, ended.text
    assert "Traceback" not in capfd.readouterr().err


def _last_id(client: httpx.Client, url: str) -> int:
    text = client.get(url).text
    return max(int(line[4:]) for line in text.splitlines() if line.startswith("id: "))


def test_an_unexpected_error_is_a_json_500_and_one_log_line(
    provider: FakeChatServer, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever a future bug raises, the client gets the OpenAI error shape and the log one
    line naming where, not a plain-text page and a traceback."""
    app = create_app(config=team(provider), enable_logging=False)

    async def broken(request: object) -> None:
        raise RuntimeError("a bug\nover two lines")

    app.app.router.routes.append(Route("/broken", broken))
    with serving(app) as base:
        response = httpx.get(f"{base}/broken")
    assert response.status_code == 500
    assert response.json()["error"] == {
        "message": "internal server error",
        "type": "server_error",
        "code": "internal_error",
        "param": None,
    }
    assert "Traceback" not in capfd.readouterr().err
    (record,) = [r for r in caplog.records if "internal error" in r.getMessage()]
    line = record.getMessage()
    assert "GET /broken: internal error: RuntimeError: a bug over two lines" in line
    assert "test_unstorable_input.py:" in line and record.exc_info is None
