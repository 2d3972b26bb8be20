"""Start-up settings every service's process shares: the garbage collector told what lives for good, and
FastAPI's own telemetry off.

A service's modules, app, engines and the caches of SQLAlchemy, pydantic and Jinja (100,000 objects and more)
live as long as the process. Every request or event allocates enough to set off a full collection now and then,
which walked all of them: 7% of ingest's CPU under load, 0.1% once they were frozen (measured with gc.callbacks,
64 connections on SQLite). Handling one request or event leaves some tens of container objects more than it
frees until it ends, so at Python's default first threshold (700) the youngest generation was collected every
couple of dozen requests, and the older ones in turn: 3% of an accept's CPU. At 10,000 that is every few hundred,
and each collection walks no more than the objects then alive.
"""

from __future__ import annotations

import gc

# The collector's first threshold once started (Python's default: 700).
GC_THRESHOLD = 10_000

# FastAPI(telemetry=...): no tracing, metrics or logs of FastAPI's own; the services export their own metrics.
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}

_frozen = False


def freeze_startup_heap() -> None:
    """Move everything alive now out of the collector's sight and collect the young less often (GC_THRESHOLD),
    once per process: call it when start-up is done (a test suite starting many apps freezes only once)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
