"""``massgen --init`` never saves a config that cannot run, and offers any OpenAI-compatible
server by its base URL; driven through the wizard's real prompt layer like test_wizard."""

from __future__ import annotations

from pathlib import Path

import pytest

from massgen.backends.registry import check_can_run
from massgen.cli.wizard import cannot_run, provider_choices
from massgen.config.loader import load_config
from massgen.errors import ConfigurationError
from massgen.providers import PROVIDER_KEY_VARS
from tests.cli.test_wizard import CLEAR, DOWN, ENTER, UP, drive, files_under

#: use case, count, 3 x (provider, model), strategy, max answers, timeout, where to save
ALL_DEFAULTS = ENTER * 12


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean HOME and XDG_CONFIG_HOME, no provider keys; returns the massgen config dir."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for var in PROVIDER_KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "xdg" / "massgen"


def move(names: list[str], start: str, to: str) -> str:
    """The arrow keys from choice ``start`` to choice ``to``."""
    steps = names.index(to) - names.index(start)
    return DOWN * steps if steps >= 0 else UP * -steps


@pytest.fixture
def no_local_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local model is not installed (llama.cpp and its model missing)."""
    import massgen.backends.local as local_backend
    import massgen.local_model as local_model

    def missing(config):
        raise ConfigurationError("the local backend needs llama-cpp-python: pip install ...")

    monkeypatch.setattr(local_model, "local_backend_available", lambda: False)
    monkeypatch.setattr(local_backend, "model_file", missing)


def test_all_enter_without_keys_or_local_model_asks_a_key_and_saves_nothing_without(
    home, no_local_model, capsys
):
    assert drive(ALL_DEFAULTS + ENTER + ENTER) is None  # store a key? yes; the key: empty
    assert files_under(home) == []
    out = capsys.readouterr().out
    assert "type: local" not in out  # the local model was not picked
    assert "Cannot run:" in out and "OPENAI_API_KEY" in out and "nothing was written" in out


def test_all_enter_without_keys_or_local_model_runs_once_the_key_is_given(
    home, no_local_model, monkeypatch
):
    path = drive(ALL_DEFAULTS + ENTER + "sk-typed-key" + ENTER)
    assert path == home / "config.yaml"
    config = load_config(path).config
    assert {a.backend.type for a in config.agents} == {"openai"}
    monkeypatch.setenv("OPENAI_API_KEY", "sk-typed-key")  # as the stored .env provides it
    for agent in config.agents:
        check_can_run(agent.backend)


def test_offline_all_enter_without_the_local_model_asks_for_a_server(home, no_local_model):
    keys = DOWN * 4 + ENTER + ENTER  # offline, 3 agents
    keys += ENTER + ENTER + "qwen3" + ENTER  # agent 1: server (the default), URL, model
    keys += (ENTER * 3) * 2  # agents 2 and 3: the same server and model
    keys += ENTER * 4  # strategy, max answers, timeout, where to save
    path = drive(keys)
    assert path == home / "config.yaml"
    config = load_config(path).config
    assert [(a.backend.type, a.backend.model, a.backend.base_url) for a in config.agents] == [
        ("vllm", "qwen3", "http://localhost:8000/v1")
    ] * 3
    assert cannot_run(path.read_text()) == []


def test_the_server_choice_writes_its_base_url_and_sends_no_provider_key(home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    names = [c.name for c in provider_choices()]
    assert "server" in names
    assert any("OpenAI-compatible server" in c.label for c in provider_choices())
    keys = ENTER + CLEAR + "1" + ENTER  # general, one agent
    keys += move(names, "openai", "server") + ENTER
    keys += CLEAR + "http://127.0.0.1:11434/v1" + ENTER + "llama3.2" + ENTER
    keys += ENTER * 4
    path = drive(keys)
    assert path is not None
    (agent,) = load_config(path).config.agents
    assert (agent.backend.type, agent.backend.model, str(agent.backend.base_url)) == (
        "ollama",
        "llama3.2",
        "http://127.0.0.1:11434/v1",
    )
    assert "sk-test-openai" not in path.read_text()
    check_can_run(agent.backend)


def test_choosing_the_local_model_when_it_is_missing_asks_again(home, no_local_model, capsys):
    names = [c.name for c in provider_choices()]
    keys = ENTER + CLEAR + "1" + ENTER  # general, one agent
    keys += move(names, "openai", "local") + ENTER  # local: missing
    keys += ENTER  # asked again: the default (openai)
    keys += ENTER * 5 + "n"  # model, strategy, max answers, timeout, save; no key stored
    assert drive(keys) is None
    out = capsys.readouterr().out
    assert "not installed" in out
    assert files_under(home) == []
