"""An answer written as a tool call's argument shows on its card while it is written (issue
24, item 1): with a function-calling model the whole answer is ``new_answer(content=...)``."""

from __future__ import annotations

import asyncio
import json

from massgen.coordination.state import AgentSpec
from massgen.messages import DoneChunk, ToolArgumentsChunk, ToolCall, ToolCallChunk, UsageChunk
from massgen.tui.app import MassGenApp
from tests.support.scripted import Call, ScriptedBackend, answer, vote
from tests.tui.support import CONFIG, card_text, cards, finished, settled, until

ANSWER = "Paris has been the capital of France since the tenth century."


class WritingBackend(ScriptedBackend):
    """The first call streams half of ``new_answer``'s arguments, then holds at ``gate``
    mid-call before it writes the rest: an answer caught while it is written."""

    def __init__(self, name: str, gate: asyncio.Event) -> None:
        super().__init__(name, [vote("agent1")])
        self.gate = gate
        self.holding = False

    async def stream(self, messages, tools=None):
        if self.calls:
            async for chunk in super().stream(messages, tools):
                yield chunk
            return
        self.calls.append(Call(list(messages), [t.name for t in tools or ()], []))
        raw = json.dumps({"content": ANSWER})
        half = raw.index("since")
        for start in range(0, half, 6):
            yield ToolArgumentsChunk(0, "c1", "new_answer", raw[start : min(start + 6, half)])
        self.holding = True
        await self.gate.wait()
        self.holding = False
        yield ToolArgumentsChunk(0, "c1", "new_answer", raw[half:])
        yield ToolCallChunk(ToolCall("c1", "new_answer", raw))
        yield UsageChunk(40, 16)
        yield DoneChunk("tool_calls")


async def test_a_card_shows_the_answer_while_its_tool_call_is_still_streaming():
    gate = asyncio.Event()
    writer = WritingBackend("a1", gate)
    agents = [
        AgentSpec(id="a1", backend=writer),
        AgentSpec(id="a2", backend=ScriptedBackend("a2", [answer("Lyon?"), vote("agent1")])),
    ]
    app = MassGenApp(agents, CONFIG, question="What is the capital of France?")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: writer.holding and len(cards(app)) == 2)
        await settled(pilot)
        card = next(c for c in cards(app) if c.agent_id == "a1")
        shown = " ".join(card_text(card).split())
        assert "Paris has been the capital of France" in shown  # before the call completes
        assert ANSWER not in shown and "since the tenth century" not in shown
        agent = app.view.agents["a1"]
        assert agent.tokens > 0 and agent.activity == "writing answer"
        # a live estimate on the status line (the border, redrawn whole, keeps counted ones)
        assert f"writing answer… ~{agent.tokens} t" in card.status_text
        assert "0 tok" in str(card.border_subtitle)
        assert not agent.answers  # nothing submitted yet
        gate.set()
        await finished(pilot)
        text = " ".join(card_text(card).split())
        # once complete, the card shows the answer once, as it always did
        assert text.count("Paris has been the capital") == 1 and ANSWER in text
        assert "writing…" not in text and "New answer agent1.1" in text
