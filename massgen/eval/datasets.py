"""Eval items: JSONL files (one ``{"question", "answer", "choices"?, "scorer"?, "id"?}`` per
line) and the built-in sets: ``arithmetic`` (here; four templates of 2-3 steps) and the sets
of :mod:`massgen.eval.generated` (``word_problems``, ``logic``)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from massgen.errors import ConfigurationError
from massgen.eval import generated
from massgen.eval.items import LETTERS, Item
from massgen.eval.scorers import parse_number

SCORERS = ("exact", "number", "choice", "regex", "contains")


def default_scorer(answer: str, choices: tuple[str, ...]) -> str:
    """``choice`` with choices, ``number`` for a numeric answer, else ``exact``."""
    if choices:
        return "choice"
    return "number" if parse_number(answer) is not None and _numeric(answer) else "exact"


def _numeric(text: str) -> bool:
    body = text.split("####")[-1].strip()
    return bool(re.fullmatch(r"[-+$]?\s*[\d,]*\.?\d+\s*%?", body))


def item_from(data: Any, where: str, index: int) -> Item:
    """One item from a JSON object; :class:`ConfigurationError` naming ``where`` if bad."""
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}: expected a JSON object, got {type(data).__name__}")
    for key in ("question", "answer"):
        if key not in data:
            raise ConfigurationError(f"{where}: missing '{key}'")
    question = data["question"]
    if not isinstance(question, str) or not question.strip():
        raise ConfigurationError(f"{where}: 'question' must be a non-empty string")
    raw_choices = data.get("choices") or []
    if not isinstance(raw_choices, list) or not all(isinstance(c, str) for c in raw_choices):
        raise ConfigurationError(f"{where}: 'choices' must be a list of strings")
    if len(raw_choices) > len(LETTERS):
        raise ConfigurationError(f"{where}: at most {len(LETTERS)} choices")
    choices = tuple(raw_choices)
    answer = data["answer"]
    if isinstance(answer, bool) or not isinstance(answer, str | int | float):
        raise ConfigurationError(f"{where}: 'answer' must be a string or a number")
    if choices and isinstance(answer, int) and not isinstance(answer, bool):
        if not 0 <= answer < len(choices):
            raise ConfigurationError(f"{where}: 'answer' {answer} is not a choice's index")
        answer = LETTERS[answer]  # MMLU-style: the index of the right choice
    answer = str(answer)
    scorer = data.get("scorer") or default_scorer(answer, choices)
    if scorer not in SCORERS:
        import difflib

        close = difflib.get_close_matches(str(scorer), SCORERS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (one of: {', '.join(SCORERS)})"
        raise ConfigurationError(f"{where}: unknown scorer '{scorer}'{hint}")
    if scorer == "choice" and not choices:
        raise ConfigurationError(f"{where}: scorer 'choice' needs 'choices'")
    if scorer == "regex":
        try:
            re.compile(answer)
        except re.error as exc:
            raise ConfigurationError(f"{where}: 'answer' is not a valid regex ({exc})") from None
    item_id = str(data.get("id", index))
    return Item(item_id, question, answer, scorer, choices)


def load_jsonl(path: Path) -> list[Item]:
    """Every item of a JSONL file; a bad line is one error naming the file and line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    items: list[Item] = []
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigurationError(f"{where}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        items.append(item_from(data, where, number))
    if not items:
        raise ConfigurationError(f"{path}: no items (one JSON object per line)")
    ids = [i.id for i in items]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise ConfigurationError(f"{path}: duplicate id '{duplicate}'")
    return items


# ------------------------------------------------------------------ built-in sets

NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Farah", "Goran", "Hana", "Ivo", "Jun"]
THINGS = ["apples", "books", "marbles", "stickers", "pencils", "cards", "shells", "coins"]


def _shop(rng: random.Random) -> tuple[str, int]:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    start, bags, per, given = (
        rng.randint(5, 40),
        rng.randint(2, 6),
        rng.randint(2, 9),
        rng.randint(1, 10),
    )
    question = (
        f"{name} has {start} {thing}. {name} buys {bags} bags with {per} {thing} in each, "
        f"then gives away {given}. How many {thing} does {name} have now?"
    )
    return question, start + bags * per - given


def _split(rng: random.Random) -> tuple[str, int]:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    friends, each, more = rng.randint(2, 6), rng.randint(2, 12), rng.randint(1, 3)
    extra = rng.randint(1, friends - 1)
    question = (
        f"{name} shares {friends * each + extra} {thing} equally among {friends} friends and "
        f"keeps the {extra} left over. Each friend then buys {more} more. How many {thing} "
        "does each friend have?"
    )
    return question, each + more


def _trip(rng: random.Random) -> tuple[str, int]:
    name = rng.choice(NAMES)
    speed, hours, back = rng.randint(20, 90), rng.randint(2, 5), rng.randint(1, 4)
    question = (
        f"{name} drives at {speed} km per hour for {hours} hours, then drives back "
        f"{back * 10} km. How far from the start is {name}, in km?"
    )
    return question, speed * hours - back * 10


def _price(rng: random.Random) -> tuple[str, int]:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    count, price, paid_extra = rng.randint(3, 12), rng.randint(2, 15), rng.randint(1, 20)
    paid = count * price + paid_extra
    question = (
        f"{name} buys {count} {thing} at {price} dollars each and pays with {paid} dollars. "
        f"How many dollars of change does {name} get?"
    )
    return question, paid_extra


TEMPLATES: list[Callable[[random.Random], tuple[str, int]]] = [_shop, _split, _trip, _price]


def arithmetic(size: int = 20, seed: int = 0) -> list[Item]:
    """Multi-step arithmetic word problems, the same for the same ``seed``, with exact
    integer answers (scorer ``number``)."""
    rng = random.Random(seed)
    items = []
    for index in range(size):
        question, answer = TEMPLATES[index % len(TEMPLATES)](rng)
        items.append(Item(f"arithmetic-{seed}-{index + 1}", question, str(answer), "number"))
    return items


BUILTIN: dict[str, Callable[[int, int], list[Item]]] = {
    "arithmetic": arithmetic,
    "word_problems": generated.word_problems,
    "logic": generated.logic,
}


def builtin(name: str, size: int, seed: int) -> list[Item]:
    if name not in BUILTIN:
        import difflib

        close = difflib.get_close_matches(name, BUILTIN, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigurationError(
            f"--builtin: unknown set '{name}'{hint}; built-in sets: {', '.join(BUILTIN)}"
        )
    return BUILTIN[name](size, seed)
