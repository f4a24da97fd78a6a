"""Gemini's image generation: ``generateContent`` with image output, through the same
``google-genai`` client the gemini backend uses; the image comes back as ``inline_data``.

Importing this module imports ``google.genai`` (slow): it is imported when an agent that
generates images with Gemini is built.
"""

from __future__ import annotations

from google.genai import types

from massgen.backends import pricing
from massgen.backends.errors import ProviderError
from massgen.backends.gemini import GeminiBackend
from massgen.backends.media_openai import Media
from massgen.config.schema import BackendConfig
from massgen.tools.media.generate import ImageRequest

#: The aspect ratio Gemini is asked for, for each size the tool takes.
ASPECT = {"1024x1024": "1:1", "1536x1024": "3:2", "1024x1536": "2:3"}


class GeminiMedia:
    """Images from a Gemini image model at ``base_url`` (default Google's), with ``api_key``."""

    provider = "gemini"

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float, model: str):
        config = BackendConfig(type="gemini", model=model, base_url=base_url, timeout=timeout)
        self.backend = GeminiBackend(config, api_key)

    async def image(self, model: str, request: ImageRequest) -> Media:
        """One image of ``request`` (its ``sources`` given with it: an edit). Gemini makes
        PNG; the size becomes an aspect ratio, the quality does not apply."""
        parts = [
            types.Part.from_bytes(data=data, mime_type=mime) for _, data, mime in request.sources
        ]
        parts.append(types.Part.from_text(text=request.prompt))
        aspect = ASPECT.get(request.size)
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=aspect) if aspect else None,
        )
        response = await self.backend.generate_once(
            [types.Content(role="user", parts=parts)], config
        )
        image, said = None, []
        for candidate in response.candidates or ():
            for part in (candidate.content.parts if candidate.content else None) or ():
                if part.inline_data is not None and part.inline_data.data and image is None:
                    image = part.inline_data
                elif part.text:
                    said.append(part.text)
        if image is None or image.data is None:
            why = " ".join(said)[:300] or "no image in the reply"
            raise ProviderError(f"Gemini made no image: {why}", provider=self.provider)
        usage = response.usage_metadata
        prompt_tokens = (usage.prompt_token_count or 0) if usage else 0
        out_tokens = (usage.candidates_token_count or 0) if usage else 0
        cost = pricing.image_cost(
            model,
            text_tokens=prompt_tokens,
            image_out_tokens=out_tokens if usage else None,
        )
        detail = {"text": " ".join(said)[:500]} if said else {}
        mime = image.mime_type or "image/png"
        return Media(image.data, mime, cost, prompt_tokens, out_tokens, detail)

    async def aclose(self) -> None:
        await self.backend.aclose()
