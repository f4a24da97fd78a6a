"""The files an ``ask_team`` call may give the agents: the server's grants (its config's
``context_paths`` and its ``--context-path`` options), which a call may narrow, never widen.

A call's ``context_paths`` each name a path inside one of the server's grants, ``:write``
only where that grant is writable and not protected. Grants of the server's nested inside
a requested path come along, never more open than the server or the call made them, so
the innermost-root rule of :class:`massgen.workspaces.paths.PathPolicy` still protects
what the server protected.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from massgen.config.schema import ContextPathConfig, MassGenConfig
from massgen.errors import ConfigurationError
from massgen.workspaces.paths import inside, real


class GrantRefused(ConfigurationError):
    """A call asked for a path the server does not grant (or write access it does not)."""


def split_spec(spec: str) -> tuple[str, str]:
    """``PATH``, ``PATH:read`` or ``PATH:write`` as (absolute path, permission)."""
    path, permission = spec, "read"
    if spec.endswith((":write", ":read")):
        path, _, permission = spec.rpartition(":")
    if not path.strip():
        raise ConfigurationError(f"context path {spec!r}: give a path, e.g. ./src or ./src:write")
    return os.path.abspath(os.path.expanduser(path)), permission


def server_grants(config: MassGenConfig, specs: Sequence[str]) -> list[ContextPathConfig]:
    """The server's grants: ``config``'s context paths (relative ones taken from where the
    server runs) and ``specs`` (``--context-path PATH[:write]``), with absolute paths."""
    grants = []
    for entry in config.orchestrator.context_paths:
        full = os.path.abspath(os.path.expanduser(entry.path))
        protected = [_absolute(item, full) for item in entry.protected_paths]
        grants.append(entry.model_copy(update={"path": full, "protected_paths": protected}))
    for spec in specs:
        path, permission = split_spec(spec)
        if not os.path.exists(path):
            raise ConfigurationError(f"--context-path {spec}: {path} does not exist")
        grants.append(ContextPathConfig(path=path, permission=permission))  # type: ignore[arg-type]
    return grants


def narrow(
    grants: Sequence[ContextPathConfig], requested: Sequence[str] | None
) -> list[ContextPathConfig]:
    """The grants of one call: all of the server's (``requested`` is None), or those
    ``requested`` names (none for an empty list). Raises :class:`GrantRefused` naming the
    first path the server does not grant."""
    if requested is None:
        return [grant.model_copy(deep=True) for grant in grants]
    chosen: list[ContextPathConfig] = []
    for spec in requested:
        path, permission = split_spec(spec)
        chosen.extend(_within(grants, spec, real(path), permission))
    return chosen


def _within(
    grants: Sequence[ContextPathConfig], spec: str, wanted: Path, permission: str
) -> list[ContextPathConfig]:
    outer = [g for g in grants if inside(wanted, real(g.path))]
    if not outer:
        roots = ", ".join(f"{g.path} ({g.permission})" for g in grants) or "none"
        raise GrantRefused(
            f"context_paths: {spec} is outside the files this server grants ({roots}); "
            "start it with --context-path to grant more"
        )
    grant = max(outer, key=lambda g: len(real(g.path).parts))  # the innermost decides
    protected = [real(_absolute(p, grant.path)) for p in grant.protected_paths]
    if permission == "write":
        if grant.permission != "write":
            raise GrantRefused(f"context_paths: {spec}: the server grants {grant.path} read-only")
        if any(inside(wanted, p) for p in protected):
            raise GrantRefused(f"context_paths: {spec}: protected in the server's grants")
    entries = [
        ContextPathConfig(
            path=str(wanted),
            permission=permission,  # type: ignore[arg-type]
            protected_paths=[str(p) for p in protected if inside(p, wanted) and p != wanted],
        )
    ]
    for nested in grants:  # the server's grants inside the path keep their own limits
        root = real(nested.path)
        if root != wanted and inside(root, wanted):
            least = "write" if permission == nested.permission == "write" else "read"
            entries.append(nested.model_copy(update={"path": str(root), "permission": least}))
    return entries


def _absolute(item: str, base: str) -> str:
    candidate = Path(os.path.expanduser(item))
    return str(candidate if candidate.is_absolute() else Path(base) / candidate)
