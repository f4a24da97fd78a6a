"""Continuing a recorded conversation (``massgen --continue [ID]``): the session, its
conversation so far and the config it ran with."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from massgen.sessions import store

if TYPE_CHECKING:
    from massgen.config.schema import MassGenConfig


def continued(log_dir: str | Path | None, ref: str) -> tuple[Path, list[tuple[str, str]]]:
    """The session ``ref`` names (``latest`` or an id) under ``log_dir`` and its
    conversation so far."""
    path = store.find_session(store.sessions_root(log_dir), ref)
    return path, store.conversation(store.load_summary(path))


def continued_config(path: Path) -> tuple[MassGenConfig, str]:
    """The config a continued session ran with: its original file when that still exists,
    else its recorded copy (whose redacted keys come from the environment again)."""
    import yaml

    from massgen.config.loader import load_config, load_config_dict
    from massgen.redaction import REDACTED

    source = str(store.load_summary(path).get("config_source") or "")
    if source and Path(source).is_file():
        return load_config(Path(source)).config, source
    data = yaml.safe_load((path / store.CONFIG).read_text(encoding="utf-8")) or {}
    for agent in data.get("agents") or []:
        if (agent.get("backend") or {}).get("api_key") == REDACTED:
            del agent["backend"]["api_key"]
    return load_config_dict(data, f"{path.name}/config.yaml").config, source or str(path)
