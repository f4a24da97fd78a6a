"""What runs without --config (DESIGN §5): the user's default file, else the local team when
no provider key is set, else an error saying what to pass."""

from __future__ import annotations

import pytest

from massgen.backends import local
from massgen.backends.registry import PROVIDER_KEY_VARS
from massgen.config import resolve
from massgen.config.loader import load_config
from massgen.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in PROVIDER_KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def test_the_users_default_config_wins(tmp_path):
    default = tmp_path / "xdg" / "massgen" / "config.yaml"
    default.parent.mkdir(parents=True)
    default.write_text("agent: {backend: {type: vllm, model: m}}\n")
    chosen = resolve.resolve_default()
    assert chosen.path == default and chosen.notice is None


def test_no_config_and_no_key_is_the_local_team_with_a_notice():
    chosen = resolve.resolve_default()
    assert chosen.path.name == "three_agents_local.yaml"
    assert "small local model" in chosen.notice
    config = load_config(chosen.path).config
    assert [a.backend.type for a in config.agents] == ["local"] * 3
    assert len({a.backend.temperature for a in config.agents}) == 3
    assert all(a.system_message for a in config.agents)


def test_a_provider_key_means_no_silent_local_fallback(monkeypatch):
    monkeypatch.setenv("XAI_API_KEY", "xai-test")
    with pytest.raises(ConfigurationError, match="XAI_API_KEY is set"):
        resolve.resolve_default()


def test_without_the_local_extra_the_message_says_how_to_install(monkeypatch):
    monkeypatch.setattr(local, "local_backend_available", lambda: False)
    with pytest.raises(ConfigurationError, match=r"pip install 'massgen\[local\]'.*15 minutes"):
        resolve.resolve_default()
