"""The fake Gemini server, now shipped as :mod:`massgen.testing.gemini_server` (its wire in
:mod:`massgen.testing.gemini_wire`): re-exported for the tests."""

from __future__ import annotations

from massgen.testing.chat_wire import Reply
from massgen.testing.gemini_server import FakeGeminiServer, main
from massgen.testing.gemini_wire import (
    REQUEST_FIELDS,
    STATUS_NAMES,
    GeminiReply,
    GeminiRequest,
    chat_view,
    error_body,
)

__all__ = [
    "REQUEST_FIELDS",
    "STATUS_NAMES",
    "FakeGeminiServer",
    "GeminiReply",
    "GeminiRequest",
    "Reply",
    "chat_view",
    "error_body",
    "main",
]

if __name__ == "__main__":
    main()
