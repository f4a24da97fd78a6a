"""Shared fixtures for config tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """Put ``os.environ`` back exactly as it was (python-dotenv writes to it directly)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in an empty working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
