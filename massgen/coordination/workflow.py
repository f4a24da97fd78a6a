"""The workflow tools (``new_answer``, ``vote``) and the validation of a turn's action."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

from massgen.messages import ToolCall, ToolSpec

NEW_ANSWER = "new_answer"
VOTE = "vote"
#: The tools that state a turn's action; any other call is one of the agent's own tools.
WORKFLOW_TOOLS = frozenset({NEW_ANSWER, VOTE})


@dataclass(frozen=True)
class NewAnswerAction:
    content: str
    agrees_with: str | None = None  # debate: the agent label whose answer this one shares


@dataclass(frozen=True)
class VoteAction:
    target: str  # agent label
    reason: str
    confidence: float | None = None  # vote_weighting: confidence


@dataclass(frozen=True)
class Abstention:
    """An evaluation turn that ended without a valid vote: the agent has judged the current
    answers but backs none (its own event; it counts toward ending the run, not the tally)."""

    reason: str


Action = NewAnswerAction | VoteAction | Abstention


@dataclass(frozen=True)
class TurnRules:
    """What one turn may do: which labels can be voted for, whether answering is allowed."""

    vote_labels: tuple[str, ...]  # agent labels that currently have an answer
    can_answer: bool
    answer_cap: int
    existing_answers: tuple[tuple[str, str], ...]  # (versioned label, content) of every answer
    confidence: bool = False  # the vote states a confidence (vote_weighting: confidence)
    agree_labels: tuple[str, ...] = ()  # debate: labels new_answer's agrees_with may name
    answer_description: str = (
        "Submit a complete answer to the original message that improves on every existing answer."
    )
    #: after the last invalid attempt, the turn's text is taken as its answer (a first
    #: answer, or any turn of a round of answers); otherwise the turn abstains
    text_is_answer: bool = False

    @property
    def can_vote(self) -> bool:
        return bool(self.vote_labels)


def tool_specs(rules: TurnRules) -> list[ToolSpec]:
    """The workflow tools for a turn: ``vote`` only when answers exist, ``new_answer`` only
    below the answer cap."""
    specs: list[ToolSpec] = []
    if rules.can_answer:
        specs.append(
            ToolSpec(
                name=NEW_ANSWER,
                description=rules.answer_description,
                parameters={
                    "type": "object",
                    "properties": {
                        "content": {"type": "string", "description": "The full answer."},
                        **(
                            {
                                "agrees_with": {
                                    "type": "string",
                                    "enum": list(rules.agree_labels),
                                    "description": "Label of another agent whose answer "
                                    "yours agrees with, if any.",
                                }
                            }
                            if rules.agree_labels
                            else {}
                        ),
                    },
                    "required": ["content"],
                },
            )
        )
    if rules.can_vote:
        specs.append(
            ToolSpec(
                name=VOTE,
                description="Vote for the agent whose current answer is best.",
                parameters={
                    "type": "object",
                    "properties": {
                        "agent_id": {
                            "type": "string",
                            "enum": list(rules.vote_labels),
                            "description": "Label of the answer you vote for.",
                        },
                        "reason": {"type": "string", "description": "Why it is the best."},
                        **(
                            {
                                "confidence": {
                                    "type": "number",
                                    "minimum": 0,
                                    "maximum": 1,
                                    "description": "How sure you are that it is the best, "
                                    "from 0 to 1.",
                                }
                            }
                            if rules.confidence
                            else {}
                        ),
                    },
                    "required": [
                        "agent_id",
                        "reason",
                        *(["confidence"] if rules.confidence else []),
                    ],
                },
            )
        )
    return specs


class InvalidActionError(Exception):
    """The turn's tool calls do not form exactly one valid workflow action. The message is
    sent back to the model as the tool result."""


NO_ACTION_REMINDER = (
    "You must end your turn by calling exactly one tool: new_answer (to submit a better "
    "answer) or vote (to choose the best existing answer)."
)


def reminder(mode: str) -> str:
    """What a model that stated no action is told, in its workflow mode's terms."""
    if mode == "json":
        return "Reply with exactly one JSON object stating your action, and nothing else."
    if mode == "text":
        return "Write your complete answer, or one line exactly like VOTE: agent2 - your reason."
    return NO_ACTION_REMINDER


