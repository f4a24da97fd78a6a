"""Every code example of the reference documentation users already know (the ``.rst`` files
of ``../shared/reference``, extracted into ``reference_examples.json`` by
``extract_examples.py``), run as written against the fakes in ``tests/fakes``: the
providers' own base-URL variables (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``,
``GOOGLE_GEMINI_BASE_URL``, ``XAI_BASE_URL``, ``AZURE_OPENAI_ENDPOINT``) point at them, and
the local servers the examples name (LM Studio on 1234, vLLM on 8000, SGLang on 30000,
``massgen serve`` on 4000) are started on those ports when they are free.

Each example is classified in :data:`HOW`. Examples that need a feature of a later issue are
``xfail(strict=True)`` with that issue's topic, so the test fails (and must be un-marked) the
day the feature lands. Commands for other tools (installing vLLM) and interactive ones are
checked as far as they concern massgen, and say why in their ``reason``.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import massgen
from massgen.config.loader import load_config_text
from massgen.errors import ConfigurationError
from tests.docs.extract_examples import DEFAULT_SOURCE, OUT, extract_all
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.chat_server import FakeChatServer
from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.responses_server import FakeResponsesServer

EXAMPLES: list[dict[str, Any]] = json.loads(OUT.read_text(encoding="utf-8"))
KEYS = {
    "OPENAI_API_KEY": "sk-docs-openai-0000",
    "ANTHROPIC_API_KEY": "sk-ant-docs-0000",
    "GEMINI_API_KEY": "docs-gemini-0000",
    "GOOGLE_API_KEY": "docs-gemini-0000",
    "XAI_API_KEY": "xai-docs-0000",
    "AZURE_OPENAI_API_KEY": "azure-docs-0000",
    "SGLANG_API_KEY": "sglang-docs-0000",
}
LATER = {
    "claude_code": "issue 17 (claude_code and ag2 backends)",
}

#: (file, line) -> (how the example is run, a LATER topic or a note). Kinds: config (a whole
#: YAML config: validated and run), fragment (a backend: block: validated inside a one-agent
#: config), python (run), and specific checks named after what they check.
HOW: dict[tuple[str, int], tuple[str, str]] = {
    ("backends.rst", 259): ("config", ""),
    ("backends.rst", 275): ("config", ""),
    ("backends.rst", 287): ("config", ""),
    ("backends.rst", 307): ("config", ""),
    ("backends.rst", 319): ("config", ""),
    ("backends.rst", 339): ("config", ""),
    ("backends.rst", 374): ("config", ""),
    ("backends.rst", 386): ("config", ""),
    ("backends.rst", 404): ("config", ""),
    ("backends.rst", 420): ("config", ""),
    ("backends.rst", 432): ("env_names", "the variables massgen reads for Azure"),
    ("backends.rst", 443): ("chat_config", "AG2's OpenAI client speaks Chat Completions"),
    ("backends.rst", 465): ("config", ""),
    ("backends.rst", 488): ("config", ""),
    ("backends.rst", 514): ("fragment", ""),
    ("backends.rst", 528): ("config", ""),
    ("backends.rst", 556): ("external", "installs and starts vLLM itself (a GPU server)"),
    ("backends.rst", 568): ("external", "installs and starts SGLang itself (a GPU server)"),
    ("backends.rst", 591): ("fragment", ""),
    ("backends.rst", 611): ("fragment", ""),
    ("backends.rst", 636): ("config", ""),
    ("backends.rst", 749): ("backend_types", "which type values are accepted"),
    ("backends.rst", 765): ("key_names", "which key variable each type reads"),
    ("backends.rst", 787): ("alternatives", "two values of one key, one supported"),
    ("http-server.rst", 11): ("config", ""),
    ("http-server.rst", 26): ("serve", "starts the server the next examples call"),
    ("http-server.rst", 34): ("server_client", ""),
    ("http-server.rst", 59): ("server_client", ""),
    ("http-server.rst", 68): ("server_client", ""),
    ("http-server.rst", 113): ("response_shape", "the shape of a non-streamed reply"),
    ("http-server.rst", 143): ("serve_options", "a usage line: the options it lists exist"),
    ("python-api-and-litellm.rst", 25): ("python", ""),
    ("python-api-and-litellm.rst", 83): ("python_paths", "/path/to/... is the reader's own"),
    ("python-api-and-litellm.rst", 120): ("python", ""),
    ("python-api-and-litellm.rst", 156): ("signature", "the documented signature of run()"),
    ("python-api-and-litellm.rst", 186): ("result_keys", "the documented result keys"),
    ("python-api-and-litellm.rst", 205): ("python", ""),
    ("python-api-and-litellm.rst", 234): ("python", ""),
    ("python-api-and-litellm.rst", 261): ("shell", ""),
    ("python-api-and-litellm.rst", 270): ("python", ""),
    ("python-api-and-litellm.rst", 290): ("python", ""),
    ("python-api-and-litellm.rst", 315): ("python", ""),
    ("python-api-and-litellm.rst", 339): ("python", ""),
    ("python-api-and-litellm.rst", 370): ("python", ""),
    ("python-api-and-litellm.rst", 396): ("python", ""),
    ("python-api-and-litellm.rst", 424): ("python", ""),
    ("python-api-and-litellm.rst", 453): ("no_config_error", "an error message, not code"),
    ("python-api-and-litellm.rst", 460): ("interactive", "the wizard asks questions"),
    ("python-api-and-litellm.rst", 466): ("python", ""),
    ("python-api-and-litellm.rst", 477): ("shell", ""),
    ("python-api-and-litellm.rst", 484): ("env_names", "a .env file massgen reads"),
    ("python-api-and-litellm.rst", 492): ("not_found_error", "an error message, not code"),
    ("python-api-and-litellm.rst", 503): ("python", ""),
    ("python-api-and-litellm.rst", 519): ("python", ""),
    ("python-api-and-litellm.rst", 529): ("python", ""),
    ("python-api-and-litellm.rst", 540): ("python", ""),
}


def _id(example: dict[str, Any]) -> str:
    return f"{example['file'].split('.')[0]}:{example['line']}"


def test_every_example_is_classified_and_the_copy_is_current() -> None:
    assert {(e["file"], e["line"]) for e in EXAMPLES} == set(HOW)
    if DEFAULT_SOURCE.is_dir():  # where the reference docs are checked out next to the repo
        assert extract_all(DEFAULT_SOURCE) == EXAMPLES, "run python -m tests.docs.extract_examples"


# ------------------------------------------------------------------ the fake world


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class World:
    """Fakes for every provider the examples use, and the environment pointing at them."""

    def __init__(self, stack: ExitStack) -> None:
        self.openai = stack.enter_context(FakeResponsesServer())
        self.anthropic = stack.enter_context(FakeAnthropicServer())
        self.gemini = stack.enter_context(FakeGeminiServer())
        self.xai = stack.enter_context(FakeChatServer())
        self.azure = stack.enter_context(FakeChatServer())
        #: OpenAI's Chat Completions (same real endpoint as its Responses; separate fakes)
        self.openai_chat = stack.enter_context(FakeChatServer())
        self.local: dict[int, FakeChatServer] = {}
        for port in (1234, 8000, 30000):  # LM Studio, vLLM, SGLang as the examples name them
            if _port_free(port):
                self.local[port] = stack.enter_context(FakeChatServer(port=port))
        self.env = {
            **KEYS,
            "OPENAI_BASE_URL": self.openai.url,
            "ANTHROPIC_BASE_URL": self.anthropic.url,
            "GOOGLE_GEMINI_BASE_URL": self.gemini.url,
            "XAI_BASE_URL": self.xai.url,
            "AZURE_OPENAI_ENDPOINT": self.azure.url.removesuffix("/v1"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with ExitStack() as stack:
        yield World(stack)


@pytest.fixture
def docs_env(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment and a working directory an example runs in (an empty HOME)."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")) or name == "AZURE_OPENAI_ENDPOINT":
            monkeypatch.delenv(name)
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("MASSGEN_LOG_DIR", str(tmp_path / "sessions"))
    agents = tmp_path / "home" / ".config" / "massgen" / "agents"
    agents.mkdir(parents=True)
    for name in ("research-team", "research"):  # the named configs the examples use
        shutil.copy(massgen_example("research_team"), agents / f"{name}.yaml")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)  # load_dotenv() writes to os.environ directly


def massgen_example(name: str) -> Path:
    from massgen.config.resolve import find_example

    return find_example(name)


# ------------------------------------------------------------------ running one example


#: The quick start's imports, which the later LiteLLM cells rely on.
SETUP_CELL = "import litellm\nfrom massgen import register_with_litellm\nregister_with_litellm()\n"


def _run_python(code: str) -> None:
    """Run a snippet as its reader would: a script, or a notebook cell (top-level await)."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    compiled = compile(code, "<example>", "exec", flags=flags)
    # a later cell of a notebook or session: ``massgen`` was imported by the examples before
    namespace: dict[str, Any] = {"__name__": "__example__", "massgen": massgen}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the "missing await" counter-example
        result = eval(compiled, namespace)  # the documentation's own code
        if inspect.iscoroutine(result):
            asyncio.run(result)


