"""The messages each kind of turn sends. Kept short: every token here is paid 2N+1 times."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from massgen.coordination.state import Answer
from massgen.images import Image, note
from massgen.messages import Message

COORDINATION_INTRO = """\
You are one of several agents working on the same request. You see the latest answer of \
every agent, each labelled (agent1, agent2, ...)."""
COORDINATION_RULES = f"""\
{COORDINATION_INTRO} End your turn with exactly one tool call:
- new_answer(content): a complete, self-contained answer for the user that is clearly \
better than every existing answer;
- vote(agent_id, reason): the label of the best existing answer (it may be your own).
Vote when an existing answer is already good; answer only if you can clearly improve it."""
#: In the json and text modes the action's form is given by the mode's own instructions.
PLAIN_RULES = f"""\
{COORDINATION_INTRO} Either give a complete, self-contained answer for the user that is \
clearly better than every existing answer, or vote for the best existing answer (it may be \
your own). Vote when an existing answer is already good."""

PRESENTATION_RULES = """\
Several agents answered the request below and voted; your answer won. Write the final \
answer to the user's message, using the best of all answers. Reply to the user directly: \
do not mention agents, labels, votes or this process."""

History = Sequence[tuple[str, str]]  # (user message, final answer) of earlier turns


def _user(
    text: str, images: Sequence[Image], can_see: bool, shared_chars: int | None = None
) -> Message:
    """The user message, with the question's images for a model that sees them, else a
    note that they exist (after the text: ``shared_chars`` stays a prefix)."""
    if not images:
        return Message("user", text, shared_chars=shared_chars)
    if can_see:
        return Message("user", text, images=list(images), shared_chars=shared_chars)
    return Message("user", f"{text}\n\n{note(len(images))}", shared_chars=shared_chars)


def _shared_and_tail(shared: str, *tail: str) -> tuple[str, int]:
    """The user text of a round's turn: ``shared`` (the same for every agent of the round),
    then this agent's own ``tail`` parts; and the length of the shared part (so provider
    caches can reuse it: docs/architecture.md, "Prompt caching")."""
    own = "\n\n".join(part.strip() for part in tail if part.strip())
    return (f"{shared}\n\n{own}" if own else shared), len(shared)


def own_answer_line(answers: Sequence[Answer], viewer_label: str) -> str:
    """Which of ``answers`` is the viewer's own ("" when none is)."""
    if any(a.agent_label == viewer_label for a in answers):
        return f"Your own latest answer is {viewer_label}'s."
    return ""


def _system(own: str | None, rules: str) -> Message:
    return Message("system", f"{own.strip()}\n\n{rules}" if own else rules)


def _history_block(history: History) -> str:
    if not history:
        return ""
    lines = ["<CONVERSATION SO FAR>"]
    for question, answer in history:
        lines += [f"User: {question}", f"Assistant: {answer}"]
    lines.append("</CONVERSATION SO FAR>\n")
    return "\n".join(lines) + "\n"


def _answers_block(answers: Sequence[Answer], tag: str = "CURRENT ANSWERS") -> str:
    if not answers:
        return f"<{tag}>\n(no answers yet)\n</{tag}>"
    parts = [f"<{tag}>"]
    for answer in answers:
        files = f"\n(its files: {answer.files})" if answer.files else ""
        parts.append(f"<{answer.agent_label}>\n{answer.content}{files}\n</{answer.agent_label}>")
    parts.append(f"</{tag}>")
    return "\n".join(parts)


def files_block(
    workspace: str, readable: Sequence[str], writable: Sequence[str], presenting: bool
) -> str:
    """Where the agent works and what it may touch, for a run with files. The agent's own
    workspace comes last: the lines before it are the same for every agent of the run."""
    lines = ["<FILES>"]
    if writable:
        lines.append("You may also change these files of the user's: " + ", ".join(writable))
    if readable:
        lines.append("Read-only for you now: " + ", ".join(readable))
    if not presenting:
        lines.append(
            "Put the files of your answer in your workspace: other agents see them read-only, "
            "and whoever writes the final answer copies what is needed to the user's files."
        )
    lines += [f"Your workspace, where you may write: {workspace}", "</FILES>"]
    return "\n".join(lines) + "\n\n"


NOTES_HEAD = """\
<NOTES FROM THE USER>
The user sent these notes while the agents were working, after the original message. They \
come from the user: take them into account."""


