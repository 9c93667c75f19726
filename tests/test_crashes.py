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
import sqlalchemy as sa

from etl.faults import POINTS
from etl.warehouse import create_warehouse_engine
from tests.conftest import require_postgres
from tests.reliability_kit import (
    REPO,
    SMALL_DROP,
    FreshRoots,
    Reference,
    Roots,
    build_reference,
    check_after_kill,
    cli_run,
    kill_trials,
    write_drop,
)
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


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The uninterrupted run of the small drop on SQLite, for the tests of the check after a kill."""
    base = tmp_path_factory.mktemp("reference")
    return build_reference(Roots(base, f"sqlite:///{base / 'warehouse.sqlite'}"), SMALL_DROP)


def _sqlite_roots(tmp_path: Path) -> Roots:
    return Roots(tmp_path, f"sqlite:///{tmp_path / 'warehouse.sqlite'}").make()


def test_the_check_after_a_kill_sees_a_partial_file(tmp_path: Path, small_reference: Reference) -> None:
    """The check the trials make after each kill: every file of a whole run passes, with the keys that
    later files replaced; a file missing some of its refused rows does not."""
    roots = _sqlite_roots(tmp_path)
    write_drop(roots.ingest, SMALL_DROP)
    assert cli_run(roots).returncode == 0
    assert check_after_kill(roots, small_reference) == []
    with create_warehouse_engine(roots.warehouse).begin() as connection:
        connection.execute(
            sa.text(
                "DELETE FROM rejected_row_reason WHERE file_id = (SELECT MIN(file_id) FROM rejected_row_reason)"
                " AND line_number = (SELECT MAX(line_number) FROM rejected_row_reason)"
            )
        )
    [problem] = check_after_kill(roots, small_reference)
    assert "rejected_row_reason differs" in problem and "a partial file is visible" in problem


@pytest.mark.parametrize("failing", ["IR-07/loans/breaches_1398.csv", "IR-07/loans/اصلاحیه_1404.csv"])
def test_the_check_after_a_kill_takes_any_set_of_committed_files(
    tmp_path: Path, monkeypatch, failing: str, small_reference: Reference
) -> None:
    """Lanes commit files out of the order first seen: with a file left out in the middle (one that a
    later file corrects, or the correction), the check expects what the others wrote, key by key."""
    from etl import pipeline

    real = pipeline.insert_manifest

    def fail_one(connection, manifest):
        if manifest["relative_path"] == failing:
            raise ValueError("this file fails")
        return real(connection, manifest)

    monkeypatch.setattr(pipeline, "insert_manifest", fail_one)
    roots = _sqlite_roots(tmp_path)
    write_drop(roots.ingest, SMALL_DROP)
    report = pipeline.run(roots.settings())
    assert list(report.failures) == [failing]
    assert small_reference.order.index(failing) < len(small_reference.order) - 1  # not a prefix of the order
    assert check_after_kill(roots, small_reference) == []


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
