"""The fake Anthropic Messages server, now shipped as :mod:`massgen.testing.anthropic_server`
(its wire in :mod:`massgen.testing.anthropic_wire`): re-exported for the tests."""

from __future__ import annotations

from massgen.testing.anthropic_server import FakeAnthropicServer, main
from massgen.testing.anthropic_wire import CODE_EXECUTION_BETA, ClaudeReply, chat_view, error_body
from massgen.testing.chat_wire import RecordedRequest, Reply

__all__ = [
    "CODE_EXECUTION_BETA",
    "ClaudeReply",
    "FakeAnthropicServer",
    "RecordedRequest",
    "Reply",
    "chat_view",
    "error_body",
    "main",
]

if __name__ == "__main__":
    main()
