"""A run's artifacts: every medium an agent generated, kept twice.

- in the agent's workspace (``media/<name>``, written through the agent's own path policy, so
  a link it planted leads nowhere), where its answer's snapshot carries it to its peers;
- in the run's ``artifacts/`` folder (the session's, or a ``massgen-artifacts-*`` folder in
  the temporary directory for a run that is not recorded, which is never removed), under a
  name unique in that folder: what ``massgen logs show``, ``result["artifacts"]`` and the
  server's ``/v1/tasks/{id}/artifacts/{name}`` give.

The bytes are checked against the type the provider claimed (a PNG starts as PNGs do, ...):
an error page saved as ``image.png`` would help nobody.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from massgen.workspaces import safe_open
from massgen.workspaces.paths import PathPolicy, PathRefused

FOLDER = "artifacts"
WORKSPACE_FOLDER = "media"
#: mime -> file extension
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/ogg": "opus",
    "audio/aac": "aac",
    "audio/flac": "flac",
    "audio/L16": "pcm",
    "video/mp4": "mp4",
}
KINDS = {"image": "image", "audio": "audio", "video": "video"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def sniff(data: bytes) -> str | None:
    """The type ``data`` really is, for the types massgen saves (None: none of them)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"  # an ID3 tag, or an MPEG audio frame's sync bits
    if data.startswith(b"OggS"):
        return "audio/ogg"
    if data.startswith(b"fLaC"):
        return "audio/flac"
    return None


#: Types with no signature to check (raw PCM, ADTS AAC is checked by its sync bits above).
UNCHECKED = frozenset({"audio/L16", "audio/aac"})


@dataclass(frozen=True)
class Artifact:
    """One saved medium. ``path``: the copy in the artifacts folder; ``workspace_path``:
    the agent's copy (None in a run without files)."""

    name: str
    path: str
    kind: str
    mime: str
    size: int
    agent: str
    tool: str
    workspace_path: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class ArtifactError(Exception):
    """The medium could not be saved (its bytes are not what the provider said, ...)."""


class Artifacts:
    """The run's artifacts folder (made on the first save) and what was saved in it."""

    def __init__(self, root: Path | None) -> None:
        """``root``: the session folder (None: a run that is not recorded)."""
        self.root = root
        self.folder: Path | None = None
        self.saved: list[Artifact] = []
        self._lock = threading.Lock()  # saves run in threads

    def _folder(self) -> Path:
        if self.folder is None:
            if self.root is None:
                self.folder = Path(tempfile.mkdtemp(prefix="massgen-artifacts-"))
            else:
                self.folder = self.root / FOLDER
                self.folder.mkdir(mode=0o700, exist_ok=True)
        return self.folder

    def save(
        self,
        data: bytes,
        mime: str,
        *,
        kind: str,
        agent: str,
        tool: str,
        stem: str | None,
        policy: PathPolicy | None,
    ) -> Artifact:
        """Keep ``data`` in the agent's workspace (with ``policy``) and the artifacts folder."""
        real = sniff(data)
        if real is None and mime not in UNCHECKED:
            raise ArtifactError(f"the provider's reply is not a {mime} file ({len(data)} bytes)")
        mime = real or mime
        ext = EXTENSIONS.get(mime, "bin")
        stem = _UNSAFE.sub("-", stem or kind).strip("-")[:60] or kind
        with self._lock:
            workspace_path = _into_workspace(policy, stem, ext, data) if policy else None
            name, path = self._unique(f"{_UNSAFE.sub('-', agent)}-{stem}", ext)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            artifact = Artifact(
                name, str(path), KINDS.get(kind, kind), mime, len(data), agent, tool,
                str(workspace_path) if workspace_path else None,
            )  # fmt: skip
            self.saved.append(artifact)
        return artifact

    def named(self, name: str) -> Artifact | None:
        """The medium this run saved as ``name`` (``artist-fox.png``; ``artifacts/`` before it
        is taken too), or None."""
        name = name.strip().removeprefix(f"{FOLDER}/")
        with self._lock:
            return next((a for a in self.saved if a.name == name), None)

    def _unique(self, stem: str, ext: str) -> tuple[str, Path]:
        folder = self._folder()
        for number in range(1, 10_000):
            name = f"{stem}.{ext}" if number == 1 else f"{stem}-{number}.{ext}"
            if not os.path.lexists(folder / name):
                return name, folder / name
        raise ArtifactError("too many artifacts of that name")


def _into_workspace(policy: PathPolicy, stem: str, ext: str, data: bytes) -> Path:
    """Write ``media/<stem>[-n].<ext>`` in the agent's workspace, never over a file."""
    for number in range(1, 10_000):
        name = f"{stem}.{ext}" if number == 1 else f"{stem}-{number}.{ext}"
        given = str(policy.workspace / WORKSPACE_FOLDER / name)
        try:
            with policy.locate(given, write=True) as location:
                if location.lstat() is not None:
                    continue
                safe_open.write_file(location, data)
                return location.path
        except (PathRefused, OSError) as exc:
            raise ArtifactError(f"could not save it in your workspace: {exc}") from exc
    raise ArtifactError("too many files of that name in your workspace")


def workspace_name(artifact: Artifact, workspace: Path) -> str | None:
    """The artifact's path relative to the agent's workspace (what its answer names)."""
    if artifact.workspace_path is None:
        return None
    try:
        return str(Path(artifact.workspace_path).relative_to(workspace))
    except ValueError:
        return artifact.workspace_path
