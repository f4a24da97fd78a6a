"""Copying text with the desktop's clipboard tool when there is one (so success is known);
the app also sends OSC 52, which the terminal may ignore, and tmux keeps unless its
``set-clipboard`` option is ``on`` (:func:`tmux_clipboard` reads it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def _tools() -> list[list[str]]:
    if sys.platform == "darwin":
        return [["pbcopy"]]
    tools = []
    if os.environ.get("WAYLAND_DISPLAY"):
        tools.append(["wl-copy"])
    if os.environ.get("DISPLAY"):
        tools += [["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]
    return tools


def copy(text: str) -> bool:
    """Whether a clipboard tool took ``text``."""
    for command in _tools():
        if shutil.which(command[0]) is None:
            continue
        try:
            done = subprocess.run(command, input=text.encode(), timeout=3, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return True
    return False


def tmux_clipboard() -> str | None:
    """Inside tmux, its ``set-clipboard`` option (``on``, ``external``, ``off``); else None."""
    if not os.environ.get("TMUX") or shutil.which("tmux") is None:
        return None
    try:
        done = subprocess.run(
            ["tmux", "show-options", "-gv", "set-clipboard"],
            capture_output=True,
            text=True,
            timeout=3,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None
