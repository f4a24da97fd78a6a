"""``claude_code``: Anthropic's Claude Code as an agent, through the Claude Agent SDK.

Each :meth:`ClaudeCodeBackend.stream` call runs one Claude Code session (the CLI bundled in
the ``claude-agent-sdk`` wheel, a child process) on the conversation so far:

* massgen's tools reach it as an in-process SDK MCP server named ``massgen``: the agent's own
  tools (MCP, custom, file tools) run through the engine (:attr:`AgentTurn.run_tool`); a
  workflow action (``new_answer``, ``vote``) is yielded as a :class:`ToolCallChunk` and the
  session is interrupted there, so the engine decides what comes next;
* its own Read/Write/Edit/Grep/Glob/Bash work in the agent's workspace (or ``cwd`` in a run
  without files) under :class:`~massgen.backends.claude_code_guard.ToolGuard`'s rules;
* its thinking, text and tool activity become chunks; usage and cost come from its result;
* the key (``api_key``, ``CLAUDE_CODE_API_KEY``, ``ANTHROPIC_API_KEY``; none: the Claude
  subscription the CLI is signed in with) and endpoint (``base_url``, ``ANTHROPIC_BASE_URL``)
  reach the CLI through its environment only.

Closing or cancelling the stream ends the CLI process. The SDK is imported only here, when a
``claude_code`` agent runs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.backends.base import Backend
from massgen.backends.claude_code_guard import PREFIX, SERVER, Decision, ToolGuard
from massgen.backends.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    ProviderError,
    RateLimitError,
)
from massgen.messages import (
    Chunk,
    DoneChunk,
    Message,
    ProviderToolChunk,
    ReasoningChunk,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.providers import CLAUDE_CODE_TOOLS, endpoint
from massgen.tools.lending import AgentTurn, ToolReply

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig

INSTALL = "pip install 'massgen[claude-code]'"
#: How the CLI reports an endpoint it could not reach (after its own retries).
_UNREACHABLE = re.compile(r"ECONNREFUSED|ENOTFOUND|Connection (refused|error)|timed? ?out", re.I)
_DETAIL_CHARS = 300
_STDERR_LINES = 20
#: A class of error (a name of its own: inside the backend, ``type`` is its type name).
ErrorKind = type[BackendError]


def sdk_problem() -> str | None:
    """None when the Claude Agent SDK is installed, else the line saying how to get it."""
    if importlib.util.find_spec("claude_agent_sdk") is None:
        return f"claude_code needs the Claude Agent SDK (claude-agent-sdk): {INSTALL}"
    return None


def render_prompt(messages: list[Message]) -> tuple[str, str]:
    """``(system prompt, prompt)`` for one session: the conversation so far in one prompt
    (each call starts a fresh session), the last user message last."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    rest = [m for m in messages if m.role != "system"]
    if len(rest) == 1 and rest[0].role == "user":
        return system, rest[0].content
    parts: list[str] = []
    for message in rest:
        if message.role == "user":
            parts.append(message.content)
        elif message.role == "assistant":
            calls = "".join(f"\n[you called {c.name}: {c.arguments}]" for c in message.tool_calls)
            parts.append(f"[your earlier reply]\n{message.content}{calls}".rstrip())
        else:
            parts.append(f"[result of {message.name or 'a tool'}]\n{message.content}")
    return system, "\n\n".join(parts)