def answer_from_text(text: str, rules: TurnRules) -> NewAnswerAction:
    """A reply's text as the agent's answer (the last resort of a first turn)."""
    from massgen.coordination.modes import parse_json_action

    call = parse_json_action(text, tool_specs(rules), "text")
    if call is not None and call.name == NEW_ANSWER:
        return _validate_answer(call.parsed_arguments(), rules)
    return _validate_answer({"content": text}, rules)


def validate(calls: list[ToolCall], rules: TurnRules) -> Action:
    """Turn the model's workflow tool calls into one action, or raise
    :class:`InvalidActionError` saying what is wrong."""
    if not calls:
        raise InvalidActionError(NO_ACTION_REMINDER)
    offered = {spec.name for spec in tool_specs(rules)}
    names = [call.name for call in calls]
    for name in names:
        if name not in (NEW_ANSWER, VOTE):
            raise InvalidActionError(
                f"unknown tool '{name}'; available: {', '.join(sorted(offered))}"
            )
    if NEW_ANSWER in names and VOTE in names:
        raise InvalidActionError("call exactly one of new_answer or vote, not both")
    if len(calls) > 1:
        what = "vote" if names[0] == VOTE else "new_answer"
        raise InvalidActionError(f"call {what} exactly once per turn, not {len(calls)} times")
    call = calls[0]
    try:
        args = call.parsed_arguments()
    except ValueError as exc:
        raise InvalidActionError(f"{call.name}: {exc}") from None
    if call.name == VOTE:
        return _validate_vote(args, rules)
    return _validate_answer(args, rules)


def _validate_vote(args: dict[str, Any], rules: TurnRules) -> VoteAction:
    if not rules.can_vote:
        raise InvalidActionError(
            "there are no answers to vote for yet; submit your answer with new_answer"
        )
    target = args.get("agent_id")
    if not isinstance(target, str) or target not in rules.vote_labels:
        raise InvalidActionError(
            f"unknown agent {target!r}; vote for one of: {', '.join(rules.vote_labels)}"
        )
    reason = args.get("reason")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not rules.confidence:
        return VoteAction(target=target, reason=reason)
    return VoteAction(target=target, reason=reason, confidence=_confidence(args.get("confidence")))


def _confidence(value: object) -> float:
    """A vote's confidence: a number from 0 to 1 (``"80%"`` and ``"0.8"`` are read too)."""
    if isinstance(value, str):
        text = value.strip()
        with contextlib.suppress(ValueError):
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidActionError("vote needs 'confidence', a number from 0 to 1")
    if not 0 <= value <= 1:
        raise InvalidActionError(f"confidence must be from 0 to 1, got {value:g}")
    return float(value)


#: The prompt's own section tags (``<CURRENT ANSWERS>``, ``</ORIGINAL MESSAGE>``, ``<agent2>``):
#: a small model sometimes copies one as its whole answer.
_PROMPT_TAG = re.compile(r"</?\s*(?:[A-Z][A-Z ]*[A-Z]|agent\d+)\s*>")
_MARKUP = " \t\r\n{}[]()<>\"'`*_#:.,;-|/\\"


def _validate_answer(args: dict[str, Any], rules: TurnRules) -> NewAnswerAction:
    if not rules.can_answer:
        raise InvalidActionError(
            f"you have reached the limit of {rules.answer_cap} answers (or the last round); "
            "vote for the best existing answer instead"
        )
    content = args.get("content")
    if not isinstance(content, str) or not content.strip():
        raise InvalidActionError("new_answer needs a non-empty 'content' string")
    normalised = content.strip()
    if not _PROMPT_TAG.sub("", normalised).strip(_MARKUP):
        raise InvalidActionError(
            "this 'content' only repeats the prompt's markup; write your own answer to the "
            "original message"
        )
    for label, existing in rules.existing_answers:
        if existing.strip() == normalised:
            raise InvalidActionError(
                f"this answer is identical to {label}; vote for it instead of resubmitting it"
            )
    agrees = args.get("agrees_with")
    agrees = agrees.strip() if isinstance(agrees, str) else None
    if agrees not in rules.agree_labels:
        agrees = None  # optional: an unknown or empty label is ignored, not an error
    return NewAnswerAction(content=content.strip(), agrees_with=agrees)
