"""Model text on screen: HTML-looking text stays, control characters are shown, previews are
plain."""

from __future__ import annotations

from rich.console import Console

from massgen.tui.markdown import SafeMarkdown
from massgen.tui.text import one_line


def rendered(markdown: str) -> str:
    console = Console(width=80, record=True, color_system=None)
    console.print(SafeMarkdown(markdown))
    return console.export_text()


def test_angle_brackets_are_text_not_dropped_html():
    out = rendered(
        "HTML uses <div> and <span> tags.\n\n<agent2>\n\n`std::vector<int>` and std::map<K, V>"
    )
    for piece in ("<div>", "<span>", "<agent2>", "std::vector<int>", "std::map<K, V>"):
        assert piece in out, piece


def test_control_characters_are_shown_not_sent():
    out = rendered("title \x1b]0;pwned\x07 clear \x1b[2J \x9b31m")
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "\\x1b]0;pwned\\x07" in out and "\\x9b31m" in out


def test_links_are_drawn_as_text_without_a_terminal_hyperlink():
    console = Console(width=80, record=True, force_terminal=True)
    console.print(SafeMarkdown("[click](http://evil.example/x)"))
    assert "\x1b]8;" not in console.export_text(styles=True)


def test_previews_are_one_plain_line():
    assert one_line("## Title\n\n**Bold** and *it*: `code`, [a link](http://x)\n- item", 80) == (
        "Title Bold and it: code, a link item"
    )
    assert one_line("x" * 50, 10) == "x" * 9 + "…"
