"""A real headless browser for tests: Debian's ``chromium``, driven over the Chrome DevTools
protocol (a websocket, the ``websockets`` package).

``massgen --web`` draws into a canvas (xterm.js), so a page's DOM holds no text; the browser
instead records what the page's own websocket receives (the app's terminal output) and a
test reads it back with the escape sequences taken out.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

#: Runs in every page before its scripts: the bytes each websocket receives, as text.
RECORD_SOCKETS = """
window.__received = "";
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    const decoder = new TextDecoder();
    this.addEventListener("message", (e) => {
      window.__received += typeof e.data === "string" ? e.data
        : decoder.decode(new Uint8Array(e.data), {stream: true});
    });
  }
};
"""
ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)")


def chromium() -> str | None:
    """The browser's path, if one is installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless chromium with one page, closed on exit."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        path = chromium()
        assert path is not None, "chromium is not installed"
        # chromium's helpers (crashpad, the renderers) may still write to the profile while
        # the browser exits: its whole process group is ended, and leftovers never fail a test.
        self.profile = tempfile.TemporaryDirectory(
            prefix="massgen-chromium-", ignore_cleanup_errors=True
        )
        self.process = subprocess.Popen(
            [
                path,
                "--headless",
                "--no-sandbox",  # root in a container has no user namespaces for it
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={self.profile.name}",
                f"--window-size={width},{height}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.ids = itertools.count(1)
        self.stack = contextlib.ExitStack()
        self.socket = self.stack.enter_context(
            connect(self._page_socket(), max_size=None, open_timeout=20)
        )

    def _page_socket(self) -> str:
        port_file = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result (events that arrive meanwhile are dropped)."""
        socket: ClientConnection = self.socket
        ident = next(self.ids)
        socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(socket.recv(timeout=30))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def open(self, url: str) -> None:
        """Load ``url`` with its websockets recorded."""
        self.call("Page.enable")
        self.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_SOCKETS)
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def received_text(self) -> str:
        """What the page's websockets received, without terminal escape sequences."""
        return ESCAPES.sub("", self.evaluate("window.__received || ''") or "")

    def wait_for_text(self, *needles: str, deadline: float) -> str:
        """Wait until the page received every one of ``needles``; the text so far."""
        while True:
            text = self.received_text()
            if all(n in text for n in needles) or time.monotonic() > deadline:
                return text
            time.sleep(0.2)

    def screenshot(self, path: Path) -> None:
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot")["data"]))

    def close(self) -> None:
        try:
            self.stack.close()
        finally:
            self._end(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self._end(signal.SIGKILL)
                self.process.wait()
            time.sleep(0.2)  # the group's last helpers leave
            self._end(signal.SIGKILL)
            self.profile.cleanup()

    def _end(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
