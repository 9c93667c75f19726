"""Stage seconds: the wall time during which a stage ran, whatever the threads."""

from __future__ import annotations

import threading
import time

from etl.timing import reset, stage, totals


def test_blocks_of_a_stage_running_at_once_count_once_and_blocks_one_after_another_add_up():
    reset()
    both_in = threading.Barrier(2)

    def loading() -> None:
        with stage("load"):
            both_in.wait()
            time.sleep(0.2)

    lanes = [threading.Thread(target=loading) for _ in range(2)]
    started = time.perf_counter()
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join()
    wall = time.perf_counter() - started
    for _ in range(2):
        with stage("read"):
            time.sleep(0.05)
    seconds = totals()
    reset()
    assert 0.2 <= seconds["load"] <= wall
    assert seconds["read"] >= 0.1
