"""The suite worker: it goes when the run that started it goes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

STARTS_A_WORKER = """
import time
from etl.validate_worker import SuiteWorker
worker = SuiteWorker.start()
worker._pool.submit(time.sleep, 0).result(timeout=120)  # the worker process is up
print(next(iter(worker._pool._processes)), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:  # a zombie has gone, but for its parent's wait
        return stat.read().split(") ")[-1][0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_worker_exits_when_its_run_is_killed():
    run = subprocess.Popen([sys.executable, "-c", STARTS_A_WORKER], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(run.stdout.readline())
        assert _alive(worker)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the suite worker outlived the run that started it"
        assert run.stdout.read() == ""  # and its output pipe closed: nobody holds it open
    finally:
        run.kill()
