"""``client.embeddings``: vectors from the embedding models of the server's operator
(``POST /v1/embeddings``; ``massgen serve --embeddings``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from massgen.client.transport import Call
from massgen.client.types import Shape, Usage

if TYPE_CHECKING:
    from massgen.client.async_client import AsyncClient
    from massgen.client.client import Client


class Embedding(Shape):
    object: str = "embedding"
    index: int
    #: The vector; a base64 string of little-endian float32 with ``encoding_format="base64"``.
    embedding: list[float] | str


class EmbeddingList(Shape):
    object: str = "list"
    data: list[Embedding] = Field(default_factory=list)
    model: str = ""
    usage: Usage | None = None


def embeddings_call(
    model: str,
    input: str | list[str],
    encoding_format: str | None,
    dimensions: int | None,
    user: str | None,
) -> Call:
    body: dict[str, Any] = {"model": model, "input": input}
    optional = {"encoding_format": encoding_format, "dimensions": dimensions, "user": user}
    body.update({k: v for k, v in optional.items() if v is not None})
    return Call("embeddings.create", "POST", "/v1/embeddings", json=body)


class Embeddings:
    def __init__(self, client: Client) -> None:
        self.client = client

    def create(
        self,
        *,
        model: str,
        input: str | list[str],
        encoding_format: str | None = None,
        dimensions: int | None = None,
        user: str | None = None,
    ) -> EmbeddingList:
        """One vector per input, in order (unit length, as OpenAI's)."""
        call = embeddings_call(model, input, encoding_format, dimensions, user)
        return self.client.fetch(call, EmbeddingList)


class AsyncEmbeddings:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def create(
        self,
        *,
        model: str,
        input: str | list[str],
        encoding_format: str | None = None,
        dimensions: int | None = None,
        user: str | None = None,
    ) -> EmbeddingList:
        """One vector per input, in order (unit length, as OpenAI's)."""
        call = embeddings_call(model, input, encoding_format, dimensions, user)
        return await self.client.fetch(call, EmbeddingList)
