"""The app's settings (theme, layout), kept between launches in the user's config dir."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from massgen.config.resolve import user_config_dir

FILE_NAME = "tui.json"


def settings_path() -> Path:
    return user_config_dir() / FILE_NAME


@dataclass
class Settings:
    theme: str | None = None  # a Textual theme name; None: Textual's default
    scoreboard: bool = True  # show the scoreboard
    tabs: bool = False  # tabs even when the grid would fit

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """The saved settings; defaults when there are none or the file is damaged."""
        try:
            data = json.loads((path or settings_path()).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        default = cls()
        theme, scoreboard, tabs = data.get("theme"), data.get("scoreboard"), data.get("tabs")
        return cls(
            theme=theme if isinstance(theme, str) else default.theme,
            scoreboard=scoreboard if isinstance(scoreboard, bool) else default.scoreboard,
            tabs=tabs if isinstance(tabs, bool) else default.tabs,
        )

    def save(self, path: Path | None = None) -> None:
        """Write the settings (atomically). Raises ``OSError``."""
        target = path or settings_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{FILE_NAME}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(self), handle, indent=2)
                handle.write("\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
