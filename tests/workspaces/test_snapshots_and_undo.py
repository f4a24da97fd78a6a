"""Answers' file snapshots and the presenter's undo log: a snapshot is the workspace as it was
when the answer was submitted (later work does not change it), peers find the latest one at
``latest/agentN``; every change the presenter makes to the user's files is listed with a diff
and ``restore`` puts everything back."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from massgen.tools.files import FileTools
from massgen.workspaces.manager import Grant, RestoreRefused, Workspaces, restore
from massgen.workspaces.paths import real


def run(files: FileTools, name: str, **arguments) -> str:
    tool = {t.name: t for t in files.tools()}[name]
    return asyncio.run(tool.run(arguments))


def test_a_snapshot_is_the_workspace_at_the_answer_and_latest_points_at_the_newest(tmp_path):
    workspaces = Workspaces(tmp_path / "run")
    workspace = workspaces.workspace("agent2")
    assert workspaces.snapshot("agent2", "agent2.1") is None  # nothing to keep yet
    (workspace / "plan.md").write_text("first plan")
    (workspace / "link").symlink_to("/etc/passwd")
    first = workspaces.snapshot("agent2", "agent2.1")
    assert first is not None
    (workspace / "plan.md").write_text("second plan")  # in place, as a command's >> would
    with open(workspace / "plan.md", "a") as handle:
        handle.write(" and more")
    workspaces.snapshot("agent2", "agent2.2")
    assert (first / "plan.md").read_text() == "first plan"
    assert (workspaces.shared / "agent2" / "plan.md").read_text() == "second plan and more"
    assert os.readlink(first / "link") == "/etc/passwd"  # copied as a link, never followed
    assert workspaces.files_of(first) == ["link", "plan.md"]


def test_peers_read_the_latest_snapshot_but_not_the_workspace(tmp_path):
    workspaces = Workspaces(tmp_path / "run")
    (workspaces.workspace("agent1") / "draft.md").write_text("agent1's draft")
    workspaces.snapshot("agent1", "agent1.1")
    (workspaces.workspace("agent1") / "draft.md").write_text("unsubmitted work")
    peer = FileTools(lambda: workspaces.policy("agent2"))
    shared = workspaces.shared_files("agent1")
    assert shared is not None and shared.name == "agent1"  # the anonymous label
    assert run(peer, "read_text_file", path=str(shared / "draft.md")) == "agent1's draft"
    with pytest.raises(Exception, match="path refused"):
        run(peer, "read_text_file", path=str(workspaces.workspace("agent1") / "draft.md"))
    with pytest.raises(Exception, match="read-only"):
        run(peer, "write_file", path=str(shared / "draft.md"), content="vandalised")


def test_the_presenters_changes_are_listed_and_restore_undoes_them(tmp_path):
    output = tmp_path / "output"
    (output / "old").mkdir(parents=True)
    (output / "report.md").write_text("line one\nline two\n")
    (output / "old" / "a.txt").write_text("a")
    session = tmp_path / "session"
    workspaces = Workspaces(session, [Grant(real(output), write=True)])
    presenter = FileTools(
        lambda: workspaces.policy("agent1", presenting=True), workspaces.before_write
    )
    run(presenter, "write_file", path="scratch.md", content="only in the workspace")
    run(
        presenter,
        "edit_file",
        path=str(output / "report.md"),
        edits=[{"oldText": "line two", "newText": "line 2"}],
    )
    run(presenter, "write_file", path=str(output / "report.md"), content="rewritten\n")
    run(presenter, "write_file", path=str(output / "new" / "deep" / "x.md"), content="x")
    run(presenter, "move_file", source=str(output / "old"), destination=str(output / "moved"))
    hows = {Path(c.path).name: c.how for c in workspaces.changes}
    assert hows == {"report.md": "changed", "new": "created", "x.md": "created",
                    "old": "moved", "moved": "created"}  # fmt: skip
    diffs = {Path(d["path"]).name: d["diff"] for d in workspaces.diffs()}
    assert "-line one\n-line two\n+rewritten" in diffs["report.md"]
    assert "+x" in diffs["x.md"]

    workspaces.seal()  # the run is over (RunFiles.close)
    done = restore(session)
    assert (output / "report.md").read_text() == "line one\nline two\n"  # the first original
    assert (output / "old" / "a.txt").read_text() == "a"
    assert not (output / "moved").exists() and not (output / "new").exists()
    assert len(done) == 5
    assert restore(session) == []  # undone once; the manifest is kept as .restored
    assert (session / "originals" / "manifest.json.restored").is_file()


def test_writes_outside_a_write_grant_are_not_recorded(tmp_path):
    workspaces = Workspaces(tmp_path / "run", [Grant(real(tmp_path), write=False)])
    agent = FileTools(lambda: workspaces.policy("agent1"), workspaces.before_write)
    run(agent, "write_file", path="mine.md", content="x")
    assert workspaces.changes == [] and workspaces.diffs() == []


def _presented(tmp_path: Path) -> tuple[Path, Workspaces, FileTools]:
    output = tmp_path / "output"
    output.mkdir()
    (output / "report.md").write_text("the user's report\n")
    (output / "data.csv").write_text("a,b\n")
    workspaces = Workspaces(tmp_path / "session", [Grant(real(output), write=True)])
    presenter = FileTools(
        lambda: workspaces.policy("agent1", presenting=True), workspaces.before_write
    )
    return output, workspaces, presenter


def test_restore_leaves_a_file_changed_since_the_run_alone_unless_forced(tmp_path):
    output, workspaces, presenter = _presented(tmp_path)
    run(presenter, "write_file", path=str(output / "report.md"), content="the run's report\n")
    run(presenter, "write_file", path=str(output / "data.csv"), content="x,y\n")
    run(presenter, "write_file", path=str(output / "new" / "made.md"), content="made")
    workspaces.seal()
    (output / "report.md").write_text("the user's edit after the run\n")
    (output / "new" / "mine.md").write_text("the user's own file, in a folder the run made")

    with pytest.raises(RestoreRefused) as refused:
        restore(workspaces.root)
    assert sorted(refused.value.changed) == [str(output / "new"), str(output / "report.md")]
    # nothing was undone: not the edited files, and not the others either
    assert (output / "report.md").read_text() == "the user's edit after the run\n"
    assert (output / "data.csv").read_text() == "x,y\n"
    assert (output / "new" / "mine.md").exists()

    done = restore(workspaces.root, force=True)
    assert (output / "report.md").read_text() == "the user's report\n"
    assert (output / "data.csv").read_text() == "a,b\n"
    assert not (output / "new").exists()
    assert len(done) == 4


def test_restore_of_a_run_that_recorded_nothing_of_what_it_left_needs_force(tmp_path):
    """A run stopped before its files closed (or one recorded by an older massgen)."""
    output, workspaces, presenter = _presented(tmp_path)
    run(presenter, "write_file", path=str(output / "report.md"), content="the run's report\n")
    with pytest.raises(RestoreRefused) as refused:
        restore(workspaces.root)
    assert refused.value.unrecorded
    assert (output / "report.md").read_text() == "the run's report\n"
    assert restore(workspaces.root, force=True) == [f"restored {output / 'report.md'}"]
    assert (output / "report.md").read_text() == "the user's report\n"


def test_a_later_run_of_the_session_keeps_the_earlier_runs_record(tmp_path):
    """Two questions in one session: the second run's seal does not re-record the first's
    files, so an edit the user made between the runs is still seen."""
    output, first, presenter = _presented(tmp_path)
    run(presenter, "write_file", path=str(output / "report.md"), content="first run\n")
    first.seal()
    (output / "report.md").write_text("the user's edit between the runs\n")
    second = Workspaces(tmp_path / "session", [Grant(real(output), write=True)])
    presenter = FileTools(lambda: second.policy("agent1", presenting=True), second.before_write)
    run(presenter, "write_file", path=str(output / "data.csv"), content="second run\n")
    second.seal()
    with pytest.raises(RestoreRefused) as refused:
        restore(tmp_path / "session")
    assert refused.value.changed == [str(output / "report.md")]


def test_restore_writes_nothing_through_a_link_planted_on_the_way(tmp_path):
    """The presenter's command replaced a folder of the grant with a link to elsewhere after
    its file tool changed a file in it: undoing that change never writes through the link."""
    output, workspaces, presenter = _presented(tmp_path)
    (output / "sub").mkdir()
    (output / "sub" / "r.md").write_text("original\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "r.md").write_text("not the grant's\n")
    run(presenter, "write_file", path=str(output / "sub" / "r.md"), content="changed\n")
    os.rename(output / "sub", tmp_path / "moved-away")
    (output / "sub").symlink_to(elsewhere)
    workspaces.seal()

    done = restore(workspaces.root, force=True)
    assert done == [f"skipped {output / 'sub' / 'r.md'}: a symbolic link stands on its way"]
    assert (elsewhere / "r.md").read_text() == "not the grant's\n"
