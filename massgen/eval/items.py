"""One eval item: a question, its reference answer and how an answer is scored."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    answer: str
    scorer: str
    choices: tuple[str, ...] = ()

    def prompt(self) -> str:
        """What the agents are asked: the question, its choices, how to state the answer."""
        text = self.question.strip()
        if self.choices:
            options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(self.choices))
            return f"{text}\n\n{options}\n\nAnswer with the letter of the correct choice."
        if self.scorer == "number":
            return f"{text}\n\nEnd your answer with the final number."
        return text

    def key(self) -> dict[str, Any]:
        """What identifies the item in the cache."""
        return {k: v for k, v in asdict(self).items() if k != "id"}
