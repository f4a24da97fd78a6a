"""Copying and screenshots, in a local terminal and over SSH or tmux: the final answer
(``y``) and a mouse selection (Ctrl+C while one is shown; without one Ctrl+C cancels the
run) go out as OSC 52, which reaches the clipboard of the terminal the user sits at, and to
the desktop's clipboard tool when there is one; the toast says which happened. ``s`` saves
an SVG screenshot into the session's folder (the current directory when there is no session
log). Part of :class:`massgen.tui.app.MassGenApp`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from massgen.tui.app_part import AppPart
from massgen.tui.text import one_line

if TYPE_CHECKING:
    from massgen.sessions.recorder import SessionRecorder


def copied_message(what: str, tool: bool, tmux: str | None, fallback: str = "") -> str:
    """What the user is told after ``what`` was copied: by a clipboard ``tool``, and as OSC 52
    (inside tmux, whose ``set-clipboard`` option is ``tmux``); ``fallback`` is what else
    they can do when it did not arrive."""
    if tool:
        return f"{what} copied to the clipboard."
    if tmux is not None and tmux != "on":
        return (
            f"{what} sent as OSC 52, but tmux keeps it out (set-clipboard is {tmux!r}): add "
            "'set -g set-clipboard on' to ~/.tmux.conf" + (f", or {fallback}." if fallback else ".")
        )
    if tmux == "on":
        return f"{what} sent through tmux (OSC 52): in its paste buffer and your clipboard."
    return (
        f"{what} sent to the terminal's clipboard (OSC 52). If it did not arrive, your terminal "
        "does not support that" + (f": {fallback}." if fallback else ".")
    )


class CopyKeys(AppPart):
    """Copy and screenshot keys (a part of the app)."""

    recorder: SessionRecorder | None
    action_cancel_run: Callable[[], None]  # the app's

    def copy_out(self, text: str, what: str, fallback: str = "") -> None:
        """``text`` to every clipboard within reach, and a toast that says how."""
        from massgen.tui import clipboard  # (subprocess: imported when needed)

        tool = clipboard.copy(text)
        self.copy_to_clipboard(text)  # OSC 52: over SSH too, where no tool can reach
        message = copied_message(what, tool, clipboard.tmux_clipboard(), fallback)
        self.notify(message, timeout=4 if tool else 8)

    def action_copy_or_cancel(self) -> None:
        """Ctrl+C: copy the mouse selection when there is one, else cancel the run."""
        selected = self.screen.get_selected_text()
        if selected:
            self.copy_out(selected, "Selection")
        else:
            self.action_cancel_run()

    def screenshot_folder(self) -> Path:
        """The session's folder (where the run is recorded), else the current directory."""
        recorder = self.recorder
        if recorder is not None and recorder.path is not None:
            return recorder.path
        if recorder is not None and recorder.resume is not None:
            return recorder.resume
        return Path.cwd()

    def action_save_screenshot(self) -> None:
        folder = self.screenshot_folder()
        stem = time.strftime("massgen-screenshot-%Y%m%d-%H%M%S")
        name, number = f"{stem}.svg", 1
        while (folder / name).exists():
            number += 1
            name = f"{stem}-{number}.svg"
        try:
            saved = self.save_screenshot(name, str(folder))
        except OSError as exc:
            self.notify(f"Screenshot not saved: {one_line(exc, 80)}", severity="error")
            return
        self.notify(f"Screenshot saved to {one_line(Path(saved).resolve(), 400)}.")
