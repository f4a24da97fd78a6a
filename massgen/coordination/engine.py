"""The coordination's old entry module: :class:`Coordinator` now lives in
:mod:`massgen.coordination.coordinator`, :class:`RunResult` in
:mod:`massgen.coordination.strategy`."""

# TEMP re-export: the lead's merge moves importers
from massgen.coordination.coordinator import Coordinator
from massgen.coordination.strategy import RunResult

__all__ = ["Coordinator", "RunResult"]
