"""Run the expectation suites in a process of their own, beside the run that reads and loads.

An ingest run spends its time reading and normalising (Python in this process),
validating (Great Expectations, also Python) and loading (mostly waiting for the
warehouse). On the one core Python has, these add up. With the suites in a second
process, GX's import (about 2 s) overlaps the reading of the first files, and the
validation of one batch overlaps the loading of the one before it (see
``etl.pipeline._Batches``).

Only the columns the suite reads cross to the worker, and only failing row
positions come back; the row rules, the duplicate-key rule and everything written
stay in the run's process. The worker is started with ``spawn`` (a fresh
interpreter: no inherited connections or threads) when the first file is ready,
and used by ``etl run`` (``Settings.validate_in_worker``); inside a daemonic
process (a Celery prefork worker), which may not have children, the suites run
in-process instead.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np
import pandas as pd

from etl.contract import Source
from etl.timing import add_seconds, note_worker_peak, peak_rss_mb, stage
from etl.validate import (
    ValidationOutcome,
    failing_positions,
    split_failures,
    suite_input,
    validate_many,
)

log = logging.getLogger(__name__)


def _die_with_parent(parent: int) -> None:
    """In the worker, first: exit when the run's process is gone (killed, say), rather than live on
    holding its output pipes. Linux kills the worker at once; a thread also looks every second (the
    only guard elsewhere)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _warm_up() -> float:
    """In the worker: import GX and build every source's suite once; returns the worker's peak MiB."""
    from etl.contract import SOURCES
    from etl.validate import _validation_definition

    for source_name in SOURCES:
        _validation_definition(source_name)
    return peak_rss_mb()


def _run_suite(source_name: str, rows: pd.DataFrame) -> tuple[list[tuple[dict, np.ndarray]], float, float]:
    """In the worker: the suite's failing positions, the seconds it took and the worker's peak MiB."""
    started = time.perf_counter()
    failing = failing_positions(source_name, rows)
    return failing, time.perf_counter() - started, peak_rss_mb()


class PendingValidation:
    """One batch of one source's files, sent to the worker; ``outcomes()`` waits for it."""

    def __init__(self, frames: list[pd.DataFrame], source: Source, future: Future) -> None:
        self.frames, self.source, self._future = frames, source, future

    def outcomes(self) -> list[ValidationOutcome]:
        """One outcome per frame, as ``validate_many`` would give (raises what the suite raised)."""
        with stage("validate"):
            failing, seconds, peak = self._future.result()
            add_seconds("validate_in_worker", seconds)
            note_worker_peak(peak)
            return validate_many(self.frames, self.source, failures=split_failures(self.frames, failing))


class SuiteWorker:
    """A process that runs the expectation suites; ``submit`` returns at once."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        )
        self._pool.submit(_warm_up).add_done_callback(_note_peak)

    @classmethod
    def start(cls) -> SuiteWorker | None:
        """A started worker, or None where this process may not have children."""
        if multiprocessing.current_process().daemon:
            log.info("validating in this process: a daemonic process may not start a worker")
            return None
        return cls()

    def submit(self, frames: list[pd.DataFrame], source: Source) -> PendingValidation:
        """Send the suite's columns of ``frames`` (files of one source) to be validated."""
        with stage("validate"):
            rows = suite_input(frames, source)
        return PendingValidation(frames, source, self._pool.submit(_run_suite, source.name, rows))

    def close(self) -> None:
        """Stop the worker (what it is running finishes; nothing queued starts)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _note_peak(done: Future) -> None:
    if not done.cancelled() and done.exception() is None:
        note_worker_peak(done.result())
