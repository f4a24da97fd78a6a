"""``--ui json``: every event as one JSON object per line on stdout."""

from __future__ import annotations

import sys
from typing import TextIO

from massgen.events import Subscription
from massgen.terminal import json_line


async def print_events(subscription: Subscription, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    async for event in subscription:
        out.write(json_line(event.to_dict()) + "\n")
        out.flush()
