"""The answers each voter reads in a large team (``peer_view``; docs/architecture.md,
"Strategies").

Reading every answer makes a vote round cost N prompts of N answers. A bounded view gives
every voter of one answer set the same **shortlist** of ``peer_view_size`` answers (so their
prompts share it, as a prefix a provider can cache): those that held the most votes so far,
then those no peer has read yet, then a sample seeded by the answer set (so it changes with
every new answer). Each answer left off the shortlist goes to one voter as an **extra** (the
voter with the fewest extras that is not its author), so every answer is read by a peer; the
voter's **own** answer comes last. A vote may go only to an answer in the voter's view.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from massgen.config.schema import OrchestratorConfig
from massgen.coordination.state import Answer
from massgen.events import EVENT_TYPES, Event


@dataclass(kw_only=True)
class PeerView(Event):
    """The answers one evaluation turn reads when voters read a shortlist: ``shown`` (their
    labels: the shortlist, the extras, its own), ``shortlist`` (what every voter of the
    answer set reads) and ``answers`` (how many the set holds). Defined here, next to what
    it reports, and registered with the other events (``events.py`` is at its size limit)."""

    type: ClassVar[str] = "peer_view"
    round: int = 1
    shown: list[str] = field(default_factory=list)
    shortlist: list[str] = field(default_factory=list)
    answers: int = 0


EVENT_TYPES[PeerView.type] = PeerView


@dataclass(frozen=True)
class View:
    """What one voter reads: the shared shortlist, its extras, its own answer."""

    shortlist: tuple[Answer, ...]
    extras: tuple[Answer, ...] = ()
    own: Answer | None = None

    @property
    def answers(self) -> list[Answer]:
        """The shortlist, the extras, then its own answer (unless already shown)."""
        shown = [*self.shortlist, *self.extras]
        if self.own is not None and self.own not in shown:
            shown.append(self.own)
        return shown


def bounded(cfg: OrchestratorConfig, team_size: int) -> bool:
    """Whether voters read a shortlist rather than every answer."""
    if cfg.peer_view == "auto":
        return team_size > cfg.peer_view_above
    return cfg.peer_view == "shortlist"


def sample_key(label: str, seed: int) -> int:
    """A deterministic pseudo-random rank of an answer in the sample of answer set ``seed``."""
    return zlib.crc32(f"{seed}:{label}".encode())


def shortlist(
    answers: Sequence[Answer],
    size: int,
    held: Mapping[str, float],
    read: Mapping[str, int],
    seed: int,
) -> list[Answer]:
    """The ``size`` answers every voter reads: most votes held first (``held``: answer label
    -> the most votes it held), then unread by peers (``read``: label -> readers), then the
    seeded sample."""
    ranked = sorted(
        answers,
        key=lambda a: (
            -held.get(a.label, 0.0),
            read.get(a.label, 0) > 0,
            sample_key(a.label, seed),
        ),
    )
    return ranked[:size]


def assign(
    answers: Sequence[Answer],
    voters: Sequence[str],
    size: int,
    held: Mapping[str, float],
    read: Mapping[str, int],
    seed: int,
) -> dict[str, View]:
    """Every voter's :class:`View` of ``answers`` (each agent's latest; ``voters``: agent
    labels, in order)."""
    short = shortlist(answers, size, held, read, seed)
    extras: dict[str, list[Answer]] = {voter: [] for voter in voters}
    ring = list(voters)
    if ring:
        start = seed % len(ring)
        ring = ring[start:] + ring[:start]
    for answer in answers:
        if answer in short:
            continue
        readers = [v for v in ring if v != answer.agent_label]
        if readers:
            reader = min(readers, key=lambda v: len(extras[v]))  # first of the ring on a tie
            extras[reader].append(answer)
    own = {a.agent_label: a for a in answers}
    return {voter: View(tuple(short), tuple(extras[voter]), own.get(voter)) for voter in voters}
