"""Files in a coordination (engine level, scripted models): context paths are read-only for
everyone while agents coordinate; an answer carries a snapshot of its author's workspace that
the others read under its anonymous label; only the final presenter writes a ``write`` grant,
and what it changed is an event, in the result, and undoable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from massgen.config.schema import ContextPathConfig, OrchestratorConfig
from massgen.coordination.coordinator import Coordinator
from massgen.coordination.state import AgentSpec
from massgen.errors import ConfigurationError
from massgen.events import EventBus
from massgen.tools import commands
from massgen.workspaces.manager import restore
from tests.support.scripted import Call, ScriptedBackend, Step, answer, say, vote


def call(name: str, **arguments) -> Step:
    return Step(calls=[(name, arguments)])


async def run(scripts, tmp_path: Path, root: Path | None = None, **orchestrator):
    bus = EventBus()
    events: list = []
    bus.add_listener(events.append)
    agents = [
        AgentSpec(f"a{i}", ScriptedBackend(f"a{i}", script)) for i, script in enumerate(scripts, 1)
    ]
    config = OrchestratorConfig(**orchestrator)
    result = await Coordinator(agents, config, bus, workspace_root=root).run("q")
    return result, events, [a.backend for a in agents]


def results(events, name: str) -> list:
    return [e for e in events if e.type == "tool_call_finished" and e.name == name]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "facts.txt").write_text("The capital of Freedonia is Fredville.\n")
    return folder


async def test_agents_read_a_context_path_and_cannot_write_it(tmp_path, project):
    facts = str(project / "facts.txt")
    script = [
        call("read_text_file", path=facts),
        call("write_file", path=facts, content="vandalised"),
        answer("Fredville"),
        vote("agent1"),
    ]
    result, events, backends = await run(
        [script, [answer("other"), vote("agent1")]],
        tmp_path,
        context_paths=[ContextPathConfig(path=str(project))],
    )
    assert result.ok and result.final_answer
    read, write = results(events, "read_text_file")[0], results(events, "write_file")[0]
    assert not read.is_error and "Fredville" in read.output
    assert write.is_error and "read-only here" in write.output
    assert (project / "facts.txt").read_text().startswith("The capital")
    first = backends[0].calls[0]
    assert "read_text_file" in first.tools and "run_command" not in first.tools
    assert f"Read-only for you now: {project}" in first.user_text
    assert result.files_changed == []


async def test_a_write_grant_opens_only_for_the_presenter(tmp_path, project):
    report = project / "report.md"
    report.write_text("draft\n")
    attempt = call("write_file", path=str(report), content="final report\n")
    script = [attempt, answer("I will write the report"), vote("agent1"), attempt, say("Done.")]
    result, events, backends = await run(
        [script, [answer("b"), vote("agent1")]],
        tmp_path,
        root=tmp_path / "session",
        context_paths=[ContextPathConfig(path=str(project), permission="write")],
    )
    writes = results(events, "write_file")
    winner_at = next(i for i, e in enumerate(events) if e.type == "winner_selected")
    before = [e for e in writes if events.index(e) < winner_at]
    after = [e for e in writes if events.index(e) > winner_at]
    assert before and all(e.is_error and "read-only here" in e.output for e in before)
    assert len(after) == 1 and not after[0].is_error
    assert report.read_text() == "final report\n"
    presentation = backends[0].calls[-2]
    assert f"You may also change these files of the user's: {project}" in presentation.user_text
    changed = next(e for e in events if e.type == "files_changed")
    assert changed.changes[0]["how"] == "changed"
    assert "-draft\n+final report" in changed.changes[0]["diff"]
    assert result.files_changed == [{"path": str(report), "how": "changed"}]
    assert restore(tmp_path / "session") == [f"restored {report}"]
    assert report.read_text() == "draft\n"


def _read_peer_files(backend_name: str):
    """A model that, once a peer's answer names its files, reads them and answers with them."""

    def script(call_: Call) -> Step | None:
        text = call_.user_text
        found = re.search(r"\(its files: (\S+)\)", text)
        results_so_far = [m.content for m in call_.messages if m.role == "tool"]
        if found and "vote" in call_.tools and not results_so_far:
            return call("read_text_file", path=f"{found.group(1)}/notes.md")
        if results_so_far and "vote" in call_.tools:
            return answer(f"{backend_name} read: {results_so_far[-1]}")
        return None

    return script


