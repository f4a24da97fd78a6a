"""A debate request (the peer platform's ``debate_config``) read and checked, and the team it
runs: massgen's ``debate`` strategy (:mod:`massgen.coordination.debate`) over the server's
own agents.

What maps onto what:

- ``topic``: the question every participant answers.
- ``participants[]``: one agent each, named ``name`` (its agent id in the events), told its
  ``role`` in its system prompt (before the operator's own system message, if any). None:
  the server's team, as configured.
- ``participants[].llms``: ``[{provider, model}]`` in order of preference. The first whose
  provider the server's config uses runs the participant, on that entry's model through the
  operator's endpoint and key (as ``massgen/model:<id>`` may). When the server uses none of
  a participant's providers (whether massgen knows them, as ``claude``, or not, as
  ``deepseek``), the participant falls back to the server's team (participant *i* on agent
  *i*, in turn) and the debate's ``participants[].llm`` says so (``substituted: true``, with
  what was ``requested``): a client never reaches an endpoint or key the operator did not
  configure, and always sees what ran. A provider that is not a name is a 400.
- ``maximal_repeat_rounds``: the revision rounds after the independent answers
  (``orchestrator.max_rounds``), so a debate has at most ``maximal_repeat_rounds + 1`` rounds.
- ``consensus_threshold``: the share of the participants that must agree for the debate to
  stop early (``orchestrator.consensus_threshold``).
- ``enable_cognee`` / ``cognee_config`` / ``cognee_settings``: refused (400 naming them):
  massgen has no Cognee knowledge graph.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from massgen.config.models import LITELLM_PREFIXES
from massgen.config.schema import AgentConfig, BackendConfig
from massgen.providers import ALIASES, AVAILABLE
from massgen.runs import Prepared
from massgen.server.http import BadRequest, refuse_surrogates
from massgen.server.strategies import with_strategy
from massgen.terminal import clean_text

#: The fields of ``POST /v1/debates`` (the peer's, and massgen's ``timeout`` and ``metadata``).
FIELDS = (
    "debateId",
    "topic",
    "maximal_repeat_rounds",
    "consensus_threshold",
    "participants",
    "timeout",
    "metadata",
)
PARTICIPANT_FIELDS = ("name", "role", "llms")
LLM_FIELDS = ("provider", "model")
#: The peer's Cognee options: massgen has nothing to run them with.
COGNEE = ("enable_cognee", "cognee_config", "cognee_settings")
MAX_PARTICIPANTS = 8
#: Revision rounds at most (each is one model call per participant).
MAX_REPEAT_ROUNDS = 10
MAX_TOPIC_CHARS = 8000
MAX_NAME_CHARS = 64
MAX_ROLE_CHARS = 500
_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DEBATE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def _bad(field: str, message: str, code: str = "invalid_value") -> BadRequest:
    return BadRequest(400, f"{field}: {message}", "invalid_request_error", code, param=field)


@dataclass(frozen=True)
class Participant:
    name: str
    role: str | None
    llms: tuple[tuple[str, str | None], ...]  # (provider as given, model)

    def stored(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "llms": [{"provider": p, "model": m} for p, m in self.llms],
        }

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Participant:
        llms = tuple((str(x["provider"]), x.get("model")) for x in data.get("llms") or ())
        return cls(str(data["name"]), data.get("role"), llms)


@dataclass(frozen=True)
class DebateSpec:
    """A checked debate request."""

    debate_id: str
    topic: str
    repeat_rounds: int | None  # None: the strategy's default
    consensus_threshold: float | None
    participants: tuple[Participant, ...]  # empty: the server's team

    def stored(self) -> dict[str, Any]:
        return {
            "id": self.debate_id,
            "topic": self.topic,
            "repeat_rounds": self.repeat_rounds,
            "consensus_threshold": self.consensus_threshold,
            "participants": [p.stored() for p in self.participants],
        }

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> DebateSpec:
        return cls(
            str(data["id"]),
            str(data["topic"]),
            data.get("repeat_rounds"),
            data.get("consensus_threshold"),
            tuple(Participant.from_stored(p) for p in data.get("participants") or ()),
        )


def task_id_of(owner: str, debate_id: str) -> str:
    """The task that runs an owner's debate: a name of its own per owner, so two API keys
    may use the same ``debateId`` and neither learns of the other's."""
    digest = hashlib.sha256(f"{owner}\0{debate_id}".encode()).hexdigest()
    return f"debate_{digest[:40]}"


