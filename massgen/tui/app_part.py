"""The base of the classes :class:`massgen.tui.app.MassGenApp` is made of (its runs, its
replay, its answer and view keys): the app itself for a type checker, nothing at run time."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App

    AppPart = App[None]
else:
    AppPart = object

__all__ = ["AppPart"]
