"""Turn a validated config into agents and a coordinator."""

from __future__ import annotations

from collections.abc import Sequence

from massgen.backends.registry import create_backend
from massgen.config.schema import MassGenConfig
from massgen.config.understanding import effective
from massgen.coordination.coordinator import Coordinator
from massgen.coordination.state import AgentSpec
from massgen.events import EventBus
from massgen.tools.base import Tool


def build_agents(config: MassGenConfig, extra_tools: Sequence[Tool] = ()) -> list[AgentSpec]:
    """One :class:`AgentSpec` per configured agent, with its own tools (its custom tools,
    then ``extra_tools`` given to every agent, e.g. ``massgen.run(tools=[...])``). Raises
    ``ConfigurationError`` (a missing API key naming the variable to set, a custom tool
    that cannot be loaded) before any model is called."""
    from massgen.config.generation import ImageGenConfig, merged
    from massgen.tools.custom import load_custom_tools

    agents = []
    for index, agent in enumerate(config.agents):
        where = f"agents[{index}] ({agent.id})"
        tools = load_custom_tools(agent.backend.custom_tools, f"agents[{index}].backend")
        backend = create_backend(agent.backend, where)
        understanding = effective(agent.understanding, config.orchestrator.understanding)
        if understanding is not None:
            from massgen.coordination.media import check_understanding

            check_understanding(understanding, f"agents[{index}]")
        kinds = merged(agent.generation, config.orchestrator.generation)
        generation = {}
        if kinds:
            from massgen.coordination.generation import image_tool_of, makers_for

            image = kinds.get("image")
            if (
                isinstance(image, ImageGenConfig)
                and image.responses_tool
                and hasattr(backend, "image_tool")
            ):  # the Responses API makes images itself, inside the model's reply
                backend.image_tool = image_tool_of(image)
                kinds.pop("image")
            generation = makers_for(kinds, where)
        agents.append(
            AgentSpec(
                id=agent.id or f"agent{index + 1}",
                backend=backend,
                system_message=agent.system_message,
                tools=[*tools, *extra_tools],
                mcp_servers=list(agent.backend.mcp_servers),
                max_cost_usd=agent.max_cost_usd,
                max_total_tokens=agent.max_total_tokens,
                understanding=understanding,
                generation=generation,
            )
        )
    return agents


def build_coordinator(config: MassGenConfig, bus: EventBus | None = None) -> Coordinator:
    return Coordinator(build_agents(config), config.orchestrator, bus)
