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
from collections.abc import Iterable
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


# ------------------------------------------------------------------ generated media
#
# What a generated image, stretch of speech or video costs, as the providers published it in
# November 2026. Where a response reports tokens (gpt-image-1, Gemini) the tokens are priced;
# otherwise the item is priced by its size and quality, speech by its characters or seconds,
# video by its seconds. A model not listed here costs ``None`` ("cost unknown"), never a guess.

#: Image models priced by tokens: (text input, image input, image output) USD per 1M tokens.
IMAGE_TOKEN_PRICES: dict[str, tuple[float, float, float]] = {
    "gpt-image-1": (5.00, 10.00, 40.00),
    "gpt-image-1-mini": (2.00, 2.50, 8.00),
    # Gemini reports one output count; images are 1,290 tokens each ($0.039 an image)
    "gemini-2.5-flash-image": (0.30, 0.30, 30.00),
}
#: Image models priced per image when no tokens are reported: (model, quality, size) -> USD.
IMAGE_ITEM_PRICES: dict[tuple[str, str, str], float] = {
    ("gpt-image-1", "low", "1024x1024"): 0.011,
    ("gpt-image-1", "medium", "1024x1024"): 0.042,
    ("gpt-image-1", "high", "1024x1024"): 0.167,
    ("gpt-image-1", "low", "1536x1024"): 0.016,
    ("gpt-image-1", "medium", "1536x1024"): 0.063,
    ("gpt-image-1", "high", "1536x1024"): 0.25,
    ("dall-e-3", "standard", "1024x1024"): 0.04,
    ("dall-e-3", "standard", "1792x1024"): 0.08,
    ("dall-e-3", "hd", "1024x1024"): 0.08,
    ("dall-e-3", "hd", "1792x1024"): 0.12,
    ("dall-e-2", "standard", "256x256"): 0.016,
    ("dall-e-2", "standard", "512x512"): 0.018,
    ("dall-e-2", "standard", "1024x1024"): 0.02,
    ("gemini-2.5-flash-image", "auto", "auto"): 0.039,
}
#: Speech priced by the characters read: USD per 1M characters.
SPEECH_CHAR_PRICES: dict[str, float] = {"tts-1": 15.00, "tts-1-hd": 30.00}
#: Speech priced by the audio made (OpenAI's own estimate for its token-priced TTS): USD/minute.
SPEECH_MINUTE_PRICES: dict[str, float] = {"gpt-4o-mini-tts": 0.015}
#: Video: USD per second of video, by model and size.
VIDEO_SECOND_PRICES: dict[tuple[str, str], float] = {
    ("sora-2", "720x1280"): 0.10,
    ("sora-2", "1280x720"): 0.10,
    ("sora-2-pro", "720x1280"): 0.30,
    ("sora-2-pro", "1280x720"): 0.30,
    ("sora-2-pro", "1024x1792"): 0.50,
    ("sora-2-pro", "1792x1024"): 0.50,
}


def _base(model: str, names: Iterable[str]) -> str | None:
    """The name among ``names`` that ``model`` is (dated names match their base)."""
    name = model.lower().rsplit("/", 1)[-1]
    names = set(names)
    if name in names:
        return name
    for base in sorted(names, key=len, reverse=True):
        if name.startswith(base) and _SUFFIX.fullmatch(name[len(base) :]):
            return base
    return None


def image_cost(
    model: str,
    *,
    count: int = 1,
    quality: str = "auto",
    size: str = "auto",
    text_tokens: int | None = None,
    image_in_tokens: int = 0,
    image_out_tokens: int | None = None,
) -> float | None:
    """What ``count`` generated images cost: by their reported tokens, else per image (an
    ``auto`` size or quality is priced as 1024x1024 at medium)."""
    name = _base(model, IMAGE_TOKEN_PRICES)
    if name is not None and image_out_tokens is not None:
        text, image_in, image_out = IMAGE_TOKEN_PRICES[name]
        total = (text_tokens or 0) * text + image_in_tokens * image_in
        return (total + image_out_tokens * image_out) / 1_000_000
    name = _base(model, {key[0] for key in IMAGE_ITEM_PRICES})
    if name is None:
        return None
    size = "1536x1024" if size == "1024x1536" else "1792x1024" if size == "1024x1792" else size
    default_quality = "standard" if name.startswith("dall-e") else "medium"
    tier = default_quality if quality == "auto" else quality
    tier = "standard" if name.startswith("dall-e") and tier in ("low", "medium") else tier
    for key in ((name, tier, size), (name, tier, "1024x1024"), (name, "auto", "auto")):
        if key in IMAGE_ITEM_PRICES:
            return IMAGE_ITEM_PRICES[key] * count
    return None


#: Characters read per second, to estimate the length of speech whose format does not say it
#: (mp3, opus, ...): about 150 words a minute.
SPEECH_CHARS_PER_SECOND = 15.0


def speech_cost(model: str, *, chars: int, seconds: float | None) -> float | None:
    """What speech costs: by its characters (tts-1), else by its length (from the audio when
    it says, a WAV; else estimated from the characters)."""
    name = _base(model, SPEECH_CHAR_PRICES)
    if name is not None:
        return chars * SPEECH_CHAR_PRICES[name] / 1_000_000
    name = _base(model, SPEECH_MINUTE_PRICES)
    if name is None:
        return None
    if seconds is None:
        seconds = chars / SPEECH_CHARS_PER_SECOND
    return SPEECH_MINUTE_PRICES[name] * seconds / 60


def video_cost(model: str, *, seconds: float, size: str) -> float | None:
    """What a video of ``seconds`` at ``size`` costs, or None when unknown."""
    name = _base(model, {key[0] for key in VIDEO_SECOND_PRICES})
    price = VIDEO_SECOND_PRICES.get((name, size)) if name else None
    return None if price is None else price * seconds
