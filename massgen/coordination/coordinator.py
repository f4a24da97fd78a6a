"""The coordinator: one run of a question under the configured strategy (docs/architecture.md,
"Strategies").

A :class:`Coordinator` holds the agents and the config; each :meth:`Coordinator.run` builds
the strategy's run (:data:`STRATEGIES`), which plays its turns through a turn runner and
publishes events. The coordinator never imports a UI.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from massgen.backends.retry import RetryPolicy
from massgen.config.schema import OrchestratorConfig
from massgen.coordination import budget, prompts
from massgen.coordination.controls import RunControls
from massgen.coordination.debate import DebateStrategy
from massgen.coordination.files import RunFiles, open_run_files, plan_files
from massgen.coordination.judge import JudgeStrategy
from massgen.coordination.state import AgentSpec
from massgen.coordination.strategy import Notices, RunResult, Strategy
from massgen.coordination.vote import VoteStrategy
from massgen.events import EventBus
from massgen.images import Image
from massgen.redaction import Redactor, backend_secrets, secrets_from_env
from massgen.terminal import clean_text
from massgen.tools.mcp import MCPHub

#: Strategy name (``orchestrator.strategy``) -> its run.
STRATEGIES: dict[str, type[Strategy]] = {
    "vote": VoteStrategy,
    "debate": DebateStrategy,
    "judge": JudgeStrategy,
}


class Coordinator:
    """Runs one coordination over ``agents``; reusable for follow-up questions."""

    def __init__(
        self,
        agents: Sequence[AgentSpec],
        config: OrchestratorConfig | None = None,
        bus: EventBus | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        workspace_root: Path | None = None,
    ) -> None:
        """``workspace_root``: where a run with files keeps its workspaces and snapshots (the
        session directory; a temporary one, removed after the run, by default)."""
        if not agents:
            raise ValueError("a coordination needs at least one agent")
        self.specs = list(agents)
        self.config = config or OrchestratorConfig()
        self.bus = bus or EventBus()
        self.retry_policy = retry_policy
        self.workspace_root = workspace_root
        self.files_plan = plan_files(self.config)  # checked now: a bad path is a config error
        budget.check_prices(self.specs, self.config)
        self._mcp: tuple[MCPHub, Notices] | None = None
        self.run_files: RunFiles | None = None  # the current run's, made in ``run``

    async def prepare(self) -> None:
        """Start the next run's MCP servers now, in the background, and check the tool
        names the config gives them: a name a server does not have is a
        :class:`ConfigurationError` before anything is recorded. ``run`` does this itself
        when it has not been done; only servers whose entries name tools are waited for."""
        if self._mcp is not None:
            return
        held: Notices = []  # notices, until the run can publish them
        hub = MCPHub(lambda agent_ids, text: held.append((agent_ids, text)))
        for index, spec in enumerate(self.specs):
            for number, server in enumerate(spec.mcp_servers):
                where = f"agents[{index}] ({spec.id}): mcp_servers[{number}] ({server.name})"
                hub.add(spec.id, server, where)
        hub.start()
        try:
            await hub.check_tool_names()
        except BaseException:
            await hub.close()
            raise
        self._mcp = (hub, held)

    async def take_mcp(self) -> tuple[MCPHub, Notices]:
        """The prepared MCP hub and its notices so far, for the run about to start."""
        await self.prepare()
        assert self._mcp is not None
        prepared, self._mcp = self._mcp, None
        return prepared

    # ------------------------------------------------------------------ public entry

    async def run(
        self,
        question: str,
        history: prompts.History = (),
        images: Sequence[Image] = (),
        controls: RunControls | None = None,
    ) -> RunResult:
        """Coordinate ``question`` (with earlier ``(question, final answer)`` turns as
        ``history``, and ``images`` attached to it) and return the result; ``controls``
        bring the user's notes and "answer now" to it. Never raises for agent failures or
        timeouts: they are reported in the result and as events."""
        history = tuple((clean_text(q), clean_text(a)) for q, a in history)
        if not self.bus.run_id:
            self.bus.run_id = uuid.uuid4().hex[:12]
        if self.bus.redact is None:
            backends = [spec.backend.config for spec in self.specs]
            keys = [spec.backend.api_key or "" for spec in self.specs]
            redactor = Redactor([*secrets_from_env(), *backend_secrets(backends), *keys])
            if redactor.secrets:
                self.bus.redact = redactor
        strategy = STRATEGIES.get(self.config.strategy, VoteStrategy)
        self.run_files = await open_run_files(self.files_plan, self.config, self.workspace_root)
        try:
            run = strategy(self, clean_text(question), history, tuple(images))
        except BaseException:
            if self.run_files is not None:
                self.run_files.close()
            raise
        return await run.execute(controls)