def with_notes(messages: list[Message], notes: Sequence[str]) -> list[Message]:
    """``messages`` with the user's mid-run ``notes`` at the end of the last user message."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not notes or not users:
        return messages
    block = "\n".join([NOTES_HEAD, *(f"- {text}" for text in notes), "</NOTES FROM THE USER>"])
    out = list(messages)
    last = out[users[-1]]
    out[users[-1]] = dataclasses.replace(last, content=f"{last.content}\n\n{block}")
    return out


def by_label(answers: Sequence[Answer]) -> list[Answer]:
    """Answers in label order (agent1, agent2, ...): the same for every viewer."""
    return sorted(answers, key=lambda a: int(a.agent_label.removeprefix("agent")))


def order_for_viewer(answers: Sequence[Answer], viewer_label: str) -> list[Answer]:
    """Others' answers by label, the viewer's own last (final turns: a single call each, so
    no shared prefix is lost)."""
    ordered = by_label(answers)
    return [a for a in ordered if a.agent_label != viewer_label] + [
        a for a in ordered if a.agent_label == viewer_label
    ]


def coordination_messages(
    *,
    system_message: str | None,
    question: str,
    history: History,
    answers: Sequence[Answer],
    viewer_label: str,
    mode: str = "tools",
    images: Sequence[Image] = (),
    can_see_images: bool = True,
    files: str = "",
    planning: str = "",
    more_answers: Sequence[Answer] = (),
) -> list[Message]:
    """Messages for an answer or evaluation turn (``mode``: the agent's workflow mode;
    ``files``: the :func:`files_block` of a run with files; ``planning``: the planning-mode
    note). Every agent of a round reads the same text up to a short tail of its own: the
    answers only it reads (``more_answers``: a large team's extras and its own answer, see
    :mod:`massgen.coordination.peers`), its files and planning notes, then which answer is
    its own (docs/architecture.md, "Prompt caching")."""
    shared = (
        f"{_history_block(history)}"
        f"<ORIGINAL MESSAGE>\n{question}\n</ORIGINAL MESSAGE>\n\n"
        f"{_answers_block(by_label(answers))}"
    )
    more = _answers_block(by_label(more_answers), "MORE ANSWERS") if more_answers else ""
    read = [*answers, *more_answers]
    user, cut = _shared_and_tail(shared, more, files, planning, own_answer_line(read, viewer_label))
    rules = COORDINATION_RULES if mode == "tools" else PLAIN_RULES
    return [_system(system_message, rules), _user(user, images, can_see_images, cut)]


def final_task(files: str) -> str:
    """The last line of a final-answer prompt: with files, make the changes first."""
    if files:
        return (
            "Make the file changes the answer calls for (use your file tools; change only "
            "what it needs), then write the final answer to this question."
        )
    return "Write the final answer to this question."


def presentation_messages(
    *,
    system_message: str | None,
    question: str,
    history: History,
    answers: Sequence[Answer],
    tally: Mapping[str, float],
    winner_label: str,
    images: Sequence[Image] = (),
    can_see_images: bool = True,
    files: str = "",
    planning: str = "",
) -> list[Message]:
    """Messages for the winner's final presentation turn (no workflow tools; its own tools,
    with ``files`` the files it may now write, with ``planning`` the calls now made)."""
    votes = ", ".join(f"{label}: {count}" for label, count in tally.items()) or "none"
    # The question comes last and the winning answer just before it: even a small model then
    # answers the question rather than continuing the list of answers.
    best = next((a.content for a in answers if a.agent_label == winner_label), "")
    task = final_task(files)
    user = (
        f"{_history_block(history)}{files}{planning}"
        f"{_answers_block(order_for_viewer(answers, winner_label))}\n\n"
        f"Votes: {votes}. The chosen answer ({winner_label}) is:\n{best}\n\n"
        f"Question: {question}\n{task}"
    )
    return [_system(system_message, PRESENTATION_RULES), _user(user, images, can_see_images)]


# ------------------------------------------------------------------ debate and judge

INDEPENDENT_RULES = """\
Answer the user's message with a complete, self-contained answer."""
DEBATE_RULES = """\
You are one of several agents answering the same request; you see every agent's latest \
answer, each labelled (agent1, agent2, ...). Using the others' reasoning as additional \
advice, examine your answer and theirs step by step, then give your updated, complete \
answer. If it agrees with another agent's answer, name that agent in agrees_with."""
LAYER_RULES = """\
You have been given the answers of several agents to the user's message. Synthesise them \
into one high-quality answer: evaluate them critically (some may be biased or wrong), do \
not simply copy one, and give a refined, accurate and complete answer."""
AGGREGATE_RULES = f"""\
{LAYER_RULES} Reply to the user directly: do not mention agents, labels or this process."""
DEBATE_FINAL_RULES = """\
Several agents debated the user's message; their final answers are below. Write the final \
answer, using the best of them and deciding which is right where they disagree. Reply to \
the user directly: do not mention agents, labels or this process."""
#: How each kind of turn is told to submit, in the tools workflow mode.
SUBMIT = " Submit it with the new_answer tool."


def answer_round_messages(
    *,
    rules: str,
    system_message: str | None,
    question: str,
    history: History,
    answers: Sequence[Answer],
    viewer_label: str,
    mode: str = "tools",
    images: Sequence[Image] = (),
    can_see_images: bool = True,
    files: str = "",
    planning: str = "",
) -> list[Message]:
    """Messages for a debate or judge turn: ``rules``, the question and the answers it
    reads (none for an independent answer), in label order; then the agent's own tail, as in
    :func:`coordination_messages`."""
    shared = f"{_history_block(history)}<ORIGINAL MESSAGE>\n{question}\n</ORIGINAL MESSAGE>"
    if answers:
        shared += f"\n\n{_answers_block(by_label(answers))}"
    user, cut = _shared_and_tail(shared, files, planning, own_answer_line(answers, viewer_label))
    text = rules + (SUBMIT if mode == "tools" else "")
    return [_system(system_message, text), _user(user, images, can_see_images, cut)]


def final_messages(
    *,
    rules: str,
    system_message: str | None,
    question: str,
    history: History,
    answers: Sequence[Answer],
    viewer_label: str,
    images: Sequence[Image] = (),
    can_see_images: bool = True,
    files: str = "",
    planning: str = "",
) -> list[Message]:
    """Messages for a synthesis of ``answers`` into the final answer (no workflow tools; with
    ``files``, the agent's own tools and the files it may now write; with ``planning``, the
    calls now made); the question last, so even a small model answers it."""
    task = final_task(files)
    user = (
        f"{_history_block(history)}{files}{planning}"
        f"{_answers_block(order_for_viewer(answers, viewer_label))}\n\n"
        f"Question: {question}\n{task}"
    )
    return [_system(system_message, rules), _user(user, images, can_see_images)]
