"""Where everything goes, computed from the terminal's current size alone.

:func:`plan` is a pure function of the size and a few switches, so every resize lays the
screen out for the size it has now (never the previous one) and tests can check a layout
without drawing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

#: A card narrower or shorter than this is unreadable: the agents go to tabs instead.
MIN_CARD_WIDTH = 28
MIN_CARD_HEIGHT = 8
#: Cards at least this wide are preferred (the scoreboard moves below them to get there).
GOOD_CARD_WIDTH = 34
#: A card at least this wide and this tall reads well: a grid with one more row of such
#: cards beats a row of narrow strips (8 agents at 300x60: 4x2 cards of ~65 columns, not
#: eight 37-column strips).
ROOMY_CARD_WIDTH = 40
ROOMY_CARD_HEIGHT = 14
#: Below this many body rows (and with the cards under tabs) a finished run's final answer
#: gets the larger share.
SMALL_BODY = 30
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


def grids(count: int, width: int, height: int, min_width: int) -> Iterator[tuple[int, int]]:
    """Every grid (cols, rows) for ``count`` cards in ``width`` x ``height`` whose cards are
    at least ``min_width`` x MIN_CARD_HEIGHT, fewest rows first, balanced (8 cards in two
    rows are 4 + 4, not 5 + 3)."""
    if count <= 0:
        yield (1, 1)
        return
    seen = set()
    for rows in range(1, count + 1):
        cols = -(-count // rows)
        rows = -(-count // cols)  # balanced: 8 cards in 3 columns are 3 rows
        if (cols, rows) in seen or width // cols < min_width:
            continue
        if height // rows < MIN_CARD_HEIGHT:
            return
        seen.add((cols, rows))
        yield cols, rows


def plan(
    width: int,
    height: int,
    agents: int,
    *,
    scoreboard: bool = True,
    final: bool = False,
    ended: bool = False,
    tabs: bool = False,
) -> Plan:
    """The layout for a ``width`` x ``height`` terminal showing ``agents`` cards.

    ``scoreboard``: the user wants it shown; ``final``: the final answer pane is up;
    ``ended``: the run is over (on a small screen its final answer then gets the larger
    share: the cards have nothing more to show); ``tabs``: the user asked for tabs whatever
    the size."""
    body = max(1, height - CHROME_HEIGHT)
    result = arrange(width, body, agents, scoreboard, max(5, body * 2 // 5) if final else 0, tabs)
    if final and ended and result.tabs and body < SMALL_BODY:
        # A small screen after the run: one card under tabs has nothing more to show, the
        # final answer gets the larger share.
        result = arrange(width, body, agents, scoreboard, body * 3 // 5, tabs)
    return result


def arrange(
    width: int, body: int, agents: int, scoreboard: bool, final_height: int, tabs: bool
) -> Plan:
    """The layout of ``body`` rows with ``final_height`` of them for the final answer."""
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
        # Roomy cards first (no narrow strips when one more row gives readable cards), then
        # fewest rows (three agents side by side beat a stack), then cards of a good width,
        # then the scoreboard beside rather than below, then wider cards.
        best: tuple[tuple[bool, int, bool, bool, int], Plan] | None = None
        for option in docks:
            w, h = area(option)
            for cols, rows in grids(agents, w, h, MIN_CARD_WIDTH):
                card = Plan(False, cols, rows, option, side, final_height, w // cols, h // rows)
                roomy = (
                    card.card_width >= ROOMY_CARD_WIDTH and card.card_height >= ROOMY_CARD_HEIGHT
                )
                key = (
                    not roomy,
                    rows,
                    card.card_width < GOOD_CARD_WIDTH,
                    option != "right",
                    -card.card_width,
                )
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
