"""``type: ag2``: an AG2 (AutoGen) ``ConversableAgent`` as a massgen agent.

Each :meth:`AG2Backend.stream` call drives the agent's reply generation through its own
LLM client (``agent.client``, AG2's ``OpenAIWrapper`` over ``llm_config.config_list``) in a
small loop of its own:

- the offered tools are registered with the agent as AG2 function signatures; the agent's
  own tools (MCP, custom, file tools: ``turn.own_tools``) run through the engine
  (``turn.run_tool``) and their results go back to the model;
- a workflow tool (``new_answer``, ``vote``) ends the call as a :class:`ToolCallChunk`;
- with ``code_execution_config``, code blocks in a reply run in massgen's sandbox
  (:mod:`massgen.backends.ag2_code`) and their output goes back, as AG2 does;
- otherwise the reply's text is the result (a presentation's final answer).

Replies come whole (one :class:`TextChunk` per model reply); usage comes from the response.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import httpx
import openai

from massgen.backends.ag2_http import LoopClient, LoopTransport
from massgen.backends.ag2_setup import endpoints
from massgen.backends.errors import BackendError, BackendTimeoutError
from massgen.backends.openai_sdk import OpenAISDKBackend
from massgen.messages import (
    Chunk,
    DoneChunk,
    Message,
    ProviderToolChunk,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig
    from massgen.tools.lending import AgentTurn

#: Model replies in one call at most (own tool calls and code runs in between).
MAX_STEPS = 30


class AG2Backend(OpenAISDKBackend):
    type = "ag2"
    runs_own_loop = True

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        super().__init__(config, api_key)
        self.endpoints = endpoints(config)
        self.base_url = self.endpoints[0].base_url
        self._transport = LoopTransport()
        self._http = LoopClient(self._transport)
        self._tools: dict[str, dict[str, Any]] = {}
        self._executor: Any = None
        self.agent = self._make_agent()

    @property
    def model(self) -> str:
        return self.endpoints[0].model

    def _make_agent(self) -> Any:
        from autogen import AssistantAgent, ConversableAgent

        from massgen.backends.ag2_code import SandboxCodeExecutor

        llm = self.config.llm_config
        assert llm is not None
        timeout = llm.timeout or self.config.timeout
        entries = [
            {
                "model": e.model,
                "api_key": e.api_key or "not-needed",
                "base_url": e.base_url,
                "http_client": self._http,
                "max_retries": 0,  # massgen retries, in one place
                "timeout": timeout,
            }
            for e in self.endpoints
        ]
        sampling = ("temperature", "top_p", "max_tokens", "seed")
        settings = {k: v for k in sampling if (v := getattr(llm, k)) is not None}
        code: Any = False
        if self.config.code_execution_config:
            self._executor = SandboxCodeExecutor(self.config.code_execution_config)
            code = {"executor": self._executor}
        cls = AssistantAgent if self.config.agent_type == "AssistantAgent" else ConversableAgent
        return cls(
            name="massgen_agent",
            llm_config={"config_list": entries, "cache_seed": None, **settings},
            code_execution_config=code,
            human_input_mode="NEVER",
        )

    def scrub(self, text: str) -> str:
        for endpoint in self.endpoints:
            if endpoint.api_key and len(endpoint.api_key) >= 4:
                text = text.replace(endpoint.api_key, "***")
        return text

    # ------------------------------------------------------------------ one call

    def _prepare(self, system: str, tools: list[ToolSpec]) -> None:
        """The call's system message and tools, registered with the agent (AG2 rebuilds its
        client when they change, so this runs in a worker thread)."""
        if system and system != self.agent.system_message:
            self.agent.update_system_message(system)
        wanted = {t.name: _signature(t) for t in tools}
        for name in [n for n in self._tools if n not in wanted]:
            self.agent.update_tool_signature(name, is_remove=True)
            del self._tools[name]
        for name, signature in wanted.items():
            if self._tools.get(name) != signature:
                self.agent.update_tool_signature(signature, is_remove=False, silent_override=True)
                self._tools[name] = signature

    def _create(self, history: list[dict[str, Any]]) -> Any:
        return self.agent.client.create(
            messages=self.agent._oai_system_message + history, cache=None, agent=self.agent
        )

    async def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        response_format: dict[str, Any] | None = None,
        turn: AgentTurn | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        own = turn.own_tools if turn is not None else frozenset()
        self._transport.loop = asyncio.get_running_loop()
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        history = [_wire(m) for m in messages if m.role != "system"]
        try:
            await asyncio.to_thread(self._prepare, system, list(tools or []))
            for _ in range(MAX_STEPS):
                response = await asyncio.to_thread(self._create, history)
                if response.usage is not None:
                    yield _usage(response.usage)
                choice = response.choices[0]
                text = choice.message.content or ""
                calls = [
                    ToolCall(c.id, c.function.name, c.function.arguments or "")
                    for c in choice.message.tool_calls or []
                ]
                if text:
                    yield TextChunk(text)
                actions = [c for c in calls if c.name not in own]
                if actions:
                    for call in actions:
                        yield ToolCallChunk(call)
                    yield DoneChunk("tool_calls")
                    return
                if calls and turn is not None:
                    history.append(_wire(Message("assistant", text, tool_calls=calls)))
                    for call in calls:
                        result = (await turn.run_tool(call)).text
                        history.append(_wire(Message("tool", result, tool_call_id=call.id)))
                    continue
                blocks = self._executor.blocks(text) if self._executor and text else []
                if not blocks:
                    yield DoneChunk(choice.finish_reason)
                    return
                call_id = f"ag2-code-{response.id}"
                code = "\n\n".join(b.code for b in blocks)
                yield ProviderToolChunk(call_id, "code_execution", "started", code)
                files = turn.files if turn is not None else None
                exit_code, output = await self._executor.run(blocks, files)
                yield ProviderToolChunk(
                    call_id, "code_execution", "finished", f"exit code {exit_code}\n{output}"
                )
                history.append({"role": "assistant", "content": text})
                history.append({"role": "user", "content": _code_result(exit_code, output)})
            yield DoneChunk("length")
        except asyncio.CancelledError:
            self._transport.cancel()
            raise
        except BackendError:
            raise
        except TimeoutError as exc:  # AG2's wrapper turns the SDK's timeout into this
            raise BackendTimeoutError(
                f"no response from {self.base_url} within the timeout", provider=self.type
            ) from exc
        except (openai.APIError, httpx.HTTPError, json.JSONDecodeError) as exc:
            raise self._map_error(exc) from exc

    async def aclose(self) -> None:
        await self._transport.aclose()
        self._http.close()


def _signature(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def _wire(message: Message) -> dict[str, Any]:
    """A massgen message as AG2's (Chat Completions) message dict."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    return wire


def _usage(usage: Any) -> UsageChunk:
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    return UsageChunk(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        reasoning_tokens=getattr(completion_details, "reasoning_tokens", 0) or 0,
        cached_tokens=getattr(prompt_details, "cached_tokens", 0) or 0,
    )


def _code_result(exit_code: int, output: str) -> str:
    """What AG2 tells the model after running its code."""
    status = "execution succeeded" if exit_code == 0 else "execution failed"
    return f"exitcode: {exit_code} ({status})\nCode output: {output}"
