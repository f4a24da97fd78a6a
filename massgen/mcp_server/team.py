"""The server's team and what one ``ask_team`` call may change of it.

The server resolves its own config once at start-up as the CLI does (``--config``, else the
default team), so a bad config stops it before it serves. A call may pick another config
by name (a built-in example or a saved config, as ``list_configs`` shows them: never a file
path), a strategy, and a narrower set of files; budgets, sandbox and commands are the
config's, as in the CLI, and the files are always the server's grants (:mod:`.grants`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from massgen.config.schema import ContextPathConfig
from massgen.errors import ConfigurationError
from massgen.mcp_server.grants import narrow, server_grants
from massgen.mcp_server.options import McpOptions

if TYPE_CHECKING:
    from massgen.runs import Prepared
    from massgen.sessions.recorder import SessionRecorder

#: The name a call gives (or leaves out) for the server's own team.
DEFAULT_NAME = "default"


@dataclass
class Team:
    """The server's team: where it comes from (``source``) and the files it grants."""

    options: McpOptions
    source: str
    grants: list[ContextPathConfig]
    slots: asyncio.Semaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.options.max_concurrency)

    @contextlib.asynccontextmanager
    async def slot(self, waiting: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
        """One of the server's ``max_concurrency`` runs: while all are taken the call waits
        its turn (``waiting()`` told first), and a call cancelled while waiting takes none."""
        if self.slots.locked():
            await waiting()
        async with self.slots:
            yield

    @classmethod
    def load(cls, options: McpOptions) -> Team:
        """Resolve the server's config and grants now (raises :class:`ConfigurationError`)."""
        from massgen.api import prepare

        prepared = prepare(options.config, enable_filesystem=None)
        return cls(options, prepared.source, server_grants(prepared.config, options.context_paths))

    def configs(self) -> list[dict[str, Any]]:
        """The configs a call may name: the server's own first, then the saved and the
        built-in ones."""
        from massgen.config.resolve import list_examples, list_user_configs

        own = f"this server's team ({self.source})"
        entries: list[dict[str, Any]] = [
            {"name": DEFAULT_NAME, "kind": "server", "description": own}
        ]
        entries += [
            {"name": c.name, "kind": "saved", "description": c.description}
            for c in list_user_configs()
        ]
        entries += [
            {"name": c.name, "kind": "built-in", "description": c.description}
            for c in list_examples()
        ]
        return entries

    def prepare(
        self, config: str | None, strategy: str | None, context_paths: Sequence[str] | None
    ) -> Prepared:
        """What one call runs: the chosen config with ``strategy`` and the server's
        timeout applied, and the server's grants narrowed to ``context_paths``."""
        from massgen.api import prepare

        grants = narrow(self.grants, context_paths)
        overrides: dict[str, Any] = {}
        if strategy:
            overrides["strategy"] = strategy
        if self.options.timeout is not None:
            overrides["timeout_seconds"] = self.options.timeout
        prepared = prepare(self.config_for(config), enable_filesystem=None, **overrides)
        prepared.config.orchestrator.context_paths = grants
        return prepared

    def config_for(self, name: str | None) -> str | None:
        """The config a call's ``config`` names: the server's own, a saved config or a
        built-in example (a file path is refused: the server chooses which files it reads)."""
        from massgen.config.resolve import find_example, list_user_configs

        if name is None or not name.strip() or name in (DEFAULT_NAME, self.options.config):
            return self.options.config
        for saved in list_user_configs():
            if saved.name == name:
                return str(saved.path)
        try:
            return str(find_example(name))
        except ConfigurationError as exc:
            reason = str(exc).split("; run 'massgen", 1)[0]
            raise ConfigurationError(f"{reason}; list_configs() names the configs") from None

    def recorder(self, prepared: Prepared) -> SessionRecorder | None:
        """The session recorder of a run (None with ``--no-log`` or a config without logs)."""
        if self.options.no_log or not prepared.config.ui.logging_enabled:
            return None
        from massgen.sessions.recorder import SessionRecorder

        return SessionRecorder(prepared.config, prepared.source, log_dir=self.options.log_dir)
