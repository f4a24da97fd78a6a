"""``massgen --init``: the setup wizard, driven through its real prompt layer (a prompt_toolkit
pipe input fed with keystrokes) with a temporary HOME / XDG_CONFIG_HOME."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from massgen.cli.wizard import provider_choices, run_init, store_key
from massgen.config.loader import load_config
from massgen.errors import ConfigurationError
from massgen.providers import PROVIDER_KEY_VARS

ENTER = "\r"
DOWN = "\x1b[B"
UP = "\x1b[A"
CLEAR = "\x15"  # Ctrl+U: clear the text field's default
CTRL_C = "\x03"
#: Enter at every prompt of a 3-agent run with no key prompts: use case, count,
#: 3 x (provider, model), strategy, max answers, timeout, where to save.
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


def drive(keys: str) -> Path | None:
    """Run the interactive wizard on ``keys``; the input is closed afterwards, so a wizard
    asking for more than was sent ends (cancelled) instead of hanging."""
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        return run_init(input=pipe, output=DummyOutput())


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_defaults_with_openai_key_write_default_config(home, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    path = drive(ALL_DEFAULTS)
    assert path == home / "config.yaml"
    assert files_under(home) == [path]  # no temp files left behind, no .env
    config = load_config(path).config
    assert [a.backend.type for a in config.agents] == ["openai"] * 3
    assert all(a.backend.model == "gpt-5-mini" for a in config.agents)
    assert all(a.system_message for a in config.agents)
    assert config.orchestrator.strategy == "vote"
    assert config.orchestrator.max_new_answers_per_agent == 3
    out = capsys.readouterr().out
    assert "type: openai" in out  # the YAML was shown
    assert "sk-test-openai" not in out and "sk-test-openai" not in path.read_text()


def test_providers_with_keys_come_first(home, monkeypatch):
    names = [c.name for c in provider_choices({"GROQ_API_KEY": "x", "GEMINI_API_KEY": "y"})]
    assert names[:3] == ["gemini", "groq", "local"]
    labelled = provider_choices({"GROQ_API_KEY": "x"})
    assert "key found" in labelled[0].label
    assert all("key found" not in c.label for c in labelled[1:])

    # through the prompt: offline defaults to the local model; one step up is the keyed one
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    keys = DOWN * 4 + ENTER + CLEAR + "1" + ENTER + UP + ENTER + ENTER * 5
    path = drive(keys)
    assert path is not None
    (agent,) = load_config(path).config.agents
    assert agent.backend.type == "claude"
    assert agent.backend.model == "claude-sonnet-4-5"


def test_existing_config_is_kept_when_user_says_no(home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    home.mkdir(parents=True)
    existing = home / "config.yaml"
    existing.write_text("# mine\nagent: {backend: {type: local}}\n")
    assert drive(ALL_DEFAULTS + "n") is None
    assert existing.read_text() == "# mine\nagent: {backend: {type: local}}\n"
    assert files_under(home) == [existing]

    assert drive(ALL_DEFAULTS + "y") == existing  # and replaced when the user says yes
    assert load_config(existing).config.agents[0].backend.type == "openai"


def _gemini_keys(save_name: str) -> str:
    """One agent on Gemini (not keyed) saved as a named config, up to the key prompt."""
    names = [c.name for c in provider_choices()]
    steps = names.index("gemini") - names.index("openai")  # openai is the default
    return (
        ENTER  # use case: general
        + CLEAR
        + "1"
        + ENTER  # one agent
        + DOWN * steps
        + ENTER  # provider: gemini
        + ENTER * 4  # model, strategy, max answers, timeout
        + DOWN
        + ENTER  # save as a named config
        + CLEAR
        + save_name
        + ENTER
    )


def test_storing_a_key_writes_private_env_file(home, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    home.mkdir(parents=True)
    env = home / ".env"
    env.write_text("OTHER=1\nXAI_API_KEY=xai-kept\n")
    env.chmod(0o644)
    secret = "gm-secret-123"
    path = drive(_gemini_keys("team") + "y" + secret + ENTER)
    assert path == home / "agents" / "team.yaml"
    assert load_config(path).config.agents[0].backend.type == "gemini"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert env.read_text().splitlines() == [
        "OTHER=1",
        "XAI_API_KEY=xai-kept",
        f"GEMINI_API_KEY={secret}",
    ]
    assert secret not in path.read_text()
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err


def test_store_key_creates_env_with_mode_0600(home):
    env = home / ".env"
    assert store_key("XAI_API_KEY", "xai-1", env) == env
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    env.write_text("A=1\nXAI_API_KEY=xai-1\nB=2\n")
    store_key("XAI_API_KEY", "xai-2", env)  # replaced in place
    assert env.read_text() == "A=1\nXAI_API_KEY=xai-2\nB=2\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    with pytest.raises(ConfigurationError):
        store_key("XAI_API_KEY", "two words", env)


@pytest.mark.parametrize("where", ["early", "at the key prompt"])
def test_ctrl_c_writes_nothing(home, monkeypatch, capsys, where):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    keys = ENTER * 3 + CTRL_C if where == "early" else _gemini_keys("team") + "y" + "gm-se" + CTRL_C
    assert drive(keys) is None
    assert files_under(home.parent) == []
    assert "nothing was written" in capsys.readouterr().out


def test_non_interactive_models_and_save(home, capsys):
    models = ["openai/gpt-5-mini", "claude/claude-sonnet-4"]
    path = run_init(non_interactive=True, models=models, save="duo")
    assert path == home / "agents" / "duo.yaml"
    assert str(path) in capsys.readouterr().out
    config = load_config(path).config
    assert [(a.id, a.backend.type, a.backend.model) for a in config.agents] == [
        ("gpt-5-mini", "openai", "gpt-5-mini"),
        ("claude-sonnet-4", "claude", "claude-sonnet-4"),
    ]
    before = path.read_text()
    with pytest.raises(ConfigurationError, match="already exists"):
        run_init(non_interactive=True, models=["openai/gpt-5-nano"], save="duo")
    assert path.read_text() == before


def test_non_interactive_team_from_keys_else_local(home, monkeypatch):
    path = run_init(non_interactive=True)
    assert path == home / "config.yaml"
    assert {a.backend.type for a in load_config(path).config.agents} == {"local"}

    monkeypatch.setenv("OPENAI_API_KEY", "sk-a")
    monkeypatch.setenv("GEMINI_API_KEY", "g-b")
    keyed = run_init(non_interactive=True, save="keyed")
    types = [a.backend.type for a in load_config(keyed).config.agents]
    assert types == ["openai", "gemini"]
    assert os.path.getsize(path) > 0
