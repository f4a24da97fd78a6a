"""The resources of :class:`~massgen.client.AsyncClient` (the same calls as
:mod:`massgen.client.resources`, awaited), in the peer SDK's
layout: ``chat.completions``, ``completions``, ``tasks``, ``webhooks``, ``providers``,
``models``. Each method builds its call in :mod:`massgen.client.calls`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx

from massgen.client import calls, downloads
from massgen.client.exceptions import NetworkError
from massgen.client.sockets import TaskSocket, task_socket
from massgen.client.transport import SSEDecoder, network_error, retry_delay
from massgen.client.types import (
    ChatCompletion,
    ChatCompletionChunk,
    Completion,
    ModelList,
    ProviderHealth,
    ProviderList,
    Task,
    TaskEvent,
    TaskList,
    TaskResult,
    Webhook,
    WebhookDeleted,
    WebhookList,
)

if TYPE_CHECKING:
    from massgen.client.async_client import AsyncClient, AsyncStream


class AsyncResource:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client


class AsyncChatCompletions(AsyncResource):
    @overload
    async def create(
        self,
        *,
        messages: list[dict[str, Any]],
        model: str | None = ...,
        stream: Literal[False] = ...,
        **options: Any,
    ) -> ChatCompletion: ...
    @overload
    async def create(
        self,
        *,
        messages: list[dict[str, Any]],
        model: str | None = ...,
        stream: Literal[True],
        **options: Any,
    ) -> AsyncStream[ChatCompletionChunk]: ...
    async def create(
        self,
        *,
        messages: list[dict[str, Any]],
        model: str | None = None,
        stream: bool = False,
        **options: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        """The team's answer to ``messages`` (``POST /v1/chat/completions``). ``model`` is
        the server's team unless it is ``massgen/model:<id>``; ``options`` (``max_tokens``,
        ``temperature``, ``top_p``, ``stop``, ...) go in the body as given."""
        call = calls.chat(messages, model, stream, options)
        if stream:
            return await self.client.stream(call, ChatCompletionChunk)
        return await self.client.fetch(call, ChatCompletion)


class AsyncChat(AsyncResource):
    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client)
        self.completions = AsyncChatCompletions(client)


class AsyncVision(AsyncResource):
    async def analyze(
        self, *, messages: list[dict[str, Any]], model: str | None = None, **options: Any
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        """The team's answer about the images in ``messages`` (``image_url`` parts: http(s)
        or ``data:`` URLs): a chat completion, as :meth:`AsyncChatCompletions.create` sends it.
        Agents whose model cannot see images are told so and answer from the text."""
        return await AsyncChatCompletions(self.client).create(
            messages=messages, model=model, **options
        )


class AsyncCompletions(AsyncResource):
    @overload
    async def create(
        self, *, prompt: str, model: str | None = ..., stream: Literal[False] = ..., **options: Any
    ) -> Completion: ...
    @overload
    async def create(
        self, *, prompt: str, model: str | None = ..., stream: Literal[True], **options: Any
    ) -> AsyncStream[Completion]: ...
    async def create(
        self, *, prompt: str, model: str | None = None, stream: bool = False, **options: Any
    ) -> Completion | AsyncStream[Completion]:
        """The team's answer to ``prompt`` as a text completion (``POST /v1/completions``)."""
        call = calls.completion(prompt, model, stream, options)
        if stream:
            return await self.client.stream(call, Completion)
        return await self.client.fetch(call, Completion)