def usage_chunk(usage: dict[str, Any] | None) -> UsageChunk:
    """Anthropic usage fields as a :class:`UsageChunk` (input counts cached parts too)."""
    usage = usage or {}
    cached = int(usage.get("cache_read_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cached
    prompt += int(usage.get("cache_creation_input_tokens") or 0)
    details = usage.get("output_tokens_details") or {}
    return UsageChunk(
        prompt_tokens=prompt,
        completion_tokens=int(usage.get("output_tokens") or 0),
        reasoning_tokens=int(details.get("thinking_tokens") or 0),
        cached_tokens=cached,
    )


def _brief(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(str(text).split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content or "")


class ClaudeCodeBackend(Backend):
    """Claude Code, one CLI session per call (see the module docstring)."""

    type = "claude_code"
    runs_own_loop = True

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        super().__init__(config, api_key)
        self.base_url, self._url_source = endpoint(config)

    def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        response_format: dict[str, Any] | None = None,
        turn: AgentTurn | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        return self._session(messages, list(tools or ()), turn)

    # ------------------------------------------------------------------ one session

    async def _session(
        self, messages: list[Message], tools: list[ToolSpec], turn: AgentTurn | None
    ) -> AsyncGenerator[Chunk, None]:
        sdk = self._sdk()
        own = turn.own_tools if turn else frozenset()
        actions = {t.name for t in tools if t.name not in own}
        guard = ToolGuard(turn.files if turn else None, self._cwd(turn))
        stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        system, prompt = render_prompt(messages)
        options = self._options(sdk, system, tools, turn, guard, stderr)
        client = sdk.ClaudeSDKClient(options)
        state = _Session(actions)
        try:
            try:
                await client.connect()
                await client.query(prompt)
                async for message in client.receive_response():
                    for chunk in state.chunks(sdk, message):
                        yield chunk
                    if state.action is not None and not state.interrupted:
                        state.interrupted = True
                        await client.interrupt()  # the CLI ends the turn and reports usage
            except BackendError:
                raise
            except sdk.CLINotFoundError as exc:
                missing = f"Claude Code CLI not found ({exc}); {INSTALL}"
                raise self._error(ProviderError, missing) from None
            except sdk.ProcessError as exc:
                said = f": {' | '.join(stderr)}" if stderr else ""
                ended = f"Claude Code CLI ended unexpectedly (exit code {exc.exit_code}){said}"
                raise self._error(ProviderError, ended) from None
            except sdk.ClaudeSDKError as exc:
                raise self._error(BackendConnectionError, f"Claude Code CLI: {exc}") from None
            if state.error is not None:
                raise self._error(*state.error)
            if state.action is not None:
                yield ToolCallChunk(state.action)
            yield state.usage()
            yield DoneChunk("tool_calls" if state.action else "stop")
        finally:
            guard.finish()
            with contextlib.suppress(Exception):  # the error that ended the turn tells more
                await client.disconnect()  # ends the CLI process, also when cancelled

    def _error(self, kind: ErrorKind, message: str) -> BackendError:
        if kind is ProviderError and _UNREACHABLE.search(message):
            kind = BackendConnectionError
            message = f"connection to {self.base_url} failed: {message}"
        error = kind(self.scrub(message), provider=self.type)
        error.retryable = False  # the CLI has retried already (max_retries)
        return error

    @staticmethod
    def _sdk() -> Any:
        problem = sdk_problem()
        if problem:
            raise ProviderError(problem, provider="claude_code", status=400)
        import claude_agent_sdk

        # its own log lines (a reader's fatal error) would repeat what the raised error says
        logging.getLogger("claude_agent_sdk").addHandler(logging.NullHandler())
        return claude_agent_sdk

    def _cwd(self, turn: AgentTurn | None) -> Path:
        """The workspace in a run with files; else ``cwd`` (default: where massgen runs)."""
        if turn is not None and turn.files is not None:
            return turn.files.policy().workspace
        folder = Path(os.path.expanduser(self.config.cwd or ".")).absolute()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"cwd {folder} cannot be made: {exc.strerror}"
            raise ProviderError(problem, provider=self.type, status=400) from None
        return folder

    def _tools(self) -> list[str]:
        chosen = self.config.allowed_tools or list(CLAUDE_CODE_TOOLS)
        return [t for t in chosen if t not in (self.config.disallowed_tools or ())]

    def env(self) -> dict[str, str]:
        """The CLI's environment additions: key, endpoint, timeout, retries; no telemetry."""
        env = {
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_MAX_RETRIES": str(self.config.max_retries),
            "API_TIMEOUT_MS": str(int(self.config.timeout * 1000)),
        }
        if self.api_key:
            env["ANTHROPIC_API_KEY"] = self.api_key
        if self._url_source != "default":
            env["ANTHROPIC_BASE_URL"] = self.base_url
        return env

    def _options(
        self,
        sdk: Any,
        system: str,
        tools: list[ToolSpec],
        turn: AgentTurn | None,
        guard: ToolGuard,
        stderr: deque[str],
    ) -> Any:
        server = sdk.create_sdk_mcp_server(
            SERVER, tools=[self._mcp_tool(sdk, spec, turn) for spec in tools]
        )

        async def before_tool(data: dict[str, Any], tool_use_id: Any, context: Any) -> Any:
            tool_input = data.get("tool_input") or {}  # the SDK always sends one
            decision: Decision = guard.decide(data.get("tool_name", ""), tool_input)
            out: dict[str, Any] = {
                "hookEventName": "PreToolUse",
                "permissionDecision": "allow" if decision.allow else "deny",
            }
            if decision.reason:
                out["permissionDecisionReason"] = decision.reason
            if decision.updated_input is not None:
                out["updatedInput"] = decision.updated_input
            return {"hookSpecificOutput": out}

        async def after_bash(data: dict[str, Any], tool_use_id: Any, context: Any) -> Any:
            guard.command_finished()
            return {}

        thinking = None
        if self.config.thinking_budget is not None:
            budget = self.config.thinking_budget
            thinking = (
                {"type": "enabled", "budget_tokens": max(budget, 1024)}
                if budget
                else {"type": "disabled"}
            )
        hooks = {
            "PreToolUse": [sdk.HookMatcher(matcher=None, hooks=[before_tool])],
            "PostToolUse": [sdk.HookMatcher(matcher="Bash", hooks=[after_bash])],
        }
        if tools:
            system += (
                f"\n\nThe tools named above are yours as {PREFIX}<name> "
                f"(e.g. {PREFIX}{tools[0].name})."
            )
        return sdk.ClaudeAgentOptions(
            model=self.config.model,
            system_prompt={"type": "preset", "preset": "claude_code", "append": system},
            tools=self._tools(),
            mcp_servers={SERVER: server},
            strict_mcp_config=True,
            setting_sources=[],  # the user's Claude Code settings and hooks stay out
            hooks=hooks,
            cwd=str(guard.cwd),
            max_turns=self.config.max_turns,
            thinking=thinking,
            env=self.env(),
            stderr=lambda line: stderr.append(self.scrub(line)),
        )

    @staticmethod
    def _mcp_tool(sdk: Any, spec: ToolSpec, turn: AgentTurn | None) -> Any:
        schema = {"type": "object", "properties": {}, **(spec.parameters or {})}
        own = turn is not None and spec.name in turn.own_tools

        async def handler(arguments: dict[str, Any]) -> dict[str, Any]:
            if not own or turn is None:  # a workflow action: the session stops right here
                reply = ToolReply("Received: massgen takes it from here. Stop now.")
            else:
                call = ToolCall(f"cc-{os.urandom(6).hex()}", spec.name, json.dumps(arguments))
                reply = await turn.run_tool(call)
            return {"content": [{"type": "text", "text": reply.text}], "is_error": reply.is_error}

        return sdk.SdkMcpTool(spec.name, spec.description, schema, handler)


class _Session:
    """Turns one session's SDK messages into chunks; keeps usage, the action, the error."""

    def __init__(self, actions: set[str]) -> None:
        self.actions = actions
        self.action: ToolCall | None = None
        self.interrupted = False
        self.error: tuple[type[BackendError], str] | None = None
        self.started: dict[str, str] = {}  # Claude Code's own tool calls (id -> name)
        self.by_message: dict[str, dict[str, Any]] = {}
        self.final: dict[str, Any] | None = None

    def chunks(self, sdk: Any, message: Any) -> list[Chunk]:
        if isinstance(message, sdk.AssistantMessage):
            return self._assistant(sdk, message)
        if isinstance(message, sdk.UserMessage) and isinstance(message.content, list):
            out: list[Chunk] = []
            for block in message.content:
                if isinstance(block, sdk.ToolResultBlock) and block.tool_use_id in self.started:
                    name = self.started.pop(block.tool_use_id)
                    detail = _brief(_result_text(block.content))
                    out.append(ProviderToolChunk(block.tool_use_id, name, "finished", detail))
            return out
        if isinstance(message, sdk.ResultMessage):
            self.final = message.usage
            self.cost = message.total_cost_usd
            if message.is_error and not self.interrupted and self.error is None:
                text = message.result or "; ".join(message.errors or ()) or message.subtype
                self.error = (ProviderError, f"Claude Code: {text}")
        return []

    def _assistant(self, sdk: Any, message: Any) -> list[Chunk]:
        if message.parent_tool_use_id:  # a subagent's work: its result shows as a tool result
            return []
        if message.message_id and message.usage:
            self.by_message[message.message_id] = message.usage
        out: list[Chunk] = []
        texts: list[str] = []
        for block in message.content:
            if isinstance(block, sdk.TextBlock):
                texts.append(block.text)
                if not message.error:
                    out.append(TextChunk(block.text))
            elif isinstance(block, sdk.ThinkingBlock):
                out.append(ReasoningChunk(block.thinking))
            elif isinstance(block, sdk.ToolUseBlock):
                out += self._tool_use(block)
        if message.error and self.error is None:
            kind = _ERRORS.get(message.error, ProviderError)
            self.error = (kind, " ".join(texts) or message.error)
        return out

    def _tool_use(self, block: Any) -> list[Chunk]:
        name = block.name
        if name.startswith(PREFIX):
            bare = name[len(PREFIX) :]
            if bare in self.actions and self.action is None:
                self.action = ToolCall(block.id, bare, json.dumps(block.input))
            return []  # the agent's own tools: the engine shows them as it runs them
        self.started[block.id] = name
        return [ProviderToolChunk(block.id, name, "started", _brief(block.input))]

    def usage(self) -> UsageChunk:
        """The session's usage: from the result; summed per model call if it never came."""
        if self.final is not None:
            return replace(usage_chunk(self.final), cost_usd=self.cost)
        total = UsageChunk()
        for usage in self.by_message.values():
            one = usage_chunk(usage)
            total.prompt_tokens += one.prompt_tokens
            total.completion_tokens += one.completion_tokens
            total.reasoning_tokens += one.reasoning_tokens
            total.cached_tokens += one.cached_tokens
        return total

    cost: float | None = None


_ERRORS: dict[str, type[BackendError]] = {
    "authentication_failed": AuthenticationError,
    "billing_error": AuthenticationError,
    "rate_limit": RateLimitError,
}
