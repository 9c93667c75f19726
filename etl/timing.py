"""Seconds spent per pipeline stage in this process, for the benchmark and the run summary.

``with stage("read"):`` adds the block's wall time to the stage; ``totals()``
returns the sums. A stage's seconds are the wall time during which at least one
of its blocks ran: files loading in two lanes at once count once. Files load in
threads of their own while the next are read and normalised, so the stages of an
ingest overlap and their sum can exceed the run's wall time. Costs two clock
reads per block, so it stays on always.
``peaks()`` gives the process's peak resident memory as it stood after each
stage last ran: the stage where it jumps is the one that needed the memory.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("read", "normalise", "validate", "load", "resolve", "match", "publish")
_seconds: defaultdict[str, float] = defaultdict(float)
_peak_mb: dict[str, float] = {}
_worker_peak_mb: list[float] = [0.0]
_running: defaultdict[str, int] = defaultdict(int)  # blocks of each stage running now, in any thread
_since: dict[str, float] = {}  # when the stage's running blocks began
_adding = threading.Lock()  # stages are timed in the loader threads too


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as part of stage ``name`` (blocks running at once count once)."""
    with _adding:
        if not _running[name]:
            _since[name] = time.perf_counter()
        _running[name] += 1
    try:
        yield
    finally:
        peak = peak_rss_mb()
        with _adding:
            _running[name] -= 1
            if not _running[name]:
                _seconds[name] += time.perf_counter() - _since.pop(name)
            _peak_mb[name] = peak


def add_seconds(name: str, seconds: float) -> None:
    """Count seconds spent elsewhere (in a worker process) as part of ``name``."""
    with _adding:
        _seconds[name] += seconds


def note_worker_peak(mb: float) -> None:
    """Remember a worker process's peak resident memory (MiB), as it reported it."""
    _worker_peak_mb[0] = max(_worker_peak_mb[0], mb)


def worker_peak_rss_mb() -> float:
    """The largest peak a worker process of this run reported (0 without one)."""
    return _worker_peak_mb[0]


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB.

    On Linux this is VmHWM, the high-water mark of the process's own address space: ``ru_maxrss``
    keeps the peak of the parent across fork and exec, so a pipeline started by a bigger process
    (a benchmark that generated the data, a scheduler's worker) would report the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)


def peaks() -> dict[str, float]:
    """Peak resident memory (MiB) of the process after each stage last ran, in pipeline order."""
    return {name: _peak_mb[name] for name in (*STAGES, *_peak_mb) if name in _peak_mb}


def totals() -> dict[str, float]:
    """Seconds per stage so far, in pipeline order."""
    return {name: round(_seconds.get(name, 0.0), 3) for name in STAGES} | {
        name: round(value, 3) for name, value in _seconds.items() if name not in STAGES
    }


def reset() -> None:
    """Start counting from zero."""
    _seconds.clear()
    _peak_mb.clear()
    _running.clear()
    _since.clear()
    _worker_peak_mb[0] = 0.0
