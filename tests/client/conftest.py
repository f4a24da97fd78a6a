"""A real ``massgen serve`` process on 127.0.0.1 (free port) over the fake Chat Completions
server, with an API key, a task store, webhooks to loopback allowed, and one run at a time
(so a second request meets the server's 429)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import ServeProcess, massgen_serve
from tests.server.support import SECRET_KEY, team

API_KEY = "sk-client-test-0123456789abcdef"


@dataclass
class Served:
    url: str
    provider: FakeChatServer
    process: ServeProcess


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("client")
    with FakeChatServer() as provider:
        config = folder / "team.yaml"
        agents = team(provider)
        for agent in agents["agents"]:
            agent["backend"]["vision"] = True  # the fake takes images (vision.analyze)
        config.write_text(yaml.safe_dump(agents))
        args = [
            "--api-key",
            API_KEY,
            "--secret-key",
            SECRET_KEY,
            "--webhook-allow",
            "127.0.0.1/32",
            "--db",
            f"sqlite:///{folder / 'tasks.db'}",
            "--max-concurrency",
            "1",
        ]
        with massgen_serve(Path(config), *args) as process:
            yield Served(process.url, provider, process)


@pytest.fixture
def server(served: Served) -> Iterator[Served]:
    """The module's server, its fake provider answering at once (released after a test that
    held it) with no scripted replies left over."""
    served.provider.release()
    served.provider.reset()
    yield served
    served.provider.release()
