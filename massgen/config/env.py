"""``.env`` loading (docs/architecture.md): the working directory's, then the user's; the real
environment always wins."""

from __future__ import annotations

from pathlib import Path

from massgen.config.resolve import user_config_dir


def env_files(cwd: Path | None = None) -> list[Path]:
    """The ``.env`` files that exist, in precedence order (cwd first, then the user's)."""
    candidates = [(cwd or Path.cwd()) / ".env", user_config_dir() / ".env"]
    found: list[Path] = []
    for path in candidates:
        if path.is_file() and all(not _same(path, other) for other in found):
            found.append(path)
    return found


def load_env_files(cwd: Path | None = None) -> list[Path]:
    """Load ``cwd/.env`` then ``~/.config/massgen/.env`` (``$XDG_CONFIG_HOME`` honoured) into
    ``os.environ`` without overriding anything already set; returns the files loaded."""
    files = env_files(cwd)
    if files:
        from dotenv import load_dotenv

        for path in files:  # earlier files win: later ones never override
            load_dotenv(path, override=False)
    return files


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False
