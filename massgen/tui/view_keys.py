"""The keys that change what is in view: select an agent (``n``, ``p``, ``1``-``9``), zoom
it, tabs instead of the grid, the scoreboard shown or hidden. Part of
:class:`massgen.tui.app.MassGenApp`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from massgen.tui.app_part import AppPart
from massgen.tui.cards import AgentCard

if TYPE_CHECKING:
    from massgen.tui.layout import Plan
    from massgen.tui.settings import Settings
    from massgen.tui.state import RunView


class ViewKeys(AppPart):
    """Selecting, zooming and laying out the agents' cards (a part of the app)."""

    view: RunView
    selected: int
    zoomed: bool
    layout_plan: Plan | None
    pending_cards: set[str]
    settings: Settings
    apply_layout: Callable[[], None]  # the app's
    save_settings: Callable[[], None]  # the app's

    def select_agent(self, index: int) -> None:
        cards = list(self.query(AgentCard))
        if not cards:
            return
        index %= len(cards)
        if index == self.selected and cards[index].has_class("-selected"):
            return
        self.selected = index
        one = self.zoomed or (self.layout_plan is not None and self.layout_plan.tabs)
        with self.batch_update():
            for card in cards:
                card.set_class(card.index == index, "-selected")
                if one:
                    card.display = card.index == index
        self.pending_cards.add(cards[index].agent_id)
        self.view.dirty.add("tabs")

    def action_select_agent(self, index: int) -> None:
        if index < len(self.query(AgentCard)):
            self.select_agent(index)

    def action_next_agent(self) -> None:
        self.select_agent(self.selected + 1)

    def action_previous_agent(self) -> None:
        self.select_agent(self.selected - 1)

    def action_zoom(self) -> None:
        self.zoomed = not self.zoomed
        self.apply_layout()

    def action_toggle_tabs(self) -> None:
        self.settings.tabs = not self.settings.tabs
        self.save_settings()
        self.apply_layout()

    def action_toggle_scoreboard(self) -> None:
        self.settings.scoreboard = not self.settings.scoreboard
        self.save_settings()
        self.apply_layout()
