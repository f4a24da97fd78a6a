"""The keys that open a closer look at the run: ``v`` the votes (or what a strategy without
votes did), ``x`` the selected agent's tool calls. Part of :class:`massgen.tui.app.MassGenApp`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from massgen.tui.app_part import AppPart

if TYPE_CHECKING:
    from massgen.tui.state import RunView


class InspectKeys(AppPart):
    """The votes and tool-calls views (a part of the app)."""

    view: RunView
    selected: int

    def current_view(self) -> RunView:
        """The part shown now (a follow-up or a replay's next part replaces it)."""
        return self.view

    def action_show_votes(self) -> None:
        from massgen.tui.votes_view import VotesScreen

        if not self.view.agents:
            self.notify("No run yet: the votes show once agents answer.")
        else:
            self.push_screen(VotesScreen(self.current_view))

    def action_show_tool_calls(self) -> None:
        from massgen.tui.tool_calls_view import ToolCallsScreen

        agents = list(self.view.agents)
        if not agents:
            self.notify("No run yet: an agent's tool calls show once it works.")
            return
        agent_id = agents[min(self.selected, len(agents) - 1)]
        self.push_screen(ToolCallsScreen(self.current_view, agent_id))