class AsyncTasks(AsyncResource):
    async def create(
        self,
        messages: list[dict[str, Any]] | None = None,
        *,
        model: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the task's own time limit)
        metadata: dict[str, Any] | None = None,
        webhook: dict[str, Any] | None = None,
        type: str | None = None,
        payload: dict[str, Any] | None = None,
        priority: str | None = None,
        **options: Any,
    ) -> Task:
        """A background task (``POST /v1/tasks``): ``messages`` (or the peer's
        ``type="llm_completion", payload={...}``), a ``timeout`` in seconds, your
        ``metadata``, a ``webhook`` ``{url, secret, events?, headers?}``, a ``priority``
        (``"low"``, ``"normal"``, ``"high"``: queued tasks run highest first)."""
        call = calls.create_task(
            messages,
            model=model,
            timeout=timeout,
            metadata=metadata,
            webhook=webhook,
            type=type,
            payload=payload,
            priority=priority,
            extra=options,
        )
        return await self.client.fetch(call, Task)

    def websocket(self, task_id: str, last_event_id: int | None = None) -> TaskSocket:
        """The task's events over a WebSocket: ``async with client.tasks.websocket(id) as
        ws: async for message in ws`` (each the JSON text of an event; the same events and
        resume as :meth:`stream_events`)."""
        return task_socket(self.client, task_id, last_event_id)

    async def get_status(self, task_id: str) -> Task:
        """The task now: ``status``, ``progress`` (0-100), ``error``."""
        return await self.client.fetch(
            calls.Call("tasks.get_status", "GET", calls.task_path(task_id)), Task
        )

    async def get_result(self, task_id: str) -> TaskResult:
        """A finished task's result (``output``: the final answer)."""
        return calls.task_result(await self.get_status(task_id))

    async def cancel(self, task_id: str) -> Task:
        path = calls.task_path(task_id, "/cancel")
        return await self.client.fetch(calls.Call("tasks.cancel", "POST", path), Task)

    async def list(
        self,
        *,
        status: str | list[str] | None = None,
        limit: int | None = None,
        before: float | None = None,
    ) -> TaskList:
        """Your tasks, newest first; ``before`` (a ``created_at``) pages back."""
        return await self.client.fetch(calls.list_tasks(status, limit, before), TaskList)

    async def artifact(self, task_id: str, name: str) -> bytes:
        """A file the task's agents made (``GET /v1/tasks/{id}/artifacts/{name}``; ``name``
        from ``result.massgen_artifacts`` or an ``artifact_saved`` event), as bytes."""
        call = calls.task_artifact(task_id, name)
        return await downloads.aread(await self.client.send(call), call)

    async def download_artifact(
        self, task_id: str, name: str, path: str | Path, *, max_bytes: int | None = None
    ) -> Path:
        """:meth:`artifact` written to ``path`` as it arrives (complete, or not at all); a
        file over ``max_bytes`` is a :class:`~massgen.client.ValidationError`."""
        call = calls.task_artifact(task_id, name)
        return await downloads.asave(await self.client.send(call), Path(path), max_bytes, call)

    async def stream_events(
        self, task_id: str, *, last_event_id: int | None = None
    ) -> AsyncIterator[TaskEvent]:
        """The task's events (SSE) from the start, or after ``last_event_id``, until its
        terminal event. A connection that breaks is resumed where it stopped
        (``Last-Event-ID``), up to the client's ``max_retries`` times in a row."""
        last, failures = last_event_id, 0
        while True:
            call = calls.task_events(task_id, last)
            response = await self.client.send(call)
            try:
                if response.status_code == 204:  # finished, and every event already read
                    return
                decoder = SSEDecoder()
                async for line in response.aiter_lines():
                    message = decoder.feed(line)
                    if message is None or not message.data:
                        continue
                    event = calls.task_event(message)
                    last, failures = event.id, 0
                    yield event
                    if event.type in calls.TERMINAL:
                        return
                broke: Exception = NetworkError(f"the event stream of task {task_id} ended early")
            except httpx.TransportError as exc:
                broke = network_error(call, exc)
            finally:
                await response.aclose()
            if failures >= self.client.max_retries:
                raise broke
            delay = retry_delay(failures, None) or 0.0
            await self.client.wait(call, failures, delay, f"resume after event {last}: {broke}")
            failures += 1


class AsyncWebhooks(AsyncResource):
    async def create(
        self,
        url: str,
        *,
        secret: str,
        events: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Webhook:
        """Deliveries of your tasks' ``events`` (default: completed, failed, cancelled) to
        ``url``, signed with ``secret`` (see :func:`massgen.client.verify_webhook_signature`),
        with your extra ``headers``."""
        return await self.client.fetch(calls.create_webhook(url, events, secret, headers), Webhook)

    async def list(self) -> WebhookList:
        return await self.client.fetch(
            calls.Call("webhooks.list", "GET", "/v1/webhooks"), WebhookList
        )

    async def delete(self, webhook_id: str) -> WebhookDeleted:
        call = calls.Call("webhooks.delete", "DELETE", calls.webhook_path(webhook_id))
        return await self.client.fetch(call, WebhookDeleted)


class AsyncProviders(AsyncResource):
    async def health(self) -> ProviderHealth:
        """Whether the providers of the server's config answer (cached by the server 30 s)."""
        call = calls.Call("providers.health", "GET", "/v1/providers/health")
        return await self.client.fetch(call, ProviderHealth)

    async def list(self) -> ProviderList:
        """The providers of the server's config, with their models and status."""
        return calls.provider_list(await self.health())


class AsyncModels(AsyncResource):
    async def list(self) -> ModelList:
        """The model names the server takes (``massgen``, ``massgen/model:<id>``)."""
        return await self.client.fetch(calls.Call("models.list", "GET", "/v1/models"), ModelList)
