"""The process a custom tool's sync function runs in (started by :mod:`massgen.tools.workers`).

Run as a script (``python -P sync_worker.py``), it imports nothing of massgen's: the parent
sends its ``sys.path`` and where the tools come from (a file or a module), then one call at a
time, and gets back the function's return value or the exception it raised. Frames are a
4-byte length and a pickle, over stdin and the process's original stdout; whatever the
function prints goes to stderr, so it cannot garble the replies. On Linux the process dies
with its parent (``PR_SET_PDEATHSIG``), so not even a killed massgen leaves one behind.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import signal
import struct
import sys
from typing import IO, Any

HEADER = struct.Struct("!I")


def pack(value: Any) -> bytes:
    """One frame: the pickled value, after its length."""
    data = pickle.dumps(value)
    return HEADER.pack(len(data)) + data


def _read_frame(stream: IO[bytes]) -> bytes:
    """The next frame's pickle; EOFError when the parent has closed the pipe."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError
    (size,) = HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def _failure(exc: BaseException) -> tuple[str, str, str]:
    return ("raised", type(exc).__name__, " ".join(str(exc).split()))


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            sys.exit(1)


def _load(source: dict[str, Any]) -> Any:
    """The tools' module, under the name the parent gave it (so pickled values that name
    its classes unpickle here)."""
    sys.path[:] = source["sys_path"]
    if source.get("module"):
        return importlib.import_module(source["module"])
    name = source["name"]
    spec = importlib.util.spec_from_file_location(name, source["path"])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source['path']} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _reply(value: Any) -> tuple[str, Any]:
    """``("ok", value)``, or the value as text when it cannot be pickled."""
    try:
        pickle.dumps(value)
    except Exception:
        return ("ok", str(value))
    return ("ok", value)


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Answer calls until the parent closes stdin."""
    try:
        source = pickle.loads(_read_frame(requests))
    except EOFError:
        return
    module: Any = None
    try:
        module = _load(source)
    except BaseException as exc:  # every call then says why the tools cannot be loaded
        loading = _failure(exc)
    while True:
        try:
            request = _read_frame(requests)
        except EOFError:
            return
        if module is None:
            reply: tuple[Any, ...] = loading
        else:
            try:
                function, kwargs = pickle.loads(request)
                reply = _reply(getattr(module, function)(**kwargs))
            except BaseException as exc:  # the function's failure is the model's information
                reply = _failure(exc)
        replies.write(pack(reply))
        replies.flush()


def main() -> None:
    _die_with_parent(int(sys.argv[1]))
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the function's prints go to stderr, never into a reply
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
