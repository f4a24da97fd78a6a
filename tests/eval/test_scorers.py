"""Scorers and datasets of ``massgen eval``."""

from __future__ import annotations

import re

import pytest

from massgen.errors import ConfigurationError
from massgen.eval.datasets import arithmetic, item_from, load_jsonl
from massgen.eval.items import Item
from massgen.eval.runner import majority, orchestrator_for, parse_strategies
from massgen.eval.scorers import score, vote_key


def item(answer: str, scorer: str, choices: tuple[str, ...] = ()) -> Item:
    return Item("1", "q", answer, scorer, choices)


@pytest.mark.parametrize(
    ("answer", "response", "correct"),
    [
        ("42", "6 times 7 is 42.", True),
        ("42", "Answer: 42 apples, not 5", True),
        ("42", "The total is 40 + 2 = 42", True),
        ("1234", "That makes $1,234.", True),
        ("Natalia sold 48/2 = 24 clips in May.\n#### 72", "so 72 in all", True),  # GSM8K
        ("42", "It is 41.", False),
        ("42", "I do not know.", False),
    ],
)
def test_number(answer, response, correct):
    assert score(item(answer, "number"), response) is correct


@pytest.mark.parametrize(
    ("response", "correct"),
    [
        ("Answer: B", True),
        ("The answer is (B).", True),
        ("B. Rome", True),
        ("Rome, of course.", True),
        ("(A) is wrong; (B) is right", True),
        ("A", False),
        ("Paris", False),
    ],
)
def test_choice(response, correct):
    assert score(item("B", "choice", ("Paris", "Rome", "Oslo")), response) is correct
    assert score(item("Rome", "choice", ("Paris", "Rome", "Oslo")), response) is correct


def test_exact_contains_regex():
    assert score(item("Paris", "exact"), "**Paris.**")
    assert score(item("Paris", "exact"), "The answer is Paris")
    assert not score(item("Paris", "exact"), "Paris is the capital")
    assert score(item("paris", "contains"), "It is Paris, in France.")
    assert score(item(r"\b4[02]\b", "regex"), "the answer is 42")
    assert not score(item(r"^42$", "regex"), "the answer is 42")


@pytest.mark.parametrize(
    ("answer", "response", "correct"),
    [
        ("1234567", "It is 1234568.", False),  # whole numbers compare exactly
        ("1234567", "It is 1,234,567.", True),
        ("123456789012345678", "123456789012345679", False),  # beyond a float's precision
        ("1234567", "It is 1234567.0", True),
        ("0.3333333", "about 0.33333334", True),  # not whole: a relative 1e-6
        ("0.5", "0.51", False),
    ],
)
def test_whole_numbers_compare_exactly_and_others_to_a_tolerance(answer, response, correct):
    assert score(item(answer, "number"), response) is correct


def test_majority_voting_keeps_whole_numbers_that_differ_apart():
    numbers = item("1234567", "number")
    assert vote_key(numbers, "1234567") != vote_key(numbers, "1234568")
    assert majority(numbers, ["1234568", "1234567", "1234567.0"]) == "1234567"
    assert vote_key(numbers, "0.33333334") == vote_key(numbers, "0.33333333")


def test_self_consistency_takes_the_majority_answer():
    numbers = item("42", "number")
    assert majority(numbers, ["It is 41.", "42.", "Surely 42", None]) == "42."
    assert vote_key(numbers, "Answer: 42.0") == vote_key(numbers, "42") == "42"
    assert majority(numbers, ["no idea", "none"]) == "no idea"
    assert majority(numbers, [None, None]) is None


def test_the_arithmetic_set_has_exact_answers():
    items = arithmetic(8, seed=0)
    assert items[0].question.startswith("Goran has 7 shells. Goran buys 4 bags with 9 shells")
    assert items[0].answer == "36"  # 7 + 4 * 9 - 7
    for it in items:
        numbers = [int(n) for n in re.findall(r"\d+", it.question)]
        assert numbers and it.scorer == "number" and int(it.answer) >= 0
    assert [i.question for i in arithmetic(8, seed=0)] == [i.question for i in items]


def test_items_take_mmlu_and_gsm8k_shapes(tmp_path):
    mmlu = item_from({"question": "q", "choices": ["a", "b", "c"], "answer": 2}, "f:1", 1)
    assert mmlu.answer == "C" and mmlu.scorer == "choice"
    assert "A. a\nB. b\nC. c" in mmlu.prompt()
    gsm = item_from({"question": "q", "answer": "work...\n#### 72"}, "f:1", 1)
    assert gsm.scorer == "number"
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"id": "x", "question": "q", "answer": 1}\n\n{"id": "x", "question": "r", "answer": 2}\n'
    )
    with pytest.raises(ConfigurationError, match="duplicate id 'x'"):
        load_jsonl(path)
    path.write_bytes(b'{"question": "q", "answer": "\xff"}\n')
    with pytest.raises(ConfigurationError, match=r"d.jsonl:1: not UTF-8"):
        load_jsonl(path)


def test_strategy_names_and_their_orchestrators():
    assert parse_strategies("single, vote,self-consistency") == [
        "single",
        "vote",
        "self_consistency",
    ]
    with pytest.raises(ConfigurationError, match="did you mean 'judge'"):
        parse_strategies("judg")
    from massgen.config.loader import load_config_dict

    config = load_config_dict(
        {
            "agents": [{"backend": {"type": "vllm", "model": "m"}}] * 1
            + [{"id": "b", "backend": {"type": "vllm", "model": "m"}}],
            "orchestrator": {"vote_weighting": "confidence", "min_agents": 2, "timeout_seconds": 9},
        }
    ).config
    debate = orchestrator_for(config, "debate")
    assert debate.strategy == "debate" and debate.vote_weighting == "equal"
    assert debate.timeout_seconds == 9 and debate.min_agents == 2
    single = orchestrator_for(config, "single")
    assert single.strategy == "vote" and single.min_agents is None
