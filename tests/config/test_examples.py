"""The shipped example configs: every one loads, validates and is runnable by this version."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from massgen.backends.registry import resolve_api_key
from massgen.config.loader import load_config
from massgen.config.resolve import Example, list_examples, resolve_config
from massgen.config.schema import MassGenConfig
from massgen.providers import AVAILABLE

EXAMPLES = list_examples()
REQUIRED = {
    "basic/single/single_gpt5nano",
    "basic/multi/three_agents_default",
    "basic/multi/three_agents_local_server",
    "research_team",
    "coding_team",
    "creative_team",
}
#: The early releases' example teams, by the names users still give them: (type, model) each.
EARLY = {
    "single_agent": [("gemini", "gemini-2.5-flash")],
    "single_flash2.5": [("gemini", "gemini-2.5-flash")],
    "two_agents": [("openai", "gpt-4o"), ("openai", "gpt-4o-mini")],
    "gemini_4o_claude": [
        ("gemini", "gemini-2.5-flash"),
        ("openai", "gpt-4o"),
        ("claude", "claude-haiku-4-5"),
    ],
    "news_analysis": [("openai", "gpt-4o"), ("grok", "grok-3-mini"), ("openai", "gpt-4o-mini")],
    "technical_analysis": [
        ("openai", "gpt-4o"),
        ("grok", "grok-3-mini"),
        ("openai", "gpt-4o-mini"),
    ],
    "travel_planning": [("openai", "gpt-4o"), ("grok", "grok-3-mini"), ("openai", "gpt-4o-mini")],
}
_REQUIRED_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_example(example: Example, monkeypatch: pytest.MonkeyPatch) -> MassGenConfig:
    """Load with a dummy value for every ``${VAR}`` the example needs (no default)."""
    for name in _REQUIRED_VAR.findall(example.path.read_text(encoding="utf-8")):
        monkeypatch.setenv(name, "dummy-value")
    return load_config(example.path).config


def test_required_examples_exist() -> None:
    assert {example.name for example in EXAMPLES} >= REQUIRED


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_validates_and_runs_on_available_backends(
    example: Example, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_example(example, monkeypatch)
    assert config.agents
    for agent in config.agents:
        assert agent.backend.type in AVAILABLE


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_has_a_description_and_run_instructions(example: Example) -> None:
    text = example.path.read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert example.description
    header = text.split("\n\n", 1)[0]
    assert "massgen --config" in header
    assert "Needs:" in header


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_short_name_resolves_to_it(example: Example) -> None:
    assert resolve_config(example.name.rsplit("/", 1)[-1]) == example.path


@pytest.mark.parametrize("name", ["research_team", "coding_team", "creative_team"])
def test_teams_use_one_openai_key_and_distinct_personas(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config = load_config(resolve_config(name)).config
    assert len(config.agents) == 3
    assert len({agent.system_message for agent in config.agents}) == 3
    assert all(agent.system_message for agent in config.agents)
    for agent in config.agents:
        assert agent.backend.type == "openai"
        assert agent.backend.base_url is None
        assert resolve_api_key(agent.backend) == "sk-test"


def test_three_agents_default_models() -> None:
    config = load_config(resolve_config("three_agents_default")).config
    assert [(a.backend.type, a.backend.model) for a in config.agents] == [
        ("openai", "gpt-5-nano"),
        ("openai", "gpt-5-mini"),
        ("openai", "gpt-5-nano"),
    ]


def test_single_gpt5nano() -> None:
    config = load_config(resolve_config("single_gpt5nano")).config
    assert [(a.backend.type, a.backend.model) for a in config.agents] == [("openai", "gpt-5-nano")]


def test_local_server_example_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("MASSGEN_LOCAL_BASE_URL", "http://127.0.0.1:54321/v1")
    monkeypatch.setenv("MASSGEN_LOCAL_MODEL", "fake-model")
    config = load_config(resolve_config("three_agents_local_server")).config
    assert len(config.agents) == 3
    for agent in config.agents:
        assert agent.backend.type == "chatcompletion"
        assert agent.backend.base_url == "http://127.0.0.1:54321/v1"
        assert agent.backend.model == "fake-model"
        assert agent.backend.api_key is None
        assert resolve_api_key(agent.backend) is None  # no key needed
    assert len({agent.backend.temperature for agent in config.agents}) == 3


def test_local_server_example_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASSGEN_LOCAL_BASE_URL", raising=False)
    monkeypatch.delenv("MASSGEN_LOCAL_MODEL", raising=False)
    config = load_config(resolve_config("three_agents_local_server")).config
    assert {(a.backend.base_url, a.backend.model) for a in config.agents} == {
        ("http://127.0.0.1:8000/v1", "local-model")
    }


@pytest.mark.parametrize("name", sorted(EARLY))
def test_the_early_releases_examples_are_built_in(name: str) -> None:
    path = resolve_config(name)
    assert path in {example.path for example in EXAMPLES}
    assert resolve_config(f"{name}.yaml") == path  # as the early releases' docs wrote it
    config = load_config(path).config
    assert [(a.backend.type, a.backend.model) for a in config.agents] == EARLY[name]
    if len(config.agents) > 1:  # a team: each agent has its own role
        roles = [agent.system_message for agent in config.agents]
        assert name == "gemini_4o_claude" or (all(roles) and len(set(roles)) == len(roles))


@pytest.mark.parametrize("name", sorted(EARLY))
def test_the_early_releases_examples_validate_as_the_cli_does(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from massgen.cli.configs import validate

    for var in ("OPENAI_API_KEY", "GEMINI_API_KEY", "ANTHROPIC_API_KEY", "XAI_API_KEY"):
        monkeypatch.setenv(var, "test-key")
    monkeypatch.chdir(tmp_path)
    assert validate(name) == 0
