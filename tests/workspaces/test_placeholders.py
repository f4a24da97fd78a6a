"""Placeholders of protected names that do not exist yet, on a real file system: made for
the time of a command, removed after it, never removing anything that is not theirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from massgen.workspaces.paths import PathPolicy, real
from massgen.workspaces.placeholders import PlaceholderError, Placeholders, exposed, pinned


def presenter(project: Path, *names: str, write: bool = True) -> PathPolicy:
    workspace = project.parent / "ws"
    workspace.mkdir(exist_ok=True)
    return PathPolicy(
        workspace,
        readable=[workspace, project],
        writable=[workspace, project] if write else [workspace],
        protected=[real(project / n) for n in names],
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project").mkdir()
    return real(tmp_path / "project")


def test_a_placeholder_is_shared_by_its_holders_and_goes_with_the_last(project):
    policy = presenter(project, ".env", "config/db.yaml")
    first = Placeholders(policy).hold()
    second = Placeholders(policy).hold()
    env = project / ".env"
    assert env.is_file() and env.stat().st_size == 0 and (project / "config/db.yaml").is_file()
    first.release()
    assert env.exists()  # the second command still runs with it mounted
    second.release()
    assert list(project.iterdir()) == []


def test_what_someone_else_put_at_the_name_meanwhile_is_kept(project):
    policy = presenter(project, ".env", "config/db.yaml")
    with Placeholders(policy):
        replacement = project / "new-env"
        replacement.write_text("KEY=1")
        replacement.replace(project / ".env")  # the user's editor saving, during the command
        (project / "config" / "app.yaml").write_text("a: 1")  # the command's own work
    assert (project / ".env").read_text() == "KEY=1"
    assert sorted(p.name for p in (project / "config").iterdir()) == ["app.yaml"]


def test_a_name_that_cannot_be_held_refuses_and_leaves_nothing(project):
    (project / "config").write_text("a file where a folder would be")
    policy = presenter(project, ".env", "config/db.yaml")
    with pytest.raises(PlaceholderError, match=r"cannot hold .*config.* in place: Not a dir"):
        Placeholders(policy).hold()
    assert sorted(p.name for p in project.iterdir()) == ["config"]


def test_only_names_a_command_could_change_are_held(project):
    (project / "sub").mkdir()
    reader = presenter(project, ".env", "sub/deeper/key", write=False)
    assert exposed(reader) == [] and pinned(reader) == []
    with Placeholders(reader):
        assert list(project.iterdir()) == [project / "sub"]
    writer = presenter(project, ".env", "sub/deeper/key")
    assert pinned(writer) == [project / "sub", project / "sub" / "deeper"]
