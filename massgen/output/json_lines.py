"""``--ui json``: every event as one JSON object per line on stdout."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from massgen.events import Subscription


async def print_events(subscription: Subscription, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    async for event in subscription:
        out.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        out.flush()
