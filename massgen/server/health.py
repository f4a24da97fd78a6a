"""``GET /v1/providers/health``: the reachability check of ``massgen doctor``
(:mod:`massgen.backends.probe`) over HTTP, for the providers the server's own config uses:
key set (masked), base URL, models, status, latency.

Results are cached for :data:`CACHE_SECONDS`, so polling the endpoint does not turn into a
stream of requests to the providers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from massgen.backends.probe import NO_ENDPOINT, NO_KEY, OK, mask_key, probe
from massgen.errors import ConfigurationError

CACHE_SECONDS = 30.0
TIMEOUT = 3.0


class ProviderHealth:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.cached: dict[str, Any] | None = None
        self.at = 0.0
        self.lock = asyncio.Lock()

    def _targets(self) -> list[dict[str, Any]]:
        from massgen.backends.registry import resolve_api_key
        from massgen.providers import PROVIDERS

        targets: dict[tuple[str, str], dict[str, Any]] = {}
        for agent in self.config.agents:
            backend = agent.backend
            preset = PROVIDERS.get(backend.type)
            if preset is None:
                continue
            base_url = (backend.base_url or preset.base_url or "").rstrip("/")
            entry = targets.setdefault(
                (backend.type, base_url),
                {"provider": backend.type, "preset": preset, "base_url": base_url, "models": []},
            )
            model = backend.model or getattr(backend, "deployment_name", None)
            if model and model not in entry["models"]:
                entry["models"].append(model)
            try:
                key = resolve_api_key(backend)
            except ConfigurationError:
                key = None
            if key and not entry.get("key"):  # the first agent's key that is set
                entry["key"] = key
        return list(targets.values())

    async def _check(self, client: httpx.AsyncClient, target: dict[str, Any]) -> dict[str, Any]:
        preset, key = target["preset"], target.get("key")
        row = {
            "provider": target["provider"],
            "base_url": target["base_url"],
            "models": target["models"],
            "key_set": bool(key),
            "key_masked": mask_key(key),
            "status": NO_KEY,
            "detail": "",
            "response_time": None,
        }
        if target["provider"] == "local":
            row.update(status=OK, detail="in-process model")
            return row
        if preset.needs_key and not key:
            row["detail"] = f"set {preset.key_vars[0]}" if preset.key_vars else "no key"
            return row
        if not target["base_url"]:
            row.update(status=NO_ENDPOINT, detail="no base_url")
            return row
        started = time.monotonic()
        row["status"], row["detail"] = await probe(client, preset, target["base_url"], key)
        row["response_time"] = round(time.monotonic() - started, 4)
        if key:
            row["detail"] = str(row["detail"]).replace(key, mask_key(key))
        return row

    async def report(self) -> dict[str, Any]:
        async with self.lock:
            if self.cached is not None and time.monotonic() - self.at < CACHE_SECONDS:
                return self.cached
            targets = self._targets()
            async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True) as client:
                rows = await asyncio.gather(*(self._check(client, t) for t in targets))
            statuses = [r["status"] for r in rows]
            overall = (
                "ok"
                if all(s == OK for s in statuses)
                else "down"
                if not any(s == OK for s in statuses)
                else "degraded"
            )
            providers: dict[str, Any] = {}
            for row in rows:
                name = row["provider"]
                if name in providers:  # the same provider at another base URL
                    name = f"{name} ({row['base_url']})"
                providers[name] = row
            self.cached = {"status": overall, "checked_at": time.time(), "providers": providers}
            self.at = time.monotonic()
            return self.cached
