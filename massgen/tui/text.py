"""Text from models and recordings, made safe and readable for the screen.

Everything the app draws that massgen does not control goes through :func:`safe` (control
characters shown, never executed) and, when it is Markdown,
:class:`massgen.tui.markdown.SafeMarkdown`.
"""

from __future__ import annotations

import re

from massgen.terminal import visible


def safe(text: object) -> str:
    """``text`` with control characters made visible (tabs and newlines kept)."""
    return visible(text)


def one_line(text: object, width: int) -> str:
    """``text`` on one line of at most ``width`` characters, Markdown marks removed."""
    plain = " ".join(strip_markdown(visible(text, single_line=False)).split())
    if width <= 0:
        return ""
    return plain if len(plain) <= width else plain[: max(0, width - 1)] + "…"


_MARKS = [
    (re.compile(r"```[^\n]*\n?"), ""),  # code fences
    (re.compile(r"^\s{0,3}#{1,6}\s+", re.M), ""),  # headings
    (re.compile(r"^\s{0,3}>\s?", re.M), ""),  # quotes
    (re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.M), ""),  # list bullets
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])([*_])(?!\s)(.+?)(?<!\s)\1(?![\w*])"), r"\2"),  # italics
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"`([^`]*)`"), r"\1"),  # inline code
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images
]


def strip_markdown(text: str) -> str:
    """A plain-text preview of Markdown: no ``##``, ``**``, bullets, fences or link URLs."""
    for pattern, repl in _MARKS:
        text = pattern.sub(repl, text)
    return text