def _config_runs(text: str, world: World, source: str) -> None:
    loaded = load_config_text(text, source).config
    needs_local = {
        port: url
        for agent in loaded.agents
        for port, url in ((8000, "8000"), (30000, "30000"), (1234, "1234"))
        if url in str(agent.backend.base_url or "") or agent.backend.port == port
    }
    missing = [port for port in needs_local if port not in world.local]
    if missing:
        pytest.skip(f"ports {missing} are taken on this machine: the example's servers cannot run")
    result = asyncio.run(massgen.run("What is 2 + 2?", config=text_config(text, source)))
    assert result["final_answer"], source


def text_config(text: str, source: str) -> str:
    """A file holding the example, as a user would save it."""
    path = Path.cwd() / f"{source.replace(':', '_')}.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _params() -> list[Any]:
    params = []
    for example in EXAMPLES:
        topic = HOW.get((example["file"], example["line"]), ("", ""))[1]
        marks = [pytest.mark.xfail(strict=True, reason=LATER[topic])] if topic in LATER else []
        params.append(pytest.param(example, id=_id(example), marks=marks))
    return params


@pytest.mark.parametrize("example", _params())
def test_reference_example(example: dict[str, Any], world: World, docs_env: Path) -> None:
    kind, detail = HOW[(example["file"], example["line"])]
    code: str = example["code"]
    source = _id(example)
    if kind == "config":
        _config_runs(code, world, source)
    elif kind == "chat_config":  # a config whose OpenAI client calls Chat Completions (ag2)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("OPENAI_BASE_URL", world.openai_chat.url)
            served = len(world.openai_chat.requests)
            _config_runs(code, world, source)
        assert len(world.openai_chat.requests) > served
    elif kind == "fragment":
        agent = yaml.safe_load(code)["backend"]
        load_config_text(yaml.safe_dump({"agents": [{"backend": agent}]}), source)
    elif kind == "python":
        _run_python(code)
    elif kind == "python_paths":  # the reader puts their own folders where /path/to/x stands
        code = SETUP_CELL + code  # a later cell of the quick start (its imports done)
        with pytest.raises(Exception, match="/path/to/project does not exist"):
            _run_python(code)  # as written, on a machine without those folders: one clear line
        for placeholder in set(re.findall(r"/path/to/[\w.-]+", code)):
            (docs_env / placeholder.lstrip("/")).mkdir(parents=True)
        _run_python(code.replace('"/path/to/', f'"{docs_env}/path/to/'))
    elif kind == "signature":
        function = ast.parse(code.rstrip() + ":\n    pass\n").body[0]
        documented = [node.arg for node in function.args.args]  # type: ignore[attr-defined]
        parameters = inspect.signature(massgen.run).parameters
        assert [p for p in documented if p not in parameters] == []
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    elif kind == "result_keys":
        keys = set(
            ast.literal_eval(
                code.replace(": str", ": 1").replace(": dict", ": 1").replace(": list", ": 1")
            )
        )
        result = asyncio.run(massgen.run("2+2?", model="gpt-5-mini"))
        assert keys <= set(result)
    elif kind == "shell":
        completed = subprocess.run(["bash", "-c", code], capture_output=True, text=True, timeout=60)
        assert completed.returncode == 0, completed.stderr
        if "list-examples" in code:
            assert "research_team" in completed.stdout and "coding_team" in completed.stdout
    elif kind == "env_names":
        from massgen.providers import PROVIDER_KEY_VARS

        names = [
            line.split("=", 1)[0].removeprefix("export ").strip()
            for line in code.splitlines()
            if "=" in line
        ]
        read = {*PROVIDER_KEY_VARS, "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_VERSION"}
        assert names and set(names) <= read, set(names) - read
    elif kind == "backend_types":
        for line in code.splitlines():
            if not line.strip().startswith("type:"):
                continue
            value = line.split(":", 1)[1].split("#")[0].strip().strip('"')
            accepted = "❌" not in line and "\u274c" not in line and "‚ùå" not in line
            config = f"agents:\n  - backend: {{type: {value}, model: m}}\n"
            if accepted:
                load_config_text(config, source)
            else:
                with pytest.raises(ConfigurationError, match="did you mean"):
                    load_config_text(config, source)
    elif kind == "key_names":
        from massgen.providers import PROVIDERS

        for line in code.splitlines():
            if line.lstrip().startswith("#") or ("→" not in line and "‚Üí" not in line):
                continue
            kind_name, variable = (part.strip() for part in line.replace("‚Üí", "→").split("→"))
            variable = variable.split()[0]
            assert variable in PROVIDERS[kind_name].key_vars, line
    elif kind == "alternatives":  # keep the supported one of the two alternatives shown
        kept = [
            line
            for line in code.splitlines()
            if not ("model:" in line and "✅" not in line and "‚úÖ" not in line)
        ]
        backend = yaml.safe_load("\n".join(kept))["backend"]
        load_config_text(yaml.safe_dump({"agents": [{"backend": backend}]}), source)
    elif kind in ("serve", "server_client", "response_shape", "serve_options"):
        _server_example(kind, code, docs_env)
    elif kind == "no_config_error":
        from massgen.config import resolve

        with pytest.MonkeyPatch.context() as patch:
            for name in KEYS:
                patch.delenv(name, raising=False)
            patch.setattr("massgen.local_model.local_backend_available", lambda: False)
            with pytest.raises(ValueError, match="massgen --init"):
                resolve.resolve_default()
    elif kind == "not_found_error":
        with pytest.raises(ValueError, match="not found"):
            asyncio.run(massgen.run(query="q", config="my-config"))
    elif kind == "interactive":
        completed = subprocess.run(
            [sys.executable, "-m", "massgen", "--init"], stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert completed.returncode == 1
        assert "--non-interactive" in completed.stderr  # the way to run it without a terminal
    elif kind == "external":
        pytest.skip(f"not massgen: {detail}")
    else:
        raise AssertionError(f"unknown kind {kind}")


# ------------------------------------------------------------------ the HTTP server examples

_SERVER: dict[str, subprocess.Popen[str]] = {}


def _server_example(kind: str, code: str, cwd: Path) -> None:
    if kind == "serve_options":
        completed = subprocess.run(
            [sys.executable, "-m", "massgen", "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        for option in ("--config", "--host", "--port", "--default-model"):
            assert option in completed.stdout
        return
    if not _port_free(4000) and "serve" not in _SERVER:
        pytest.skip("port 4000 is taken on this machine: the example's server cannot run")
    config_yaml = next(
        e["code"] for e in EXAMPLES if (e["file"], e["line"]) == ("http-server.rst", 11)
    )
    (cwd / "config.yaml").write_text(config_yaml)
    commands = [line for line in code.splitlines() if line.strip() and not line.startswith("#")]
    command = commands[0] if kind == "serve" else "massgen serve --config config.yaml"
    args = command.split()
    process = subprocess.Popen(
        [sys.executable, "-m", "massgen", *args[1:], "--no-log"],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get("http://localhost:4000/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"massgen serve did not start: {process.stderr.read()}"
                    ) from None
                time.sleep(0.1)
        if kind == "server_client" and code.lstrip().startswith("curl"):
            if shutil.which("curl") is None:
                pytest.skip("curl is not installed")
            completed = subprocess.run(
                ["bash", "-c", code], capture_output=True, text=True, timeout=60
            )
            assert (
                completed.returncode == 0
                and json.loads(completed.stdout)["choices"][0]["message"]["content"]
            )
        elif kind == "server_client":
            _run_python(code)
        elif kind == "response_shape":
            documented = json.loads(code)["choices"][0]
            reply = httpx.post(
                "http://localhost:4000/v1/chat/completions",
                json={"model": "massgen", "messages": [{"role": "user", "content": "2+2?"}]},
                timeout=60,
            ).json()["choices"][0]
            assert set(documented) <= set(reply) and set(documented["message"]) <= set(
                reply["message"]
            )
    finally:
        process.terminate()
        process.wait(timeout=20)
