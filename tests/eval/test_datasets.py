"""The generated built-in sets: answers recomputed from the text alone, levels, seeds, sizes."""

from __future__ import annotations

import re

import pytest

from massgen.errors import ConfigurationError
from massgen.eval.datasets import builtin
from massgen.eval.items import LETTERS, Item


def solve_word_problem(question: str) -> int:
    """The answer from the sentences, as a reader would work it out."""
    name = question.split(" ", 1)[0]
    have = 0
    for sentence in re.split(r"(?<=[.?])\s+", question):
        if not sentence.startswith(name):
            continue  # someone else's amount: irrelevant
        numbers = [int(n) for n in re.findall(r"\d+", sentence)]
        if " has " in sentence:
            have = numbers[0]
        elif "finds" in sentence:
            have += numbers[0]
        elif "to a friend" in sentence:
            have -= numbers[0]
        elif "bags" in sentence:
            have += numbers[0] * numbers[1]
        elif "doubles" in sentence:
            have *= 2
        elif "half" in sentence:
            have //= 2
    return have


def solve_ordering(item: Item) -> str:
    """The letter of the person asked for, ordering the people by the clues."""
    taller: set[tuple[str, str]] = set()
    for a, rel, b in re.findall(r"(\w+) is (taller|shorter) than (\w+)\.", item.question):
        taller.add((a, b) if rel == "taller" else (b, a))
    people = list(item.choices)
    changed = True
    while changed:  # the transitive closure
        new = {(a, d) for a, b in taller for c, d in taller if b == c} - taller
        taller |= new
        changed = bool(new)
    for a in people:  # the clues decide every pair: one order
        for b in people:
            assert a == b or ((a, b) in taller) != ((b, a) in taller), item.question
    order = sorted(people, key=lambda p: sum((q, p) in taller for q in people))
    asked = re.search(r"Who is the (.+)\?", item.question).group(1)  # type: ignore[union-attr]
    words = ["tallest", "second tallest", "third tallest", "fourth tallest", "5th tallest"]
    rank = len(order) if asked == "shortest" else words.index(asked) + 1
    return LETTERS[item.choices.index(order[rank - 1])]


def test_word_problems_answers_follow_from_their_text_at_three_levels():
    items = builtin("word_problems", 60, 3)
    assert len(items) == 60
    assert [i.id.rsplit("-", 1)[1] for i in items[:3]] == ["easy", "medium", "hard"]
    for item in items:
        assert item.scorer == "number" and int(item.answer) >= 0
        assert solve_word_problem(item.question) == int(item.answer), item.question
    steps = {i.id.rsplit("-", 1)[1]: i.question.count(".") for i in items[:3]}
    assert steps["easy"] < steps["medium"] < steps["hard"]  # more sentences, more steps


def test_logic_puzzles_have_one_right_choice_from_3_to_6_people():
    items = builtin("logic", 40, 5)
    assert [len(i.choices) for i in items[:4]] == [3, 4, 5, 6]
    for item in items:
        assert item.scorer == "choice" and item.answer in LETTERS[: len(item.choices)]
        assert solve_ordering(item) == item.answer, item.question
    assert len({i.answer for i in items}) > 2  # the right letter moves


@pytest.mark.parametrize("name", ["word_problems", "logic"])
def test_a_seed_gives_the_same_items_and_another_seed_others(name):
    assert builtin(name, 10, 1) == builtin(name, 10, 1)
    assert [i.question for i in builtin(name, 10, 1)] != [i.question for i in builtin(name, 10, 2)]


def test_an_unknown_set_names_the_sets():
    with pytest.raises(
        ConfigurationError, match=r"did you mean 'logic'.*arithmetic, word_problems"
    ):
        builtin("logik", 5, 0)
