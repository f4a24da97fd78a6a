"""Results kept per item, strategy and config, so an interrupted eval continues.

One JSONL file per config hash under the cache directory; each line is one finished
``(item, strategy)`` result, appended and flushed as it completes. A line cut short by a
killed process is skipped when read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from massgen.config.schema import MassGenConfig


def default_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("massgen")) / "eval"


def config_hash(config: MassGenConfig) -> str:
    """What identifies a config's results: its agents and orchestrator (keys never
    included: secrets dump as a mask), not its UI."""
    data = config.model_dump(mode="json", exclude={"ui", "agent"})
    text = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: The shape of a cached result; results of another shape are not read back.
FORMAT = 2


def result_key(item_key: dict[str, Any], strategy: str) -> str:
    text = json.dumps({"item": item_key, "strategy": strategy, "format": FORMAT}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class ResultCache:
    """The finished results of one config; ``None`` directory: nothing is kept."""

    def __init__(self, directory: Path | None, config_id: str) -> None:
        self.path = directory / f"{config_id}.jsonl" if directory is not None else None
        self.results: dict[str, dict[str, Any]] = {}
        self._file: Any = None
        if self.path is not None and self.path.exists():
            for line in self.path.read_bytes().splitlines():
                try:
                    row = json.loads(line)
                    self.results[row["key"]] = row["result"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut off by an interrupted run

    def get(self, key: str) -> dict[str, Any] | None:
        return self.results.get(key)

    def put(self, key: str, result: dict[str, Any]) -> None:
        self.results[key] = result
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps({"key": key, "result": result}, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
