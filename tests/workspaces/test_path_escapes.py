"""Every way out of the granted paths that file servers have been caught by, through the file
tools an agent calls: absolute paths, ``..``, a sibling sharing a prefix, a symlink inside the
context, a symlink planted in the agent's workspace, hard links, very long paths and NUL
bytes. Each is refused as an error result naming the rule; nothing outside is read or
written, and the tool never crashes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from massgen.tools.base import ToolError
from massgen.tools.files import FileTools
from massgen.workspaces.manager import Grant, Workspaces
from massgen.workspaces.paths import PathPolicy, PathRefused, inside, real

SECRET = "the launch codes"


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """A user's project (granted read), an output folder (granted write), a secret next to
    them (not granted), a sibling whose name starts like the project's, and a run."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "app.py").write_text("print('hello')\n")
    (project / "README.md").write_text("# The project\nThe answer is 42.\n")
    output = tmp_path / "output"
    output.mkdir()
    (output / "report.md").write_text("old report\n")
    (output / "keep").mkdir()
    (output / "keep" / "license.txt").write_text("do not touch\n")
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    sibling = tmp_path / "project-evil"
    sibling.mkdir()
    (sibling / "x.txt").write_text(SECRET)
    grants = [
        Grant(real(project)),
        Grant(real(output), write=True, protected=(real(output / "keep"),)),
    ]
    workspaces = Workspaces(tmp_path / "session", grants)
    return {
        "tmp": tmp_path,
        "project": project,
        "output": output,
        "secret": secret,
        "sibling": sibling,
        "session": tmp_path / "session",
        "files": workspaces,  # type: ignore[dict-item]
    }


def tools(world, *, presenting: bool = False, label: str = "agent1") -> FileTools:
    workspaces: Workspaces = world["files"]
    return FileTools(
        lambda: workspaces.policy(label, presenting=presenting), workspaces.before_write
    )


def call(files: FileTools, name: str, **arguments) -> str:
    """Call a tool the way the tool loop does (an error is a ToolError, i.e. a result)."""
    runner = {t.name: t for t in files.tools()}[name].run
    return asyncio.run(runner(arguments))


def refused(files: FileTools, name: str, **arguments) -> str:
    with pytest.raises(ToolError) as info:
        call(files, name, **arguments)
    message = str(info.value)
    assert "path refused" in message, message
    return message


# ------------------------------------------------------------------ reading


def test_granted_files_read_and_relative_paths_start_in_the_workspace(world):
    files = tools(world)
    assert "The answer is 42" in call(
        files, "read_text_file", path=str(world["project"] / "README.md")
    )
    call(files, "write_file", path="notes/draft.md", content="my draft")
    workspace = world["files"].workspace("agent1")
    assert (workspace / "notes" / "draft.md").read_text() == "my draft"
    assert call(files, "read_text_file", path="notes/draft.md") == "my draft"


@pytest.mark.parametrize(
    "path",
    [
        "{secret}",  # absolute, outside
        "../../../secret.txt",  # up from the workspace (session/workspaces/agent1)
        "{project}/../secret.txt",  # up from the context
        "{project}/src/../../secret.txt",
        "{sibling}/x.txt",  # /project-evil is not inside /project
        "/etc/passwd",
        "~/.ssh/id_rsa",
    ],
)
def test_paths_outside_the_grants_are_refused(world, path):
    path = path.format(**{k: v for k, v in world.items() if isinstance(v, Path)})
    message = refused(tools(world), "read_text_file", path=path)
    assert "outside the paths you may read" in message
    assert SECRET not in message


def test_a_symlink_inside_the_context_does_not_lead_out(world):
    (world["project"] / "link.txt").symlink_to(world["secret"])
    (world["project"] / "linkdir").symlink_to(world["tmp"])
    files = tools(world)
    refused(files, "read_text_file", path=str(world["project"] / "link.txt"))
    refused(files, "list_directory", path=str(world["project"] / "linkdir"))
    refused(files, "read_text_file", path=str(world["project"] / "linkdir" / "secret.txt"))


