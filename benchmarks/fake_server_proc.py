"""The fake Chat Completions server (``tests.fakes.chat_server``) in its own process, for the
benchmarks, with its request log readable over stdin/stdout.

Run from the repo root (so ``tests`` is importable)::

    python benchmarks/fake_server_proc.py --ttft 0.3 --tps 80 [--answer-words 120]

It prints the base URL (``http://127.0.0.1:PORT/v1``) as its first stdout line, then reads
commands from stdin, one per line:

- ``requests``: print the requests received since the last ``requests`` as one JSON line
  (timestamps are ``time.monotonic()``, which on Linux is CLOCK_MONOTONIC, shared by all
  processes, so the benchmark can place them on its own timeline) and forget them;
- ``quit`` (or end of input): stop.

Same server as ``python -m tests.fakes.chat_server --ttft T --tps R`` (the same
:class:`FakeChatServer` and default coordination brain); the only addition is the log dump.
``--answer-words W`` makes each ``new_answer`` W words long, for realistic prompt sizes;
``--answer-tokens T`` makes it T tokens long as the fake counts prompt tokens (4 characters a
token), so an answer read in a later prompt costs T prompt tokens there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fakes.chat_server import (  # noqa: E402
    CoordinationBrain,
    FakeChatServer,
    RecordedRequest,
    Reply,
    text_of,
)

FILLER_TEXT = (
    "Rayleigh scattering makes shorter wavelengths of sunlight scatter much more strongly "
    "than longer ones so the sky looks blue while sunsets look red because light crosses "
    "more air near the horizon and most blue is scattered out of the direct beam"
)


class LongAnswerBrain(CoordinationBrain):
    """The default coordination brain, with ``new_answer`` contents of ``words`` words, or of
    ``tokens`` tokens (4 characters each, the fake's own count)."""

    def __init__(self, words: int, tokens: int = 0) -> None:
        super().__init__()
        self.words = words
        self.tokens = tokens

    def __call__(self, body: dict[str, Any]) -> Reply:
        reply = super().__call__(body)
        if reply.tool_calls and reply.tool_calls[0][0] == "new_answer":
            head = json.loads(reply.tool_calls[0][1])["content"]
            words = FILLER_TEXT.split()
            filler = " ".join(words[i % len(words)] for i in range(self.words))
            content = f"{head}. {filler}."
            if self.tokens:
                text = " ".join(words[i % len(words)] for i in range(self.tokens))
                content = f"{head}. {text}"[: self.tokens * 4 - 1] + "."
            reply.tool_calls = [("new_answer", json.dumps({"content": content}))]
        return reply


def describe(record: RecordedRequest) -> dict[str, Any]:
    """The parts of a recorded request the benchmark needs."""
    body = record.body
    tools = [(t.get("function") or {}).get("name", "") for t in body.get("tools") or ()]
    tools_chars = len(json.dumps(body.get("tools") or [], separators=(",", ":")))
    return {
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "status": record.status,
        "completed": record.completed,
        "client_closed": record.client_closed,
        "model": record.model,
        "tools": tools,
        "messages": len(body.get("messages") or ()),
        # the fake server reports usage.prompt_tokens as message text chars / 4; this is the
        # same estimate for the tool schemas, which real providers also bill
        "tool_schema_tokens": tools_chars // 4,
        # the fake's own count of the request's prompt tokens, sent whether or not the
        # client read the reply's usage (a cancelled request's are billed too)
        "prompt_tokens_sent": max(
            1, sum(len(text_of(m.get("content"))) for m in body.get("messages") or ()) // 4
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds to the first token")
    parser.add_argument("--tps", type=float, default=None, help="tokens per second")
    parser.add_argument("--answer-words", type=int, default=0, help="words per new_answer")
    parser.add_argument("--answer-tokens", type=int, default=0, help="tokens per new_answer")
    args = parser.parse_args()
    long_answers = args.answer_words or args.answer_tokens
    brain = LongAnswerBrain(args.answer_words, args.answer_tokens) if long_answers else None
    server = FakeChatServer(ttft=args.ttft, tokens_per_second=args.tps, brain=brain).start()
    print(server.url, flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "requests":
                # a client may see [DONE] a moment before the server stamps finished_at
                deadline = time.monotonic() + 2.0
                while time.monotonic() < deadline and any(
                    r.finished_at is None for r in list(server.requests)
                ):
                    time.sleep(0.005)
                with server._lock:
                    records, server.requests[:] = list(server.requests), []
                print(json.dumps([describe(r) for r in records]), flush=True)
            elif command == "quit":
                break
    finally:
        server.stop()


if __name__ == "__main__":
    main()
