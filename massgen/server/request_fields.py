"""The fields each endpoint takes. Every field the server honours is checked (type, range, the
operator's limits); any other is refused with a 400 naming it, as the config loader refuses
an unknown key, so nothing a client asks for is silently dropped (docs/architecture.md, "The
server").

A request shapes its run with :class:`RunOptions`: ``max_tokens`` and ``stop`` apply to the
final answer's call (``orchestrator.final_answer_max_tokens`` / ``final_answer_stop``),
``temperature`` and ``top_p`` to every agent's calls.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass
from typing import Any

from massgen.runs import Prepared
from massgen.server.http import BadRequest, refuse_surrogates
from massgen.server.options import DEFAULT_MAX_REQUEST_TOKENS

#: Stop sequences of one final answer at most (OpenAI's limit).
MAX_STOP = 4
MAX_USER_CHARS = 256

_RUN = ("max_tokens", "max_completion_tokens", "stop", "temperature", "top_p")
_OPENAI = ("model", "stream", "stream_options", "n", "user", *_RUN)
#: The fields of each endpoint that takes a body.
FIELDS: dict[str, tuple[str, ...]] = {
    "POST /v1/chat/completions": ("messages", *_OPENAI),
    "POST /v1/completions": ("prompt", *_OPENAI),
    "POST /v1/tasks": ("messages", "model", "timeout", "metadata", "webhook", "priority", *_RUN),
    "POST /v1/ensemble/completions": ("messages", "ensemble_config", "model", "user", *_RUN),
}
#: Text the server reads as the question (or a model name), where a lone surrogate is
#: replaced as it is in the question; in every other field it is refused.
CLEANED = frozenset({"messages", "prompt", "model"})
#: Why well-known OpenAI fields are refused (others get the list of fields taken).
_WHY_NOT = {
    "tools": "the agents' tools come from the server's config; a request cannot add any",
    "functions": "the agents' tools come from the server's config; a request cannot add any",
    "tool_choice": "the agents choose their own tools (from the server's config)",
    "response_format": "the final answer is the team's text; no JSON schema is applied to it",
    "logprobs": "a team's answer has no single model's log probabilities",
    "top_logprobs": "a team's answer has no single model's log probabilities",
    "seed": "a team's run is not reproducible from one seed; set seed in the server's config",
}


@dataclass(frozen=True)
class Limits:
    """What the operator lets a request ask of a run."""

    max_tokens: int = DEFAULT_MAX_REQUEST_TOKENS
    #: Whether a request may set the agents' temperature and top_p.
    sampling: bool = True


@dataclass(frozen=True)
class RunOptions:
    """What a request asks of its run besides the question."""

    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    temperature: float | None = None
    top_p: float | None = None

    def stored(self) -> dict[str, Any]:
        """The options set, as JSON (a task keeps them with its request)."""
        return {k: list(v) if k == "stop" else v for k, v in asdict(self).items() if v}

    @classmethod
    def from_stored(cls, data: Any) -> RunOptions:
        data = data if isinstance(data, dict) else {}
        return cls(
            max_tokens=data.get("max_tokens"),
            stop=tuple(data.get("stop") or ()),
            temperature=data.get("temperature"),
            top_p=data.get("top_p"),
        )


def _bad(field: str, message: str, code: str = "invalid_value") -> BadRequest:
    return BadRequest(400, f"{field}: {message}", "invalid_request_error", code, param=field)


def check_fields(body: dict[str, Any], endpoint: str) -> None:
    """A 400 for the first field ``endpoint`` does not take (naming the fields it does, or
    why a well-known one is refused), and for a lone surrogate outside :data:`CLEANED`."""
    taken = FIELDS[endpoint]
    for name in body:
        if name in taken:
            continue
        if name in _WHY_NOT:
            raise _bad(name, f"not supported by massgen serve: {_WHY_NOT[name]}", "unknown_field")
        close = difflib.get_close_matches(str(name), taken, n=1, cutoff=0.75)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise _bad(
            str(name),
            f"not a field {endpoint} takes; {hint}it takes: {', '.join(taken)}",
            "unknown_field",
        )
    for name, value in body.items():
        if name not in CLEANED:
            refuse_surrogates(value, name)
    _check_openai_fields(body)


def _check_openai_fields(body: dict[str, Any]) -> None:
    """``model``, ``stream``, ``stream_options``, ``n`` and ``user``: of the right type."""
    if body.get("model") is not None and not isinstance(body["model"], str):
        raise _bad("model", "must be a string (massgen, or massgen/model:<id>)")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise _bad("stream", "must be true or false")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict) or set(options) - {"include_usage"}:
            raise _bad("stream_options", 'takes only {"include_usage": true|false}')
        if not isinstance(options.get("include_usage", False), bool):
            raise _bad("stream_options", "include_usage must be true or false")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise _bad("n", "massgen gives one answer per request; leave n out or set it to 1")
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > MAX_USER_CHARS):
        raise _bad("user", f"must be a string of at most {MAX_USER_CHARS} characters")


def _number(body: dict[str, Any], field: str, low: float, high: float, *, above: bool) -> Any:
    value = body.get(field)
    if value is None:
        return None
    finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    inside = finite and (value > low if above else value >= low) and value <= high
    if not inside:
        bound = f"above {low:g} and at most" if above else f"from {low:g} to"
        raise _bad(field, f"must be a number {bound} {high:g}")
    return float(value)


def _max_tokens(body: dict[str, Any], limits: Limits) -> int | None:
    given = {k: body[k] for k in ("max_tokens", "max_completion_tokens") if body.get(k) is not None}
    if len(set(map(repr, given.values()))) > 1:
        raise _bad("max_completion_tokens", "differs from max_tokens; give one of them")
    if not given:
        return None
    field, value = next(iter(given.items()))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(field, "must be a whole number of tokens, at least 1")
    if value > limits.max_tokens:
        raise _bad(
            field,
            f"at most {limits.max_tokens} on this server (massgen serve --max-request-tokens)",
        )
    return value


def _stop(body: dict[str, Any]) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise _bad("stop", "must be a non-empty string or a list of them")
    if len(stops) > MAX_STOP:
        raise _bad("stop", f"at most {MAX_STOP} sequences")
    return tuple(dict.fromkeys(stops))


def run_options(body: dict[str, Any], limits: Limits) -> RunOptions:
    """The request's :class:`RunOptions`, each checked (a 400 naming the field)."""
    options = RunOptions(
        max_tokens=_max_tokens(body, limits),
        stop=_stop(body),
        temperature=_number(body, "temperature", 0, 2, above=False),
        top_p=_number(body, "top_p", 0, 1, above=True),
    )
    if not limits.sampling:
        for field in ("temperature", "top_p"):
            if getattr(options, field) is not None:
                raise _bad(
                    field,
                    "this server sets its agents' sampling itself (massgen serve "
                    f"--no-request-sampling); leave {field} out",
                )
    return options


