"""The config loader on inputs a stranger controls (a downloaded config, a shared example):
random text, random YAML documents and random values in a config's shape. Every input either
loads or raises :class:`ConfigurationError` whose message is one line naming the source."""

from __future__ import annotations

import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from massgen.config.loader import load_config_text
from massgen.errors import ConfigurationError

#: ``MASSGEN_FUZZ_EXAMPLES=5000 pytest tests/config/test_fuzz_loader.py`` for a long run.
EXAMPLES = int(os.environ.get("MASSGEN_FUZZ_EXAMPLES", "400"))
SOURCE = "fuzz.yaml"
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load(text: str) -> None:
    try:
        load_config_text(text, SOURCE)
    except ConfigurationError as exc:
        message = str(exc)
        assert message.startswith(SOURCE), message
        assert "\n" not in message, message
        assert "Traceback" not in message


_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["${HOME}", "${NOPE_X}", "${A:-b}", "$${x}", "vllm", "local", "gpt-5"])
)
_value = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_scalar, inner, max_size=3),
    max_leaves=10,
)
_backend = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["vllm", "openai", "claude", "local", "gpt"]) | _value,
        "model": _value,
        "base_url": _value,
        "temperature": _value,
        "timeout": _value,
        "api_key": _value,
        "max_tokens": _value,
    },
)
_config = st.fixed_dictionaries(
    {},
    optional={
        "agents": st.lists(st.fixed_dictionaries({"backend": _backend}, optional={"id": _value}))
        | _value,
        "agent": _value,
        "orchestrator": st.dictionaries(
            st.sampled_from(["timeout_seconds", "max_rounds", "strategy", "colour"]), _value
        )
        | _value,
        "ui": _value,
    },
)


@FUZZ
@given(text=st.text(max_size=200))
def test_any_text(text: str) -> None:
    _load(text)


@FUZZ
@given(data=_config)
def test_any_values_in_a_configs_shape(data: dict) -> None:
    _load(yaml.safe_dump(data, allow_unicode=True))


@FUZZ
@given(
    lines=st.lists(
        st.sampled_from(
            [
                "agents:",
                "  - backend: {type: vllm, model: m}",
                "a: &a [1, 2]",
                "b: [*a, *a]",
                "<<: *a",
                "- *a",
                "  x: !!python/object:os.system x",
                "\t",
                "? [a]",
                ": b",
                "%YAML 1.1",
                "---",
                "...",
                "'unterminated",
                "k: \x00",
                "k: \x1b[2J",
                "*nope",
            ]
        )
        | st.text(max_size=30),
        max_size=12,
    )
)
def test_any_mix_of_yaml_features(lines: list[str]) -> None:
    _load("\n".join(lines) + "\n")
