"""What runs without --config: the user's default file, else the local team when
no provider key is set, else an error saying what to pass."""

from __future__ import annotations

import pytest

from massgen import local_model as local
from massgen.config import resolve
from massgen.config.loader import load_config, load_config_dict
from massgen.errors import ConfigurationError
from massgen.providers import PROVIDER_KEY_VARS


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


def test_a_provider_key_builds_a_team_from_that_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    chosen = resolve.resolve_default()
    assert chosen.path is None and "team from the keys" in chosen.notice
    config = load_config_dict(chosen.data).config
    assert [a.backend.type for a in config.agents] == ["openai"] * 3
    assert len({a.system_message for a in config.agents}) == 3  # same model, different personas


def test_several_keys_give_one_agent_per_provider(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "a")
    monkeypatch.setenv("GEMINI_API_KEY", "g")
    monkeypatch.setenv("XAI_API_KEY", "x")
    monkeypatch.setenv("GROQ_API_KEY", "q")
    config = load_config_dict(resolve.resolve_default().data).config
    assert [a.backend.type for a in config.agents] == ["claude", "gemini", "grok", "groq"]
    assert all(a.backend.model for a in config.agents)


def test_the_users_named_configs_are_listed(tmp_path):
    agents = tmp_path / "xdg" / "massgen" / "agents"
    agents.mkdir(parents=True)
    (agents / "mine.yaml").write_text("# My own team.\nagent: {backend: {type: vllm}}\n")
    assert [(e.name, e.description) for e in resolve.list_user_configs()] == [
        ("mine", "My own team.")
    ]


def test_without_the_local_extra_the_message_says_how_to_install(monkeypatch):
    monkeypatch.setattr(local, "local_backend_available", lambda: False)
    with pytest.raises(ConfigurationError, match=r"pip install 'massgen\[local\]'.*15 minutes"):
        resolve.resolve_default()
