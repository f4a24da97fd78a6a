"""YAML loading, validation and one-line error messages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from massgen.config.loader import (
    ConfigFileError,
    LoadedConfig,
    load_config,
    load_config_dict,
    load_config_text,
)
from massgen.errors import ConfigurationError

SOURCE = "configs/x.yaml"


def write(text: str, name: str = SOURCE) -> str:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return name


def error_of(text: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        load_config(write(text))
    return info.value


@pytest.fixture(autouse=True)
def _cwd(in_tmp: Path) -> None:
    """Every test writes its YAML under an empty working directory."""


# --- success -----------------------------------------------------------------------------


def test_load_config_returns_config_source_and_path() -> None:
    loaded = load_config(
        write(
            """\
            agents:
              - id: a
                backend: {type: chatcompletion, model: gpt-5-nano}
              - backend: {type: vllm, model: m, temperature: 0.3}
            orchestrator: {max_new_answers_per_agent: 2}
            """
        )
    )
    assert isinstance(loaded, LoadedConfig)
    assert loaded.source == SOURCE
    assert loaded.path == Path(SOURCE)
    assert [a.id for a in loaded.config.agents] == ["a", "agent2"]
    assert loaded.config.agents[1].backend.temperature == 0.3
    assert loaded.config.orchestrator.max_new_answers_per_agent == 2


def test_single_agent_key_becomes_the_agents_list() -> None:
    loaded = load_config_text("agent:\n  backend: {type: ollama, model: llama3.2}\n")
    assert loaded.source == "<string>"
    assert loaded.path is None
    assert [a.backend.model for a in loaded.config.agents] == ["llama3.2"]
    assert loaded.config.agent is None


def test_agent_and_agents_together_is_an_error() -> None:
    err = error_of(
        """\
        agent: {backend: {type: vllm, model: m}}
        agents: [{backend: {type: vllm, model: m}}]
        """
    )
    assert str(err) == f"{SOURCE}: give either 'agents' or 'agent', not both"


def test_agent_given_a_list_suggests_agents() -> None:
    err = error_of("agent:\n  - backend: {type: vllm, model: m}\n")
    assert str(err) == (
        f"{SOURCE}:1: agent: expected a mapping, got a list; use 'agents:' for a list of agents"
    )


def test_agents_given_a_mapping_suggests_agent() -> None:
    err = error_of("agents:\n  backend: {type: vllm, model: m}\n")
    assert str(err) == (
        f"{SOURCE}:1: agents: expected a list, got a mapping; use 'agent:' for a single agent"
    )


def test_no_agents_is_an_error_without_a_line() -> None:
    assert str(error_of("agents: []\n")) == (
        f"{SOURCE}: no agents: add an 'agents:' list (or a single 'agent:')"
    )


def test_load_config_dict_validates_without_lines() -> None:
    data = {"agents": [{"backend": {"type": "vllm", "model": "m"}}, {"backend": {"type": "gpt"}}]}
    with pytest.raises(ConfigurationError) as info:
        load_config_dict(data)
    assert str(info.value) == (
        "<dict>: agents[1].backend.type: unknown backend 'gpt' (did you mean 'openai'?)"
    )
    loaded = load_config_dict({"agent": {"backend": {"type": "vllm", "model": "m"}}}, source="api")
    assert loaded.source == "api"
    assert loaded.path is None
    assert loaded.config.agents[0].backend.type == "vllm"


def test_load_config_dict_rejects_a_non_mapping() -> None:
    with pytest.raises(ConfigurationError, match=r"^<dict>: a config must be a mapping, got a"):
        load_config_dict(["agents"])  # type: ignore[arg-type]


# --- validation messages -----------------------------------------------------------------


def test_unknown_backend_names_file_line_and_key() -> None:
    err = error_of(
        """\
        # a team
        agents:
          - id: first
            backend:
              type: chatcompletion
              model: gpt-5-mini
          - id: second
            backend:
              type: gpt
              model: gpt-5
        """
    )
    assert str(err) == (
        "configs/x.yaml:9: agents[1].backend.type: unknown backend 'gpt' (did you mean 'openai'?)"
    )


def test_unknown_key_suggests_the_closest_field() -> None:
    err = error_of(
        """\
        agents:
          - backend:
              type: vllm
              temprature: 0.5
        """
    )
    assert str(err) == (
        f"{SOURCE}:4: agents[0].backend.temprature: unknown key 'temprature' "
        "(did you mean 'temperature'?)"
    )


def test_unknown_key_suggestion_uses_the_model_at_that_location() -> None:
    err = error_of(
        """\
        agents:
          - backend: {type: vllm, model: m}
        orchestrator:
          stratgy: vote
        """
    )
    assert (
        str(err)
        == f"{SOURCE}:4: orchestrator.stratgy: unknown key 'stratgy' (did you mean 'strategy'?)"
    )


def test_unknown_key_without_a_close_match_lists_valid_keys() -> None:
    err = error_of("agents:\n  - backend: {type: vllm, model: m}\n    colour: red\n")
    assert str(err) == (
        f"{SOURCE}:3: agents[0].colour: unknown key 'colour' "
        "(valid keys: id, system_message, backend, max_cost_usd, max_total_tokens, understanding, generation)"
    )


def test_missing_required_key_points_at_the_parent_line() -> None:
    err = error_of(
        """\
        agents:
          - id: a
            backend:
              model: gpt-5-nano
        """
    )
    assert str(err) == f"{SOURCE}:3: agents[0].backend.type: missing required key 'type'"


def test_literal_lists_the_choices() -> None:
    err = error_of(
        """\
        agents: [{backend: {type: vllm, model: m}}]
        orchestrator:
          strategy: debat
        ui: {display_type: textual}
        """
    )
    assert str(err) == (
        f"{SOURCE}:3: orchestrator.strategy: must be one of: vote, debate, judge "
        "(did you mean 'debate'?)"
    )
    err = error_of("agents: [{backend: {type: vllm, model: m}}]\nui:\n  display_type: fancy\n")
    assert str(err) == f"{SOURCE}:3: ui.display_type: must be one of: textual, plain, json"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("temperature: abc", "temperature: expected a number, got 'abc'"),
        ("max_tokens: 1.5", "max_tokens: expected a whole number, got 1.5"),
        ("stream: maybe", "stream: expected true or false, got 'maybe'"),
        ("model: 5", "model: expected a string, got 5 (put it in quotes)"),
        ("temperature: 5", "temperature: must be at most 2, got 5"),
        ("timeout: 0", "timeout: must be greater than 0, got 0"),
        ("max_retries: -1", "max_retries: must be at least 0, got -1"),
    ],
)
def test_type_and_range_errors_are_short(line: str, expected: str) -> None:
    err = error_of(f"agents:\n  - backend:\n      type: vllm\n      {line}\n")
    assert str(err) == f"{SOURCE}:4: agents[0].backend.{expected}"


def test_empty_section_says_it_is_empty() -> None:
    err = error_of("agents:\n  - id: a\n    backend:\n")
    assert str(err) == f"{SOURCE}:3: agents[0].backend: expected a mapping, got an empty value"


def test_more_problems_are_counted_and_all_kept() -> None:
    err = error_of(
        """\
        agents:
          - backend:
              type: gpt
              temprature: 1
        orchestrator: {strategy: consensus}
        """
    )
    assert str(err) == (
        f"{SOURCE}:3: agents[0].backend.type: unknown backend 'gpt' (did you mean 'openai'?) "
        "(and 2 more problems)"
    )
    assert isinstance(err, ConfigFileError)
    assert err.problems == [
        f"{SOURCE}:3: agents[0].backend.type: unknown backend 'gpt' (did you mean 'openai'?)",
        f"{SOURCE}:4: agents[0].backend.temprature: unknown key 'temprature' "
        "(did you mean 'temperature'?)",
        f"{SOURCE}:5: orchestrator.strategy: must be one of: vote, debate, judge",
    ]


def test_one_more_problem_is_singular() -> None:
    err = error_of("agents:\n  - backend: {type: vllm, model: m, top: 1, tmp: 2}\n")
    assert str(err).endswith(" (and 1 more problem)")


def test_first_problem_is_the_first_in_the_file() -> None:
    # pydantic checks `agents` before `ui`; the user reads the file top to bottom.
    err = error_of(
        """\
        ui:
          display_type: fancy
        agents:
          - backend: {type: gpt}
        """
    )
    assert str(err).startswith(f"{SOURCE}:2: ui.display_type: must be one of:")


def test_secret_values_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    err = error_of("agents:\n  - backend:\n      type: vllm\n      api_key: 987654321\n")
    assert str(err) == f"{SOURCE}:4: agents[0].backend.api_key: expected a string"
    monkeypatch.setenv("MY_SECRET", "sk-supersecret")
    err = error_of("agents:\n  - backend:\n      type: vllm\n      temperature: ${MY_SECRET}\n")
    assert "sk-supersecret" not in str(err)
    assert str(err) == (
        f"{SOURCE}:4: agents[0].backend.temperature: expected a number, "
        "got the expanded value of '${MY_SECRET}'"
    )


def test_duplicate_keys_are_an_error() -> None:
    err = error_of(
        """\
        agents:
          - backend:
              type: vllm
              model: a
              model: b
        """
    )
    assert (
        str(err) == f"{SOURCE}:5: agents[0].backend.model: duplicate key 'model' (first on line 4)"
    )


def test_merge_keys_are_not_duplicates_and_keep_lines() -> None:
    text = """\
        base: &base
          type: vllm
          model: a
        agents:
          - backend:
              <<: *base
              model: b
          - backend:
              <<: *base
              temprature: 1
        """
    err = error_of(text)
    assert isinstance(err, ConfigFileError)
    assert err.problems == [
        f"{SOURCE}:1: base: unknown key 'base' (valid keys: agents, agent, orchestrator, ui)",
        f"{SOURCE}:10: agents[1].backend.temprature: unknown key 'temprature' "
        "(did you mean 'temperature'?)",
    ]


def test_merge_keys_expand_like_plain_mappings() -> None:
    config = load_config_text(
        textwrap.dedent(
            """\
            agents:
              - backend: &base
                  type: vllm
                  model: a
              - backend:
                  <<: *base
                  model: b
            """
        )
    ).config
    assert [(a.backend.type, a.backend.model) for a in config.agents] == [
        ("vllm", "a"),
        ("vllm", "b"),
    ]


# --- file and YAML problems ----------------------------------------------------------------


def test_invalid_yaml_names_line_and_column() -> None:
    err = error_of("agents:\n  - backend: {type: vllm\n  - id: b\n")
    assert str(err) == f"{SOURCE}:3:7: invalid YAML: expected ',' or '}}', but got ':'"


def test_tabs_are_invalid_yaml() -> None:
    err = error_of("agents:\n\t- id: a\n")
    assert str(err) == (
        f"{SOURCE}:2:1: invalid YAML: found character '\\t' that cannot start any token"
    )


def test_several_documents_are_invalid() -> None:
    err = error_of("agents: []\n---\nagents: []\n")
    assert str(err).startswith(f"{SOURCE}:2:1: invalid YAML: ")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "~\n"])
def test_empty_config(text: str) -> None:
    assert str(error_of(text)) == (
        f"{SOURCE}: config is empty: expected a mapping with an 'agents:' list"
    )


def test_top_level_must_be_a_mapping() -> None:
    assert str(error_of("# c\n- a\n- b\n")) == (
        f"{SOURCE}:2: the top level must be a mapping (agents:, orchestrator:, ui:), got a list"
    )
    assert str(error_of("hello\n")) == (
        f"{SOURCE}:1: the top level must be a mapping (agents:, orchestrator:, ui:), got 'hello'"
    )


def test_missing_file() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config("configs/nope.yaml")
    assert str(info.value) == "configs/nope.yaml: config file not found"


def test_directory_is_not_a_config() -> None:
    Path("configs").mkdir()
    with pytest.raises(ConfigurationError) as info:
        load_config("configs")
    assert str(info.value) == "configs: is a directory, not a config file"


def test_binary_file_is_not_a_config() -> None:
    Path("bin.yaml").write_bytes(b"\xff\xfe\x00agents")
    with pytest.raises(ConfigurationError) as info:
        load_config("bin.yaml")
    assert str(info.value) == "bin.yaml: cannot read config: not UTF-8 text"


def test_load_config_text_uses_the_given_source() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config_text("agents:\n  - backend: {type: gpt}\n", source="inline")
    assert str(info.value) == (
        "inline:2: agents[0].backend.type: unknown backend 'gpt' (did you mean 'openai'?)"
    )


# --- ${VAR} expansion --------------------------------------------------------------------


def backend_of(text: str) -> dict[str, object]:
    config = load_config_text(textwrap.dedent(text)).config
    return config.agents[0].backend.model_dump()


def test_var_expands_inside_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST", "example.test")
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("MODEL", "m1")
    backend = backend_of(
        """\
        agent:
          backend:
            type: vllm
            base_url: "http://${HOST}:${PORT}/v1"
            model: ${MODEL}
        """
    )
    assert backend["base_url"] == "http://example.test:9000/v1"
    assert backend["model"] == "m1"


def test_default_used_when_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSET_X", raising=False)
    monkeypatch.setenv("EMPTY_X", "")
    backend = backend_of(
        """\
        agent:
          backend:
            type: vllm
            base_url: ${UNSET_X:-http://127.0.0.1:8000/v1}
            model: ${EMPTY_X:-fallback}
        """
    )
    assert backend["base_url"] == "http://127.0.0.1:8000/v1"
    assert backend["model"] == "fallback"


def test_set_variable_beats_default_and_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMP_X", "0.25")
    backend = backend_of(
        "agent:\n  backend: {type: vllm, model: m, temperature: '${TEMP_X:-1.5}'}\n"
    )
    assert backend["temperature"] == 0.25


def test_api_key_expands_into_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_X", "sk-123")
    config = load_config_text(
        "agent:\n  backend: {type: vllm, model: m, api_key: '${KEY_X}'}\n"
    ).config
    api_key = config.agents[0].backend.api_key
    assert api_key is not None
    assert api_key.get_secret_value() == "sk-123"
    assert "sk-123" not in repr(config)


def test_double_dollar_is_a_literal() -> None:
    config = load_config_text(
        "agent:\n  system_message: 'use $${name} and $5'\n  backend: {type: vllm, model: m}\n"
    ).config
    assert config.agents[0].system_message == "use ${name} and $5"


def test_unset_variable_names_file_line_key_and_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    err = error_of(
        """\
        # comment
        agents:
          - id: a
            backend:
              type: chatcompletion
              model: gpt-5-nano
              api_key: ${OPENAI_API_KEY}
        """
    )
    assert str(err) == (
        "configs/x.yaml:7: agents[0].backend.api_key: environment variable OPENAI_API_KEY "
        "is not set"
    )


def test_every_unset_variable_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("UNSET_A", "UNSET_B"):
        monkeypatch.delenv(name, raising=False)
    err = error_of("agent:\n  backend:\n    type: vllm\n    model: ${UNSET_A}-${UNSET_B}\n")
    assert isinstance(err, ConfigFileError)
    assert err.problems == [
        f"{SOURCE}:4: agent.backend.model: environment variable UNSET_A is not set",
        f"{SOURCE}:4: agent.backend.model: environment variable UNSET_B is not set",
    ]


def test_dict_values_are_never_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dict comes from a caller (API, LiteLLM, a server request): ${VAR} stays literal, and
    an unset name is not reported (that would tell a caller which variables exist)."""
    monkeypatch.setenv("MODEL_D", "from-env")
    loaded = load_config_dict({"agent": {"backend": {"type": "vllm", "model": "${MODEL_D}"}}})
    assert loaded.config.agents[0].backend.model == "${MODEL_D}"
    monkeypatch.delenv("MODEL_D")
    loaded = load_config_dict({"agent": {"backend": {"type": "vllm", "model": "${MODEL_D}"}}})
    assert loaded.config.agents[0].backend.model == "${MODEL_D}"


def test_keys_and_non_strings_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T", "x")
    err = error_of("agent:\n  backend: {type: vllm, model: m}\n  ${T}: 1\n")
    assert (
        str(err)
        == f"{SOURCE}:3: agent.${{T}}: unknown key '${{T}}' (valid keys: id, system_message, backend, max_cost_usd, max_total_tokens, understanding, generation)"
    )


def test_internal_loc_parts_are_dropped_from_key_paths() -> None:
    # pydantic adds union-member tags to ``loc`` for union-typed fields; they are not keys.
    from massgen.config.loader import data_loc as _data_loc

    data = {"agents": [{"backend": {"type": 5}}]}
    loc = ("agents", 0, "backend", "str", "type")
    assert _data_loc(data, loc) == ("agents", 0, "backend", "type")
    missing = ("agents", 0, "backend", "model")
    assert _data_loc(data, missing) == missing


@pytest.mark.parametrize(
    ("strategy", "option", "value", "applies"),
    [
        ("vote", "judge", "a1", "debate and judge"),
        ("vote", "layers", 2, "judge"),
        ("vote", "consensus_threshold", 0.5, "debate"),
        ("judge", "max_rounds", 3, "vote and debate"),
        ("judge", "consensus_threshold", 0.5, "debate"),
        ("debate", "layers", 2, "judge"),
        ("debate", "vote_weighting", "confidence", "vote"),
    ],
)
def test_another_strategys_option_is_refused(strategy, option, value, applies) -> None:
    error = error_of(
        f"""\
        agents:
          - {{id: a1, backend: {{type: vllm, model: m}}}}
        orchestrator:
          strategy: {strategy}
          {option}: {value}
        """
    )
    assert f"orchestrator.{option}: applies to strategy {applies}, not {strategy}" in str(error)


def test_a_strategys_own_options_load() -> None:
    for strategy, option, value in [
        ("vote", "max_rounds", 3),
        ("debate", "consensus_threshold", 0.67),
        ("debate", "judge", "a1"),
        ("judge", "layers", 2),
    ]:
        text = (
            "agents:\n  - {id: a1, backend: {type: vllm, model: m}}\n"
            f"orchestrator: {{strategy: {strategy}, {option}: {value}}}\n"
        )
        assert load_config_text(text, "c.yaml").config.orchestrator.strategy == strategy


def test_a_dumped_config_loads_again() -> None:
    """model_dump() writes every default, other strategies' options included."""
    for strategy in ("vote", "debate", "judge"):
        text = f"agents:\n  - {{id: a1, backend: {{type: vllm, model: m}}}}\norchestrator: {{strategy: {strategy}}}\n"
        dumped = load_config_text(text, "c.yaml").config.model_dump(mode="json")
        assert load_config_dict(dumped).config.orchestrator.strategy == strategy
