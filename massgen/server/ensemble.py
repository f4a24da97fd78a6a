"""``POST /v1/ensemble/completions``: the peer platform's ensemble completion, answered by the
server's team under one of massgen's strategies, with an ``ensemble`` object saying how.

``ensemble_config`` maps onto the team's orchestrator (:func:`plan`):

- ``strategy``: ``majority_vote`` (massgen's ``vote``, equal votes), ``confidence_weighted``
  (``vote`` with ``vote_weighting: confidence``: each vote weighs its voter's stated
  confidence), ``debate`` (massgen's ``debate``); any other is a 400 naming the field.
- ``min_providers``: ``orchestrator.min_agents`` (fewer live agents: the run fails); more
  than the server's team has is a 400.
- ``fallback_to_best``: ``orchestrator.fallback_to_best`` (on failure or timeout, the best
  answer so far), and an answer below ``confidence_threshold`` is returned anyway.
- ``confidence_threshold``: 0-1; below it (and without ``fallback_to_best``) the answer is
  refused with 422 ``low_confidence``.

``confidence_score`` (:class:`EnsembleTally`) is the winning answer's share of the votes
cast: votes for it over all votes (under ``confidence_weighted``, the sum of its voters'
confidences over the sum of all voters' confidences), as ``winner_selected``'s tally holds
them; under ``debate`` it is the share of the participants in the largest agreeing group of
the last round. None when no vote was cast (a team of one).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.runs import Prepared
from massgen.server.completions import NoAnswer
from massgen.server.context import ServerContext
from massgen.server.http import (
    BadRequest,
    ClientLeft,
    error_response,
    parse_messages,
    request_images,
    unless_client_leaves,
)
from massgen.server.request_fields import apply as apply_options
from massgen.server.request_fields import check_fields, run_options
from massgen.server.runs import MODEL_NAME, RunService
from massgen.server.strategies import with_strategy
from massgen.terminal import clean_text

ENDPOINT = "POST /v1/ensemble/completions"
#: The peer's strategies massgen runs: its strategy and options for each.
STRATEGIES: dict[str, tuple[str, dict[str, Any]]] = {
    "majority_vote": ("vote", {"vote_weighting": "equal"}),
    "confidence_weighted": ("vote", {"vote_weighting": "confidence"}),
    "debate": ("debate", {}),
}
DEFAULT_STRATEGY = "majority_vote"
CONFIG_FIELDS = ("strategy", "min_providers", "confidence_threshold", "fallback_to_best")


def _bad(name: str, message: str, code: str = "invalid_value") -> BadRequest:
    where = f"ensemble_config.{name}"
    return BadRequest(400, f"{where}: {message}", "invalid_request_error", code, param=where)


@dataclass(frozen=True)
class EnsemblePlan:
    strategy: str
    massgen_strategy: str
    options: dict[str, Any]
    threshold: float | None
    fallback: bool


def plan(config: Any, team_size: int) -> EnsemblePlan:
    """The ``ensemble_config`` as massgen's strategy and options (see module)."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise BadRequest(
            400,
            "ensemble_config: must be an object {strategy, min_providers, "
            "confidence_threshold, fallback_to_best}",
            param="ensemble_config",
        )
    for name in config:
        if name not in CONFIG_FIELDS:
            raise _bad(
                str(name), f"not an option massgen takes; it takes: {', '.join(CONFIG_FIELDS)}"
            )
    strategy = config.get("strategy", DEFAULT_STRATEGY)
    if strategy not in STRATEGIES:
        raise _bad(
            "strategy",
            f"{strategy!r} is not one massgen runs; one of {', '.join(STRATEGIES)}",
            "unsupported_strategy",
        )
    massgen_strategy, options = STRATEGIES[strategy]
    options = dict(options)
    least = config.get("min_providers")
    if least is not None:
        if isinstance(least, bool) or not isinstance(least, int) or least < 1:
            raise _bad("min_providers", "must be a whole number, 1 or more")
        if least > team_size:
            raise _bad(
                "min_providers",
                f"{least} is more than the server's team has ({team_size} agents)",
                "exceeds_team",
            )
        options["min_agents"] = least
    threshold = config.get("confidence_threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
        or not 0 <= threshold <= 1
    ):
        raise _bad("confidence_threshold", "must be a number from 0 to 1")
    fallback = config.get("fallback_to_best", False)
    if not isinstance(fallback, bool):
        raise _bad("fallback_to_best", "must be true or false")
    if fallback:
        options["fallback_to_best"] = True
    return EnsemblePlan(
        strategy,
        massgen_strategy,
        options,
        None if threshold is None else float(threshold),
        fallback,
    )


