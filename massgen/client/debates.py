"""``client.debates`` (``/v1/debates``) and ``client.ensemble.completions``
(``POST /v1/ensemble/completions``), sync and async, in the peer SDK's shape: a debate is
created from the peer's ``debate_config`` dict, and an ensemble answer takes its
``ensemble_config``; the server maps both onto massgen's strategies and refuses (400 naming
the field) what its team cannot do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from massgen.client.exceptions import ValidationError
from massgen.client.transport import Call
from massgen.client.types import Debate, DebateResults, DebateStatus, EnsembleCompletion

if TYPE_CHECKING:
    from massgen.client.async_client import AsyncClient
    from massgen.client.client import Client


def debate_path(debate_id: str, tail: str = "") -> str:
    if not isinstance(debate_id, str) or not debate_id or "/" in debate_id:
        raise ValidationError(f"not a debate id: {debate_id!r}", param="debate_id")
    return f"/v1/debates/{debate_id}{tail}"


def create_debate(config: dict[str, Any] | None, fields: dict[str, Any]) -> Call:
    """``debate_config`` (the peer's dict: debateId, topic, participants, ...), with any
    ``fields`` given as keywords on top."""
    if config is not None and not isinstance(config, dict):
        raise ValidationError("debate_config must be a dict", param="debate_config")
    return Call("debates.create", "POST", "/v1/debates", {**(config or {}), **fields})


def debate_status(debate_id: str) -> Call:
    return Call("debates.get_status", "GET", debate_path(debate_id))


def debate_results(debate_id: str) -> Call:
    return Call("debates.get_results", "GET", debate_path(debate_id, "/results"))


def ensemble_completion(
    messages: Any, ensemble_config: dict[str, Any] | None, model: str | None, extra: dict[str, Any]
) -> Call:
    body: dict[str, Any] = {"messages": messages, **extra}
    if ensemble_config is not None:
        body["ensemble_config"] = ensemble_config
    if model is not None:
        body["model"] = model
    return Call("ensemble.completions.create", "POST", "/v1/ensemble/completions", body)


class Debates:
    def __init__(self, client: Client) -> None:
        self.client = client

    def create(self, debate_config: dict[str, Any] | None = None, **fields: Any) -> Debate:
        """Start a debate (it runs as a background task): ``topic``; ``debateId`` (else
        one is made); ``participants`` ``[{name, role, llms}]`` (else the server's team);
        ``maximal_repeat_rounds``; ``consensus_threshold``; ``timeout``; ``metadata``."""
        return self.client.fetch(create_debate(debate_config, fields), Debate)

    def get_status(self, debate_id: str) -> DebateStatus:
        """``status``, ``current_round`` of ``total_rounds``."""
        return self.client.fetch(debate_status(debate_id), DebateStatus)

    def get_results(self, debate_id: str) -> DebateResults:
        """``consensus`` (``achieved``, ``final_position``) and each participant's figures
        (``total_responses``, ``avg_quality_score``); partial while the debate runs."""
        return self.client.fetch(debate_results(debate_id), DebateResults)


class AsyncDebates:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def create(self, debate_config: dict[str, Any] | None = None, **fields: Any) -> Debate:
        """See :meth:`Debates.create`."""
        return await self.client.fetch(create_debate(debate_config, fields), Debate)

    async def get_status(self, debate_id: str) -> DebateStatus:
        return await self.client.fetch(debate_status(debate_id), DebateStatus)

    async def get_results(self, debate_id: str) -> DebateResults:
        return await self.client.fetch(debate_results(debate_id), DebateResults)


class EnsembleCompletions:
    def __init__(self, client: Client) -> None:
        self.client = client

    def create(
        self,
        *,
        messages: list[dict[str, Any]],
        ensemble_config: dict[str, Any] | None = None,
        model: str | None = None,
        **options: Any,
    ) -> EnsembleCompletion:
        """The team's answer with its ``ensemble`` (providers used, confidence).
        ``ensemble_config``: ``strategy`` (``majority_vote``, ``confidence_weighted``,
        ``debate``), ``min_providers``, ``confidence_threshold``, ``fallback_to_best``."""
        call = ensemble_completion(messages, ensemble_config, model, options)
        return self.client.fetch(call, EnsembleCompletion)


class AsyncEnsembleCompletions:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def create(
        self,
        *,
        messages: list[dict[str, Any]],
        ensemble_config: dict[str, Any] | None = None,
        model: str | None = None,
        **options: Any,
    ) -> EnsembleCompletion:
        """See :meth:`EnsembleCompletions.create`."""
        call = ensemble_completion(messages, ensemble_config, model, options)
        return await self.client.fetch(call, EnsembleCompletion)


class Ensemble:
    def __init__(self, client: Client) -> None:
        self.completions = EnsembleCompletions(client)


class AsyncEnsemble:
    def __init__(self, client: AsyncClient) -> None:
        self.completions = AsyncEnsembleCompletions(client)
