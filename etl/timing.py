"""Seconds spent per pipeline stage in this process, for the benchmark and the run summary.

``with stage("read"):`` adds the block's wall time to the stage; ``totals()``
returns the sums. Costs two clock reads per block, so it stays on always.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("read", "normalise", "validate", "load", "resolve", "match", "publish")
_seconds: defaultdict[str, float] = defaultdict(float)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as part of stage ``name``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        _seconds[name] += time.perf_counter() - started


def totals() -> dict[str, float]:
    """Seconds per stage so far, in pipeline order."""
    return {name: round(_seconds.get(name, 0.0), 3) for name in STAGES} | {
        name: round(value, 3) for name, value in _seconds.items() if name not in STAGES}


def reset() -> None:
    """Start counting from zero."""
    _seconds.clear()
