"""``run_command`` in a real bubblewrap sandbox: it runs in the agent's workspace, sees the
context paths read-only, reaches no network, writes nowhere but the workspace (and, for the
presenter, the write grants, except protected paths), reads nothing it was not granted; a
command is stopped at its time limit and its output is capped. The presenter's command changes
to the user's files are listed and undone like the file tools' writes. Docker without a daemon
is one clear line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time
from pathlib import Path

import pytest

from massgen.messages import ToolCall
from massgen.tools.base import ToolError, ToolLimits, run_call
from massgen.tools.commands import (
    CommandSettings,
    CommandTool,
    bubblewrap_works,
    choose_sandbox,
    docker_problem,
)
from massgen.workspaces.manager import Grant, Workspaces, restore
from massgen.workspaces.paths import real

pytestmark = pytest.mark.skipif(
    bubblewrap_works() is not None, reason=f"no bubblewrap sandbox: {bubblewrap_works()}"
)

SECRET = "the launch codes"


@pytest.fixture
def world(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "data.csv").write_text("a,b\n1,2\n")
    output = tmp_path / "output"
    (output / "locked").mkdir(parents=True)
    (output / "locked" / "keep.txt").write_text("keep")
    (output / "report.md").write_text("old\n")
    (tmp_path / "secret.txt").write_text(SECRET)
    grants = [
        Grant(real(project)),
        Grant(real(output), write=True, protected=(real(output / "locked"),)),
    ]
    workspaces = Workspaces(tmp_path / "session", grants)
    return tmp_path, project, output, workspaces


def command_tool(workspaces: Workspaces, *, presenting=False, timeout=20.0, chars=20_000):
    settings = CommandSettings("bubblewrap", timeout_s=timeout, output_chars=chars)

    def before() -> None:
        if presenting:
            workspaces.before_command()

    def after() -> None:
        if presenting:
            workspaces.after_command()

    return CommandTool(
        lambda: workspaces.policy("agent1", presenting=presenting), settings, before, after
    )


def sh(tool: CommandTool, command: str) -> tuple[int, str]:
    text = asyncio.run(tool.run({"command": command}))
    first, _, rest = text.partition("\n")
    return int(first.removeprefix("exit code ")), rest


def test_a_command_runs_in_the_workspace_and_reads_the_context(world):
    _, project, _, workspaces = world
    tool = command_tool(workspaces)
    code, out = sh(tool, f"pwd; cat {project}/data.csv; echo made > result.txt; echo $HOME")
    workspace = workspaces.workspace("agent1")
    assert code == 0
    assert out.splitlines() == [str(workspace), "a,b", "1,2", str(workspace)]
    assert (workspace / "result.txt").read_text() == "made\n"


def test_the_sandbox_has_no_network(world):
    *_, workspaces = world
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        probe = (
            "python3 -c \"import socket; socket.create_connection(('127.0.0.1', "
            f'{port}), timeout=3)"'
        )
        code, out = sh(command_tool(workspaces), probe)
    assert code != 0 and ("refused" in out or "unreachable" in out), out


def test_writes_outside_the_workspace_fail(world):
    tmp, project, output, workspaces = world
    tool = command_tool(workspaces)
    home = Path.home() / "massgen-sandbox-probe.txt"
    for target in (project / "data.csv", output / "report.md", home, Path("/usr/x")):
        code, out = sh(tool, f"echo x > {target}")
        assert code != 0, (target, out)
    # /tmp is the sandbox's own scratch space: a write there never reaches the machine's
    sh(tool, f"echo x > {tmp}/new.txt")
    assert not (tmp / "new.txt").exists() and not home.exists()
    assert (project / "data.csv").read_text() == "a,b\n1,2\n"
    assert (output / "report.md").read_text() == "old\n"


def test_paths_not_granted_cannot_be_read(world):
    tmp, _, _, workspaces = world
    tool = command_tool(workspaces)
    code, out = sh(tool, f"cat {tmp}/secret.txt; ls /root /home {Path.home()} 2>&1; env")
    assert SECRET not in out
    assert "No such file" in out
    assert "API_KEY" not in out  # the environment is cleared, secrets included
    other = workspaces.workspace("agent2")
    (other / "private.md").write_text("agent2's work")
    code, out = sh(tool, f"cat {other}/private.md")
    assert code != 0 and "agent2's work" not in out


#: What the sandbox's /etc may hold: massgen's own files, and machine files that say
#: nothing of the machine beyond its software.
SANDBOX_ETC = {
    "passwd", "group", "hosts", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
    "alternatives", "localtime", "ssl", "mime.types", "protocols", "services",
}  # fmt: skip


def test_the_sandbox_shows_nothing_of_the_machines_etc_and_runs_unprivileged(world):
    """Even when massgen runs as root: no shadow file, no host name, uid 1000 without
    capabilities."""
    *_, workspaces = world
    probe = (
        "head /etc/shadow; cat /etc/hostname /etc/machine-id /etc/resolv.conf; "
        "echo ETC; ls /etc; echo ID; id -u; hostname; grep CapEff /proc/self/status"
    )
    _, out = sh(command_tool(workspaces), probe)
    assert "'/etc/shadow' for reading: No such file" in out
    assert "/etc/hostname: No such file" in out
    host_users = [line.split(":")[0] for line in _readable("/etc/shadow").splitlines()]
    assert not [name for name in host_users if f"{name}:" in out], out
    listed = out.split("ETC\n")[1].split("ID\n")[0].split()
    assert {name for name in listed if not name.startswith("python3")} <= SANDBOX_ETC, listed
    uid, hostname, caps = out.split("ID\n")[1].splitlines()
    assert uid == "1000" and hostname == "sandbox" != socket.gethostname()
    assert caps.split() == ["CapEff:", "0000000000000000"]


def _readable(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def test_programs_that_need_etc_still_work_in_the_sandbox(world):
    *_, workspaces = world
    code, out = sh(
        command_tool(workspaces),
        "python3 -c 'import ssl; ssl.create_default_context(); print(\"ssl ok\")' && "
        "echo x > made.txt && ls -l made.txt && git --version && echo 'a b' | awk '{print $2}'",
    )
    assert code == 0, out
    ssl_line, listing, git, awk = out.splitlines()
    assert ssl_line == "ssl ok" and git.startswith("git version") and awk == "b"
    assert listing.split()[2:4] == ["massgen", "massgen"]  # user names from the sandbox's passwd
    made = workspaces.workspace("agent1") / "made.txt"
    assert made.stat().st_uid == os.getuid()  # on the machine: the user massgen runs as


def test_a_workspace_symlink_gives_no_way_out(world):
    tmp, _, _, workspaces = world
    tool = command_tool(workspaces)
    code, out = sh(tool, f"ln -s {tmp}/secret.txt s && cat s; ln {tmp}/secret.txt h")
    assert SECRET not in out and code != 0


def test_the_presenter_writes_the_grant_but_not_protected_paths_and_it_is_undoable(world):
    _, project, output, workspaces = world
    tool = command_tool(workspaces, presenting=True)
    code, out = sh(
        tool,
        f"echo new > {output}/report.md && echo fresh > {output}/added.txt "
        f"&& mkdir {output}/dir && echo deep > {output}/dir/f.txt",
    )
    assert code == 0, out
    code, _ = sh(tool, f"echo x > {output}/locked/keep.txt")
    assert code != 0
    code, _ = sh(tool, f"echo x > {project}/data.csv")  # a read grant stays read-only
    assert code != 0
    assert (output / "report.md").read_text() == "new\n"
    assert (output / "locked" / "keep.txt").read_text() == "keep"
    hows = {Path(c.path).relative_to(output).as_posix(): c.how for c in workspaces.changes}
    assert hows == {"report.md": "changed", "added.txt": "created", "dir": "created",
                    "dir/f.txt": "created"}  # fmt: skip
    sh(tool, f"rm {output}/report.md")  # already recorded: the original stays the first one
    workspaces.seal()  # the run is over
    done = restore(workspaces.root)
    assert (output / "report.md").read_text() == "old\n"
    assert not (output / "added.txt").exists() and not (output / "dir").exists()
    assert len(done) == 4


@pytest.fixture
def guarded(tmp_path: Path):
    """A write grant whose protected names do not exist yet (``.env``, ``secrets``,
    ``config/db.yaml``), and one that does, a level down (``sub/key``)."""
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "sub" / "key").write_text("original key")
    (project / "app.py").write_text("print(1)")
    names = (".env", "secrets", "config/db.yaml", "sub/key")
    grant = Grant(real(project), write=True, protected=tuple(real(project / n) for n in names))
    return project, Workspaces(tmp_path / "session", [grant])


#: Ways a command could make a protected name hold something of its own.
ATTEMPTS = [
    "echo X > .env",
    "echo X > e1 && mv e1 .env",
    "echo X > /tmp/e2 && mv /tmp/e2 .env",  # from another file system: a copy
    "ln -s app.py .env",
    "ln -sf app.py .env",
    "ln app.py .env",
    "ln -f app.py .env",
    "rm -f .env; echo X > .env",
    "mkdir secrets; echo X > secrets/k",
    "mkdir -p secrets/x",
    "mkdir -p config && echo X > config/db.yaml",
    "mv config c2; mkdir -p config; echo X > config/db.yaml",
    "mv sub sub2; mkdir -p sub; echo X > sub/key",
    "rm -rf sub; mkdir -p sub; echo X > sub/key",
]


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_a_protected_name_cannot_be_made_by_the_presenters_command(guarded, attempt):
    project, workspaces = guarded
    sh(command_tool(workspaces, presenting=True), f"cd {project} && {attempt}")
    for name in (".env", "secrets", "config/db.yaml"):
        assert not (project / name).exists() and not (project / name).is_symlink(), name
    assert (project / "sub" / "key").read_text() == "original key"
    assert not list(project.rglob("key"))[1:], "the protected file was moved away"
    assert not any(".env" in c.path or "secrets" in c.path for c in workspaces.changes)


def test_placeholders_of_protected_names_are_gone_after_the_command(guarded):
    """In the sandbox a protected name that does not exist is an empty read-only file; on
    the machine nothing is left, the command's other work is kept and undoable, and a
    command stopped at its time limit leaves nothing either."""
    project, workspaces = guarded
    tool = command_tool(workspaces, presenting=True)
    code, out = sh(
        tool, f"cd {project} && wc -c < .env && echo ok > config/app.yaml && echo ok > new.txt"
    )
    assert code == 0 and out.startswith("0\n"), out
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*")) == [
        "app.py", "config", "config/app.yaml", "new.txt", "sub", "sub/key"
    ]  # fmt: skip
    hows = {Path(c.path).relative_to(project).as_posix(): c.how for c in workspaces.changes}
    assert hows == {"config": "created", "config/app.yaml": "created", "new.txt": "created"}
    with pytest.raises(ToolError, match="did not finish within 1s"):
        sh(command_tool(workspaces, presenting=True, timeout=1), "sleep 30")
    assert not (project / ".env").exists() and not (project / "secrets").exists()
    workspaces.seal()  # the run is over
    restore(workspaces.root)
    assert sorted(p.name for p in project.iterdir()) == ["app.py", "sub"]


def test_agents_that_do_not_present_get_no_placeholders(guarded):
    project, workspaces = guarded
    code, out = sh(command_tool(workspaces), f"ls -a {project}; echo X > {project}/.env")
    assert code != 0 and "Read-only file system" in out, out  # the grant is read-only
    assert ".env" not in out.split("/bin/sh")[0], out  # and shows no placeholder
    assert not (project / ".env").exists()


def test_a_presenter_command_that_deletes_a_file_can_be_undone(world):
    _, _, output, workspaces = world
    sh(command_tool(workspaces, presenting=True), f"rm -r {output}/report.md")
    assert [(Path(c.path).name, c.how) for c in workspaces.changes] == [("report.md", "deleted")]
    workspaces.seal()
    restore(workspaces.root)
    assert (output / "report.md").read_text() == "old\n"


def test_a_command_is_stopped_at_its_time_limit(world):
    *_, workspaces = world
    started = time.monotonic()
    with pytest.raises(ToolError, match="did not finish within 1s"):
        sh(command_tool(workspaces, timeout=1), "sleep 37.25")
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while _running("sleep 37.25") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running("sleep 37.25")  # the sandboxed process is gone too


def _running(command: str) -> bool:
    import psutil

    return any(
        " ".join(p.info["cmdline"] or []) == command for p in psutil.process_iter(["cmdline"])
    )


def test_long_output_is_capped(world):
    *_, workspaces = world
    _, out = sh(command_tool(workspaces, chars=500), "seq 1 100000")
    assert len(out) < 1000 and "1\n2\n3\n" in out


def test_endless_output_stops_at_the_command_time_limit_with_its_ends_kept(world):
    """``yes`` fills every pipe at once: the call still ends at command_timeout_seconds (not
    at the tool's own, much later, limit), with the start and end of the output and a note
    of how much was dropped in between."""
    *_, workspaces = world
    tool = command_tool(workspaces, timeout=2, chars=2_000).tool()
    call = ToolCall("c1", "run_command", json.dumps({"command": "echo first; yes AAAA"}))
    started = time.monotonic()
    result = asyncio.run(run_call(tool, call, ToolLimits(timeout_s=15)))
    elapsed = time.monotonic() - started
    assert elapsed < 8, f"returned after {elapsed:.1f}s"
    assert result.is_error and "did not finish within 2s and was stopped" in result.text
    assert result.text.count("\n[") == 1, result.text  # one note; nothing cut twice
    assert re.search(r"\[output cut: [\d,]+ of [\d,]+ bytes dropped here", result.text)
    assert "first\nAAAA\n" in result.text and result.text.rstrip().endswith("AAAA")
    assert len(result.text) <= 2_000


def test_a_flooding_command_cut_by_the_tool_limit_ends_too(world):
    """The tool's own limit (shorter than the command's) cancels the call: it returns then,
    and the command is killed."""
    *_, workspaces = world
    tool = command_tool(workspaces, timeout=60).tool()
    call = ToolCall("c1", "run_command", json.dumps({"command": "yes BBBB-43125"}))
    started = time.monotonic()
    result = asyncio.run(run_call(tool, call, ToolLimits(timeout_s=1)))
    assert time.monotonic() - started < 8
    assert result.is_error and "did not finish within 1s" in result.text
    deadline = time.monotonic() + 5
    while _running("yes BBBB-43125") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running("yes BBBB-43125")


def test_output_kept_is_the_start_and_the_end(world):
    *_, workspaces = world
    _, out = sh(command_tool(workspaces, chars=1_000), "seq 1 100000; echo the end")
    assert out.startswith("1\n2\n3\n") and out.endswith("100000\nthe end\n"), out
    assert "bytes dropped here" in out and len(out) < 1_000


def test_an_empty_command_is_an_error_result(world):
    *_, workspaces = world
    with pytest.raises(ToolError, match="non-empty 'command'"):
        asyncio.run(command_tool(workspaces).run({"command": "  "}))


def test_docker_without_a_daemon_is_one_clear_line():
    problem = docker_problem()
    if problem is None:
        pytest.skip("a Docker daemon answers here: the container path is tested instead")
    sandbox, why = choose_sandbox("auto", use_docker=True)
    assert sandbox is None and why is not None
    assert why.startswith("use_docker") and "\n" not in why


def test_a_grant_that_contains_the_session_hides_the_runs_own_files(tmp_path):
    session = tmp_path / "sessions" / "s1"
    workspaces = Workspaces(session, [Grant(real(tmp_path))])
    (session / "events.jsonl").write_text("every agent's text")
    (workspaces.workspace("agent2") / "wip.md").write_text("agent2's work")
    (workspaces.workspace("agent2") / "done.md").write_text("submitted")
    workspaces.snapshot("agent2", "agent2.1")
    (tmp_path / "app.py").write_text("print(1)")
    tool = command_tool(workspaces)
    _, out = sh(
        tool,
        f"cat {tmp_path}/app.py; cat {workspaces.shared}/agent2/done.md; echo; "
        f"cat {session}/events.jsonl {workspaces.workspace('agent2')}/wip.md; echo mine > m.txt",
    )
    assert out.startswith("print(1)submitted\n"), out
    assert "every agent's text" not in out and "agent2's work" not in out
    assert (workspaces.workspace("agent1") / "m.txt").read_text() == "mine\n"
