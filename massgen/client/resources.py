"""The resources of the synchronous :class:`~massgen.client.Client`, in the peer SDK's
layout: ``chat.completions``, ``completions``, ``tasks``, ``webhooks``, ``providers``,
``models``. Each method builds its call in :mod:`massgen.client.calls`."""

from __future__ import annotations

from collections.abc import Iterator
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
    from massgen.client.client import Client, Stream


class Resource:
    def __init__(self, client: Client) -> None:
        self.client = client


class ChatCompletions(Resource):
    @overload
    def create(
        self,
        *,
        messages: list[dict[str, Any]],
        model: str | None = ...,
        stream: Literal[False] = ...,
        **options: Any,
    ) -> ChatCompletion: ...
    @overload
    def create(
        self,
        *,
        messages: list[dict[str, Any]],
        model: str | None = ...,
        stream: Literal[True],
        **options: Any,
    ) -> Stream[ChatCompletionChunk]: ...
    def create(
        self,
        *,
        messages: list[dict[str, Any]],
        model: str | None = None,
        stream: bool = False,
        **options: Any,
    ) -> ChatCompletion | Stream[ChatCompletionChunk]:
        """The team's answer to ``messages`` (``POST /v1/chat/completions``). ``model`` is
        the server's team unless it is ``massgen/model:<id>``; ``options`` (``max_tokens``,
        ``temperature``, ``top_p``, ``stop``, ...) go in the body as given."""
        call = calls.chat(messages, model, stream, options)
        if stream:
            return self.client.stream(call, ChatCompletionChunk)
        return self.client.fetch(call, ChatCompletion)


class Chat(Resource):
    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.completions = ChatCompletions(client)


class Vision(Resource):
    def analyze(
        self, *, messages: list[dict[str, Any]], model: str | None = None, **options: Any
    ) -> ChatCompletion | Stream[ChatCompletionChunk]:
        """The team's answer about the images in ``messages`` (``image_url`` parts: http(s)
        or ``data:`` URLs): a chat completion, as :meth:`ChatCompletions.create` sends it.
        Agents whose model cannot see images are told so and answer from the text."""
        return ChatCompletions(self.client).create(messages=messages, model=model, **options)


class Completions(Resource):
    @overload
    def create(
        self, *, prompt: str, model: str | None = ..., stream: Literal[False] = ..., **options: Any
    ) -> Completion: ...
    @overload
    def create(
        self, *, prompt: str, model: str | None = ..., stream: Literal[True], **options: Any
    ) -> Stream[Completion]: ...
    def create(
        self, *, prompt: str, model: str | None = None, stream: bool = False, **options: Any
    ) -> Completion | Stream[Completion]:
        """The team's answer to ``prompt`` as a text completion (``POST /v1/completions``)."""
        call = calls.completion(prompt, model, stream, options)
        if stream:
            return self.client.stream(call, Completion)
        return self.client.fetch(call, Completion)


class Tasks(Resource):
    def create(
        self,
        messages: list[dict[str, Any]] | None = None,
        *,
        model: str | None = None,
        timeout: float | None = None,
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
        return self.client.fetch(call, Task)

    def websocket(self, task_id: str, last_event_id: int | None = None) -> TaskSocket:
        """The task's events over a WebSocket: ``async with client.tasks.websocket(id) as
        ws: async for message in ws`` (each the JSON text of an event; the same events and
        resume as :meth:`stream_events`)."""
        return task_socket(self.client, task_id, last_event_id)

    def get_status(self, task_id: str) -> Task:
        """The task now: ``status``, ``progress`` (0-100), ``error``."""
        return self.client.fetch(
            calls.Call("tasks.get_status", "GET", calls.task_path(task_id)), Task
        )

    def get_result(self, task_id: str) -> TaskResult:
        """A finished task's result (``output``: the final answer)."""
        return calls.task_result(self.get_status(task_id))

    def cancel(self, task_id: str) -> Task:
        path = calls.task_path(task_id, "/cancel")
        return self.client.fetch(calls.Call("tasks.cancel", "POST", path), Task)

    def list(
        self,
        *,
        status: str | list[str] | None = None,
        limit: int | None = None,
        before: float | None = None,
    ) -> TaskList:
        """Your tasks, newest first; ``before`` (a ``created_at``) pages back."""
        return self.client.fetch(calls.list_tasks(status, limit, before), TaskList)

    def artifact(self, task_id: str, name: str) -> bytes:
        """A file the task's agents made (``GET /v1/tasks/{id}/artifacts/{name}``; ``name``
        from ``result.massgen_artifacts`` or an ``artifact_saved`` event), as bytes."""
        call = calls.task_artifact(task_id, name)
        return downloads.read(self.client.send(call), call)

    def download_artifact(
        self, task_id: str, name: str, path: str | Path, *, max_bytes: int | None = None
    ) -> Path:
        """:meth:`artifact` written to ``path`` as it arrives (complete, or not at all); a
        file over ``max_bytes`` is a :class:`~massgen.client.ValidationError`."""
        call = calls.task_artifact(task_id, name)
        return downloads.save(self.client.send(call), Path(path), max_bytes, call)

    def stream_events(
        self, task_id: str, *, last_event_id: int | None = None
    ) -> Iterator[TaskEvent]:
        """The task's events (SSE) from the start, or after ``last_event_id``, until its
        terminal event. A connection that breaks is resumed where it stopped
        (``Last-Event-ID``), up to the client's ``max_retries`` times in a row."""
        last, failures = last_event_id, 0
        while True:
            call = calls.task_events(task_id, last)
            response = self.client.send(call)
            try:
                if response.status_code == 204:  # finished, and every event already read
                    return
                decoder = SSEDecoder()
                for line in response.iter_lines():
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
                response.close()
            if failures >= self.client.max_retries:
                raise broke
            delay = retry_delay(failures, None) or 0.0
            self.client.wait(call, failures, delay, f"resume after event {last}: {broke}")
            failures += 1


class Webhooks(Resource):
    def create(
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
        return self.client.fetch(calls.create_webhook(url, events, secret, headers), Webhook)

    def list(self) -> WebhookList:
        return self.client.fetch(calls.Call("webhooks.list", "GET", "/v1/webhooks"), WebhookList)

    def delete(self, webhook_id: str) -> WebhookDeleted:
        call = calls.Call("webhooks.delete", "DELETE", calls.webhook_path(webhook_id))
        return self.client.fetch(call, WebhookDeleted)


class Providers(Resource):
    def health(self) -> ProviderHealth:
        """Whether the providers of the server's config answer (cached by the server 30 s)."""
        call = calls.Call("providers.health", "GET", "/v1/providers/health")
        return self.client.fetch(call, ProviderHealth)

    def list(self) -> ProviderList:
        """The providers of the server's config, with their models and status."""
        return calls.provider_list(self.health())


class Models(Resource):
    def list(self) -> ModelList:
        """The model names the server takes (``massgen``, ``massgen/model:<id>``)."""
        return self.client.fetch(calls.Call("models.list", "GET", "/v1/models"), ModelList)
