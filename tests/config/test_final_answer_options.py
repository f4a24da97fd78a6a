"""``orchestrator.final_answer_max_tokens`` and ``final_answer_stop`` (what a server request's
``max_tokens`` and ``stop`` become): refused, on their line, where the team has no final call
to apply them to or an agent that may make it cannot; and honoured on the wire by a run."""

from __future__ import annotations

import textwrap

import pytest

import massgen
from massgen.config.loader import load_config_text
from massgen.errors import ConfigurationError
from tests.fakes.chat_server import FakeChatServer

TEAM = """\
agents:
  - {id: a1, backend: {type: vllm, model: m}}
  - {id: r1, backend: {type: openai, model: gpt-4o}}
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigurationError) as info:
        load_config_text(textwrap.dedent(text), "team.yaml")
    return str(info.value)


def test_stop_sequences_need_a_provider_that_takes_them() -> None:
    message = _error(TEAM + "orchestrator:\n  final_answer_stop: ['\\n\\n']\n")
    assert message == (
        "team.yaml:5: orchestrator.final_answer_stop: agent r1 may write the final answer, and "
        "the openai API has no stop sequences (chatcompletion and its presets, azure_openai, "
        "claude, gemini and local have them)"
    )
    assert load_config_text(TEAM + "orchestrator:\n  final_answer_max_tokens: 500\n").config


@pytest.mark.parametrize(
    ("orchestrator", "expected"),
    [
        (
            "final_answer: reuse\n  final_answer_max_tokens: 500",
            "final_answer_max_tokens: the final answer is the chosen answer as it is "
            "(final_answer: reuse): no final call to apply it to",
        ),
        (
            "strategy: debate\n  final_answer_stop: [END]",
            "final_answer_stop: a debate without a judge ends with the majority's answer as "
            "it is: no final call to apply it to (set judge)",
        ),
        ("final_answer_stop: ['']", "final_answer_stop: a stop sequence must not be empty"),
        ("final_answer_stop: [a, b, c, d, e]", "final_answer_stop: "),
        ("final_answer_max_tokens: 0", "final_answer_max_tokens: "),
    ],
)
def test_options_with_nothing_to_apply_to_are_refused(orchestrator: str, expected: str) -> None:
    team = "agents:\n  - {id: a1, backend: {type: vllm, model: m}}\n"
    message = _error(f"{team}orchestrator:\n  {orchestrator}\n")
    assert f": orchestrator.{expected}" in message, message


async def test_a_run_of_one_agent_presents_a_capped_final_answer() -> None:
    with FakeChatServer() as provider:
        team = {"agents": [{"backend": {"type": "vllm", "model": "m", "base_url": provider.url}}]}
        result = await massgen.run(
            "What is 2+2?",
            config=team,
            final_answer_max_tokens=2,
            final_answer_stop=["<END>"],
        )
    assert result["final_answer"] == "Final answer:"
    answer, final = (request.body for request in provider.requests)
    assert "max_tokens" not in answer and "stop" not in answer
    assert final["max_tokens"] == 2 and final["stop"] == ["<END>"]
