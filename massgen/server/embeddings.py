"""``POST /v1/embeddings``: vectors from the embedding models the operator names with
``massgen serve --embeddings`` (docs/architecture.md, "The server").

A model is ``PROVIDER/MODEL`` for any OpenAI-compatible provider massgen knows (``openai``,
``vllm``, ``ollama``, ...: its endpoint and key come from the operator's environment, as an
agent's do), or ``local``: the embedded model in llama.cpp's embedding mode, so embeddings
work offline. A request names a model by its name (``text-embedding-3-small``) or in full
(``openai/text-embedding-3-small``); nothing a request says reaches another endpoint.
Vectors are L2-normalised, as OpenAI's are; ``encoding_format: base64`` packs them as
little-endian float32.
"""

from __future__ import annotations

import asyncio
import base64
import difflib
import math
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from massgen.backends.http_errors import message_and_code
from massgen.server.http import BadRequest, refuse_surrogates

LOCAL = "local"
#: Inputs of one request at most (OpenAI's limit), and characters of one input.
MAX_INPUTS = 2048
MAX_INPUT_CHARS = 32_000
FIELDS = ("model", "input", "encoding_format", "dimensions", "user")
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def _bad(field_name: str, message: str, code: str = "invalid_value") -> BadRequest:
    return BadRequest(400, f"{field_name}: {message}", code=code, param=field_name)


@dataclass(frozen=True)
class EmbeddingModel:
    """One model the server embeds with: ``provider/model``, or the embedded ``local``."""

    provider: str
    model: str
    base_url: str = ""
    api_key: str | None = field(default=None, repr=False)

    @property
    def full_name(self) -> str:
        return LOCAL if self.provider == LOCAL else f"{self.provider}/{self.model}"


def parse_model(spec: str) -> EmbeddingModel:
    """``--embeddings``'s value as a model, its endpoint and key from the environment;
    ``ValueError`` with one line for a value that names none."""
    from massgen.local_model import DEFAULT_MODEL_NAME, INSTALL_HINT, local_backend_available
    from massgen.providers import PRESETS, PROVIDERS, endpoint

    spec = spec.strip()
    if spec == LOCAL:
        if not local_backend_available():
            raise ValueError(
                f"--embeddings local: the embedded model is not installed; {INSTALL_HINT}"
            )
        return EmbeddingModel(LOCAL, DEFAULT_MODEL_NAME)
    provider, _, model = spec.partition("/")
    speaks_openai = {"openai", *PRESETS}  # the OpenAI embeddings API, at their endpoints
    if not model or provider not in speaks_openai:
        known = ", ".join(sorted(speaks_openai))
        raise ValueError(
            f"--embeddings {spec!r}: give PROVIDER/MODEL (a provider of {known}) or 'local'"
        )
    preset = PROVIDERS[provider]
    from massgen.config.schema import BackendConfig

    base_url, _ = endpoint(BackendConfig(type=provider, model=model))
    key = next((k for k in (_env(v) for v in preset.key_vars) if k), None)
    if preset.needs_key and not key:
        raise ValueError(f"--embeddings {spec}: set {preset.key_vars[0]} for {preset.title}")
    return EmbeddingModel(provider, model, base_url.rstrip("/"), key)


def _env(name: str) -> str | None:
    import os

    return os.environ.get(name, "").strip() or None


@dataclass(frozen=True)
class EmbeddingRequest:
    """A checked request: which model, the texts, and how to encode the vectors."""

    model: EmbeddingModel
    texts: list[str]
    encoding: str
    dimensions: int | None
    user: str | None


def upstream(status: int, message: str) -> BadRequest:
    """The error of a provider that failed the request (502; 429 passed on)."""
    return BadRequest(status, message, "api_error", "provider_error")


def normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


