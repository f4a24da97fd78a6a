"""``massgen.testing``: the fake providers, as a user of massgen tests their own code with
them — a context manager and a config for ``massgen.run``, scripted replies, and the pytest
fixtures enabled by ``pytest_plugins`` in a project of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import massgen
from massgen.testing import Reply, fake_provider, team_config


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_a_team_runs_offline_on_each_fake_provider(kind: str) -> None:
    with fake_provider(kind) as fake:
        result = await massgen.run(
            "What is 2 + 2?", config=team_config(fake, agents=2), enable_filesystem=False
        )
    assert "What is 2 + 2?" in result["final_answer"]
    assert result["vote_results"]["winner"] in ("agent1", "agent2")
    assert len(fake.requests) >= 4  # two answers, two votes (and the final answer)


async def test_scripted_replies_and_a_wrong_key_are_real() -> None:
    with fake_provider("openai", api_key="the-right-key") as fake:
        config = team_config(fake)
        config["agents"][0]["backend"]["api_key"] = "a-wrong-key"
        with pytest.raises(massgen.RunFailedError):
            await massgen.run("Hi", config=config, enable_filesystem=False)
        fake.enqueue(Reply(tool_calls=[("new_answer", json.dumps({"content": "Scripted: 4"}))]))
        result = await massgen.run("Hi", config=team_config(fake), enable_filesystem=False)
    assert result["final_answer"] == "Scripted: 4"
    assert fake.requests[0].status == 401


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="one of openai, anthropic, gemini"), fake_provider("x"):
        pass


def test_the_pytest_plugin_in_a_users_project(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["massgen.testing.pytest_plugin"]\n')
    (tmp_path / "test_mine.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            import massgen
            from massgen.testing import team_config


            def test_my_code(massgen_fake_openai, massgen_fake_anthropic):
                config = team_config(massgen_fake_openai, massgen_fake_anthropic)
                result = asyncio.run(
                    massgen.run("Name a colour", config=config, enable_filesystem=False)
                )
                assert "Name a colour" in result["final_answer"]
                assert massgen_fake_anthropic.requests and massgen_fake_openai.requests
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
