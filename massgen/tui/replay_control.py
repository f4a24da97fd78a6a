"""Replaying a recorded session in the app: the player advanced every frame, its label in
the header, pause, step between parts, seek, and the history of the parts. Part of
:class:`massgen.tui.app.MassGenApp`; the playing itself is :mod:`massgen.tui.player`'s."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from massgen.tui.app_part import AppPart

if TYPE_CHECKING:
    from textual.widgets import Input

    from massgen.tui.player import ReplayPlayer
    from massgen.tui.state import RunView


class ReplayControl(AppPart):
    """The app's replay keys and frames (a part of the app)."""

    player: ReplayPlayer | None
    view: RunView
    parts: list[RunView]
    running: bool

    if TYPE_CHECKING:

        @property
        def ask(self) -> Input: ...  # the app's question box

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        replay_only = {"toggle_pause", "step_part", "seek"}
        if action in replay_only:
            return self.player is not None
        return True

    def advance_replay(self) -> None:
        player = self.player
        assert player is not None
        player.advance(time.monotonic())
        if player.view is not self.view:
            self.view = player.view
            self.view.dirty.add("layout")
        was_running, self.running = self.running, not player.finished
        if was_running and player.finished:
            self.ask.placeholder = "Replay finished · h lists the parts · q quits"

    def replay_label(self) -> str:
        player = self.player
        if player is None:
            return ""
        part = f"replay {player.part + 1}/{max(1, len(player.parts))}"
        if player.finished:
            return f"{part} · finished"
        if player.paused:
            return f"{part} · ⏸ paused"
        speed = "at once" if player.speed <= 0 else f"{player.speed:g}x"
        return f"{part} · ▶ {speed}"

    def action_history(self) -> None:
        from massgen.tui.screens import HistoryScreen

        if self.player is not None:
            player = self.player

            def chosen(index: int | None) -> None:
                if index is not None:
                    player.goto_part(index)

            screen = HistoryScreen(player.summaries(), player.part, seekable=True)
            self.push_screen(screen, chosen)
        else:
            self.push_screen(HistoryScreen(self.parts, len(self.parts) - 1, seekable=False))

    def action_toggle_pause(self) -> None:
        if self.player is not None:
            self.player.toggle_pause()

    def action_step_part(self, step: int) -> None:
        if self.player is not None:
            self.player.step_part(step)

    def action_seek(self, seconds: float) -> None:
        if self.player is not None:
            self.player.seek(seconds)
            self.view.dirty.add("layout")
