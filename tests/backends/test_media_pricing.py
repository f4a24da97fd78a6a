"""What generated media cost, as massgen documents it (massgen/backends/pricing.py)."""

from __future__ import annotations

import pytest

from massgen.backends.pricing import image_cost, speech_cost, video_cost


def test_images_are_priced_by_their_reported_tokens_else_per_image():
    # gpt-image-1: $5/M text in, $10/M image in, $40/M image out
    assert image_cost(
        "gpt-image-1", text_tokens=100, image_in_tokens=323, image_out_tokens=1056
    ) == (pytest.approx((100 * 5 + 323 * 10 + 1056 * 40) / 1e6))
    assert image_cost("gpt-image-1", quality="high", size="1024x1536") == 0.25
    assert image_cost("gpt-image-1-2025-04-15", quality="low", size="1024x1024") == 0.011
    assert image_cost("dall-e-3", quality="hd", size="1024x1792") == 0.12
    assert image_cost("dall-e-2", size="512x512") == 0.018
    assert image_cost("an-unknown-model") is None  # never a guess


def test_speech_by_characters_or_seconds_and_video_by_seconds():
    assert speech_cost("tts-1", chars=1000, seconds=None) == pytest.approx(0.015)
    assert speech_cost("gpt-4o-mini-tts", chars=10, seconds=60) == pytest.approx(0.015)
    assert speech_cost("gpt-4o-mini-tts", chars=900, seconds=None) == pytest.approx(0.015)  # ~60 s
    assert video_cost("sora-2", seconds=8, size="1280x720") == pytest.approx(0.8)
    assert video_cost("sora-2-pro", seconds=12, size="1792x1024") == pytest.approx(6.0)
    assert video_cost("sora-2", seconds=4, size="1792x1024") is None  # not a sora-2 size
