"""Scorers: whether a response answers an item correctly.

- ``exact``: the final answer (after a last ``Answer:``, ``answer is`` or ``####``, else the
  whole response), normalised (case, spacing, markdown, trailing punctuation), equals the
  reference;
- ``number``: the final number (after such a marker, else the last number in the response)
  equals the reference's (GSM8K's ``... #### 72`` too). Two whole numbers compare exactly
  (1234568 is not 1234567, however large); when either is not whole, a relative tolerance of
  1e-6 applies (``0.3333333`` is ``1/3`` to six places);
- ``choice``: the letter chosen (``Answer: B``, ``(B)``, ``B.``, a lone ``B``; else the one
  choice whose text appears) is the reference letter (or the choice text given as answer);
- ``regex``: the reference is a regular expression found in the response (case-insensitive);
- ``contains``: the normalised reference appears in the normalised response.

:func:`vote_key` is what self-consistency votes on: the extracted answer (whole numbers
exactly, others to six significant digits: the same rule).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from massgen.eval.items import LETTERS, Item

_MARKER = re.compile(r"(?i)(?:####|\banswer\s*(?:is|:)|\bresult\s*(?:is|:))")
_NUMBER = re.compile(r"[-+]?\$?\s?\d[\d,]*(?:\.\d+)?|[-+]?\.\d+")
_MARKUP = re.compile(r"[*_`#]+")


def final_span(text: str) -> str:
    """The part of a response after its last answer marker, else all of it."""
    markers = list(_MARKER.finditer(text))
    return text[markers[-1].end() :] if markers else text


def normalise(text: str) -> str:
    text = _MARKUP.sub("", text.lower())
    text = " ".join(text.split())
    return text.strip(" .!;:,\"'")


def parse_value(text: str) -> Decimal | None:
    """The final number of ``text`` (after an answer marker when there is one), exactly as
    written (no rounding through a float)."""
    for part in (final_span(text), text):
        found = _NUMBER.findall(part)
        if found:
            raw = found[0] if part is not text else found[-1]
            try:
                return Decimal(raw.replace(",", "").replace("$", "").replace(" ", ""))
            except InvalidOperation:
                return None
    return None


def parse_number(text: str) -> float | None:
    """:func:`parse_value` as a float."""
    value = parse_value(text)
    return None if value is None else float(value)


def _letter(item: Item, text: str) -> str | None:
    """The choice a response picks: after an answer marker; else ``(B)`` or a line starting
    ``B.`` / ``B)`` (the last); else the one choice whose text it contains; else a lone
    letter (the last)."""
    letters = LETTERS[: len(item.choices)]
    lone = re.compile(rf"(?<![A-Za-z])\(?([{letters}])\)?(?![A-Za-z])")
    span = final_span(text)
    if span is not text and (found := lone.findall(span)):
        return found[0]
    marked = re.findall(rf"\(([{letters}])\)|^\s*([{letters}])[.)]", text, re.M)
    if marked:
        return "".join(marked[-1])
    named = [LETTERS[i] for i, c in enumerate(item.choices) if normalise(c) in normalise(text)]
    if len(named) == 1:
        return named[0]
    found = lone.findall(text)
    return found[-1] if found else None


def _reference_letter(item: Item) -> str:
    answer = item.answer.strip()
    if len(answer) == 1 and answer.upper() in LETTERS[: len(item.choices)]:
        return answer.upper()
    for index, choice in enumerate(item.choices):
        if normalise(choice) == normalise(answer):
            return LETTERS[index]
    return answer.upper()


#: The relative tolerance between two numbers when either is not whole.
REL_TOL = 1e-6


def _whole(value: Decimal) -> bool:
    return value == value.to_integral_value()


def same_number(a: Decimal | None, b: Decimal | None) -> bool:
    """Whole numbers exactly; otherwise to a relative :data:`REL_TOL`."""
    if a is None or b is None:
        return False
    if _whole(a) and _whole(b):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=1e-9)


def _exact(item: Item, text: str) -> bool:
    reference = normalise(final_span(item.answer))
    return reference in (normalise(final_span(text)), normalise(text))


SCORE: dict[str, Callable[[Item, str], bool]] = {
    "exact": _exact,
    "number": lambda item, text: same_number(parse_value(text), parse_value(item.answer)),
    "choice": lambda item, text: _letter(item, text) == _reference_letter(item),
    "regex": lambda item, text: re.search(item.answer, text, re.I | re.S) is not None,
    "contains": lambda item, text: normalise(item.answer) in normalise(text),
}


def score(item: Item, response: str | None) -> bool:
    """Whether ``response`` answers ``item`` correctly (no response: it does not)."""
    if not response:
        return False
    return SCORE[item.scorer](item, response)


def vote_key(item: Item, response: str | None) -> str | None:
    """The answer a response gives, as self-consistency compares them (None: none found)."""
    if not response:
        return None
    if item.scorer == "number":
        value = parse_value(response)
        if value is None:
            return None
        return str(int(value)) if _whole(value) else f"{float(value):.6g}"
    if item.scorer == "choice":
        return _letter(item, response)
    return normalise(final_span(response)) or None
