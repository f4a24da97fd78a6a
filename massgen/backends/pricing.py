"""Cost of a model call from a bundled price table (never fetched at run time).

Prices are USD per million tokens: input, cached input (reads), output, and for Anthropic
cache writes (1.25x input). A model is matched by
its name without a provider prefix, exactly or as a known name followed by a date or version
suffix (``claude-sonnet-4-20250514``, ``gpt-5-mini-2025-08-07``). Unknown models cost
``None`` ("cost unknown"), never a guess. Self-hosted models (the local backend and local
servers, see ``Backend.self_hosted``) cost nothing.

Prices as published by the providers in November 2026 for standard (non-batch) use; update
them here when providers change them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from massgen.messages import UsageChunk


@dataclass(frozen=True)
class Price:
    input: float
    cached: float
    output: float
    #: input written to the provider's cache (Anthropic: 1.25x input); others: input
    cache_write: float | None = None

    @property
    def written(self) -> float:
        """The price of a cache write (the input price when the provider adds none)."""
        return self.input if self.cache_write is None else self.cache_write


def _p(input_: float, output: float, cached: float | None = None) -> Price:
    return Price(input_, input_ if cached is None else cached, output)


def _a(input_: float, output: float, cached: float) -> Price:
    """An Anthropic price: five-minute cache writes cost 1.25x input."""
    return Price(input_, cached, output, input_ * 1.25)


PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": _p(1.25, 10.00, 0.125),
    "gpt-5-mini": _p(0.25, 2.00, 0.025),
    "gpt-5-nano": _p(0.05, 0.40, 0.005),
    "gpt-5-chat-latest": _p(1.25, 10.00, 0.125),
    "gpt-5-codex": _p(1.25, 10.00, 0.125),  # the Codex CLI's default model
    "gpt-4.1": _p(2.00, 8.00, 0.50),
    "gpt-4.1-mini": _p(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _p(0.10, 0.40, 0.025),
    "gpt-4o": _p(2.50, 10.00, 1.25),
    "gpt-4o-mini": _p(0.15, 0.60, 0.075),
    "gpt-4-turbo": _p(10.00, 30.00),
    "gpt-4-vision-preview": _p(10.00, 30.00),
    "gpt-4": _p(30.00, 60.00),
    "gpt-3.5-turbo": _p(0.50, 1.50),
    "o1": _p(15.00, 60.00, 7.50),
    "o1-mini": _p(1.10, 4.40, 0.55),
    "o3": _p(2.00, 8.00, 0.50),
    "o3-mini": _p(1.10, 4.40, 0.55),
    "o3-pro": _p(20.00, 80.00),
    "o4-mini": _p(1.10, 4.40, 0.275),
    # Anthropic (cached = cache reads)
    "claude-opus-4-5": _a(5.00, 25.00, 0.50),
    "claude-opus-4-1": _a(15.00, 75.00, 1.50),
    "claude-opus-4": _a(15.00, 75.00, 1.50),
    "claude-sonnet-4-5": _a(3.00, 15.00, 0.30),
    "claude-sonnet-4": _a(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": _a(3.00, 15.00, 0.30),
    "claude-3-5-sonnet": _a(3.00, 15.00, 0.30),
    "claude-haiku-4-5": _a(1.00, 5.00, 0.10),
    "claude-3-5-haiku": _a(0.80, 4.00, 0.08),
    "claude-3-haiku": _a(0.25, 1.25, 0.03),
    # Google (prompts up to 200k tokens)
    "gemini-2.5-pro": _p(1.25, 10.00, 0.31),
    "gemini-2.5-flash": _p(0.30, 2.50, 0.075),
    "gemini-2.5-flash-lite": _p(0.10, 0.40, 0.025),
    "gemini-2.5-flash-thinking": _p(0.30, 2.50, 0.075),
    "gemini-2.0-flash": _p(0.10, 0.40, 0.025),
    "gemini-2.0-flash-lite": _p(0.075, 0.30),
    # xAI
    "grok-4": _p(3.00, 15.00, 0.75),
    "grok-4-fast": _p(0.20, 0.50, 0.05),
    "grok-4-fast-reasoning": _p(0.20, 0.50, 0.05),
    "grok-4-fast-non-reasoning": _p(0.20, 0.50, 0.05),
    "grok-code-fast-1": _p(0.20, 1.50, 0.02),
    "grok-3": _p(3.00, 15.00, 0.75),
    "grok-3-mini": _p(0.30, 0.50, 0.075),
    # Z.ai
    "glm-4.5": _p(0.60, 2.20, 0.11),
    "glm-4.5-air": _p(0.20, 1.10, 0.03),
    # OpenAI's transcription models (audio input tokens, text output tokens)
    "gpt-4o-transcribe": _p(2.50, 10.00),
    "gpt-4o-mini-transcribe": _p(1.25, 5.00),
}

#: Models priced by the minute of audio (USD), which report seconds rather than tokens.
PER_MINUTE: dict[str, float] = {"whisper-1": 0.006}

#: What may follow a known name: a date (-20250514, -2025-08-07), a short version (-0709),
#: -latest or -preview.
_SUFFIX = re.compile(r"(-\d{8}|-\d{4}-\d{2}-\d{2}|-\d{4}|-latest|-preview)*")


def price_for(model: str) -> Price | None:
    """The price of ``model`` (``provider/`` prefixes ignored), or None if unknown."""
    name = model.lower().rsplit("/", 1)[-1]
    if name in PRICES:
        return PRICES[name]
    for known in sorted(PRICES, key=len, reverse=True):
        if name.startswith(known) and _SUFFIX.fullmatch(name[len(known) :]):
            return PRICES[known]
    return None


def per_minute_cost(model: str, seconds: float) -> float | None:
    """What ``seconds`` of audio cost on a model priced by the minute (None: unknown)."""
    rate = PER_MINUTE.get(model.lower().rsplit("/", 1)[-1])
    return None if rate is None else rate * seconds / 60


def cost_usd(model: str, usage: UsageChunk, *, self_hosted: bool = False) -> float | None:
    """What one call cost, or None when the model's price is unknown."""
    if self_hosted:
        return 0.0
    price = price_for(model)
    if price is None:
        return None
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    fresh = usage.prompt_tokens - cached - written
    total = (
        fresh * price.input
        + cached * price.cached
        + written * price.written
        + usage.completion_tokens * price.output
    )
    return total / 1_000_000
