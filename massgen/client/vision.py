"""``client.vision``: ``analyze`` (a chat completion about images) and ``ocr``, the team's
reading of an image's text with a confidence from the agents' agreement
(``POST /v1/vision/ocr``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from massgen.client.async_resources import AsyncVision as AsyncAnalyze
from massgen.client.resources import Vision as Analyze
from massgen.client.transport import Call
from massgen.client.types import Shape, Usage

if TYPE_CHECKING:
    from collections.abc import Sequence


class OCRReading(Shape):
    """One agent's reading: ``text`` and its ``agreement`` with the others, or ``error``."""

    agent: str
    model: str = ""
    text: str | None = None
    agreement: float | None = None
    error: str | None = None
    usage: Usage | None = None


class OCRResult(Shape):
    """The reading the team agrees with most (``text``) and ``confidence`` in [0, 1]: its mean
    word-level similarity to the other agents' readings (0 when only one agent read it)."""

    object: str = "vision.ocr"
    text: str
    confidence: float
    output_format: str = "text"
    languages: list[str] = Field(default_factory=list)
    #: The agent whose reading ``text`` is.
    agent: str = ""
    readings: list[OCRReading] = Field(default_factory=list)
    usage: Usage | None = None


def ocr_call(
    image_url: str,
    languages: Sequence[str] | None,
    output_format: str | None,
    model: str | None,
) -> Call:
    body: dict[str, Any] = {"image_url": image_url}
    if languages is not None:
        body["languages"] = list(languages)
    if output_format is not None:
        body["output_format"] = output_format
    if model is not None:
        body["model"] = model
    return Call("vision.ocr", "POST", "/v1/vision/ocr", json=body)


class Vision(Analyze):
    def ocr(
        self,
        image_url: str,
        languages: Sequence[str] | None = None,
        output_format: str | None = None,
        *,
        model: str | None = None,
    ) -> OCRResult:
        """The text of the image at ``image_url`` (an http(s) URL the providers fetch, or a
        ``data:`` URL), read by every agent of the team that can see images and compared.
        ``languages``: language tags the text is expected in (a hint); ``output_format``:
        ``text`` (default), ``markdown`` or ``json`` (``{"lines": [...]}`` as text)."""
        call = ocr_call(image_url, languages, output_format, model)
        return self.client.fetch(call, OCRResult)


class AsyncVision(AsyncAnalyze):
    async def ocr(
        self,
        image_url: str,
        languages: Sequence[str] | None = None,
        output_format: str | None = None,
        *,
        model: str | None = None,
    ) -> OCRResult:
        """:meth:`Vision.ocr`, awaited."""
        call = ocr_call(image_url, languages, output_format, model)
        return await self.client.fetch(call, OCRResult)
