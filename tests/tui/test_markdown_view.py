"""A Markdown pane under a mouse selection: copying the selection does not raise."""

from __future__ import annotations

from textual.app import App, ComposeResult

from massgen.tui.markdown_view import MarkdownView


class OnePane(App[None]):
    def compose(self) -> ComposeResult:
        yield MarkdownView(id="pane")


async def test_selecting_over_a_markdown_pane_and_copying_does_not_raise():
    app = OnePane()
    async with app.run_test(size=(60, 10)) as pilot:
        pane = app.query_one(MarkdownView)
        pane.update("**Paris** is the capital of France.")
        await pilot.pause()
        pane.text_select_all()  # what a drag across the pane does
        await pilot.pause()
        assert pane in app.screen.selections
        app.screen.get_selected_text()  # Ctrl+C: raised TypeError through the pane's _render
