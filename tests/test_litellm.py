"""massgen as a LiteLLM provider, through the real ``litellm.completion`` entry points."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch on import
litellm = pytest.importorskip("litellm")

import massgen  # noqa: E402
from tests.fakes.chat_server import FakeChatServer  # noqa: E402

HIDDEN = {
    "massgen_selected_agent",
    "massgen_vote_results",
    "massgen_session_id",
    "massgen_config_used",
    "massgen_answers",
}


@pytest.fixture(scope="module")
def provider():
    massgen.register_with_litellm()
    with FakeChatServer() as server:
        yield server


def team(url: str, n: int = 3) -> dict:
    return {
        "agents": [
            {"id": f"a{i}", "backend": {"type": "vllm", "model": "m", "base_url": url}}
            for i in range(1, n + 1)
        ]
    }


def ask(question: str = "What is 2+2?") -> list[dict]:
    return [{"role": "user", "content": question}]


def check(response, question: str = "What is 2+2?", agents: int = 3) -> None:
    answer = response.choices[0].message.content
    assert answer.startswith("Final answer") and question in answer
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert response.usage.total_tokens == (
        response.usage.prompt_tokens + response.usage.completion_tokens
    )
    hidden = response._hidden_params
    assert set(hidden) >= HIDDEN
    assert hidden["massgen_selected_agent"] == "a1"
    assert hidden["massgen_vote_results"]["vote_counts"] == {"a1": agents}
    assert len(hidden["massgen_answers"]) == agents and hidden["massgen_session_id"]


def test_registration_is_idempotent(provider):
    first = massgen.register_with_litellm()
    assert massgen.register_with_litellm() is first
    assert [p["provider"] for p in litellm.custom_provider_map].count("massgen") == 1


def test_completion_with_a_config_dict(provider):
    response = litellm.completion(
        model="massgen/build",
        messages=ask(),
        optional_params={"config": team(provider.url)},
    )
    check(response)
    assert response._hidden_params["massgen_config_used"] == "<dict>"


def test_completion_from_a_config_file_with_history(provider, tmp_path):
    import yaml

    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(team(provider.url, 2)))
    provider.reset()
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Earlier question"},
        {"role": "assistant", "content": "Earlier answer"},
        {"role": "user", "content": "Now?"},
    ]
    response = litellm.completion(model=f"massgen/path:{path}", messages=messages)
    check(response, "Now?", agents=2)
    assert response._hidden_params["massgen_config_used"] == str(path)
    first_prompt = provider.requests[0].body["messages"][-1]["content"]
    assert "Earlier question" in first_prompt and "Earlier answer" in first_prompt


def test_completion_in_a_thread_and_inside_a_running_loop(provider):
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            litellm.completion(model="massgen/build", messages=ask(), config=team(provider.url, 2))
        )
    )
    thread.start()
    thread.join(60)
    check(results[0], agents=2)

    async def inside_loop():
        return litellm.completion(
            model="massgen/build", messages=ask(), optional_params={"config": team(provider.url)}
        )

    import asyncio

    check(asyncio.run(inside_loop()))


async def test_acompletion(provider, tmp_path):
    out = tmp_path / "answer.md"
    response = await litellm.acompletion(
        model="massgen/build",
        messages=ask(),
        optional_params={"config": team(provider.url), "output_file": str(out)},
    )
    check(response)
    assert out.read_text() == response.choices[0].message.content


def test_streaming_text_equals_the_answer(provider):
    chunks = list(
        litellm.completion(
            model="massgen/build",
            messages=ask("A question whose answer is long enough to need several chunks?"),
            optional_params={"config": team(provider.url)},
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    text = "".join(pieces)
    assert len(pieces) >= 2  # the answer arrives in several content chunks
    assert re.fullmatch(r"Final answer.*several chunks\? \(#\d+ from m\)", text, re.S), text
    usage = chunks[-1].usage
    assert usage.prompt_tokens > 0 and usage.total_tokens == (
        usage.prompt_tokens + usage.completion_tokens
    )


async def test_async_streaming(provider):
    stream = await litellm.acompletion(
        model="massgen/build",
        messages=ask(),
        optional_params={"config": team(provider.url, 2)},
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Final answer") and "What is 2+2?" in text
    assert chunks[-1].usage.prompt_tokens > 0


def test_streaming_sends_the_answer_while_it_is_written(provider):
    import time

    with FakeChatServer(tokens_per_second=40) as slow:
        arrivals = [
            time.monotonic()
            for c in litellm.completion(
                model="massgen/build",
                messages=ask(),
                optional_params={"config": team(slow.url, 2)},
                stream=True,
            )
            if c.choices and c.choices[0].delta.content
        ]
    # token by token at 40 tokens/s: pieces spread over the writing, not one burst at the end
    assert len(arrivals) > 3 and arrivals[-1] - arrivals[0] > 0.05


def test_leaving_a_stream_early_cancels_the_run(provider):
    with FakeChatServer(tokens_per_second=20) as slow:
        stream = litellm.completion(
            model="massgen/build",
            messages=ask(),
            optional_params={"config": team(slow.url, 2)},
            stream=True,
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break  # the presenter is still writing
        stream.completion_stream.close()  # what a caller's `with`/GC does to the generator
        presenting = slow.requests[-1]
        assert presenting.client_closed or presenting.completed is False
        threads = [t.name for t in threading.enumerate()]
        assert "massgen-stream" not in threads


@pytest.mark.parametrize(
    ("model", "params", "message"),
    [
        ("massgen/build", {}, "massgen/build needs optional_params"),
        ("massgen/no_such_example_xyz", {}, "no_such_example_xyz"),
        ("massgen/path:/nonexistent/team.yaml", {}, "/nonexistent/team.yaml"),
        ("massgen/build", {"models": ["a"], "model": "b"}, "either models or model"),
        ("massgen/model:m", {"models": ["a"]}, "only go with massgen/build"),
        (
            "massgen/build",
            {"model": "vllm/x", "context_paths": ["/nonexistent/project"]},
            "/nonexistent/project does not exist",
        ),
    ],
)
def test_bad_input_surfaces_the_configuration_error(provider, model, params, message):
    with pytest.raises(Exception, match=message.replace("+", r"\+")) as info:
        litellm.completion(model=model, messages=ask(), optional_params=params)
    error, chain = info.value, []
    while error is not None and len(chain) < 5:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, massgen.ConfigurationError) for e in chain), chain


def test_a_question_is_required(provider):
    with pytest.raises(Exception, match="user message"):
        litellm.completion(
            model="massgen/build",
            messages=[{"role": "system", "content": "only a system prompt"}],
            optional_params={"config": team(provider.url)},
        )


def test_import_massgen_does_not_import_litellm():
    code = (
        "import sys, massgen, massgen.api, massgen.cli; "
        "assert 'register_with_litellm' in massgen.__all__; "
        "assert 'litellm' not in sys.modules, 'litellm imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
