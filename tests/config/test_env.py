"""``.env`` loading: cwd file, then the user's; the real environment always wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from massgen.config.env import env_files, load_env_files

pytestmark = pytest.mark.usefixtures("restore_environ")


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(working dir, user config dir) with ``XDG_CONFIG_HOME`` pointing at a temp dir."""
    cwd = tmp_path / "project"
    cwd.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    user = tmp_path / "xdg" / "massgen"
    user.mkdir(parents=True)
    for name in ("MG_A", "MG_B", "MG_C", "MG_D"):
        os.environ.pop(name, None)
    return cwd, user


def test_cwd_env_file_is_loaded(dirs: tuple[Path, Path]) -> None:
    cwd, _ = dirs
    (cwd / ".env").write_text("MG_A=from-cwd\n")
    assert load_env_files(cwd) == [cwd / ".env"]
    assert os.environ["MG_A"] == "from-cwd"


def test_default_cwd_is_the_working_directory(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, _ = dirs
    (cwd / ".env").write_text("MG_A=here\n")
    monkeypatch.chdir(cwd)
    assert load_env_files() == [Path.cwd() / ".env"]
    assert os.environ["MG_A"] == "here"


def test_user_env_file_is_loaded(dirs: tuple[Path, Path]) -> None:
    cwd, user = dirs
    (user / ".env").write_text("MG_B=from-user\n")
    assert load_env_files(cwd) == [user / ".env"]
    assert os.environ["MG_B"] == "from-user"


def test_real_environment_wins(dirs: tuple[Path, Path]) -> None:
    cwd, user = dirs
    os.environ["MG_A"] = "real"
    os.environ["MG_B"] = ""
    (cwd / ".env").write_text("MG_A=from-cwd\nMG_B=from-cwd\n")
    (user / ".env").write_text("MG_A=from-user\n")
    load_env_files(cwd)
    assert os.environ["MG_A"] == "real"
    assert os.environ["MG_B"] == ""


def test_cwd_file_wins_over_user_file(dirs: tuple[Path, Path]) -> None:
    cwd, user = dirs
    (cwd / ".env").write_text("MG_A=from-cwd\n")
    (user / ".env").write_text("MG_A=from-user\nMG_C=only-user\n")
    assert load_env_files(cwd) == [cwd / ".env", user / ".env"]
    assert os.environ["MG_A"] == "from-cwd"
    assert os.environ["MG_C"] == "only-user"


def test_same_file_is_loaded_once(dirs: tuple[Path, Path]) -> None:
    _, user = dirs
    (user / ".env").write_text("MG_D=1\n")
    assert env_files(user) == [user / ".env"]


def test_no_files_is_cheap(dirs: tuple[Path, Path]) -> None:
    cwd, _ = dirs
    code = (
        "import sys, pathlib; from massgen.config.env import load_env_files; "
        f"print(load_env_files(pathlib.Path({str(cwd)!r})), 'dotenv' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert result.stdout.split() == ["[]", "False"]
