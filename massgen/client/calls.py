"""Each SDK method as a :class:`~massgen.client.transport.Call` (path, body, query), and the
server's answers turned into the typed responses: what the sync and async resources share.

The peer platform's task shape (``type``/``payload``/``priority``) is mapped here: a
completion payload becomes a massgen task; what massgen's tasks cannot do is refused before
anything is sent (docs/architecture.md, "The Python client")."""

from __future__ import annotations

import json
import re
from typing import Any

from massgen.client.exceptions import ValidationError, stream_error
from massgen.client.transport import Call, SSEMessage
from massgen.client.types import (
    ChatCompletion,
    Provider,
    ProviderHealth,
    ProviderList,
    Task,
    TaskEvent,
    TaskResult,
    UsageStats,
)

#: The peer's task types that are a chat completion run as a task.
COMPLETION_TASK_TYPES = frozenset({"llm_completion", "chat_completion", "chat.completion"})
#: A task's priorities (``POST /v1/tasks``' ``priority``), lowest first.
PRIORITIES = ("low", "normal", "high")
#: Task states after which a task changes no more.
TERMINAL = frozenset({"completed", "failed", "cancelled"})
#: A task artifact's name, as the server names them (``result.massgen_artifacts[].name``).
ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$")


def _body(fields: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``fields`` without the None values, then ``extra`` (the caller's other options, sent
    as given: the server names any it does not take)."""
    return {**{k: v for k, v in fields.items() if v is not None}, **extra}


def chat(messages: Any, model: str | None, stream: bool, extra: dict[str, Any]) -> Call:
    body = _body({"model": model, "messages": messages, "stream": stream or None}, extra)
    return Call("chat.completions.create", "POST", "/v1/chat/completions", body, stream=stream)


def completion(prompt: Any, model: str | None, stream: bool, extra: dict[str, Any]) -> Call:
    body = _body({"model": model, "prompt": prompt, "stream": stream or None}, extra)
    return Call("completions.create", "POST", "/v1/completions", body, stream=stream)


def create_task(
    messages: Any,
    *,
    model: str | None,
    timeout: float | None,
    metadata: dict[str, Any] | None,
    webhook: dict[str, Any] | None,
    type: str | None,
    payload: dict[str, Any] | None,
    priority: str | None,
    extra: dict[str, Any],
) -> Call:
    """``POST /v1/tasks``: massgen's shape (``messages``, ``model``, ...) or the peer's
    (``type="llm_completion"``, ``payload={model, messages, max_tokens, ...}``)."""
    if type is not None and type not in COMPLETION_TASK_TYPES:
        raise ValidationError(
            f"type={type!r}: massgen serve runs one kind of task, a team's chat completion "
            f"(type='llm_completion', or no type)",
            param="type",
        )
    if priority not in (None, *PRIORITIES):
        raise ValidationError(
            f"priority={priority!r}: one of {', '.join(PRIORITIES)} (queued tasks run "
            "highest priority first, then oldest first)",
            param="priority",
        )
    fields = dict(payload or {})
    if messages is not None:
        fields["messages"] = messages
    if model is not None:
        fields["model"] = model
    if "messages" not in fields:
        raise ValidationError("a task needs messages (or payload={'messages': [...]})")
    fields.update(
        {"timeout": timeout, "metadata": metadata, "webhook": webhook, "priority": priority}
    )
    return Call("tasks.create", "POST", "/v1/tasks", _body(fields, extra))


def task_path(task_id: str, tail: str = "") -> str:
    if not isinstance(task_id, str) or not task_id or "/" in task_id:
        raise ValidationError(f"not a task id: {task_id!r}", param="task_id")
    return f"/v1/tasks/{task_id}{tail}"


def task_artifact(task_id: str, name: str) -> Call:
    """``GET /v1/tasks/{task_id}/artifacts/{name}``, streamed (a medium can be large); a
    name that is not an artifact's is refused before sending."""
    if not isinstance(name, str) or not ARTIFACT_NAME.match(name) or ".." in name:
        raise ValidationError(
            f"not an artifact's name: {name!r} (one from the task's result.massgen_artifacts)",
            param="name",
        )
    path = task_path(task_id, f"/artifacts/{name}")
    return Call("tasks.artifact", "GET", path, headers={"Accept": "*/*"}, stream=True)


def list_tasks(status: str | list[str] | None, limit: int | None, before: float | None) -> Call:
    statuses = status if isinstance(status, str) or status is None else ",".join(status)
    params = {k: v for k, v in {"status": statuses, "limit": limit, "before": before}.items()}
    return Call("tasks.list", "GET", "/v1/tasks", params={k: v for k, v in params.items() if v})


def task_events(task_id: str, last_event_id: int | None) -> Call:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    return Call(
        "tasks.stream_events", "GET", task_path(task_id, "/events"), headers=headers, stream=True
    )


def create_webhook(
    url: str, events: list[str] | None, secret: str, headers: dict[str, str] | None
) -> Call:
    body = _body({"url": url, "events": events, "secret": secret, "headers": headers}, {})
    return Call("webhooks.create", "POST", "/v1/webhooks", body)


def webhook_path(webhook_id: str) -> str:
    if not isinstance(webhook_id, str) or not webhook_id or "/" in webhook_id:
        raise ValidationError(f"not a webhook id: {webhook_id!r}", param="webhook_id")
    return f"/v1/webhooks/{webhook_id}"


def chunk_data(data: str) -> dict[str, Any] | None:
    """A completion stream's ``data:`` as JSON (None at ``[DONE]``); an error sent inside
    the stream is raised."""
    if data.strip() == "[DONE]":
        return None
    body = json.loads(data)
    if isinstance(body, dict) and "error" in body and "choices" not in body:
        raise stream_error(body)
    return body if isinstance(body, dict) else {}


def task_event(message: SSEMessage) -> TaskEvent:
    data = json.loads(message.data) if message.data else {}
    seq = data.get("seq") if message.id is None else message.id
    task = data.get("task")
    kind = data.get("type") or message.event
    error = task.get("error") if isinstance(task, dict) else None
    return TaskEvent(
        id=int(seq or 0),
        type=str(kind),
        data=data,
        progress=data.get("progress") if kind == "progress" else None,
        text=data.get("text") if isinstance(data.get("text"), str) else None,
        error=error or (data.get("error") if isinstance(data.get("error"), str) else None),
        task=Task.model_validate(task) if isinstance(task, dict) else None,
    )


def task_result(task: Task) -> TaskResult:
    """A finished task's result; a task not finished yet is a :class:`ValidationError`."""
    if task.status not in TERMINAL:
        raise ValidationError(
            f"task {task.id} is {task.status}: no result yet (wait for it with "
            "tasks.get_status or tasks.stream_events)",
            param="task_id",
        )
    completion = ChatCompletion.model_validate(task.result) if task.result else None
    output = None
    if completion is not None and completion.choices:
        output = completion.choices[0].message.content
    return TaskResult(
        id=task.id,
        status=task.status,
        output=output,
        completion=completion,
        error=task.error,
        usage=completion.usage if completion is not None else None,
    )


def provider_list(health: ProviderHealth) -> ProviderList:
    """The providers of the server's config, from its provider health report."""
    return ProviderList(
        providers=[
            Provider(name=name, status=row.status, base_url=row.base_url, models=row.models)
            for name, row in health.providers.items()
        ]
    )


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def usage_stats(metrics_text: str) -> UsageStats:
    """The server's usage from its ``/metrics`` (Prometheus text): runs finished and how,
    tokens and cost, over every caller since the server started."""
    runs = ok = 0.0
    tokens: dict[str, float] = {}
    cost = 0.0
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.group(1), dict(_LABEL.findall(match.group(3) or "")), 0.0
        try:
            value = float(match.group(4))
        except ValueError:
            continue
        if name == "massgen_runs_total":
            runs += value
            ok += value if labels.get("status") == "ok" else 0.0
        elif name == "massgen_tokens_total":
            kind = labels.get("kind", "")
            tokens[kind] = tokens.get(kind, 0.0) + value
        elif name == "massgen_cost_usd_total":
            cost += value
    return UsageStats(
        total_requests=int(runs),
        successful_requests=int(ok),
        success_rate=round(100.0 * ok / runs, 2) if runs else 100.0,
        prompt_tokens=int(tokens.get("prompt", 0)),
        completion_tokens=int(tokens.get("completion", 0)),
        total_tokens=int(sum(tokens.values())),
        total_cost_usd=cost,
    )
