"""``massgen --web``: the app served by textual-serve, opened in a real headless browser
(Debian's ``chromium``) against the fake Chat Completions server; the server binds loopback
by default, warns when told to bind more, and refuses other sites' pages."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from massgen.providers import PROVIDER_KEY_VARS
from tests.fakes.chat_server import FakeChatServer
from tests.support.browser import Browser, chromium

pytest.importorskip("textual_serve", reason="textual-serve is not installed (the web extra)")

DEADLINE_S = 60.0


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(tmp_path: Path, base_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in PROVIDER_KEY_VARS and not k.startswith(("TEXTUAL", "MASSGEN_"))
    }
    for name in ("home", "config"):
        (tmp_path / name).mkdir(exist_ok=True)
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        MASSGEN_LOCAL_BASE_URL=base_url,
        MASSGEN_LOCAL_MODEL="fake-model",
        PYTHONUNBUFFERED="1",
    )
    return env


class Served:
    """``massgen --web ARGS`` in its own process group, until the test ends."""

    def __init__(self, tmp_path: Path, base_url: str, *args: str) -> None:
        work = tmp_path / "work"  # no .env or config of the repository's applies here
        work.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "massgen", "--web", *args],
            cwd=work,
            env=clean_env(tmp_path, base_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self.line = self.process.stdout.readline()  # "massgen: the app is served on URL ..."
        assert "served on" in self.line, self.line + self.stderr()

    def stderr(self) -> str:
        self.stop()
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def listening(self) -> set[str]:
        """The addresses the server listens on (it binds just after it says where)."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            connections = psutil.Process(self.process.pid).net_connections("inet")
            found = {c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN}
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)  # the server and every app it started
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


def get(url: str, **headers: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10):
            return 200
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed: no real browser")
def test_the_app_runs_in_a_headless_browser_with_its_question_as_typed(
    tmp_path: Path, provider: FakeChatServer
) -> None:
    port = free_port()
    marker = tmp_path / "work" / "injected"  # the app runs in work/
    # words a shell would run: they must reach the app as the question, as typed
    question = 'Capital of "France"? $(touch injected); touch injected'
    served = Served(
        tmp_path, provider.url, "--port", str(port), "-c", "three_agents_local_server", question
    )
    try:
        with Browser() as browser:
            browser.open(f"http://127.0.0.1:{port}/")
            deadline = time.monotonic() + DEADLINE_S
            text = browser.wait_for_text("careful", "inventive", "Capital of", deadline=deadline)
            assert "careful" in text and "inventive" in text  # the agents' cards, drawn
            text = browser.wait_for_text(question, deadline=deadline)
            assert question in text  # the header shows the question, quotes and all
            assert "-first-byte" in browser.evaluate("document.body.className")  # on screen
    finally:
        served.stop()
    assert not marker.exists()


def test_web_binds_loopback_only_by_default_and_refuses_other_sites(
    tmp_path: Path, provider: FakeChatServer
) -> None:
    port = free_port()
    served = Served(tmp_path, provider.url, "--port", str(port), "-c", "three_agents_local_server")
    try:
        assert f"http://127.0.0.1:{port}" in served.line
        assert served.listening() == {"127.0.0.1"}  # not the machine's other addresses
        page = f"http://127.0.0.1:{port}/"
        assert get(page) == 200
        assert get(page, Host=f"rebound.example:{port}") == 403  # DNS rebinding
        socket_url = f"ws://127.0.0.1:{port}/ws"
        with pytest.raises(InvalidStatus) as refused:  # a page of another site
            connect(socket_url, origin=Origin("http://evil.example"), open_timeout=20)
        assert refused.value.response.status_code == 403
        with connect(socket_url, origin=Origin(f"http://127.0.0.1:{port}"), open_timeout=20):
            pass  # the app's own page
    finally:
        warnings = served.stderr()
    assert "warning" not in warnings


def test_web_on_another_address_warns_in_one_line(tmp_path: Path, provider: FakeChatServer) -> None:
    served = Served(
        tmp_path,
        provider.url,
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
        "-c",
        "three_agents_local_server",
    )
    try:
        assert served.listening() == {"0.0.0.0"}
    finally:
        warnings = [line for line in served.stderr().splitlines() if "warning" in line]
    assert len(warnings) == 1 and "serving on 0.0.0.0" in warnings[0], warnings
    assert "no login" in warnings[0]


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed: no real browser")
def test_the_browser_shows_the_welcome_screen_with_the_team_checked(
    tmp_path: Path, provider: FakeChatServer
) -> None:
    port = free_port()
    served = Served(tmp_path, provider.url, "--port", str(port), "-c", "three_agents_local_server")
    try:
        with Browser() as browser:
            browser.open(f"http://127.0.0.1:{port}/")
            deadline = time.monotonic() + DEADLINE_S
            needles = (
                "The team · vote",
                "careful",
                "inventive",
                "✓ reachable",
                "Example questions",
            )
            text = browser.wait_for_text(*needles, deadline=deadline)
            assert all(n in text for n in needles), text[-2000:]
    finally:
        served.stop()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--host", "0.0.0.0", "Q"], "--host and --port go with --web"),
        (["--web", "--ui", "plain"], "--web serves the terminal app"),
        (["--web", "--port", "70000"], "--port: 70000 is not a port"),
    ],
)
def test_web_flags_used_wrongly_are_one_line_usage_errors(
    tmp_path: Path, args: list[str], says: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "massgen", *args],
        env=clean_env(tmp_path, "http://127.0.0.1:9/v1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("massgen: error: ") and says in done.stderr, done.stderr
