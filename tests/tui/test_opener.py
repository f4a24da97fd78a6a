"""Opening a medium with the system's player: the opener gets the path as one argument (no
shell), and anything that cannot be opened is one line naming the file."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from massgen.tui.opener import DEFAULT_OPENER, OPENERS, open_file

OPENER = OPENERS.get(sys.platform, DEFAULT_OPENER)


@pytest.fixture
def player(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for xdg-open on PATH that writes the arguments it got to a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "opened.txt"
    script = bin_dir / OPENER
    script.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(record)!r}, 'w').write('\\n'.join(sys.argv[1:]))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return record


def wait_for(path: Path) -> str:
    deadline = time.monotonic() + 10
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, "the opener never ran"
        time.sleep(0.02)
    return path.read_text()


def test_the_system_opener_gets_the_file_as_one_argument(tmp_path, player):
    odd = tmp_path / "a fox; rm -rf ~ $(id).png"  # a shell would split and run this
    odd.write_bytes(b"\x89PNG")
    assert open_file(odd) is None
    assert wait_for(player) == str(odd)


def test_no_opener_is_one_line_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    howl = tmp_path / "howl.wav"
    howl.write_bytes(b"RIFF")
    assert open_file(howl) == f"No {OPENER} here to open it with: the file is {howl}"


def test_only_media_files_that_exist_are_opened(tmp_path, player):
    script = tmp_path / "run-me.desktop"  # an opener would run it
    script.write_text("[Desktop Entry]\nExec=touch pwned\n")
    assert open_file(script) == f"Not opened (not a picture, sound or video): {script}"
    gone = tmp_path / "gone.mp4"
    assert open_file(gone) == f"The file is not there any more: {gone}"
    time.sleep(0.2)
    assert not player.exists()
