"""The fake Chat Completions server, now shipped as :mod:`massgen.testing.chat_server`
(with its wire in :mod:`massgen.testing.chat_wire`): the names the tests import, re-exported
(the old private names too, for the fakes that still live here)."""

from __future__ import annotations

from massgen.testing.chat_server import (
    Cut,
    FakeChatServer,
    Generation,
    before_stop,
    main,
    serve,
)
from massgen.testing.chat_wire import (
    COMPACT,
    Brain,
    CoordinationBrain,
    Cycle,
    RecordedRequest,
    Reply,
    Send_,
    coordination_brain,
    error_body,
    estimate_prompt_tokens,
    split_arguments,
    split_tokens,
    text_of,
    tool_named,
    tool_results,
)

_COMPACT, _Cut, _Cycle, _Generation = COMPACT, Cut, Cycle, Generation
_tool_named, _tool_results, _estimate_prompt_tokens = (
    tool_named,
    tool_results,
    estimate_prompt_tokens,
)

__all__ = [
    "Brain",
    "CoordinationBrain",
    "FakeChatServer",
    "RecordedRequest",
    "Reply",
    "Send_",
    "before_stop",
    "coordination_brain",
    "error_body",
    "main",
    "serve",
    "split_arguments",
    "split_tokens",
    "text_of",
]

if __name__ == "__main__":
    main()