def test_a_symlink_planted_in_the_workspace_does_not_lead_out(world):
    workspace = world["files"].workspace("agent1")
    (workspace / "planted").symlink_to(world["secret"])
    (workspace / "up").symlink_to(world["tmp"])
    (workspace / "into-context").symlink_to(world["project"] / "README.md")
    files = tools(world)
    refused(files, "read_text_file", path="planted")
    refused(files, "read_text_file", path="up/secret.txt")
    # a link to a file it may read reads, and writing through it is refused as read-only
    assert "42" in call(files, "read_text_file", path="into-context")
    message = refused(files, "write_file", path="into-context", content="overwritten")
    assert "read-only here" in message
    assert "42" in (world["project"] / "README.md").read_text()
    # and a write through a link to the outside never reaches it
    refused(files, "write_file", path="planted", content="x")
    assert world["secret"].read_text() == SECRET


def test_another_agents_workspace_is_not_readable(world):
    tools(world, label="agent2")  # exists
    other = world["files"].workspace("agent2")
    (other / "private.md").write_text("agent2's work in progress")
    refused(tools(world), "read_text_file", path=str(other / "private.md"))
    refused(tools(world), "read_text_file", path="../agent2/private.md")


def test_hard_links_are_refused(world):
    workspace = world["files"].workspace("agent1")
    os.link(world["secret"], workspace / "second-name")
    os.link(world["output"] / "report.md", workspace / "report-link")
    files = tools(world, presenting=True)
    assert "hard links" in refused(files, "read_text_file", path="second-name")
    assert "hard links" in refused(files, "write_file", path="report-link", content="x")
    assert "hard links" in refused(
        files, "write_file", path=str(world["output"] / "report.md"), content="x"
    )
    assert (world["output"] / "report.md").read_text() == "old report\n"


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("a" * 300, "too long"),
        ("/".join(["d"] * 3000), "too long"),
        ("notes\x00.txt", "NUL byte"),
        (str("x/" * 2100), "too long"),
        ("", "non-empty"),
        ("   ", "non-empty"),
    ],
)
def test_malformed_paths_are_refused_with_the_rule(world, path, rule):
    assert rule in refused(tools(world), "write_file", path=path, content="x")
    assert rule in refused(tools(world), "read_text_file", path=path)


def test_a_non_string_path_is_an_error_result(world):
    with pytest.raises(ToolError):
        call(tools(world), "read_text_file", path=["a", "b"])
    with pytest.raises(ToolError):
        call(tools(world), "read_text_file")  # missing argument


# ------------------------------------------------------------------ writing


def test_context_paths_are_read_only_until_the_agent_presents(world):
    target = str(world["output"] / "report.md")
    assert "read-only here" in refused(tools(world), "write_file", path=target, content="new")
    assert (world["output"] / "report.md").read_text() == "old report\n"
    call(tools(world, presenting=True), "write_file", path=target, content="new report\n")
    assert (world["output"] / "report.md").read_text() == "new report\n"


def test_a_read_grant_stays_read_only_for_the_presenter(world):
    presenter = tools(world, presenting=True)
    refused(presenter, "write_file", path=str(world["project"] / "README.md"), content="x")
    refused(
        presenter,
        "move_file",
        source=str(world["project"] / "README.md"),
        destination=str(world["output"] / "stolen.md"),
    )
    assert (world["project"] / "README.md").exists()


def test_protected_paths_are_never_written(world):
    presenter = tools(world, presenting=True)
    license_file = str(world["output"] / "keep" / "license.txt")
    assert "protected" in refused(presenter, "write_file", path=license_file, content="x")
    assert "protected" in refused(
        presenter, "edit_file", path=license_file, edits=[{"oldText": "do", "newText": "x"}]
    )
    assert "protected" in refused(
        presenter, "move_file", source=license_file, destination=str(world["output"] / "l.txt")
    )
    assert "do not touch" in call(presenter, "read_text_file", path=license_file)


# ------------------------------------------------------------------ any path at all


