"""A scrolling Markdown view for streamed text, on Textual's line API.

Streaming text is split at its last blank line outside a code fence: the finished part is
rendered once (and kept as lines), only the paragraph being written is rendered again on
each update. Only the lines on screen are composed, so a long transcript costs no more to
show than a short one. The view follows new text until its reader scrolls up (scrolling
back to the end follows again): while text streams in, the view scrolls a few lines at a
time (a quarter of its height: every scroll redraws the whole view, a new line in the rows
left blank redraws only itself), and with :meth:`settle` the last line goes to the last row.
It can also highlight the matches of a search.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

#: A line standing for a block the view's owner draws (:meth:`MarkdownView.render_block`).
BLOCK = re.compile(r"^⟦media:([^⟧\n]+)⟧[ \t]*$", re.MULTILINE)
MATCH = Style(reverse=True)
CURRENT_MATCH = Style(bgcolor="yellow", color="black", bold=True)


def split_settled(markdown: str) -> tuple[str, str]:
    """Split at the last blank line outside a code fence: (finished part, paragraph being
    written)."""
    cut = markdown.rfind("\n\n")
    while cut > 0 and markdown.count("```", 0, cut) % 2:
        cut = markdown.rfind("\n\n", 0, cut)
    return (markdown[: cut + 2], markdown[cut + 2 :]) if cut > 0 else ("", markdown)


class MarkdownView(ScrollView, can_focus=True):
    """Markdown, rendered incrementally; ``update(text)`` with the whole text each time."""

    DEFAULT_CSS = """
    MarkdownView {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        height: 1fr;
    }
    """

    def __init__(
        self, *, follow: bool = True, id: str | None = None, classes: str | None = None
    ) -> None:
        """``follow``: keep the newest text in view until the reader scrolls up."""
        super().__init__(id=id, classes=classes)
        self.follow = follow
        self.source = ""  # the text drawn
        self.wanted = ""  # the text to draw
        self._settled = ""  # the finished part, as rendered into _done
        self._done: list[Strip] = []  # its lines
        self._live: list[Strip] = []  # the lines of the paragraph being written
        self._width = 0
        self._search = ""
        self._matches: list[tuple[int, int, int]] = []  # (line, start cell, end cell)
        self.current_match = -1
        self._base: Style | None = None  # the widget's own style, under the Markdown's
        #: the view follows new text (the reader has not scrolled away from the end)
        self.following = follow
        self._page_end = 0  # while following: the scrollable height (rows left for new text)
        self._head: list[Strip] = []  # HEAD_ROWS fixed lines above the text (see set_head)
        self._head_source: list[object] = []
        self._selection: Selection | None = None  # a mouse drag's (kept: no lookup per line)
        self._offsets = False  # lines carry their text offsets (while the mouse is over it)

    #: Rows at the top that do not scroll (a card's status lines): one widget per card,
    #: not three, is what keeps eight streaming cards cheap to compose.
    HEAD_ROWS = 0

    @property
    def rows(self) -> int:
        """Rows the text has on screen (below the head)."""
        return max(1, self.size.height - self.HEAD_ROWS)

    def set_head(self, lines: list[object]) -> None:
        """The fixed rows' content (Rich renderables, one per row); redraws only them."""
        self._head_source = lines
        if not self.is_mounted or self.size.width < 1:
            return
        console, width = self.app.console, self.size.width
        options = console.options.update(width=width, height=None, highlight=False)
        head = []
        for line in lines[: self.HEAD_ROWS]:
            rendered = console.render_lines(line, options, pad=False, style=self.base)  # type: ignore[arg-type]
            row = rendered[0] if rendered else []
            head.append(Strip(row).crop_extend(0, width, self.base))
        self._head = head
        self.refresh(Region(0, 0, width, self.HEAD_ROWS))

    # ------------------------------------------------------------------ content

    @property
    def lines(self) -> list[Strip]:
        return self._done + self._live

    @property
    def line_count(self) -> int:
        return len(self._done) + len(self._live)

    @property
    def plain_lines(self) -> list[str]:
        """The rendered lines as text (what the reader sees, for tests and search)."""
        return [line.text.rstrip() for line in self.lines]

    @property
    def at_end(self) -> bool:
        """The last line is in view (the reader is following the text)."""
        return self.line_count <= int(self.scroll_y) + self.rows

    def update(self, text: str) -> None:
        """Show ``text`` (the whole Markdown so far). A view with no size yet (hidden, not
        laid out) keeps it and renders when it gets one."""
        self.wanted = text
        width = self.size.width - 1  # one column kept for the scrollbar
        if width < 4 or (text == self.source and width == self._width):
            return
        following = self.follow and self.following
        count, first_changed = self.line_count, len(self._done)
        settled, live = split_settled(text)
        if width != self._width or not settled.startswith(self._settled):
            self._done, self._settled, self._width = [], "", width
            first_changed, self._page_end = -1, 0
        if len(settled) > len(self._settled):
            self._done.extend(self._render_markdown(settled[len(self._settled) :], gap=True))
            self._settled = settled
        self._live = self._render_markdown(live, gap=False)
        self.source = text
        if self._search:
            self._find_matches()
        if self.line_count != count or self.virtual_size.width != self._width:
            self._resize_content(scrollbar=not following)
        if following and not self.at_end:
            # The text reached the bottom: scroll so that a few rows are left for new text.
            self.show_tail(ahead=max(1, self.rows // 4) - 1)
        elif first_changed < 0 or self._search:
            self.refresh()
        else:  # the lines from the first one that changed (content coordinates)
            rows = max(self.line_count, count) - first_changed
            top = first_changed - int(self.scroll_y)
            if rows > 0 and top < self.rows:
                start = self.HEAD_ROWS + max(0, top)
                self.refresh(Region(0, start, self.size.width, rows + min(0, top)))

    def _resize_content(self, *, scrollbar: bool) -> None:
        """The scrollable size follows the text without a layout of the whole screen (the
        ``virtual_size`` reactive would ask for one on every new line); the scrollbar is
        redrawn when asked (while following, when the view scrolls)."""
        size = Size(self._width, max(self.line_count, self._page_end) + self.HEAD_ROWS)
        self.set_reactive(Widget.virtual_size, size)
        if scrollbar or not self.show_vertical_scrollbar:
            self._scroll_update(size)

    def render_block(self, key: str, width: int) -> list[Strip] | None:
        """The lines of the block a ``⟦media:key⟧`` line stands for, ``width`` cells wide;
        None draws the line as text (the default: this view knows no blocks)."""
        return None

    def _render_markdown(self, markdown: str, *, gap: bool) -> list[Strip]:
        if not self.is_mounted or not markdown.strip():
            return []
        pieces = BLOCK.split(markdown)  # text, key, text, key, ..., text
        if len(pieces) == 1:
            return self._render_text(markdown, gap=gap)
        width, base = self._width + 1, self.base
        out: list[Strip] = []
        for i, piece in enumerate(pieces):
            if i % 2:
                block = self.render_block(piece, width)
                lines = self._render_text(f"⟦media:{piece}⟧", gap=False) if block is None else block
            else:
                lines = self._render_text(piece, gap=False)
            if lines:
                out.extend([*lines, Strip.blank(width, base)])
        if out and not gap:
            out.pop()
        return out

    def _render_text(self, markdown: str, *, gap: bool) -> list[Strip]:
        if not markdown.strip():
            return []
        from massgen.tui.markdown import SafeMarkdown

        console = self.app.console
        options = console.options.update(width=self._width, height=None, highlight=False)
        lines = console.render_lines(SafeMarkdown(markdown), options, pad=False, style=self.base)
        while lines and not "".join(s.text for s in lines[-1]).strip():
            lines.pop()  # the blank line Rich ends a block with
        while lines and not "".join(s.text for s in lines[0]).strip():
            del lines[0]  # ... and starts a list with (chunks get one blank line between)
        width, base = self._width + 1, self.base
        strips = [Strip(line).extend_cell_length(width, base) for line in lines]
        return strips + ([Strip.blank(width, base)] if gap else [])

    @property
    def base(self) -> Style:
        """The widget's style (background, colour), looked up once, not per line."""
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self._base is not None and self._base != self.rich_style:  # a theme change
            self._base = None
            text, self.source = self.wanted, ""
            self._done, self._settled, self._width = [], "", 0
            self.update(text)

    def on_resize(self) -> None:
        if self.HEAD_ROWS:
            self.set_head(self._head_source)
        self.update(self.wanted)
        if self.follow and self.following and not self.at_end:  # shorter: the tail stays
            self.show_tail()

    # ------------------------------------------------------------------ following

    def show_tail(self, ahead: int = 0) -> None:
        """Scroll so that the last line is ``ahead`` rows above the last row."""
        target = max(0, self.line_count + ahead - self.rows)
        self._page_end = target + self.rows if ahead else 0
        self._resize_content(scrollbar=True)
        self.scroll_to(y=target, animate=False, immediate=True, force=True)
        self.refresh()

    def settle(self) -> None:
        """The text stopped growing: no rows left blank below it (the last line on the last
        row when the view follows)."""
        if self._page_end:
            self._page_end = 0
            if self.follow and self.following:
                self.show_tail()
            else:
                self._resize_content(scrollbar=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # The reader scrolled: up from the end pauses following, back to the end resumes.
        if self.follow and self.following != self.at_end:
            self.following = self.at_end
            self.follow_changed()

    def follow_changed(self) -> None:
        """Called when :attr:`following` changes (for a mark that shows it)."""

    # ------------------------------------------------------------------ search

    def search(self, query: str) -> int:
        """Highlight ``query`` (case-insensitive); the number of matches."""
        self._search = query
        self.current_match = 0 if query else -1
        self._find_matches()
        self.show_match(0)
        self.refresh()
        return len(self._matches)

    @property
    def matches(self) -> int:
        return len(self._matches)

    def _find_matches(self) -> None:
        self._matches = []
        if not self._search:
            return
        pattern = re.compile(re.escape(self._search), re.IGNORECASE)
        for y, line in enumerate(self.lines):
            text = line.text
            for m in pattern.finditer(text):
                start = cell_len(text[: m.start()])
                self._matches.append((y, start, start + cell_len(m.group(0))))
        if self.current_match >= len(self._matches):
            self.current_match = len(self._matches) - 1

    def show_match(self, step: int) -> None:
        """Move to the next (``step`` 1) or previous (-1) match and scroll it into view."""
        if not self._matches:
            return
        self.current_match = (self.current_match + step) % len(self._matches)
        y = self._matches[self.current_match][0]
        if not (self.scroll_y <= y < self.scroll_y + self.rows):
            self.scroll_to(y=max(0, y - self.rows // 3), animate=False, immediate=True)
        self.refresh()

    # ------------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        if y < self.HEAD_ROWS:
            head = self._head
            return head[y] if y < len(head) else Strip.blank(self.size.width, self.base)
        index = scroll_y + y - self.HEAD_ROWS
        width = self._width + 1  # as rendered (looking up ``size`` per line is not free)
        base = self.base
        done = len(self._done)
        if index < done:
            strip = self._done[index]
        elif index - done < len(self._live):
            strip = self._live[index - done]
        else:
            return Strip.blank(width, base)
        if self._matches:
            strip = self._highlight(strip, index)
        if self._selection is not None:
            strip = self._selected(strip, self._selection.get_span(index))
        if self._offsets:  # where a mouse drag is, in the text (see on_enter)
            strip = strip.apply_offsets(0, index)
        if scroll_x == 0 and strip.cell_length == width:
            return strip  # padded when rendered
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The text a mouse drag selected (Ctrl+C copies it)."""
        return selection.extract("\n".join(self.plain_lines)), "\n"

    def on_enter(self, event: events.Enter) -> None:
        """The mouse is over the pane: its lines say where they are in the text, so that a
        drag selects text. Only then: marking every line costs ~0.2 ms each, too much for
        eight streaming cards."""
        if not self._offsets:
            self._offsets = True
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        self._offsets = self._selection is not None

    def selection_updated(self, selection: Selection | None) -> None:
        self._selection = selection
        self.refresh()

    def _selected(self, strip: Strip, span: tuple[int, int] | None) -> Strip:
        """``strip`` with the selected cells (``span``; an end of -1: the line's end) marked."""
        if span is None:
            return strip
        start, end = span
        end = strip.cell_length if end < 0 else min(end, strip.cell_length)
        if start >= end:
            return strip
        style = self.screen.get_component_rich_style("screen--selection")
        before, chosen, after = strip.divide([start, end, strip.cell_length])
        chosen = Strip(list(Segment.apply_style(chosen, post_style=style)))
        return Strip.join([before, chosen, after])

    def _highlight(self, strip: Strip, index: int) -> Strip:
        spans = [
            (start, end, n == self.current_match)
            for n, (y, start, end) in enumerate(self._matches)
            if y == index
        ]
        if not spans:
            return strip
        cuts = sorted({c for s, e, _ in spans for c in (s, e)} | {strip.cell_length})
        pieces = strip.divide(cuts)
        starts = [0, *cuts]
        out = []
        for start, piece in zip(starts, pieces, strict=False):
            span = next((sp for sp in spans if sp[0] <= start < sp[1]), None)
            if span is not None:
                style = CURRENT_MATCH if span[2] else MATCH
                piece = Strip(list(Segment.apply_style(piece, post_style=style)))
            out.append(piece)
        return Strip.join(out)
