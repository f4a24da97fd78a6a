"""Start llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``),
a real peer for the ``chatcompletion`` backend, with the shipped SmolLM2 file.

The only difference from running ``python -m llama_cpp.server`` is massgen's guard against
CPUs that advertise Intel AMX without enabling it (some VMs), where llama.cpp built with
``-march=native`` dies with SIGILL in its first matrix multiply::

    python -m tests.fakes.llama_server --model PATH --chat_format chatml-function-calling \\
        --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

from massgen.backends.local import avoid_unusable_amx

if __name__ == "__main__":
    avoid_unusable_amx()
    from llama_cpp.server.__main__ import main

    main()