async def test_peers_read_an_answers_snapshot_under_its_label(tmp_path):
    author = [call("write_file", path="notes.md", content="agent1's notes"), answer("see notes")]
    result, events, backends = await run(
        [author, _read_peer_files("a2")],
        tmp_path,
        root=tmp_path / "session",
        enable_command_line=False,
        context_paths=[ContextPathConfig(path=str(tmp_path))],
        max_new_answers_per_agent=2,
    )
    (by_author,) = [e for e in events if e.type == "answer_submitted" and e.agent_label == "agent1"]
    assert by_author.files == ["notes.md"]
    shared = tmp_path / "session" / "snapshots" / "latest" / "agent1"
    assert any(f"(its files: {shared})" in c.user_text for c in backends[1].calls)
    read = [e for e in results(events, "read_text_file") if e.agent_id == "a2"]
    assert read and read[0].output == "agent1's notes"
    assert (tmp_path / "session" / "snapshots" / "agent1.1" / "notes.md").is_file()
    assert not (tmp_path / "session" / "staging").exists()  # copies in waiting: none left
    assert any("a2 read: agent1's notes" in a.content for a in result.answers)


async def test_enable_filesystem_false_removes_the_file_tools(tmp_path, project):
    _, _, backends = await run(
        [[], []],
        tmp_path,
        context_paths=[ContextPathConfig(path=str(project))],
        enable_filesystem=False,
    )
    assert not [t for c in backends[0].calls for t in c.tools if "file" in t]


async def test_a_run_without_files_offers_no_file_tools(tmp_path):
    _, _, backends = await run([[], []], tmp_path)
    assert backends[0].calls[0].tools == ["new_answer"]
    assert "<FILES>" not in backends[0].calls[0].user_text


async def test_a_missing_context_path_is_one_line(tmp_path):
    with pytest.raises(ConfigurationError, match=r"context_paths\[0\]: .*/nope does not exist"):
        await run([[]], tmp_path, context_paths=[ContextPathConfig(path=str(tmp_path / "nope"))])


async def test_the_temporary_workspace_of_a_run_without_a_session_is_removed(tmp_path, project):
    made: list[str] = []

    def script(call_: Call) -> Step | None:
        if not made and "write_file" in call_.tools:
            made.append(next(m.content for m in call_.messages if m.role == "user"))
            return call("write_file", path="x.md", content="x")
        return None

    await run([script], tmp_path, context_paths=[ContextPathConfig(path=str(project))])
    workspace = re.search(r"Your workspace, where you may write: (\S+)", made[0]).group(1)
    assert "massgen-files-" in workspace
    assert not Path(workspace).parent.parent.exists()


async def test_without_a_sandbox_run_command_is_not_offered_and_the_run_says_why(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    commands.bubblewrap_works.cache_clear()
    try:
        _, events, backends = await run([[], []], tmp_path, enable_command_line=True)
    finally:
        commands.bubblewrap_works.cache_clear()
    notices = [e.message for e in events if e.type == "agent_notice"]
    assert any(
        "run_command is not offered: bubblewrap (bwrap) is not installed" in n for n in notices
    )
    assert "run_command" not in backends[0].calls[0].tools
    assert "write_file" in backends[0].calls[0].tools  # the workspace is still there


async def test_asking_for_a_sandbox_that_is_not_there_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    commands.bubblewrap_works.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="bubblewrap"):
            await run([[]], tmp_path, enable_command_line=True, sandbox="bubblewrap")
    finally:
        commands.bubblewrap_works.cache_clear()
    with pytest.raises(ConfigurationError, match="use_docker") as refused:
        await run([[]], tmp_path, use_docker=True)
    assert "\n" not in str(refused.value)


async def test_sandbox_none_offers_unconfined_commands_on_purpose(tmp_path):
    script = [
        call("run_command", command="echo hi > made.txt; echo done"),
        answer("a"),
        vote("agent1"),
    ]
    _, events, _ = await run(
        [script], tmp_path, root=tmp_path / "s", enable_command_line=True, sandbox="none"
    )
    (finished,) = results(events, "run_command")
    assert finished.output == "exit code 0\ndone\n"
    assert (tmp_path / "s" / "workspaces" / "agent1" / "made.txt").read_text() == "hi\n"


async def test_a_judge_run_shares_snapshots_and_its_aggregator_writes_the_files(tmp_path, project):
    """Files work the same in every strategy: answers carry snapshots, and only the agent
    writing the final answer (judge's aggregator) may change a write grant."""
    report = project / "report.md"
    attempt = call("write_file", path=str(report), content="by the judge\n")
    aggregator = [attempt, call("write_file", path="notes.md", content="n"), answer("a1")]
    result, events, backends = await run(
        [[*aggregator, attempt, say("Wrote it.")], [answer("a2")]],
        tmp_path,
        root=tmp_path / "session",
        strategy="judge",
        layers=1,
        context_paths=[ContextPathConfig(path=str(project), permission="write")],
    )
    writes = [e for e in results(events, "write_file") if e.agent_id == "a1"]
    assert writes[0].is_error and "read-only here" in writes[0].output
    assert not writes[-1].is_error and report.read_text() == "by the judge\n"
    (first,) = [e for e in events if e.type == "answer_submitted" and e.agent_label == "agent1"]
    assert first.files == ["notes.md"]
    assert "You may also change these files" in backends[0].calls[-2].user_text
    assert result.files_changed == [{"path": str(report), "how": "created"}]