class Embeddings:
    """The operator's embedding models, and the calls to them."""

    def __init__(self, models: list[EmbeddingModel]) -> None:
        self.models = models
        self._client: httpx.AsyncClient | None = None
        self._local: Any = None
        self._local_lock = threading.Lock()

    def choose(self, body: dict[str, Any]) -> EmbeddingRequest:
        """The request checked (a :class:`BadRequest` for the first problem)."""
        for key in body:
            if key not in FIELDS:
                close = difflib.get_close_matches(str(key), FIELDS, n=1, cutoff=0.75)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise _bad(
                    str(key),
                    f"not a field POST /v1/embeddings takes; {hint}it takes: {', '.join(FIELDS)}",
                    "unknown_field",
                )
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise _bad("model", f"required: one of {self.names()}")
        model = next((m for m in self.models if name in (m.model, m.full_name)), None)
        if model is None:
            served = f"this server embeds with {self.names()}"
            raise _bad("model", f"{name!r} is not served here; {served}", "model_not_found")
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise _bad(
                "input", "a string or a non-empty list of strings (token arrays are not taken)"
            )
        if len(texts) > MAX_INPUTS:
            raise _bad("input", f"at most {MAX_INPUTS} inputs in one request")
        for i, text in enumerate(texts):
            if not text:
                raise _bad("input", f"input {i} is empty")
            if len(text) > MAX_INPUT_CHARS:
                raise _bad("input", f"input {i} is over {MAX_INPUT_CHARS} characters")
            refuse_surrogates(text, "input")
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise _bad("encoding_format", "float or base64")
        dimensions = body.get("dimensions")
        if dimensions is not None:
            if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
                raise _bad("dimensions", "a whole number of at least 1")
            if model.provider == LOCAL:
                raise _bad("dimensions", "the embedded model has one size; leave it out")
        user = body.get("user")
        if user is not None and not isinstance(user, str):
            raise _bad("user", "must be a string")
        refuse_surrogates(user, "user")  # sent on to the provider as given
        return EmbeddingRequest(model, texts, encoding, dimensions, user)

    def names(self) -> str:
        return ", ".join(m.full_name for m in self.models)

    async def create(self, request: EmbeddingRequest) -> dict[str, Any]:
        """The OpenAI-shaped answer: ``{object: list, data: [...], model, usage}``."""
        if request.model.provider == LOCAL:
            vectors, tokens = await asyncio.to_thread(self._embed_locally, request.texts)
        else:
            vectors, tokens = await self._embed_remotely(request)
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": encode(v, request.encoding)}
                for i, v in enumerate(vectors)
            ],
            "model": request.model.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def _embed_remotely(self, request: EmbeddingRequest) -> tuple[list[list[float]], int]:
        model = request.model
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT)
        payload: dict[str, Any] = {"model": model.model, "input": request.texts}
        if request.dimensions is not None:
            payload["dimensions"] = request.dimensions
        if request.user is not None:
            payload["user"] = request.user
        headers = {"Authorization": f"Bearer {model.api_key}"} if model.api_key else {}
        where = f"{model.full_name} at {model.base_url}"
        try:
            response = await self._client.post(
                f"{model.base_url}/embeddings", json=payload, headers=headers
            )
        except httpx.HTTPError as exc:
            raise upstream(502, f"{where}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            message, _ = message_and_code(response.content, response.reason_phrase)
            status = 429 if response.status_code == 429 else 502
            raise upstream(status, f"{where} answered {response.status_code}: {message}")
        try:
            data = response.json()
            rows = sorted(data["data"], key=lambda row: row["index"])
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
            tokens = int((data.get("usage") or {}).get("prompt_tokens") or 0)
        except (ValueError, KeyError, TypeError) as exc:
            raise upstream(502, f"{where} sent an answer that is not an embeddings list") from exc
        if len(vectors) != len(request.texts):
            count = f"{len(vectors)} vectors for {len(request.texts)} inputs"
            raise upstream(502, f"{where} sent {count}")
        return vectors, tokens

    def _embed_locally(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """The embedded model in llama.cpp's embedding mode (mean pooling), loaded once."""
        with self._local_lock:
            if self._local is None:
                self._local = load_local_embedder()
            result = self._local.create_embedding(texts)
        vectors = [normalise([float(x) for x in row["embedding"]]) for row in result["data"]]
        return vectors, int(result["usage"]["prompt_tokens"])

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._local is not None:
            self._local.close()
            self._local = None


def load_local_embedder() -> Any:
    """The embedded model loaded for embeddings (AMX guarded as the local backend's)."""
    from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama

    from massgen.backends.local import loading_guard
    from massgen.local_model import default_model_path

    path = default_model_path()
    if path is None:  # checked at start-up; the package went away since
        raise BadRequest(503, "the embedded model is not installed", "api_error", "unavailable")
    with loading_guard():
        return Llama(
            model_path=str(path),
            embedding=True,
            pooling_type=LLAMA_POOLING_TYPE_MEAN,
            n_ctx=2048,
            verbose=False,
        )
