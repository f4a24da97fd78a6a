"""Markdown for the screen: HTML shown as text (``std::vector<int>`` and ``<div>`` stay on
screen instead of vanishing), control characters made visible, links drawn as text.

Imported when the first Markdown is drawn, not when the app starts (markdown-it and Rich's
Markdown cost a few tens of milliseconds to import).
"""

from __future__ import annotations

from functools import cache

from markdown_it import MarkdownIt
from rich.markdown import Markdown as RichMarkdown

from massgen.tui.text import safe


@cache
def _parser() -> MarkdownIt:
    # CommonMark without raw HTML: an HTML tag is text, not something to drop.
    return MarkdownIt("commonmark", {"html": False}).enable("strikethrough").enable("table")


class SafeMarkdown(RichMarkdown):
    """Rich's Markdown with HTML shown as text, control characters made visible and links
    drawn as text (no terminal hyperlink escape carries a model's URL)."""

    def __init__(self, markup: str, code_theme: str = "monokai") -> None:
        # Rich's __init__ would build a parser per call (most of the cost of a small text):
        # the attributes it sets, with one shared parser.
        self.markup = safe(markup)
        self.parsed = _parser().parse(self.markup)
        self.code_theme = code_theme
        self.justify = None
        self.style = "none"
        self.hyperlinks = False
        self.inline_code_lexer = None
        self.inline_code_theme = code_theme
