"""Crash anywhere, rerun converges: ``python -m etl run`` killed with SIGKILL at every fault point and at
random moments, on SQLite and PostgreSQL, compared with a run never interrupted (tests/reliability_kit.py).

``make reliability`` (scripts/reliability.py) runs the same trials many more times.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from etl.faults import POINTS
from tests.conftest import require_postgres
from tests.reliability_kit import REPO, SMALL_DROP, FreshRoots, Roots, build_reference, cli_run, kill_trials, write_drop
from tests.test_pipeline import files_left

# SIGKILLs per test: 20 on SQLite; on PostgreSQL half as many (each fault point, and random moments).
KILLS = int(os.environ.get("MASHAGHEL_RELIABILITY_KILLS", "20"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_roots(request, tmp_path: Path) -> FreshRoots:
    if request.param == "postgresql":
        require_postgres()
    return FreshRoots(request.param, tmp_path)


def test_killed_runs_converge_to_an_uninterrupted_run(fresh_roots: FreshRoots) -> None:
    """SIGKILL at every fault point and at random moments; no partial file is ever visible; the next
    run ends with the warehouse, archive, outbox and receipts of a run never interrupted."""
    kills = KILLS if fresh_roots.backend == "sqlite" else max(len(POINTS), KILLS // 2)
    with fresh_roots(0) as roots:
        reference = build_reference(roots, SMALL_DROP)
    tally = kill_trials(reference, fresh_roots, kills=kills)
    assert tally.kills >= kills
    assert tally.problems == [], "\n".join(tally.problems)
    assert (tally.files_lost, tally.rows_counted_twice, tally.crashes) == (0, 0, 0)


KILL_DURING_MIGRATION = """
import os, signal, sys
from alembic.operations import Operations
created = []
real = Operations.create_table
def create_then_die(self, *args, **kwargs):
    result = real(self, *args, **kwargs)
    created.append(args[0])
    if len(created) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
Operations.create_table = create_then_die
from etl.warehouse import create_warehouse_engine, migrate
migrate(create_warehouse_engine(sys.argv[1]))
"""


def test_a_migration_killed_half_way_leaves_nothing_behind(tmp_path: Path, warehouse_url: str) -> None:
    """Killed after a few tables of the first migration: the next run migrates and loads as if never begun."""
    killed = subprocess.run(
        [sys.executable, "-c", KILL_DURING_MIGRATION, warehouse_url], cwd=REPO, capture_output=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL
    roots = Roots(tmp_path, warehouse_url).make()
    write_drop(roots.ingest, ["IR-02/applicants/list_1401.csv"])
    result = cli_run(roots)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [p.name for p in files_left(roots.archive)] == [
        "74119ad19912985ba8d9b63471e6cf87d1c3800a90dc79d5e1868ee5900f274e__list_1401.csv"
    ]