def refuse_cognee(value: dict[str, Any], where: str = "") -> None:
    for name in COGNEE:
        if name in value and (name != "enable_cognee" or value[name] is not False):
            raise _bad(
                f"{where}{name}",
                "not supported by massgen serve: massgen has no Cognee knowledge-graph "
                "enhancement (leave it out, or set enable_cognee to false)",
                "unsupported_field",
            )


def _unknown(value: dict[str, Any], taken: tuple[str, ...], where: str) -> None:
    for name in value:
        if name not in taken:
            raise _bad(
                f"{where}{name}",
                f"not a field this takes; it takes: {', '.join(taken)}",
                "unknown_field",
            )


def _text(value: Any, field: str, limit: int, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, "must be a non-empty string")
    text = clean_text(value).strip()
    if len(text) > limit:
        raise _bad(field, f"must be at most {limit} characters")
    return text


def parse(body: dict[str, Any], generated_id: str) -> DebateSpec:
    """The debate ``body`` asks for (400 naming the first field that is wrong)."""
    refuse_cognee(body)
    _unknown(body, FIELDS, "")
    debate_id = body.get("debateId", generated_id)
    if not isinstance(debate_id, str) or not _DEBATE_ID.fullmatch(debate_id):
        raise _bad(
            "debateId",
            "must be 1-128 characters: letters, digits, '.', '_', ':' or '-' (starting with "
            "a letter or digit)",
        )
    topic = _text(body.get("topic"), "topic", MAX_TOPIC_CHARS, required=True)
    assert topic is not None
    rounds = body.get("maximal_repeat_rounds")
    if rounds is not None and (
        isinstance(rounds, bool)
        or not isinstance(rounds, int)
        or not 1 <= rounds <= MAX_REPEAT_ROUNDS
    ):
        raise _bad(
            "maximal_repeat_rounds",
            f"must be a whole number from 1 to {MAX_REPEAT_ROUNDS} (the revision rounds after "
            "the independent answers)",
        )
    threshold = body.get("consensus_threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
        or not 0 < threshold <= 1
    ):
        raise _bad("consensus_threshold", "must be a share above 0 and at most 1 (e.g. 0.75)")
    participants = _participants(body.get("participants"))
    return DebateSpec(
        debate_id,
        topic,
        rounds,
        None if threshold is None else float(threshold),
        participants,
    )


