"""Built-in sets generated from a seed, with answers computed as they are written, so every
answer is right by construction and the same ``--seed`` gives the same items.

- ``word_problems``: multi-step word problems about one quantity, in three levels that cycle
  item by item: 2 steps (easy), 4 steps (medium) and 6 steps with an irrelevant number
  (hard). The steps add, take away, buy bags of several, double, or halve (only an even
  amount). Whole-number answers, scorer ``number``; the id ends with the level.
- ``logic``: multiple-choice ordering puzzles: 3, 4, 5 or 6 people (cycling), a hidden order
  by height told as one clue per neighbouring pair ("X is taller than Y" or "Y is shorter
  than X", shuffled), and from 5 people one redundant clue; the question asks who is the
  k-th tallest (or the shortest). The choices are the people, shuffled; scorer ``choice``.
"""

from __future__ import annotations

import itertools
import random

from massgen.eval.items import LETTERS, Item

NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kai"]
THINGS = ["apples", "books", "marbles", "stickers", "pencils", "cards", "shells", "coins"]
LEVELS = ((2, "easy"), (4, "medium"), (6, "hard"))


def _step(rng: random.Random, name: str, thing: str, have: int) -> tuple[str, int]:
    """One step of a word problem: its sentence and the amount after it."""
    kinds = ["add", "take", "bags", "double"] + (["halve"] if have % 2 == 0 and have > 2 else [])
    kind = rng.choice(kinds if have > 3 else ["add", "bags"])
    if kind == "add":
        more = rng.randint(2, 15)
        return f"{name} finds {more} more {thing}.", have + more
    if kind == "take":
        less = rng.randint(2, have - 1)
        return f"{name} gives {less} {thing} to a friend.", have - less
    if kind == "bags":
        bags, each = rng.randint(2, 5), rng.randint(2, 9)
        return f"{name} buys {bags} bags with {each} {thing} in each.", have + bags * each
    if kind == "double":
        return f"{name}'s collection doubles.", have * 2
    return f"{name} gives away half of the {thing}.", have // 2


def word_problem(rng: random.Random, steps: int, distractor: bool) -> tuple[str, int]:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    have = rng.randint(3, 30)
    sentences = [f"{name} has {have} {thing}."]
    for _ in range(steps):
        sentence, have = _step(rng, name, thing, have)
        sentences.append(sentence)
    if distractor:
        other = rng.choice([n for n in NAMES if n != name])
        where = rng.randint(1, len(sentences) - 1)
        sentences.insert(where, f"{other} has {rng.randint(2, 40)} {thing} at home.")
    sentences.append(f"How many {thing} does {name} have now?")
    return " ".join(sentences), have


def word_problems(size: int = 20, seed: int = 0) -> list[Item]:
    """:data:`LEVELS` of multi-step word problems, cycling, with exact whole answers."""
    rng = random.Random(f"word_problems:{seed}")
    items = []
    for index in range(size):
        steps, level = LEVELS[index % len(LEVELS)]
        question, answer = word_problem(rng, steps, distractor=level == "hard")
        item_id = f"word_problems-{seed}-{index + 1}-{level}"
        items.append(Item(item_id, question, str(answer), "number"))
    return items


def _ordinal(k: int) -> str:
    return {1: "tallest", 2: "second tallest", 3: "third tallest", 4: "fourth tallest"}.get(
        k, f"{k}th tallest"
    )


def ordering_puzzle(rng: random.Random, people: int) -> tuple[str, tuple[str, ...], str]:
    """A puzzle of ``people`` ordered by height: its text, the choices and the right one."""
    order = rng.sample(NAMES, people)  # tallest first
    clues = []
    for taller, shorter in itertools.pairwise(order):
        if rng.random() < 0.5:
            clues.append(f"{taller} is taller than {shorter}.")
        else:
            clues.append(f"{shorter} is shorter than {taller}.")
    if people >= 5:  # a true clue that says nothing new
        i = rng.randrange(people - 2)
        j = rng.randrange(i + 2, people)
        clues.append(f"{order[i]} is taller than {order[j]}.")
    rng.shuffle(clues)
    rank = rng.randint(1, people)
    asked = "shortest" if rank == people else _ordinal(rank)
    choices = tuple(rng.sample(order, people))
    question = f"{' '.join(clues)} Everyone has a different height. Who is the {asked}?"
    return question, choices, LETTERS[choices.index(order[rank - 1])]


def logic(size: int = 20, seed: int = 0) -> list[Item]:
    """Multiple-choice ordering puzzles of 3 to 6 people, cycling."""
    rng = random.Random(f"logic:{seed}")
    items = []
    for index in range(size):
        people = 3 + index % 4
        question, choices, answer = ordering_puzzle(rng, people)
        item_id = f"logic-{seed}-{index + 1}-{people}people"
        items.append(Item(item_id, question, answer, "choice", choices))
    return items
