"""``--config`` name resolution, the example list and the user config dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from massgen.config import resolve
from massgen.config.resolve import (
    Example,
    example_text,
    examples_dir,
    find_example,
    list_examples,
    resolve_config,
    user_config_dir,
)
from massgen.errors import ConfigurationError

EXAMPLES = {
    "team.yaml": "# A team\n# second comment\nagents: []\n",
    "a/x.yaml": "#   Ax description  \nagents: []\n",
    "b/x.yaml": "\n# Bx\nagents: []\n",
    "basic/multi/three.yaml": "agents: []  # no header comment\n",
    "basic/multi/README.md": "not a config\n",
    ".hidden/secret.yaml": "# hidden\n",
}


@pytest.fixture
def examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "examples"
    for name, text in EXAMPLES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(resolve, "examples_dir", lambda: root)
    return root


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    agents = xdg / "massgen" / "agents"
    agents.mkdir(parents=True)
    return agents


@pytest.fixture(autouse=True)
def _cwd(in_tmp: Path) -> None:
    """Relative paths are looked up in an empty working directory."""


def test_list_examples_names_descriptions_and_order(examples: Path) -> None:
    assert list_examples() == [
        Example("a/x", "Ax description", examples / "a/x.yaml"),
        Example("b/x", "Bx", examples / "b/x.yaml"),
        Example("basic/multi/three", "", examples / "basic/multi/three.yaml"),
        Example("team", "A team", examples / "team.yaml"),
    ]


def test_list_examples_of_a_missing_dir_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolve, "examples_dir", lambda: tmp_path / "none")
    assert list_examples() == []


def test_examples_dir_is_the_repo_configs_in_a_checkout() -> None:
    repo = Path(resolve.__file__).resolve().parents[2]
    assert examples_dir() == repo / "configs"
    assert (examples_dir() / "research_team.yaml").is_file()


def test_existing_path_comes_first(examples: Path, in_tmp: Path) -> None:
    Path("team.yaml").write_text("agents: []\n")
    assert resolve_config("team.yaml") == Path("team.yaml")
    assert resolve_config("team") == examples / "team.yaml"  # no file called "team"


def test_examples_prefix(examples: Path) -> None:
    assert resolve_config("@examples/basic/multi/three") == examples / "basic/multi/three.yaml"
    assert resolve_config("@examples/three.yaml") == examples / "basic/multi/three.yaml"


def test_examples_prefix_never_falls_back_to_the_user_dir(examples: Path, user_dir: Path) -> None:
    (user_dir / "mine.yaml").write_text("agents: []\n")
    assert resolve_config("mine") == user_dir / "mine.yaml"
    with pytest.raises(
        ConfigurationError, match=r"^config '@examples/mine' not found: no built-in"
    ):
        resolve_config("@examples/mine")


def test_bare_exact_name_with_or_without_suffix(examples: Path) -> None:
    assert resolve_config("basic/multi/three") == examples / "basic/multi/three.yaml"
    assert resolve_config("basic/multi/three.yaml") == examples / "basic/multi/three.yaml"
    assert resolve_config("a/x") == examples / "a/x.yaml"


def test_bare_last_component(examples: Path) -> None:
    assert resolve_config("three") == examples / "basic/multi/three.yaml"
    assert resolve_config("multi/three") == examples / "basic/multi/three.yaml"


def test_ambiguous_name_lists_the_candidates(examples: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config("x")
    assert str(info.value) == "'x' matches several examples: a/x, b/x; use the full name"


def test_exact_full_name_beats_a_last_component_match(examples: Path) -> None:
    (examples / "x.yaml").write_text("# top-level x\n")
    assert resolve_config("x") == examples / "x.yaml"


def test_user_dir_after_examples(examples: Path, user_dir: Path) -> None:
    (user_dir / "mine.yaml").write_text("agents: []\n")
    (user_dir / "plain").write_text("agents: []\n")
    (user_dir / "team.yaml").write_text("agents: []\n")
    assert resolve_config("mine") == user_dir / "mine.yaml"
    assert resolve_config("mine.yaml") == user_dir / "mine.yaml"
    assert resolve_config("plain") == user_dir / "plain"
    assert resolve_config("team") == examples / "team.yaml"


def test_not_found_suggests_and_points_to_list_examples(examples: Path, user_dir: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config("tema")
    message = str(info.value)
    assert message.startswith("config 'tema' not found: not a file, not a built-in example, ")
    assert f"not in {user_dir}" in message
    assert "(did you mean 'team'?)" in message
    assert message.endswith("run 'massgen --list-examples' to see the built-in examples")


def test_suggestions_are_names_that_resolve(examples: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"did you mean 'basic/multi/three'"):
        resolve_config("basic/multi/thre")
    with pytest.raises(ConfigurationError, match=r"did you mean 'three'"):
        resolve_config("threee")
    with pytest.raises(ConfigurationError) as info:
        resolve_config("xx")  # close to 'x', which is ambiguous
    assert "did you mean 'x'" not in str(info.value)


def test_not_found_without_a_close_name_has_no_suggestion(examples: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config("zzzzzz")
    assert "did you mean" not in str(info.value)


def test_directory_is_reported(examples: Path) -> None:
    Path("somedir").mkdir()
    with pytest.raises(ConfigurationError, match=r"^somedir: is a directory"):
        resolve_config("somedir")


def test_example_text_and_find_example(examples: Path) -> None:
    assert example_text("team") == EXAMPLES["team.yaml"]
    assert example_text("@examples/a/x") == EXAMPLES["a/x.yaml"]
    assert find_example("three") == examples / "basic/multi/three.yaml"


def test_example_text_ignores_files_and_user_configs(examples: Path, user_dir: Path) -> None:
    Path("local.yaml").write_text("agents: []\n")
    (user_dir / "mine.yaml").write_text("agents: []\n")
    for name in ("local.yaml", "mine"):
        with pytest.raises(ConfigurationError, match="no built-in example"):
            example_text(name)


def test_user_config_dir_honours_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_config_dir() == tmp_path / "xdg" / "massgen"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for value in ("", "relative/dir"):
        monkeypatch.setenv("XDG_CONFIG_HOME", value)
        assert user_config_dir() == tmp_path / "home" / ".config" / "massgen"


def test_import_is_light() -> None:
    code = (
        "import sys, massgen.config.resolve as r; r.list_examples(); "
        "print(sorted(m for m in ('yaml', 'pydantic', 'dotenv', 'openai') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