def apply(prepared: Prepared, options: RunOptions) -> Prepared:
    """``prepared`` with ``options`` applied (a copy), or a 400 naming the field a backend of
    the team cannot honour. The config's own final-answer cap and stop sequences still
    apply: the smaller cap, and both sets of sequences."""
    if options == RunOptions():
        return prepared
    from massgen.providers import refusal

    config = prepared.config
    sampling = {k: getattr(options, k) for k in ("temperature", "top_p")}
    sampling = {k: v for k, v in sampling.items() if v is not None}
    for field in sampling:
        for agent in config.agents:
            reason = refusal(agent.backend.type, field)
            if reason:
                raise _bad(field, f"agent {agent.id}: {reason}", "unsupported_value")
    for field, given in (("max_tokens", options.max_tokens), ("stop", options.stop)):
        problem = config.final_call_problem(field) if given else None
        if problem:
            raise _bad(field, problem, "unsupported_value")
    orchestrator = config.orchestrator
    stops = tuple(dict.fromkeys([*orchestrator.final_answer_stop, *options.stop]))
    if len(stops) > MAX_STOP:
        own = len(orchestrator.final_answer_stop)
        raise _bad(
            "stop",
            f"at most {MAX_STOP - own} more: this server's config already ends the final "
            f"answer at {own} sequence(s)",
        )
    caps = [c for c in (orchestrator.final_answer_max_tokens, options.max_tokens) if c]
    final = {
        "final_answer_max_tokens": min(caps) if caps else None,
        "final_answer_stop": list(stops),
    }
    agents = config.agents
    if sampling:
        agents = [
            agent.model_copy(update={"backend": agent.backend.model_copy(update=sampling)})
            for agent in agents
        ]
    changed = config.model_copy(
        update={"agents": agents, "orchestrator": orchestrator.model_copy(update=final)}
    )
    return Prepared(changed, prepared.source)
