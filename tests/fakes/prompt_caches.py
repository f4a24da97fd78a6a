"""The fakes' prompt caches, now shipped as :mod:`massgen.testing.prompt_caches`."""

from __future__ import annotations

from massgen.testing.prompt_caches import BreakpointCache, PrefixCache

__all__ = ["BreakpointCache", "PrefixCache"]
