"""How far independent readings of one text agree: the reading the others back most, and a
confidence from their agreement (``POST /v1/vision/ocr``, :mod:`massgen.server.ocr`).

Definitions, exactly as computed:

- **tokens** of a reading: its text NFKC-normalised and case-folded, then its runs of word
  characters, a ``.`` or ``,`` between two of them kept inside (``17.50`` and ``1,000`` are
  one token each): ``\\w+(?:[.,]\\w+)*``. Whitespace, other punctuation and markup (``#``,
  ``*``, ``|``, ``-``) do not count, so agents that read the same words but lay them out
  differently agree.
- **similarity** ``s(a, b)`` of two readings: ``2·M / (|a| + |b|)`` over their token
  lists, where ``M`` is the number of tokens in the matching blocks that
  :class:`difflib.SequenceMatcher` finds (order matters; no junk heuristics; ``a`` is the
  earlier reading). 1.0 for the same tokens, 0.0 for none in common; two readings without
  any token are the same (1.0).
- **agreement** of reading ``i`` among ``n`` readings: the mean of ``s(i, j)`` over the
  ``n − 1`` other readings ``j``; with one reading (nobody to back it) it is 0.0.
- the **chosen** reading: the one with the highest agreement (ties: the earliest, i.e. the
  first agent in the config's order), and the **confidence**: its agreement, in [0, 1].

So three identical readings give 1.0; two identical and a third that shares two of its three
tokens give the identical ones ``(1 + 2/3) / 2 = 5/6``.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"\w+(?:[.,]\w+)*")


def tokens(text: str) -> list[str]:
    """The words of ``text`` as compared (see module)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """``2·M / (|a| + |b|)`` over two token lists (1.0 when both are empty)."""
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


@dataclass(frozen=True)
class Agreement:
    """Each reading's agreement with the others, the chosen one's index and the confidence."""

    agreements: tuple[float, ...]
    chosen: int
    confidence: float


def compare(readings: Sequence[str]) -> Agreement:
    """The agreement of ``readings`` (at least one; see module)."""
    if not readings:
        raise ValueError("no readings to compare")
    words = [tokens(text) for text in readings]
    n = len(words)
    if n == 1:
        return Agreement((0.0,), 0, 0.0)
    pair = [[1.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            pair[i][j] = pair[j][i] = similarity(words[i], words[j])
    agreements = tuple(sum(pair[i][j] for j in range(n) if j != i) / (n - 1) for i in range(n))
    chosen = max(range(n), key=lambda i: (agreements[i], -i))
    return Agreement(agreements, chosen, agreements[chosen])
