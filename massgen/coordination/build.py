"""Turn a validated config into agents and a coordinator."""

from __future__ import annotations

from massgen.backends.registry import create_backend
from massgen.config.schema import MassGenConfig
from massgen.coordination.engine import Coordinator
from massgen.coordination.state import AgentSpec
from massgen.events import EventBus


def build_agents(config: MassGenConfig) -> list[AgentSpec]:
    """One :class:`AgentSpec` per configured agent. Raises ``ConfigurationError`` (e.g. a
    missing API key, naming the variable to set) before any model is called."""
    agents = []
    for index, agent in enumerate(config.agents):
        where = f"agents[{index}] ({agent.id})"
        backend = create_backend(agent.backend, where)
        agents.append(
            AgentSpec(
                id=agent.id or f"agent{index + 1}",
                backend=backend,
                system_message=agent.system_message,
                max_cost_usd=agent.max_cost_usd,
                max_total_tokens=agent.max_total_tokens,
            )
        )
    return agents


def build_coordinator(config: MassGenConfig, bus: EventBus | None = None) -> Coordinator:
    return Coordinator(build_agents(config), config.orchestrator, bus)
