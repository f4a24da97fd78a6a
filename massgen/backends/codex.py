"""``codex``: OpenAI's Codex CLI as an agent (``codex exec --json``, one process per call).

Each :meth:`CodexBackend.stream` call runs one Codex turn on the conversation so far:

* Codex runs with ``CODEX_HOME`` (and ``HOME``) set to a folder of the agent's own
  (:mod:`massgen.backends.codex_home`): its ``config.toml`` names massgen's model provider
  (the endpoint, and the variable holding the key), turns off its own shell and the rest of
  its tools, and connects it to massgen's MCP bridge. The user's ``~/.codex`` is never read
  nor written.
* massgen's tools reach it through that bridge (:mod:`massgen.backends.codex_bridge`, relayed
  by :mod:`massgen.backends.codex_relay`): the agent's own tools (the file tools and
  ``run_command`` in a run with files, MCP and custom tools) run through the engine under
  massgen's file rules and sandbox; a workflow action (``new_answer``, ``vote``) is kept, Codex
  is told to end its turn, and the call becomes a :class:`ToolCallChunk`.
* Its events (``--json``) become chunks: reasoning, text, its tool activity; the usage of
  ``turn.completed`` becomes the :class:`UsageChunk` (the engine prices it by model).
* Closing or cancelling the stream ends the CLI's whole process group (the CLI, its native
  binary and the bridge).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import weakref
from collections import deque
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.backends.base import Backend
from massgen.backends.claude_code import ErrorKind, render_prompt
from massgen.backends.codex_events import TurnEvents
from massgen.backends.codex_home import (
    KEY_VAR,
    HomeSettings,
    codex_problem,
    find_codex,
    write_config,
)
from massgen.backends.codex_relay import Relay
from massgen.backends.errors import BackendConnectionError, BackendError, ProviderError
from massgen.messages import Chunk, DoneChunk, Message, ToolCallChunk, ToolSpec
from massgen.providers import endpoint
from massgen.tools.lending import AgentTurn

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig

#: Seconds Codex has to end its turn after a workflow action (its usage comes at the end).
ACTION_GRACE = 20.0
#: Seconds Codex waits for a tool's answer beyond the engine's bound on that tool.
TOOL_GRACE = 30.0
#: Seconds between SIGTERM and SIGKILL when its process group is ended.
KILL_GRACE = 2.0
_STDERR_LINES = 20
_LINE_LIMIT = 64 * 1024 * 1024
#: The environment Codex is started with: nothing of massgen's but what it needs to run.
_PASSED = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
_PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")


class CodexBackend(Backend):
    """Codex, one ``codex exec`` process per call (see the module docstring)."""

    type = "codex"
    runs_own_loop = True

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        super().__init__(config, api_key)
        self.base_url, _ = endpoint(config)
        self._home: Path | None = None
        self._cleanup: weakref.finalize[Any, Any] | None = None
        self._one_at_a_time = asyncio.Lock()  # one home: a cancelled turn ends before the next

    def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        response_format: dict[str, Any] | None = None,
        turn: AgentTurn | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        return self._locked_turn(messages, list(tools or ()), turn)

    async def _locked_turn(
        self, messages: list[Message], tools: list[ToolSpec], turn: AgentTurn | None
    ) -> AsyncGenerator[Chunk, None]:
        turn_chunks = self._turn(messages, tools, turn)
        async with self._one_at_a_time, contextlib.aclosing(turn_chunks):
            async for chunk in turn_chunks:
                yield chunk  # closing this stream closes the turn's, which ends Codex

    # ------------------------------------------------------------------ the agent's home

    @property
    def home(self) -> Path:
        """The agent's own Codex home (made on first use, mode 0700; removed at close)."""
        if self._home is None:
            self._home = Path(tempfile.mkdtemp(prefix="massgen-codex-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._home, True)
        return self._home

    async def aclose(self) -> None:
        await super().aclose()
        if self._cleanup is not None:
            self._cleanup()
            self._home = self._cleanup = None

    def env(self) -> dict[str, str]:
        """Codex's whole environment: its home, the key under massgen's variable, no other."""
        env = {k: os.environ[k] for k in (*_PASSED, *_PROXIES) if k in os.environ}
        env.update(HOME=str(self.home), CODEX_HOME=str(self.home), NO_COLOR="1")
        env.setdefault("PATH", os.defpath)
        if self.api_key:
            env[KEY_VAR] = self.api_key
        return env

    def _cwd(self, turn: AgentTurn | None) -> Path:
        """The agent's workspace in a run with files; else ``cwd`` (default: where massgen runs)."""
        if turn is not None and turn.files is not None:
            return turn.files.policy().workspace
        folder = Path(os.path.expanduser(self.config.cwd or ".")).absolute()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"cwd {folder} cannot be made: {exc.strerror}"
            raise ProviderError(problem, provider=self.type, status=400) from None
        return folder

    # ------------------------------------------------------------------ one turn

    async def _turn(
        self, messages: list[Message], tools: list[ToolSpec], turn: AgentTurn | None
    ) -> AsyncGenerator[Chunk, None]:
        binary = find_codex()
        if binary is None:
            raise ProviderError(str(codex_problem()), provider=self.type, status=400)
        system, prompt = render_prompt(messages)
        cwd = self._cwd(turn)
        socket_path = self.home / "bridge.sock"
        write_config(
            self.home,
            HomeSettings(
                model=self.config.model or "",
                base_url=self.base_url,
                instructions=system,
                socket_path=socket_path,
                max_retries=self.config.max_retries,
                timeout=self.config.timeout,
                tool_timeout=self._tool_timeout(turn),
            ),
        )
        command = [binary, "exec", "--json", "--ephemeral", "--skip-git-repo-check"]
        command += ["--ignore-rules", "--color", "never", "-C", str(cwd), "-"]
        async with Relay(socket_path, tools, turn) as relay:
            try:
                process = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=self.env(),
                    cwd=str(cwd),
                    start_new_session=True,  # its own process group: ended as one
                    limit=_LINE_LIMIT,
                )
            except OSError as exc:
                raise self._error(ProviderError, f"Codex CLI cannot start: {exc}") from None
            stderr: deque[str] = deque(maxlen=_STDERR_LINES)
            watchers = [
                asyncio.create_task(_read_stderr(process, stderr, self.scrub)),
                asyncio.create_task(_end_after_action(process, relay)),
            ]
            try:
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write(prompt.encode("utf-8", "replace"))
                with contextlib.suppress(OSError):
                    await process.stdin.drain()
                process.stdin.close()
                events = TurnEvents()
                async for line in process.stdout:
                    for chunk in events.chunks(line, acted=relay.action is not None):
                        yield chunk
                    if events.ended:
                        break
                    if events.reconnects > self.config.max_retries:
                        detail = events.last_error.removeprefix("Reconnecting... ")
                        failed = f"connection to {self.base_url} failed: {detail}"
                        raise self._error(BackendConnectionError, failed)
                code = process.returncode if events.ended else await process.wait()
                if events.error is not None and relay.action is None:
                    raise self._error(*events.error)
                if relay.action is None and not events.ended:
                    said = f": {' | '.join(stderr)}" if stderr else ""
                    ended = f"Codex CLI ended unexpectedly (exit code {code}){said}"
                    raise self._error(ProviderError, ended)
                if relay.action is not None:
                    yield ToolCallChunk(relay.action)
                yield events.usage()
                yield DoneChunk("tool_calls" if relay.action else "stop")
            finally:
                for watcher in watchers:
                    watcher.cancel()
                await end_process_group(process)

    def _tool_timeout(self, turn: AgentTurn | None) -> float:
        """How long Codex waits for one of massgen's tools: past the engine's own bound on
        the turn's longest tool (a video's generation), so the engine's answer, an error
        included, is what reaches the model; at least ten minutes."""
        longest = turn.tool_timeout_s if turn is not None and turn.tool_timeout_s else 0.0
        return max(self.config.timeout, 600.0, longest + TOOL_GRACE)

    def _error(self, kind: ErrorKind, message: str) -> BackendError:
        error = kind(self.scrub(" ".join(message.split())), provider=self.type)
        error.retryable = False  # the CLI has retried already (max_retries)
        return error


async def _read_stderr(process: asyncio.subprocess.Process, lines: deque[str], scrub: Any) -> None:
    assert process.stderr is not None
    async for line in process.stderr:
        text = line.decode("utf-8", "replace").strip()
        if text and not text.startswith("WARNING: proceeding"):
            lines.append(scrub(text))


async def _end_after_action(process: asyncio.subprocess.Process, relay: Relay) -> None:
    """After a workflow action Codex may end its turn (and report its usage) for a while."""
    await relay.acted.wait()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(process.wait(), ACTION_GRACE)
        return
    await end_process_group(process)


def _signal_group(process: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the group outlives its leader: signal it always


async def end_process_group(process: asyncio.subprocess.Process) -> None:
    """End Codex and everything it started (its native binary, the MCP bridge): SIGTERM,
    then after :data:`KILL_GRACE` SIGKILL to whatever of the group is left."""
    _signal_group(process, signal.SIGTERM)
    if process.returncode is None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), KILL_GRACE)
    _signal_group(process, signal.SIGKILL)
    if process.returncode is None:
        await asyncio.shield(process.wait())
