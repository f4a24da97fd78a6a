"""The event bus: fan-out, never blocking the publisher, lossless coalescing."""

from __future__ import annotations

import asyncio
import json
import time

from massgen.events import AgentStatusChanged, EventBus, TextDelta, ToolArgumentsDelta, VoteCast


def vote_event(i: int) -> VoteCast:
    return VoteCast(
        agent_id=f"a{i}",
        voter=f"agent{i}",
        target="agent1",
        target_answer="agent1.1",
        target_agent_id="a1",
        reason="r",
    )


async def test_every_subscriber_gets_every_event_in_order():
    bus = EventBus("run1")
    subs = [bus.subscribe(), bus.subscribe()]
    for i in range(5):
        bus.publish(AgentStatusChanged(agent_id=f"a{i}", status="thinking"))
    bus.close()
    for sub in subs:
        got = [e async for e in sub]
        assert [e.agent_id for e in got] == [f"a{i}" for i in range(5)]
        assert [e.seq for e in got] == [1, 2, 3, 4, 5]
        assert all(e.run_id == "run1" for e in got)


async def test_a_slow_subscriber_never_blocks_the_publisher():
    bus = EventBus(coalesce_after=8)
    slow = bus.subscribe()
    received: list = []

    async def consume():
        async for event in slow:
            received.append(event)
            await asyncio.sleep(0.01)

    task = asyncio.create_task(consume())
    start = time.perf_counter()
    for i in range(10_000):
        bus.publish(TextDelta(agent_id="a1", turn=1, text=f"{i} "))
    for i in range(50):
        bus.publish(vote_event(i))
    publish_time = time.perf_counter() - start
    bus.close()
    await asyncio.wait_for(task, 10)
    assert publish_time < 1.0  # 10k deltas while the reader sleeps 10 ms per event
    # text is regrouped but nothing is lost, and every state event arrives, in order
    text = "".join(e.text for e in received if e.type == "text_delta")
    assert text == "".join(f"{i} " for i in range(10_000))
    votes = [e.agent_id for e in received if e.type == "vote_cast"]
    assert votes == [f"a{i}" for i in range(50)]
    assert len(received) < 10_050  # deltas were coalesced


async def test_deltas_of_different_agents_are_not_merged():
    bus = EventBus(coalesce_after=0)
    sub = bus.subscribe()
    bus.publish(TextDelta(agent_id="a1", turn=1, text="x"))
    bus.publish(TextDelta(agent_id="a2", turn=1, text="y"))
    bus.publish(TextDelta(agent_id="a2", turn=1, text="z"))
    bus.publish(TextDelta(agent_id="a2", turn=2, text="w"))
    bus.close()
    got = [(e.agent_id, e.turn, e.text) async for e in sub]
    assert got == [("a1", 1, "x"), ("a2", 1, "yz"), ("a2", 2, "w")]


async def test_argument_deltas_merge_only_within_one_call():
    bus = EventBus(coalesce_after=0)
    sub = bus.subscribe()
    for call_id, text in [("c1", '{"content'), ("c1", '": "a'), ("c2", "{}"), ("c1", '"}')]:
        bus.publish(ToolArgumentsDelta(agent_id="a1", turn=1, call_id=call_id, name="f", text=text))
    bus.close()
    got = [(e.call_id, e.text) async for e in sub]
    assert got == [("c1", '{"content": "a'), ("c2", "{}"), ("c1", '"}')]


def test_listeners_see_events_synchronously_and_events_serialise():
    bus = EventBus()
    seen = []
    bus.add_listener(seen.append)
    bus.publish(vote_event(2))
    assert seen and json.loads(json.dumps(seen[0].to_dict()))["voter"] == "agent2"


def test_a_failing_listener_does_not_stop_publishing():
    bus = EventBus()
    seen = []

    def broken(event):
        raise RuntimeError("boom")

    bus.add_listener(broken)
    bus.add_listener(seen.append)
    bus.publish(vote_event(1))
    bus.publish(vote_event(2))
    assert [e.agent_id for e in seen] == ["a1", "a2"]
