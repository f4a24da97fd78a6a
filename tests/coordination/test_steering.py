"""The user's hand on a running coordination, through the run handle over HTTP: a note typed
mid-run reaches each agent's next request, and "answer now" ends the coordination with the
leader's presentation at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

from massgen.config.loader import load_config_dict
from massgen.events import AnswerNow, Event, UserNote
from massgen.output.plain import describe
from massgen.runs import ActiveRun, Prepared, result_dict
from massgen.sessions.recorder import SessionRecorder
from massgen.sessions.store import read_events
from tests.fakes.chat_server import FakeChatServer, Reply, text_of

NOTE = "Please give the answer in French."
SLOW = 60.0  # a reply that would take this long: only "answer now" ends the run in time


def answer(content: str) -> Reply:
    return Reply(tool_calls=[("new_answer", json.dumps({"content": content}))])


def vote(target: str) -> Reply:
    return Reply(tool_calls=[("vote", json.dumps({"agent_id": target, "reason": "clearest"}))])


def prepared(url: str, models: list[str], **orchestrator: object) -> Prepared:
    data = {
        "agents": [
            {"id": m, "backend": {"type": "vllm", "model": m, "base_url": url, "max_retries": 0}}
            for m in models
        ],
        "orchestrator": {"restart_debounce_seconds": 0, **orchestrator},
    }
    return Prepared(load_config_dict(data).config, "test")


def user_text(body: dict) -> str:
    return "\n".join(
        text_of(m.get("content")) for m in body.get("messages", []) if m.get("role") == "user"
    )


def tools(body: dict) -> set[str]:
    return {t["function"]["name"] for t in body.get("tools") or []}


async def test_a_note_reaches_each_agents_next_request_and_the_session(tmp_path: Path):
    with FakeChatServer() as server:
        server.hold_after(0)  # the first answers wait: the run is surely mid-way
        recorder = SessionRecorder(prepared(server.url, ["m1"]).config, "test", log_dir=tmp_path)
        run = ActiveRun(
            prepared(server.url, ["m1", "m2"]), "What is 2+2?", recorder=recorder, watch=False
        )
        await server.await_for(lambda: len(server.requests) == 2, timeout=60)
        reply = run.steer(NOTE)
        server.release()
        result = await run.result()
        recorder.close()
    assert reply.accepted and result.ok
    for model in ("m1", "m2"):
        first, following, *_ = [r for r in server.requests if r.model == model]
        assert NOTE not in user_text(first.body)  # it was in flight when the note came
        seen = user_text(following.body)
        assert "vote" in tools(following.body) and NOTE in seen
        assert "<NOTES FROM THE USER>" in seen and "sent these notes while" in seen
    [presentation] = [r for r in server.requests if not tools(r.body)]
    assert NOTE in user_text(presentation.body)  # the final answer's turn reads it too
    assert run.session is not None
    events, _ = read_events(run.session.path)
    assert [e["text"] for e in events if e["type"] == "user_note"] == [NOTE]
    summary = json.loads((run.session.path / "summary.json").read_text())
    assert summary["parts"][0]["notes"] == 1


async def test_answer_now_ends_the_run_with_the_leaders_presentation_at_once(tmp_path: Path):
    with FakeChatServer() as server:
        for model, content in (("m1", "four"), ("m2", "4"), ("m3", "IV")):
            server.enqueue_for(model, answer(content))
        server.enqueue_for("m1", vote("agent2"))  # agent2 leads, one vote to none
        server.enqueue_for("m2", Reply(text="pondering", ttft=SLOW))
        server.enqueue_for("m3", Reply(text="pondering", ttft=SLOW))
        team = prepared(server.url, ["m1", "m2", "m3"])
        recorder = SessionRecorder(team.config, "test", log_dir=tmp_path)
        run = ActiveRun(team, "What is 2+2?", recorder=recorder, watch=False)
        events: list[Event] = []
        run.bus.add_listener(events.append)
        await server.await_for(lambda: any(e.type == "vote_cast" for e in events), timeout=60)
        await server.await_for(lambda: len(server.requests) == 6, timeout=60)
        asked = time.monotonic()
        reply = run.answer_now()
        result = await run.result()
        ended = time.monotonic()
        recorder.close()
    assert reply.accepted and "agent2" in reply.message
    assert result.status == "ok" and result.answered_now
    assert result.winner == "m2" and result.answer_label == "agent2.1"
    presentation = server.requests[-1]
    assert presentation.model == "m2" and not tools(presentation.body)
    assert presentation.started_at - asked < SLOW / 4 and ended - asked < SLOW / 2
    assert result.final_answer and result.final_answer.startswith("Final answer:")
    held = [r for r in server.requests if r.model in ("m2", "m3")][2:4]
    assert all(r.client_closed for r in held)  # the turns in flight were cancelled
    [now] = [e for e in events if e.type == "answer_now"]
    assert now.accepted and now.label == "agent2"
    assert [e.type for e in events].index("answer_now") < [e.type for e in events].index(
        "winner_selected"
    )
    assert run.session is not None
    summary = json.loads((run.session.path / "summary.json").read_text())
    assert summary["parts"][0]["answered_now"] is True
    assert result_dict(result, "test")["answered_now"] is True


async def test_answer_now_without_an_answer_says_so_and_the_run_goes_on():
    with FakeChatServer() as server:
        server.hold_after(0)
        run = ActiveRun(prepared(server.url, ["m1", "m2"]), "What is 2+2?", watch=False)
        events: list[Event] = []
        run.bus.add_listener(events.append)
        await server.await_for(lambda: len(server.requests) == 2, timeout=60)
        reply = run.answer_now()
        server.release()
        result = await run.result()
    assert not reply.accepted and "no answer yet" in reply.message
    assert result.ok and not result.answered_now and len(result.votes) == 2
    late = run.steer("too late")
    assert not late.accepted and late.message == "the run is over"
    [now] = [e for e in events if e.type == "answer_now"]
    assert not now.accepted and "the run goes on" in now.message


async def test_answer_now_in_a_debate_has_the_judge_synthesise_at_once():
    with FakeChatServer() as server:
        server.enqueue_for("m1", answer("four"), Reply(text="hmm", ttft=SLOW))
        server.enqueue_for("m2", answer("4"), Reply(text="hmm", ttft=SLOW))
        run = ActiveRun(
            prepared(server.url, ["m1", "m2"], strategy="debate", judge="m1"),
            "What is 2+2?",
            watch=False,
        )
        await server.await_for(lambda: len(server.requests) == 4, timeout=60)
        asked = time.monotonic()
        reply = run.answer_now()
        result = await run.result()
    assert reply.accepted and result.status == "ok" and result.answered_now
    synthesis = server.requests[-1]
    assert synthesis.model == "m1" and not tools(synthesis.body)
    assert synthesis.started_at - asked < SLOW / 4
    assert "four" in user_text(synthesis.body) and "4" in user_text(synthesis.body)
    assert result.final_answer and result.final_answer.startswith("Final answer:")


async def test_answer_now_in_a_judge_run_aggregates_the_answers_so_far():
    with FakeChatServer() as server:
        server.enqueue_for("m1", answer("four"), Reply(text="hmm", ttft=SLOW))
        server.enqueue_for("m2", answer("4"), Reply(text="hmm", ttft=SLOW))
        run = ActiveRun(
            prepared(server.url, ["m1", "m2"], strategy="judge", layers=2, judge="m2"),
            "What is 2+2?",
            watch=False,
        )
        await server.await_for(lambda: len(server.requests) == 4, timeout=60)
        reply = run.answer_now()
        result = await run.result()
    assert reply.accepted and "agent2 writes the final answer" in reply.message
    assert result.status == "ok" and result.answered_now
    aggregation = server.requests[-1]
    assert aggregation.model == "m2" and not tools(aggregation.body)
    assert result.final_answer and result.final_answer.startswith("Final answer:")


def test_the_plain_output_prints_one_line_for_a_note_and_for_answer_now():
    assert describe(UserNote(text=NOTE)) == (
        f"note from you to the agents (read at their next turn): {NOTE}"
    )
    asked = AnswerNow(accepted=True, message="agent2 presents agent2.1 (votes)", label="agent2")
    assert describe(asked) == "answer now (you asked): agent2 presents agent2.1 (votes)"


async def test_a_note_while_the_final_answer_is_written_is_refused_and_not_recorded():
    with FakeChatServer() as server:
        server.hold_after(4)  # two answers and two votes; the presentation waits
        run = ActiveRun(prepared(server.url, ["m1", "m2"]), "What is 2+2?", watch=False)
        events: list[Event] = []
        run.bus.add_listener(events.append)
        await server.await_for(lambda: len(server.requests) == 5, timeout=60)
        reply = run.steer(NOTE)
        server.release()
        result = await run.result()
    assert not reply.accepted and reply.message == "the final answer is already being written"
    assert result.ok and not any(e.type == "user_note" for e in events)


async def test_massgen_start_gives_python_users_the_same_handle():
    import massgen

    with FakeChatServer() as server:
        server.hold_after(0)
        config = {
            "agents": [
                {"id": m, "backend": {"type": "vllm", "model": m, "base_url": server.url}}
                for m in ("m1", "m2")
            ],
            "orchestrator": {"restart_debounce_seconds": 0},
        }
        run = massgen.start("What is 2+2?", config=config)
        await server.await_for(lambda: len(server.requests) == 2, timeout=60)
        reply = run.steer(NOTE)
        server.release()
        data = await run.outcome()
    assert reply.accepted and data["final_answer"]
    for model in ("m1", "m2"):
        first, following, *_ = [r for r in server.requests if r.model == model]
        assert NOTE not in user_text(first.body) and NOTE in user_text(following.body)