@dataclass
class EnsembleTally:
    """What a run's events say of its ensemble (see module for the confidence)."""

    #: agent id -> the config's ``provider/model`` (its backend type, as the config names it)
    models: dict[str, str] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)  # label -> provider/model
    answered: list[str] = field(default_factory=list)  # labels, in order of first answer
    votes: dict[str, float] = field(default_factory=dict)
    winner: str | None = None
    agreement: float | None = None

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "run_started":
            for agent in event.get("agents") or ():
                shown = f"{agent.get('backend')}/{agent.get('model')}"
                model = self.models.get(str(agent.get("id")), shown)
                self.agents[str(agent.get("label"))] = model
        elif kind == "answer_submitted":
            label = str(event.get("agent_label"))
            if label not in self.answered:
                self.answered.append(label)
        elif kind == "winner_selected":
            self.winner = str(event.get("label"))
            self.votes = {str(k): float(v) for k, v in (event.get("tally") or {}).items()}
        elif kind == "round_finished":
            self.agreement = event.get("agreement")

    def confidence(self, massgen_strategy: str) -> float | None:
        if massgen_strategy == "debate":
            return None if self.agreement is None else round(float(self.agreement), 4)
        total = sum(self.votes.values())
        if self.winner is None or total <= 0:
            return None
        return round(self.votes.get(self.winner, 0.0) / total, 4)

    def providers_used(self) -> list[str]:
        return [self.agents.get(label, label) for label in sorted(self.answered)]


class EnsembleRoutes:
    """The endpoint (see module), over the services it uses."""

    def __init__(self, context: ServerContext, runs: RunService) -> None:
        self.context, self.runs = context, runs

    def routes(self) -> list[Route]:
        return [Route("/v1/ensemble/completions", self.create, methods=["POST"])]

    async def create(self, request: Request) -> Response:
        context = self.context
        if (refused := context.refusal(request)) is not None:
            return refused
        try:
            body = await context.read_json(request)
            check_fields(body, ENDPOINT)
            options = run_options(body, context.request_limits)
            question, history = parse_messages(body.get("messages"))
            images = request_images(body.get("messages"))
            team = self.runs.resolve(body.get("model"))
            chosen = plan(body.get("ensemble_config"), len(team.config.agents))
            prepared = with_strategy(
                apply_options(team, options),
                chosen.massgen_strategy,
                chosen.options,
                field="ensemble_config.strategy",
            )
        except BadRequest as exc:
            return exc.response()
        slot = context.limiter.try_acquire()
        if slot is None:
            return context.busy()
        try:
            return await self._answer(request, body, prepared, chosen, question, history, images)
        finally:
            slot.release()

    async def _answer(
        self,
        request: Request,
        body: dict[str, Any],
        prepared: Prepared,
        chosen: EnsemblePlan,
        question: str,
        history: list[tuple[str, str]],
        images: list[Any],
    ) -> Response:
        tally = EnsembleTally(
            {str(a.id): f"{a.backend.type}/{a.backend.model}" for a in prepared.config.agents}
        )
        try:
            outcome = await unless_client_leaves(
                request,
                self.runs.complete(prepared, question, history, images, on_event=tally.feed),
            )
        except ClientLeft:
            return Response(status_code=499)  # the client went away: the run was cancelled
        if isinstance(outcome, NoAnswer):
            return error_response(502, outcome.message, "server_error", "run_failed")
        confidence = tally.confidence(chosen.massgen_strategy)
        met = None
        if chosen.threshold is not None:
            met = confidence is not None and confidence >= chosen.threshold
            if not met and not chosen.fallback:
                shown = "none (no votes)" if confidence is None else f"{confidence:.2f}"
                return error_response(
                    422,
                    f"ensemble_config.confidence_threshold: the team's confidence, {shown}, "
                    f"is below {chosen.threshold:g} (set fallback_to_best to take the best "
                    "answer anyway)",
                    "invalid_request_error",
                    "low_confidence",
                    param="ensemble_config.confidence_threshold",
                )
        requested = body.get("model")
        model = clean_text(requested) if isinstance(requested, str) and requested else MODEL_NAME
        answer = outcome.object(f"chatcmpl-{uuid.uuid4().hex}", model)
        answer["ensemble"] = {
            "strategy": chosen.strategy,
            "massgen_strategy": chosen.massgen_strategy,
            "options": chosen.options,
            "providers_used": tally.providers_used(),
            "confidence_score": confidence,
            "confidence_threshold": chosen.threshold,
            "threshold_met": met,
            "votes": tally.votes,
        }
        return JSONResponse(answer)
