"""A real ``massgen serve`` on 127.0.0.1 (a free port) running a team of three agents over
the fake Chat Completions server (:mod:`massgen.testing`), with an API key and a task store:
what the app-as-a-client tests run against."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve
from tests.server.support import team

API_KEY = "sk-attach-test-0123456789abcdef"


@dataclass
class ServedTeam:
    url: str
    provider: FakeChatServer

    def wait_for_task(self, status: set[str], timeout: float = 30.0) -> str:
        """The id of the newest task once it is in one of ``status``."""
        from massgen.client import Client

        deadline = time.monotonic() + timeout
        with Client(api_key=API_KEY, base_url=self.url) as client:
            while True:
                tasks = client.tasks.list(limit=1).data
                if tasks and tasks[0].status in status:
                    return tasks[0].id
                if time.monotonic() > deadline:
                    raise AssertionError(f"no task reached {status}: {tasks}")
                time.sleep(0.05)

    def status(self, task_id: str) -> str:
        from massgen.client import Client

        with Client(api_key=API_KEY, base_url=self.url) as client:
            return client.tasks.get_status(task_id).status


@contextmanager
def served_team(folder: Path, provider: FakeChatServer) -> Iterator[ServedTeam]:
    config = folder / "team.yaml"
    config.write_text(yaml.safe_dump(team(provider, 3)))
    args = ["--api-key", API_KEY, "--db", f"sqlite:///{folder / 'tasks.db'}"]
    with massgen_serve(config, *args) as process:
        yield ServedTeam(process.url, provider)


#: The artist's provider key (the fake Chat Completions and Images APIs check it).
ARTIST_PROVIDER_KEY = "sk-provider-artist-0123456789"


@contextmanager
def served_artist(folder: Path, *other_keys: str) -> Iterator[ServedTeam]:
    """A real ``massgen serve`` (the key :data:`API_KEY`, and ``other_keys``) whose one agent,
    ``artist``, draws a kite with ``generate_image`` on the fake Images API
    (``artist-kite.png``, a real PNG) before it answers; without session logs, the server
    keeps the media under ``folder``."""
    from massgen.testing import CoordinationBrain

    with FakeChatServer(api_key=ARTIST_PROVIDER_KEY) as provider:
        provider.brain = CoordinationBrain(
            tool_plan={"generate_image": {"prompt": "a kite", "name": "kite"}}
        )
        backend = {"type": "chatcompletion", "model": "gpt-4o-mini", "base_url": provider.url,
                   "api_key": ARTIST_PROVIDER_KEY}  # fmt: skip
        image = {"base_url": provider.url, "api_key": ARTIST_PROVIDER_KEY}
        config = folder / "artist.yaml"
        config.write_text(yaml.safe_dump({
            "agents": [{"id": "artist", "backend": backend, "generation": {"image": image}}],
        }))  # fmt: skip
        keys = [arg for key in (API_KEY, *other_keys) for arg in ("--api-key", key)]
        args = [*keys, "--db", f"sqlite:///{folder / 'artist.db'}"]
        with massgen_serve(config, *args, env={"TMPDIR": str(folder)}) as process:
            yield ServedTeam(process.url, provider)
