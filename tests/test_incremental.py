"""Cost that grows with the new data: persons recomputed only where records changed, nothing redone
when nothing is new, and files too big to hold loaded in chunks in one transaction."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.config import Settings
from etl.pipeline import run
from etl.timing import reset, totals
from etl.warehouse import create_warehouse_engine
from tests.conftest import POSTGRES_ADMIN_URL, require_postgres
from tests.reliability_kit import Roots, sample_plan
from tests.test_pipeline import assert_matches_truth, query

HEADER = "application_id,national_id,first_name,last_name,registered_at"


def publishes(settings: Settings) -> list[dict]:
    return query(
        settings.warehouse, "SELECT files, persons, persons_recomputed FROM publish_run ORDER BY publish_run_id"
    )


def test_nothing_new_publishes_nothing_and_other_rules_recompute_everyone(tmp_path: Path, warehouse_url: str):
    roots = Roots(tmp_path, warehouse_url).make()
    settings = roots.settings()
    plan = sample_plan()
    plan.write_batch(roots.ingest, 1)
    run(settings)
    [first] = publishes(settings)
    assert first["persons"] == first["persons_recomputed"] == len(plan.truth(after_batch=1)["persons"])

    reset()
    report = run(settings)
    assert report.files_found == 0 and report.published.skipped
    assert {stage: seconds for stage, seconds in totals().items() if seconds} == {}  # not even a resolve
    assert len(publishes(settings)) == 1

    (roots.outbox / "national" / "rpt_monthly_loans.csv").unlink()  # an export lost: published again
    assert not run(settings).published.skipped
    assert publishes(settings)[-1]["persons_recomputed"] == 0
    assert (roots.outbox / "national" / "rpt_monthly_loans.csv").is_file()

    keyed_sql = "SELECT unique_id, birth_date, bk_last_birth FROM match_refused ORDER BY unique_id"
    keyed = query(settings.warehouse, keyed_sql)
    assert keyed  # the sample has rows refused only for their national ID
    with create_warehouse_engine(settings.warehouse).begin() as connection:  # keys of an older version
        connection.execute(sa.text("UPDATE match_refused SET birth_date = NULL, bk_last_birth = NULL"))
    stricter = dataclasses.replace(settings, match_threshold=0.99)  # other rules: everyone again
    assert not run(stricter).published.skipped
    assert publishes(settings)[-1]["persons_recomputed"] == first["persons"]
    assert query(settings.warehouse, keyed_sql) == keyed  # the refused rows were keyed again
    assert run(stricter).published.skipped
    assert not run(settings).published.skipped  # and back
    assert publishes(settings)[-1]["persons_recomputed"] == first["persons"]

    plan.write_batch(roots.ingest, 2)
    run(settings)
    last = publishes(settings)[-1]
    assert 0 < last["persons_recomputed"] < last["persons"]
    assert_matches_truth(settings, plan.truth(after_batch=2))


def test_a_record_moved_to_another_national_id_recomputes_both_persons(tmp_path: Path, warehouse_url: str):
    roots = Roots(tmp_path, warehouse_url).make()
    settings = roots.settings()
    folder = roots.ingest / "IR-04" / "applicants"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(
        f"{HEADER}\nA1,0499370899,علی,رضایی,1402/01/05\nA2,0790419904,سارا,احمدی,1402/01/06\n", "utf-8"
    )
    run(settings)
    (folder / "b.csv").write_text(f"{HEADER}\nA1,0012345679,علی,رضایی,1402/01/05\n", "utf-8")  # A1 corrected
    run(settings)
    assert publishes(settings)[-1]["persons_recomputed"] == 2
    persons = query(settings.warehouse, "SELECT national_id, registrations FROM person ORDER BY national_id")
    assert persons == [
        {"national_id": "0012345679", "registrations": 1},
        {"national_id": "0790419904", "registrations": 1},
    ]
    assert query(settings.warehouse, "SELECT COUNT(*) AS n FROM person_pending") == [{"n": 0}]
    if warehouse_url.startswith("postgresql"):  # emptied with its pages, not left as dead rows to scan
        assert query(settings.warehouse, "SELECT pg_relation_size('person_pending') AS size") == [{"size": 0}]


@pytest.mark.postgres
def test_the_pipeline_does_not_jit_compile_its_statements():
    """JIT compilation cost an increment's person recompute 1.5 of its 3.6 s (docs/performance.md)."""
    require_postgres()
    engine = create_warehouse_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW jit").scalar_one() == "off"
    finally:
        engine.dispose()


def test_a_file_read_in_chunks_is_refused_whole_when_its_end_is_broken(tmp_path: Path, warehouse_url: str):
    roots = Roots(tmp_path, warehouse_url).make()
    settings = roots.settings(batch_rows=2)
    folder = roots.ingest / "IR-04" / "applicants"
    folder.mkdir(parents=True)
    good = "".join(f"A{n},0499370899,علی,رضایی,1402/01/05\n" for n in range(1, 6))
    broken = 'A9,"0790419904,سارا,احمدی,1402/01/06\n'  # the quote swallows the lines after it
    (folder / "a.csv").write_text(f"{HEADER}\n{good}{broken}{good}", "utf-8")
    report = run(settings)
    [outcome] = report.outcomes
    assert (outcome.status, outcome.file_reason, outcome.rows_loaded) == ("rejected", "unreadable", 0)
    assert "line 7" in outcome.detail
    engine = create_warehouse_engine(settings.warehouse)
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT COUNT(*) FROM registration")).scalar_one() == 0
            assert connection.execute(sa.text("SELECT COUNT(*) FROM person_pending")).scalar_one() == 0
    finally:
        engine.dispose()
    assert len([path for path in roots.archive.rglob("*") if path.is_file()]) == 1
    assert list(roots.outbox.rglob("a.csv.*.receipt.json"))


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="VmHWM is read from /proc (Linux)")
def test_a_pipeline_process_reports_its_own_peak_memory_not_its_parents():
    """A child inherits its parent's ru_maxrss across fork and exec: a benchmark that generated the
    data, or a big scheduler worker, would otherwise be reported as the pipeline's peak."""
    held = bytearray(400 * 2**20)
    held[::4096] = b"\1" * len(held[::4096])  # touch every page: resident in this process
    child = subprocess.run(
        [sys.executable, "-c", "from etl.timing import peak_rss_mb; print(peak_rss_mb())"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    del held
    assert float(child.stdout) < 200, child.stdout
