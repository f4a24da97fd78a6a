"""Where everything goes, computed from the terminal's current size alone.

:func:`plan` is a pure function of the size and a few switches, so every resize lays the
screen out for the size it has now (never the previous one) and tests can check a layout
without drawing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: A card narrower or shorter than this is unreadable: the agents go to tabs instead.
MIN_CARD_WIDTH = 28
MIN_CARD_HEIGHT = 8
#: Cards at least this wide are preferred (the scoreboard moves below them to get there).
GOOD_CARD_WIDTH = 34
CHROME_HEIGHT = 4  # header (2), input (1), key bar (1)
SCOREBOARD_BOTTOM_HEIGHT = 8
TABS_HEIGHT = 1

Dock = Literal["right", "bottom", "hidden"]


@dataclass(frozen=True)
class Plan:
    tabs: bool  # one card at a time under a tab bar
    cols: int
    rows: int
    scoreboard: Dock
    scoreboard_width: int
    final_height: int  # 0: the final answer pane is hidden
    card_width: int
    card_height: int


def scoreboard_width(width: int) -> int:
    return 40 if width >= 160 else 34


def fit(count: int, width: int, height: int, min_width: int) -> tuple[int, int] | None:
    """The grid (cols, rows) for ``count`` cards in ``width`` x ``height`` with the fewest
    rows whose cards are at least ``min_width`` x MIN_CARD_HEIGHT, balanced (8 cards in
    two rows are 4 + 4, not 5 + 3); None when no grid fits."""
    if count <= 0:
        return (1, 1)
    most = min(count, width // min_width)
    if most < 1:
        return None
    rows = -(-count // most)
    cols = -(-count // rows)
    if height // rows < MIN_CARD_HEIGHT:
        return None
    return cols, rows


def plan(
    width: int,
    height: int,
    agents: int,
    *,
    scoreboard: bool = True,
    final: bool = False,
    tabs: bool = False,
) -> Plan:
    """The layout for a ``width`` x ``height`` terminal showing ``agents`` cards.

    ``scoreboard``: the user wants it shown; ``final``: the final answer pane is up;
    ``tabs``: the user asked for tabs whatever the size."""
    body = max(1, height - CHROME_HEIGHT)
    final_height = max(5, body * 2 // 5) if final else 0
    side = scoreboard_width(width)
    grid_height = body - final_height
    docks: list[Dock] = ["right", "bottom"] if scoreboard else ["hidden"]

    def area(dock: Dock) -> tuple[int, int]:
        if dock == "right":
            return width - side, grid_height
        if dock == "bottom":
            return width, grid_height - SCOREBOARD_BOTTOM_HEIGHT
        return width, grid_height

    if not tabs:
        # Fewest rows first (three agents side by side beat a stack), then cards of a good
        # width, then the scoreboard beside rather than below, then wider cards.
        best: tuple[tuple[int, bool, bool, int], Plan] | None = None
        for option in docks:
            w, h = area(option)
            grid = fit(agents, w, h, MIN_CARD_WIDTH)
            if grid is None:
                continue
            cols, rows = grid
            card = Plan(False, cols, rows, option, side, final_height, w // cols, h // rows)
            key = (rows, card.card_width < GOOD_CARD_WIDTH, option != "right", -card.card_width)
            if best is None or key < best[0]:
                best = (key, card)
        if best is not None:
            return best[1]
    # Tabs: one card, the scoreboard beside it when both stay readable.
    dock: Dock = "hidden"
    if scoreboard:
        dock = "right" if width - side >= 40 else "bottom"
        if dock == "bottom" and grid_height - SCOREBOARD_BOTTOM_HEIGHT < MIN_CARD_HEIGHT:
            dock = "hidden"
    w, h = area(dock)
    return Plan(True, 1, 1, dock, side, final_height, w, max(1, h - TABS_HEIGHT))
