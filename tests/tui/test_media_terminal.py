"""In a real terminal (tmux): a recorded run whose artist drew a picture replays with the
picture drawn in half blocks (tmux speaks neither Kitty's protocol nor, here, Sixel), the
app still takes keys after ``textual-image`` was loaded mid-run, and quits cleanly. On a
pseudo-terminal, with Kitty's protocol or Sixel chosen, the bytes the app writes carry the
picture in that protocol."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import sys
import time
from pathlib import Path

import pytest

import massgen
from massgen.testing import FakeChatServer
from tests.tools.test_generate_then_understand import KEY, VISION, ArtistAndCritic
from tests.tui.test_terminal import Tmux, clean_env

pytestmark = [
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed: no real terminal to run in"
    ),
    pytest.mark.serial,  # a real terminal's timing: alone, after the parallel tests
]


def record(log_dir: Path) -> dict:
    with FakeChatServer(api_key=KEY, brain=ArtistAndCritic()) as fake:
        backend = {
            "type": "chatcompletion",
            "model": "gpt-4o-mini",
            "base_url": fake.url,
            "api_key": KEY,
        }
        config = {"agents": [
            {"id": "critic", "backend": backend, "understanding": {
                "tools": ["understand_image"],
                "image_model": {**backend, "model": VISION, "vision": True}}},
            {"id": "artist", "backend": backend,
             "generation": {"image": {"base_url": fake.url, "api_key": KEY}}},
        ]}  # fmt: skip
        return asyncio.run(
            massgen.run("Draw a fox", config=config, enable_logging=True, log_dir=log_dir)
        )


def test_a_replayed_picture_shows_in_a_real_terminal_and_keys_still_work(tmp_path):
    result = record(tmp_path / "logs")
    [artifact] = result["artifacts"]
    with FakeChatServer() as unused:  # clean_env names a provider; the replay calls none
        env = clean_env(tmp_path, unused)
    replay = shlex.join([sys.executable, "-m", "massgen", "logs", "replay", "latest",
                         "--log-dir", str(tmp_path / "logs"), "--speed", "0"])  # fmt: skip
    tmux = Tmux(tmp_path / "tmux.sock", env)
    deadline = time.monotonic() + 30
    try:
        tmux.start(f"{replay}; echo EXIT=$?; sleep 30", (140, 40))
        screen = tmux.wait_for(
            lambda s: f"{artifact['name']} · image" in s and "Replay finished" in s,
            "the replayed picture",
            deadline,
        )
        assert "▀▀▀▀▀▀" in screen  # the picture, in half blocks
        assert "Traceback" not in screen
        tmux.keys("f")  # a key after the library loaded: the final answer, maximised
        maximised = tmux.wait_for(
            lambda s: "winner" not in s.split("Final answer")[0], "f", deadline
        )
        assert "▀▀▀▀▀▀" in maximised and "✓ voted" not in maximised  # no cards: the final pane
        tmux.keys("q")
        after = tmux.wait_for(lambda s: "EXIT=" in s, "the app to quit", deadline)
        assert "EXIT=0" in after and "Traceback" not in after
    finally:
        tmux.kill()


def replay_bytes(log_dir: Path, way: str, want: bytes) -> bytes:
    """What ``massgen logs replay`` writes to a real pseudo-terminal (140x40) with
    ``MASSGEN_IMAGES=way``, read until ``want`` and the end of the replay are in it."""
    import fcntl
    import os
    import pty
    import select
    import signal
    import struct
    import subprocess
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(MASSGEN_IMAGES=way, TERM="xterm-256color")
    command = [sys.executable, "-m", "massgen", "logs", "replay", "latest",
               "--log-dir", str(log_dir), "--speed", "0"]  # fmt: skip
    app = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env,
                           start_new_session=True)  # fmt: skip
    os.close(slave)
    out, deadline = b"", time.monotonic() + 30
    try:
        while time.monotonic() < deadline and not (want in out and b"Replay finished" in out):
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    out += os.read(master, 1 << 16)
                except OSError:  # the app has gone
                    break
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(10)
        os.close(master)
    return out


@pytest.mark.parametrize(
    ("way", "sequence"),
    [("kitty", b"\x1b_G"), ("sixel", b"\x1bP0;0;0q")],  # Kitty's APC; Sixel's DCS
)
def test_kitty_and_sixel_pictures_reach_a_real_terminal(tmp_path, way, sequence):
    record(tmp_path / "logs")
    out = replay_bytes(tmp_path / "logs", way, sequence)
    assert b"Replay finished" in out and b"Traceback" not in out
    assert sequence in out, f"no {way} graphics in what the app wrote"
    drawn = out.split(sequence, 1)[1]
    if way == "kitty":  # a PNG sent whole (f=100), base64: the PNG signature
        assert b"f=100" in drawn.split(b";", 1)[0] and drawn.split(b";", 1)[1].startswith(b"iVBOR")
    else:  # the raster: 1:1 pixels, the picture's size in pixels
        assert drawn.startswith(b'"1;1;')
