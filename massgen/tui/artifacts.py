"""The media a run's agents made, as the app's views hold them (folded from
``artifact_saved`` events by :mod:`massgen.tui.state`; drawn by :mod:`massgen.tui.media_view`)."""

from __future__ import annotations

from dataclasses import dataclass

#: The mark before a medium's entry, per kind.
MEDIA_MARK = {"image": "▣", "audio": "♪", "video": "▶"}
#: Said of a medium with no file here (in its card, and when asked to open it).
NOT_HERE = "not fetched from the server"


@dataclass
class ArtifactView:
    """A medium an agent generated (``artifact_saved``): where the session holds it (``path``
    empty: no file on this machine, a server's medium that could not be fetched)."""

    name: str
    path: str
    kind: str  # image, audio, video (or another file)
    mime: str
    size: int
    agent_id: str
    agent_label: str
    tool: str = ""


def media_marker(name: str) -> str:
    """The transcript line a card draws as the medium ``name`` (see
    ``MarkdownView.render_block``)."""
    return f"⟦media:{name}⟧"


def artifact_caption(artifact: ArtifactView) -> str:
    """``fox.png · image · 3.2 KB``."""
    return f"{artifact.name} · {artifact.kind} · {human_size(artifact.size)}"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover (the loop returns)