segments = st.sampled_from(["..", ".", "a", "b", "project", "secret.txt", "", "~", "agent2"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(segments, min_size=1, max_size=8), absolute=st.booleans())
def test_no_path_resolves_outside_the_grants(tmp_path_factory, parts, absolute):
    root = tmp_path_factory.mktemp("fuzz")
    project = root / "project"
    project.mkdir()
    (root / "secret.txt").write_text(SECRET)
    workspace = root / "ws" / "agent1"
    workspace.mkdir(parents=True)
    (workspace / "a").symlink_to(root)  # a planted link, to make escapes possible at all
    policy = PathPolicy(workspace=workspace, readable=[project], writable=[workspace])
    given_path = ("/" if absolute else "") + "/".join(parts)
    try:
        resolved = real(policy.check(given_path))  # where an open() of it would land
    except PathRefused:
        return
    assert inside(resolved, real(project)) or inside(resolved, real(workspace)), given_path


def test_a_grant_that_contains_the_session_does_not_open_the_runs_own_files(tmp_path):
    """``--context .`` run from a folder that also holds the session: the other agents'
    workspaces, the event log and the undo copies stay out of reach."""
    session = tmp_path / "sessions" / "s1"
    workspaces = Workspaces(session, [Grant(real(tmp_path), write=True)])
    (session / "events.jsonl").write_text("every agent's text as it streams")
    (workspaces.workspace("agent2") / "wip.md").write_text("agent2's unsubmitted work")
    (workspaces.workspace("agent2") / "done.md").write_text("submitted")
    workspaces.snapshot("agent2", "agent2.1")
    (tmp_path / "app.py").write_text("print(1)")
    presenter = FileTools(lambda: workspaces.policy("agent1", presenting=True))
    for path in (session / "events.jsonl", workspaces.workspace("agent2") / "wip.md"):
        assert "massgen's own files" in refused(presenter, "read_text_file", path=str(path))
    refused(
        presenter, "write_file", path=str(session / "originals" / "manifest.json"), content="[]"
    )
    assert call(presenter, "read_text_file", path=str(workspaces.shared / "agent2" / "done.md"))
    refused(
        presenter, "write_file", path=str(workspaces.shared / "agent2" / "done.md"), content="x"
    )
    call(presenter, "write_file", path="mine.md", content="own workspace")
    call(presenter, "write_file", path=str(tmp_path / "app.py"), content="print(2)")
    assert (tmp_path / "app.py").read_text() == "print(2)"


def test_listings_and_searches_do_not_name_the_runs_own_files(tmp_path):
    """The same grant of ``.``: listing or searching it names none of a peer's workspace files,
    the event log, the undo copies or the copies in waiting; the user's files, the agent's own
    workspace and the peers' snapshots are found as before."""
    session = tmp_path / "sessions" / "s1"
    workspaces = Workspaces(session, [Grant(real(tmp_path))])
    (session / "events.jsonl").write_text("every agent's text as it streams")
    (workspaces.workspace("agent2") / "peer-answer.md").write_text("submitted")
    workspaces.snapshot("agent2", "agent2.1")
    (workspaces.workspace("agent2") / "peer-draft.md").write_text("agent2's unsubmitted work")
    workspaces.stage("agent2")
    (session / "originals" / "00001-kept.md").write_text("an original")
    (tmp_path / "app.py").write_text("print(1)")
    agent = FileTools(lambda: workspaces.policy("agent1"))
    call(agent, "write_file", path="my-notes.md", content="own workspace")

    everything = call(agent, "search_files", path=str(tmp_path), pattern="*")
    tree = call(agent, "directory_tree", path=str(tmp_path))
    listing = call(agent, "list_directory", path=str(tmp_path / "sessions"))
    for leaked in ("events.jsonl", "peer-draft", "originals", "kept.md", "staging", "s1"):
        for output in (everything, tree, listing):
            assert leaked not in output.replace(str(tmp_path), ""), (leaked, output)
    assert str(tmp_path / "app.py") in everything.splitlines()
    assert '"name": "app.py"' in tree
    snapshots = call(agent, "search_files", path=str(workspaces.snapshots_dir), pattern="peer")
    assert "agent2.1/peer-answer.md" in snapshots
    assert "peer-draft" not in snapshots
    assert "my-notes.md" in call(agent, "list_directory", path=".")
    assert "my-notes.md" in call(agent, "search_files", path=".", pattern="notes")
