"""The ``bwrap`` command line of a sandboxed command (``run_command``, Claude Code's Bash,
AG2's code blocks; ``docs/architecture.md``, "Security, in one place").

- New namespaces, no network, an empty environment; the command runs as the unprivileged
  user ``massgen`` (uid/gid 1000) of a new user namespace with no capabilities, whether
  massgen runs as root or not, and cannot make user namespaces of its own.
- The system's programs and libraries (``/usr``, ``/opt``) read-only, and of ``/etc`` only
  what programs need: massgen's own ``passwd``, ``group``, ``hosts`` and ``nsswitch.conf``
  (``sandbox_etc/``: the sandbox's user and ``nobody``, ``localhost``) and a short list of
  the machine's files that say nothing about it beyond its software (:data:`HOST_ETC`).
  No ``shadow``, ``hostname``, ``machine-id``, ``resolv.conf``, ``ssl/private``; the
  host name is ``sandbox``.
- Then the agent's :class:`~massgen.workspaces.paths.PathPolicy` (:func:`mounts`).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from massgen.workspaces.paths import PathPolicy, inside
from massgen.workspaces.placeholders import exposed, pinned

#: Read-only system folders a command needs (programs, libraries).
SYSTEM_DIRS = ("/usr", "/opt")
#: Merged-/usr systems link these; older ones have real folders.
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: massgen's own files for the sandbox's ``/etc``.
SANDBOX_ETC = Path(__file__).with_name("sandbox_etc")
#: The machine's ``/etc`` entries a command may see (read-only, those that exist): the
#: dynamic linker's cache, Debian's alternatives (``awk``, ``editor``…), the time zone, the CA
#: certificates and OpenSSL's configuration (not ``ssl/private``), MIME types, protocol and
#: service names, Debian's Python configuration.
HOST_ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "localtime",
    "ssl/certs",
    "ssl/openssl.cnf",
    "mime.types",
    "protocols",
    "services",
    "python3*",
)
SANDBOX_UID = SANDBOX_GID = 1000
HOSTNAME = "sandbox"
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


@cache
def _supports_disable_userns() -> bool:
    """bubblewrap 0.8+ can forbid user namespaces inside the sandbox."""
    try:
        shown = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--disable-userns" in shown.stdout


def sandbox_base() -> list[str]:
    """Namespaces, the unprivileged user, the system's files and a minimal ``/etc``."""
    args = ["--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID)]
    args += ["--gid", str(SANDBOX_GID), "--hostname", HOSTNAME, "--die-with-parent"]
    if _supports_disable_userns():
        args.append("--disable-userns")
    for folder in SYSTEM_DIRS:
        if os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    return args + etc_binds()


def etc_binds() -> list[str]:
    """The sandbox's ``/etc``: massgen's files and the allowed files of the machine."""
    args: list[str] = []
    for pattern in HOST_ETC:
        for found in sorted(glob.glob(f"/etc/{pattern}")):
            args += ["--ro-bind", found, found]
    for own in sorted(SANDBOX_ETC.iterdir()):
        args += ["--ro-bind", str(own), f"/etc/{own.name}"]
    return args


@cache
def bubblewrap_works() -> str | None:
    """None when bubblewrap can make a sandbox here, else why not."""
    binary = shutil.which("bwrap")
    if binary is None:
        return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    try:
        probe = subprocess.run(
            [binary, *sandbox_base(), "true"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap cannot run: {exc}"
    if probe.returncode != 0:
        return f"bubblewrap cannot make a sandbox here: {' '.join(probe.stderr.split())[:200]}"
    return None


def mounts(policy: PathPolicy) -> list[tuple[str, Path]]:
    """``(kind, path)`` to mount, outermost first so inner ones go on top: ``ro`` (read
    grants, snapshots), ``rw`` (the workspace; write grants for the presenter), ``hide`` (an
    empty folder over the run's own files inside a grant); protected paths a command could
    change ``ro`` over themselves (nothing inside one is writable), and the folders above them
    ``rw`` over themselves, so that none can be renamed (:mod:`massgen.workspaces.placeholders`).

    A protected path must exist by then (:class:`~massgen.workspaces.placeholders.Placeholders`
    holds one that does not): if
    it is missing, its mount fails and so does the sandbox, rather than leave the name open."""
    rank = {"hide": 0, "ro": 1, "rw": 2, "protect": 3}
    guarded = exposed(policy)
    found = [("ro", p) for p in policy.readable if p not in policy.writable]
    found += [("rw", p) for p in policy.writable]
    found += [("hide", p) for p in policy.hidden if any(inside(p, r) for _, r in found)]
    found += [("rw", p) for p in pinned(policy)]
    found = [(kind, p) for kind, p in found if p.exists()]
    found = [
        ("ro" if kind == "rw" and any(inside(p, g) for g in guarded) else kind, p)
        for kind, p in found
    ]
    found += [("protect", p) for p in guarded]
    found.sort(key=lambda item: (len(item[1].parts), rank[item[0]]))
    return [("ro" if kind == "protect" else kind, p) for kind, p in found]


def _policy_mounts(policy: PathPolicy) -> list[str]:
    flag = {"ro": "--ro-bind", "rw": "--bind"}
    args: list[str] = []
    for kind, path in mounts(policy):
        if kind == "hide":
            args += ["--tmpfs", str(path)]
        else:
            args += [flag[kind], str(path), str(path)]
    return args


def bubblewrap_args(policy: PathPolicy, command: str) -> list[str]:
    """The ``bwrap`` command line for ``command`` under ``policy``."""
    args = ["bwrap", *sandbox_base(), "--new-session", "--clearenv"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    args += _policy_mounts(policy)
    workspace = str(policy.workspace)
    args += [
        "--chdir", workspace,
        "--setenv", "HOME", workspace,
        "--setenv", "PATH", PATH,
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "USER", "massgen",
        "--setenv", "LOGNAME", "massgen",
        "/bin/sh", "-c", command,
    ]  # fmt: skip
    return args