def _participants(value: Any) -> tuple[Participant, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise _bad("participants", "must be a non-empty list of {name, role, llms}")
    if len(value) > MAX_PARTICIPANTS:
        raise _bad("participants", f"at most {MAX_PARTICIPANTS} participants")
    found: list[Participant] = []
    for index, item in enumerate(value):
        where = f"participants[{index}]."
        if not isinstance(item, dict):
            raise _bad(f"participants[{index}]", "must be an object {name, role, llms}")
        refuse_cognee(item, where)
        _unknown(item, PARTICIPANT_FIELDS, where)
        refuse_surrogates(item, f"participants[{index}]")
        name = _text(item.get("name"), f"{where}name", MAX_NAME_CHARS, required=True)
        assert name is not None
        if any(p.name == name for p in found):
            raise _bad(f"{where}name", f"'{name}' is taken by another participant")
        role = _text(item.get("role"), f"{where}role", MAX_ROLE_CHARS, required=False)
        found.append(Participant(name, role, _llms(item.get("llms"), f"{where}llms")))
    return tuple(found)


def _llms(value: Any, where: str) -> tuple[tuple[str, str | None], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise _bad(where, "must be a non-empty list of {provider, model}")
    llms = []
    for index, item in enumerate(value[:8]):
        field = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise _bad(field, "must be an object {provider, model}")
        _unknown(item, LLM_FIELDS, f"{field}.")
        provider = _text(item.get("provider"), f"{field}.provider", 64, required=True)
        assert provider is not None
        if not _PROVIDER.fullmatch(provider):
            raise _bad(
                f"{field}.provider",
                "must be a provider's name (letters, digits, '.', '_' or '-'), e.g. claude",
            )
        model = _text(item.get("model"), f"{field}.model", 200, required=False)
        llms.append((provider, model))
    return tuple(llms)


def backend_type(provider: str) -> str | None:
    """massgen's backend type for a provider's name (``anthropic``, ``claude``, ...)."""
    name = provider.strip().lower().replace("-", "_")
    name = LITELLM_PREFIXES.get(name, name)
    name = ALIASES.get(name, name)
    return name if name in AVAILABLE else None


# ---------------------------------------------------------------------- the team


def _served_by(
    participant: Participant, index: int, team: list[AgentConfig]
) -> tuple[AgentConfig, BackendConfig, dict[str, Any] | None]:
    """The team agent a participant is built on, its backend, and what the debate reports
    of its ``llms`` (None: it asked for none)."""
    for provider, model in participant.llms:
        kind = backend_type(provider)
        base = next((a for a in team if a.backend.type == kind), None)
        if base is None:
            continue
        backend = base.backend
        if model and model != backend.model:
            backend = backend.model_copy(update={"model": model})
        return base, backend, _llm_report(provider, model, backend, substituted=False)
    base = team[index % len(team)]
    if not participant.llms:
        return base, base.backend, None
    provider, model = participant.llms[0]
    return base, base.backend, _llm_report(provider, model, base.backend, substituted=True)


def _llm_report(
    provider: str, model: str | None, backend: BackendConfig, *, substituted: bool
) -> dict[str, Any]:
    return {
        "requested": {"provider": provider, "model": model},
        "provider": backend.type,
        "model": backend.model,
        "substituted": substituted,
    }


def system_message(participant: Participant, others: list[str], own: str | None) -> str:
    """What a participant is told of itself; the operator's system message follows."""
    who = f"You are {participant.name}"
    who += f", {participant.role}." if participant.role else "."
    text = f"{who} You are taking part in a debate"
    text += f" with {', '.join(others)}." if others else "."
    text += " Argue from your role's expertise, and change your position only for good reasons."
    return f"{text}\n\n{own}" if own else text


def team_of(spec: DebateSpec, prepared: Prepared) -> tuple[Prepared, list[dict[str, Any]]]:
    """The team that runs ``spec`` (the server's, as ``prepared``), and each participant as
    the debate shows it: ``name``, ``role``, ``llm`` (see module)."""
    team = list(prepared.config.agents)
    agents: list[AgentConfig] = []
    shown: list[dict[str, Any]] = []
    names = [p.name for p in spec.participants]
    for index, participant in enumerate(spec.participants):
        base, backend, llm = _served_by(participant, index, team)
        others = [n for n in names if n != participant.name]
        update = {
            "id": participant.name,
            "backend": backend,
            "system_message": system_message(participant, others, base.system_message),
        }
        agents.append(base.model_copy(update=update))
        shown.append({"name": participant.name, "role": participant.role, "llm": llm})
    if not spec.participants:
        for agent in team:
            llm = _llm_report(
                agent.backend.type, agent.backend.model, agent.backend, substituted=False
            )
            llm.pop("requested")
            shown.append({"name": agent.id, "role": None, "llm": llm})
    options: dict[str, Any] = {}
    if spec.repeat_rounds is not None:
        options["max_rounds"] = spec.repeat_rounds
    if spec.consensus_threshold is not None:
        options["consensus_threshold"] = spec.consensus_threshold
    debating = with_strategy(
        prepared, "debate", options, agents=agents or None, field="participants"
    )
    return debating, shown


def total_rounds(prepared: Prepared) -> int:
    """The most rounds the debate may have: the independent answers, then the revisions."""
    return prepared.config.orchestrator.rounds + 1
