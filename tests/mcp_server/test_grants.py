"""What a call's ``context_paths`` may make of the server's grants: narrower, never wider,
whatever the path's spelling (``..``, a symlink) or the grants' nesting."""

from __future__ import annotations

from pathlib import Path

import pytest

from massgen.config.schema import ContextPathConfig
from massgen.mcp_server.grants import GrantRefused, narrow
from massgen.workspaces.manager import grants_from


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("repo/src", "repo/.git", "repo/vendor", "other"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "repo" / "link").symlink_to(tmp_path / "other")
    return tmp_path


def grant(path: Path, permission: str = "read", protected: list[str] | None = None):
    return ContextPathConfig(path=str(path), permission=permission, protected_paths=protected or [])


def writable(entries: list[ContextPathConfig], path: Path) -> bool | None:
    """What the engine makes of ``entries`` for ``path``: the innermost grant decides."""
    granted = [g for g in grants_from(entries) if path.resolve().is_relative_to(g.path)]
    if not granted:
        return None
    inner = max(granted, key=lambda g: len(g.path.parts))
    return inner.write and not any(path.resolve().is_relative_to(p) for p in inner.protected)


def test_no_request_keeps_every_grant_and_an_empty_one_none(tree):
    grants = [grant(tree / "repo", "write")]
    assert narrow(grants, None) == grants
    assert narrow(grants, []) == []


def test_a_path_inside_a_grant_is_granted_with_no_more_than_asked(tree):
    grants = [grant(tree / "repo", "write")]
    read = narrow(grants, [str(tree / "repo" / "src")])
    assert writable(read, tree / "repo" / "src") is False
    assert writable(read, tree / "repo") is None  # the rest of the repo is not granted
    write = narrow(grants, [f"{tree / 'repo' / 'src'}:write"])
    assert writable(write, tree / "repo" / "src") is True


@pytest.mark.parametrize("spelling", ["repo/../other", "repo/link", "/"])
def test_no_spelling_reaches_outside(tree, spelling):
    grants = [grant(tree / "repo", "write")]
    with pytest.raises(GrantRefused, match="outside the files this server grants"):
        narrow(grants, [spelling if spelling == "/" else str(tree / spelling)])


def test_write_is_refused_on_a_read_grant_and_a_protected_path(tree):
    grants = [grant(tree / "repo", "write", [".git"]), grant(tree / "other")]
    with pytest.raises(GrantRefused, match="read-only"):
        narrow(grants, [f"{tree / 'other'}:write"])
    with pytest.raises(GrantRefused, match="protected"):
        narrow(grants, [f"{tree / 'repo' / '.git'}:write"])
    whole = narrow(grants, [f"{tree / 'repo'}:write"])
    assert writable(whole, tree / "repo" / ".git") is False  # still protected


def test_the_servers_inner_grants_stay_as_closed_as_they_were(tree):
    """A read-only folder inside a writable grant stays read-only when a call asks for the
    whole writable grant."""
    grants = [grant(tree / "repo", "write"), grant(tree / "repo" / "vendor")]
    whole = narrow(grants, [f"{tree / 'repo'}:write"])
    assert writable(whole, tree / "repo" / "src") is True
    assert writable(whole, tree / "repo" / "vendor") is False
    asked_read = narrow(
        [grant(tree / "repo"), grant(tree / "repo" / "src", "write")], [str(tree / "repo")]
    )
    assert writable(asked_read, tree / "repo" / "src") is False  # never more than asked
