"""Files through the ``massgen`` command, with three agents on a protocol-faithful fake server
whose models call the file tools: a read-only ``--context`` answers from a file in it; a
``:write`` grant changes the file only in the presentation turn, the output and the session
say what changed, and ``massgen logs restore`` undoes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fakes.chat_server import CoordinationBrain, FakeChatServer


def massgen(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "massgen", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MASSGEN_LOG_DIR": str(tmp_path / "sessions"), "HOME": str(tmp_path)}


def team(tmp_path: Path, url: str) -> Path:
    backend = {"type": "vllm", "model": "m", "base_url": url}
    path = tmp_path / "team.yaml"
    path.write_text(
        yaml.safe_dump({"agents": [{"id": f"a{i}", "backend": backend} for i in (1, 2, 3)]})
    )
    return path


def events_of(tmp_path: Path) -> tuple[Path, list[dict]]:
    (session,) = (tmp_path / "sessions").iterdir()
    lines = (session / "events.jsonl").read_text().splitlines()
    return session, [json.loads(line) for line in lines]


def test_three_agents_answer_from_a_read_only_context_file(tmp_path, env):
    project = tmp_path / "project"
    project.mkdir()
    (project / "NOTES.md").write_text("The release codename is BLUE HERON.\n")
    brain = CoordinationBrain(tool_plan={"read_text_file": {"path": str(project / "NOTES.md")}})
    with FakeChatServer(brain=brain) as fake:
        proc = massgen(
            "-c", str(team(tmp_path, fake.url)), "--ui", "plain", "--context", str(project),
            "What is the release codename?", env=env, cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "BLUE HERON" in proc.stdout  # the final answer quotes the file
    session, events = events_of(tmp_path)
    answers = {e["agent_id"]: e["content"] for e in events if e["type"] == "answer_submitted"}
    assert set(answers) == {"a1", "a2", "a3"}
    assert all("BLUE HERON" in a for a in answers.values())
    assert (project / "NOTES.md").read_text() == "The release codename is BLUE HERON.\n"
    assert not (session / "originals" / "manifest.json").exists()  # nothing to undo


def test_a_write_grant_changes_the_file_only_when_presenting_and_restore_undoes_it(tmp_path, env):
    project = tmp_path / "site"
    project.mkdir()
    page = project / "index.html"
    page.write_text("<h1>Old title</h1>\n")
    edit = {"path": str(page), "edits": [{"oldText": "Old title", "newText": "New title"}]}
    brain = CoordinationBrain(tool_plan={"edit_file": edit})
    with FakeChatServer(brain=brain) as fake:
        proc = massgen(
            "-c", str(team(tmp_path, fake.url)), "--ui", "plain",
            "--context", f"{project}:write", "Retitle the page", env=env, cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert page.read_text() == "<h1>New title</h1>\n"
    session, events = events_of(tmp_path)
    edits = [e for e in events if e["type"] == "tool_call_finished" and e["name"] == "edit_file"]
    winner_seq = next(e["seq"] for e in events if e["type"] == "winner_selected")
    during = [e for e in edits if e["seq"] < winner_seq]
    presenting = [e for e in edits if e["seq"] > winner_seq]
    assert len(during) >= 3 and all(e["is_error"] for e in during)
    assert "read-only here" in during[0]["result"]
    assert len(presenting) == 1 and not presenting[0]["is_error"]
    assert "+<h1>New title</h1>" in presenting[0]["result"]
    assert f"changed your files: {page} (changed)" in proc.stderr
    summary = json.loads((session / "summary.json").read_text())
    assert summary["parts"][-1]["files_changed"] == [{"path": str(page), "how": "changed"}]

    undo = massgen("logs", "restore", session.name, env=env, cwd=tmp_path)
    assert undo.returncode == 0, undo.stderr
    assert undo.stdout.splitlines() == [
        f"restored {page}",
        f"1 file(s) put back from {session.name}.",
    ]
    assert page.read_text() == "<h1>Old title</h1>\n"
    again = massgen("logs", "restore", session.name, env=env, cwd=tmp_path)
    assert again.stdout.strip() == f"Nothing to undo in {session.name}."


def test_restore_refuses_to_overwrite_an_edit_made_after_the_run_unless_forced(tmp_path, env):
    project = tmp_path / "site"
    project.mkdir()
    page = project / "index.html"
    page.write_text("<h1>Old title</h1>\n")
    edit = {"path": str(page), "edits": [{"oldText": "Old title", "newText": "New title"}]}
    brain = CoordinationBrain(tool_plan={"edit_file": edit})
    with FakeChatServer(brain=brain) as fake:
        proc = massgen(
            "-c", str(team(tmp_path, fake.url)), "--ui", "plain",
            "--context", f"{project}:write", "Retitle the page", env=env, cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert page.read_text() == "<h1>New title</h1>\n"
    session, _ = events_of(tmp_path)
    page.write_text("<h1>New title</h1>\n<p>The user's paragraph, added later.</p>\n")

    undo = massgen("logs", "restore", session.name, env=env, cwd=tmp_path)
    assert undo.returncode == 1
    assert undo.stdout == ""
    assert undo.stderr.splitlines() == [
        f"massgen: error: not restoring: 1 file(s) changed since the run: {page}; "
        f"'massgen logs restore {session.name} --force' puts the originals back over those "
        "changes"
    ]
    assert "The user's paragraph" in page.read_text()

    forced = massgen("logs", "restore", session.name, "--force", env=env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.splitlines()[0] == f"restored {page}"
    assert page.read_text() == "<h1>Old title</h1>\n"


def test_a_context_path_that_does_not_exist_is_one_line(tmp_path, env):
    with FakeChatServer() as fake:
        proc = massgen(
            "-c", str(team(tmp_path, fake.url)), "--ui", "plain", "--context", "missing-dir",
            "q", env=env, cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].endswith(f"{tmp_path}/missing-dir does not exist"), proc.stderr
    assert "Traceback" not in proc.stderr
