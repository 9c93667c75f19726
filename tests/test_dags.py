"""The Airflow DAGs: they parse fast, have the promised shape, and run the real pipeline with dag.test()."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"ingest_provincial_drops", "publish_national_reporting"}


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_each_dag_file_parses_in_well_under_a_second(dag_file):
    """`python dags/x.py` is the loader test: no heavy imports or I/O at the top level."""
    probe = (
        "import time, runpy, sys; import airflow.sdk; t = time.perf_counter(); "
        f"runpy.run_path({str(DAGS / dag_file)!r}); print(time.perf_counter() - t)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    seconds = float(result.stdout.strip().splitlines()[-1])
    print(f"{dag_file} parsed in {seconds * 1000:.0f} ms")
    assert seconds < 2.0  # generous for a noisy 2-core machine; typically tens of milliseconds
    heavy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys; import airflow.sdk; before = set(sys.modules); "
            f"runpy.run_path({str(DAGS / dag_file)!r}); "
            "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in "
            "('pandas', 'great_expectations', 'numpy', 'jdatetime', 'etl')))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert heavy.stdout.strip().splitlines()[-1] == "[]"


def test_ingest_dag_shape(dagbag):
    dag = dagbag.dags["ingest_provincial_drops"]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.timetable.delta == dt.timedelta(minutes=10)
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {
        "find_ready_files",
        "load_file",
        "load_repeated_copies",
        "record_run_totals",
        "fail_if_a_file_failed",
    }
    assert tasks["load_file"].upstream_task_ids == {"find_ready_files"}
    assert tasks["load_repeated_copies"].upstream_task_ids == {"load_file"}
    assert tasks["record_run_totals"].upstream_task_ids == {"load_file", "load_repeated_copies"}
    assert tasks["record_run_totals"].trigger_rule == "all_done"
    assert tasks["fail_if_a_file_failed"].upstream_task_ids == {
        "record_run_totals",
        "load_file",
        "load_repeated_copies",
    }
    assert tasks["fail_if_a_file_failed"].trigger_rule == "all_done"
    load = tasks["load_file"]
    assert load.retries == 3 and load.retry_exponential_backoff and load.max_retry_delay
    assert load.on_failure_callback
    assert [o.name for o in tasks["record_run_totals"].outlets] == ["mashaghel_ingested"]
    assert set(dag.params.keys()) == {"province", "dry_run"}
    assert all(t.doc_md or t.doc for t in dag.tasks) and dag.doc_md and dag.owner == "data-engineering"


def test_publish_dag_runs_on_the_ingest_asset(dagbag):
    dag = dagbag.dags["publish_national_reporting"]
    assert "mashaghel_ingested" in str(dag.timetable.asset_condition)
    tasks = {t.task_id: t for t in dag.tasks}
    assert tasks["build_rules_docs"].upstream_task_ids == {"resolve_people_and_publish"}
    assert [o.name for o in tasks["build_rules_docs"].outlets] == ["mashaghel_published"]
    assert tasks["write_national_report"].upstream_task_ids == {"resolve_people_and_publish"}
    assert tasks["check_suspected_duplicates"].upstream_task_ids == {"resolve_people_and_publish"}
    assert "suspected duplicate" in dag.doc_md
    assert dag.doc_md and all(t.doc_md or t.doc for t in dag.tasks)


def test_the_publish_deadline_is_on_unless_switched_off():
    probe = (
        f"import runpy; d = runpy.run_path({str(DAGS / 'publish_national_reporting.py')!r}); "
        "print(d['DEADLINE'] is not None)"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("MASHAGHEL_DISABLE_DEADLINES", "AIRFLOW__CORE__UNIT_TEST_MODE")
    }
    on = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={**env, "PYTHONPATH": str(REPO)}
    )
    assert on.stdout.strip().splitlines()[-1] == "True"
    for switch in ({"MASHAGHEL_DISABLE_DEADLINES": "1"}, {"AIRFLOW__CORE__UNIT_TEST_MODE": "True"}):
        off = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            env={**env, **switch, "PYTHONPATH": str(REPO)},
        )
        assert off.stdout.strip().splitlines()[-1] == "False", switch


def test_a_failing_file_fails_only_its_own_task(dagbag, airflow_db, tmp_path, monkeypatch):
    import etl.pipeline

    roots = {name: tmp_path / name for name in ("ingest", "archive", "outbox")}
    for name, root in roots.items():
        monkeypatch.setenv(f"MASHAGHEL_{name.upper()}_ROOT", str(root))
    monkeypatch.setenv("MASHAGHEL_WAREHOUSE", f"sqlite:///{tmp_path / 'w.sqlite'}")
    monkeypatch.setenv("MASHAGHEL_SETTLE_SECONDS", "0")
    folder = roots["ingest"] / "IR-04" / "loans"
    folder.mkdir(parents=True)
    header = "loan_id,bank,national_id,loan_type,amount_rial,status\n"
    (folder / "good.csv").write_text(header + "L1,بانک ملت,0499370899,individual,5000,approved\n", "utf-8")
    (folder / "corrupt.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")
    (folder / "crashes.csv").write_text(header + "L2,بانک ملت,0790419904,individual,5000,approved\n", "utf-8")
    real_read = etl.pipeline.read_file

    def read_or_crash(path, source, **options):
        if path.name == "crashes.csv":
            raise OSError("simulated disk error")
        return real_read(path, source, **options)

    monkeypatch.setattr(etl.pipeline, "read_file", read_or_crash)
    started = time.monotonic()
    run = dagbag.dags["ingest_provincial_drops"].test()
    assert run.state == "failed"  # one mapped task failed for good ...
    states = {ti.rendered_map_index or ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["IR-04/loans/crashes.csv"] == "failed"
    assert states["IR-04/loans/good.csv"] == "success"
    assert states["IR-04/loans/corrupt.xlsx"] == "success"
    assert states["record_run_totals"] == "success"  # ... the run's totals were still recorded
    assert states["fail_if_a_file_failed"] == "failed"  # ... and the run says which file failed
    assert (folder / "crashes.csv").exists()  # left for a retry, nothing lost
    got = receipts_by_name(roots["outbox"])
    assert got["corrupt.xlsx"]["file_reason"] == "unreadable"
    assert got["good.csv"]["status"] == "loaded"
    assert "crashes.csv" not in got
    assert time.monotonic() - started < 120


def receipts_by_name(outbox: Path) -> dict[str, dict]:
    return {
        json.loads(p.read_text("utf-8"))["file_name"]: json.loads(p.read_text("utf-8"))
        for p in outbox.rglob("*.receipt.json")
    }
