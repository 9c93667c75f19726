"""The real pipeline on realistic messy drops, on SQLite and PostgreSQL, held to the generated truth."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
import sqlalchemy as sa

import etl.load
from etl import pipeline, warehouse
from etl.cli import main
from etl.config import Settings
from etl.pipeline import run
from etl.publish import REPORTING_VIEWS, view_rows
from etl.sample import build_plan
from etl.validate import SuiteError
from etl.validate_worker import PendingValidation, SuiteWorker
from etl.warehouse import create_warehouse_engine

TRUTH_KEYS = {"rpt_province_summary", "rpt_quarantine_summary", "rpt_loan_cap_breaches", "rpt_monthly_loans"}


@pytest.fixture
def settings(tmp_path, warehouse_url) -> Settings:
    for name in ("ingest", "archive", "outbox"):
        (tmp_path / name).mkdir()
    return Settings(
        ingest_root=tmp_path / "ingest",
        archive_root=tmp_path / "archive",
        outbox_root=tmp_path / "outbox",
        warehouse=warehouse_url,
        settle_seconds=0,
    )


def warehouse_views(url: str) -> dict[str, list[dict]]:
    engine = create_warehouse_engine(url)
    try:
        with engine.connect() as connection:
            return {view: view_rows(connection, view) for view in REPORTING_VIEWS}
    finally:
        engine.dispose()


def persons(url: str) -> dict[str, dict]:
    engine = create_warehouse_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT national_id, home_province_code, multi_registration, loan_only, unregistered_borrower"
                    " FROM person"
                )
            ).all()
    finally:
        engine.dispose()
    return {
        nid: {
            "home_province": home,
            "multi_registration": bool(multi),
            "loan_only": bool(only),
            "unregistered_borrower": bool(unreg),
        }
        for nid, home, multi, only, unreg in rows
    }


def receipts(outbox: Path) -> dict[str, dict]:
    """Receipts by the file's path relative to the ingest root."""
    found = {}
    for path in outbox.rglob("*.receipt.json"):
        receipt = json.loads(path.read_text(encoding="utf-8"))
        found[receipt["relative_path"]] = receipt
    return found


def files_left(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() or p.is_symlink()]


def _sorted(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: json.dumps(row, ensure_ascii=False, sort_keys=True))


def assert_matches_truth(settings: Settings, truth: dict) -> None:
    views = warehouse_views(settings.warehouse)
    for view in TRUTH_KEYS:  # SQL collation of Persian text may order rows differently from Python
        assert _sorted(views[view]) == _sorted(truth[view]), view
    assert persons(settings.warehouse) == truth["persons"]


def assert_suspects_match_truth(settings: Settings, truth: dict, matching: dict) -> None:
    """The matching stage found exactly the planted duplicate identities and mistyped IDs."""
    pairs = query(settings.warehouse, "SELECT * FROM rpt_suspected_duplicates")
    assert matching["published"] and matching["pairs"] == len(pairs)
    assert truth["suspected_duplicates"], "the plan plants duplicate identities"
    assert sorted((p["national_id_l"], p["national_id_r"]) for p in pairs) == sorted(
        (t["national_id_l"], t["national_id_r"]) for t in truth["suspected_duplicates"]
    )
    assert all(p["match_probability"] >= matching["threshold"] and "last_name" in p["agreeing_fields"] for p in pairs)
    flagged = query(settings.warehouse, "SELECT national_id FROM person WHERE suspected_duplicate")
    assert sorted(f["national_id"] for f in flagged) == sorted(
        {n for p in pairs for n in (p["national_id_l"], p["national_id_r"])}
    )
    typos = query(settings.warehouse, "SELECT * FROM rpt_suspected_id_typos")
    expected = {(t["file"], t["line_number"], t["national_id"]) for t in truth["suspected_refused_links"]}
    assert expected
    assert {
        (f"{t['province_code']}/{t['source']}/{t['file_name']}", t["line_number"], t["likely_national_id"])
        for t in typos
    } == expected
    for relative, line, national_id in expected:  # and the clerk reads it beside the row
        folder = settings.outbox_root / Path(relative).parent
        rejected = next(folder.glob(f"{Path(relative).name}.*.rejected.csv"))
        with rejected.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert next(r for r in rows if int(r["line_number"]) == line)["likely_national_id"] == national_id


def query(url: str, sql: str) -> list[dict]:
    engine = create_warehouse_engine(url)
    try:
        with engine.connect() as connection:
            return [dict(row) for row in connection.execute(sa.text(sql)).mappings()]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("batch_rows", "in_worker"),
    [(200_000, False), (7, False), (400, True)],
    ids=["whole-files", "files-read-in-chunks-of-3", "validated-in-a-worker-200-rows-a-batch-indexes-rebuilt"],
)
def test_two_batches_and_a_rerun_give_exactly_the_true_answers(settings, batch_rows, in_worker, monkeypatch):
    """Also with every file of more than 7 rows read, validated and loaded 3 rows at a time (as a file too
    big to hold is): the duplicate-key rule still judges whole files, and every figure is the same. And with
    the suites run by a worker process on batches of about 200 rows, each validated while the one before
    it loads; then also the person and key tables, written whole, build their indexes afterwards."""
    settings = dataclasses.replace(settings, batch_rows=batch_rows, validate_in_worker=in_worker)
    if in_worker:
        monkeypatch.setattr(warehouse, "REBUILD_ROWS", 1)
    plan = build_plan()
    written = plan.write_batch(settings.ingest_root, 1)
    sent_to_worker = []
    submit = SuiteWorker.submit

    def counted(worker, frames, source):
        sent_to_worker.append(sum(len(frame) for frame in frames))
        return submit(worker, frames, source)

    monkeypatch.setattr(SuiteWorker, "submit", counted)
    report = run(settings)
    if in_worker:
        assert len(sent_to_worker) > 10 and max(sent_to_worker) < 400, sent_to_worker
    else:
        assert sent_to_worker == []
    if batch_rows < 10:
        assert sum("chunks of at most 3 rows" in outcome.detail for outcome in report.outcomes) > 20
    truth = plan.truth(after_batch=1)
    assert_matches_truth(settings, truth)
    assert_suspects_match_truth(settings, truth, report.matching)

    # Every file was archived and receipted, with the status and counts the truth expects.
    assert files_left(settings.ingest_root) == []
    assert len(files_left(settings.archive_root)) == len(written)
    got = receipts(settings.outbox_root)
    assert set(got) == set(truth["files"])
    for relative, expected in truth["files"].items():
        receipt = got[relative]
        assert {key: receipt[key] for key in expected} == expected, relative
        assert receipt["summary_fa"] and receipt["summary_en"]

    # A rerun with nothing new changes nothing.
    before = warehouse_views(settings.warehouse)
    report = run(settings)
    assert report.files_found == 0
    assert warehouse_views(settings.warehouse) == before

    # Batch 2: resent files, later versions of keys, rejected updates, new people.
    written_2 = plan.write_batch(settings.ingest_root, 2)
    report = run(settings)
    truth = plan.truth(after_batch=2)
    assert_matches_truth(settings, truth)
    assert_suspects_match_truth(settings, truth, report.matching)
    assert files_left(settings.ingest_root) == []
    assert len(files_left(settings.archive_root)) == len(written) + len(written_2)
    got = receipts(settings.outbox_root)
    for relative, expected in truth["files"].items():
        assert {key: got[relative][key] for key in expected} == expected, relative

    # The same bytes dropped again, under any name, are a duplicate and change nothing.
    before = warehouse_views(settings.warehouse)
    archived = next(
        p for p in settings.archive_root.rglob("*__*") if "/applicants/" in p.as_posix() and p.suffix.lower() == ".csv"
    )
    province = archived.relative_to(settings.archive_root).parts[0]
    again = settings.ingest_root / province / "applicants" / "again.csv"
    again.parent.mkdir(parents=True, exist_ok=True)
    again.write_bytes(archived.read_bytes())
    report = run(settings)
    assert [o.status for o in report.outcomes] == ["duplicate_file"]
    assert warehouse_views(settings.warehouse) == before


def test_files_load_beside_the_reading_of_the_next_ones_each_lane_in_the_order_first_seen(settings, monkeypatch):
    """A batch loads in the loader thread while this thread reads and normalises the next one, on
    PostgreSQL in two lanes at once; each lane commits its files one by one in the order they were
    first seen (a file's copies share a lane: tests above find them duplicates), and the answers are
    the true ones."""
    settings = dataclasses.replace(settings, batch_rows=300, validate_in_worker=False)
    plan = build_plan()
    plan.write_batch(settings.ingest_root, 1)
    events: list[tuple[str, str, str]] = []  # (step, thread, file)
    prepare_file, load_prepared = pipeline.prepare_file, pipeline.load_prepared

    def reading(engine, settings, dropped, *args, **kwargs):
        events.append(("read", threading.current_thread().name, dropped.relative_path))
        return prepare_file(engine, settings, dropped, *args, **kwargs)

    def loading(engine, settings, prepared, *args, **kwargs):
        events.append(("load", threading.current_thread().name, prepared.dropped.relative_path))
        time.sleep(0.02)  # the warehouse's share of a load, during which the other threads go on
        outcome = load_prepared(engine, settings, prepared, *args, **kwargs)
        events.append(("loaded", threading.current_thread().name, prepared.dropped.relative_path))
        return outcome

    monkeypatch.setattr(pipeline, "prepare_file", reading)
    monkeypatch.setattr(pipeline, "load_prepared", loading)
    run(settings)

    assert {thread for step, thread, _ in events if step == "read"} == {threading.main_thread().name}
    lanes = {thread for step, thread, _ in events if step == "load"}
    assert threading.main_thread().name not in lanes
    assert len(lanes) == (2 if settings.warehouse.startswith("postgresql") else 1), lanes
    loading_now, read_meanwhile = set(), 0
    for step, _, relative in events:
        if step == "load":
            loading_now.add(relative)
        elif step == "loaded":
            loading_now.discard(relative)
        elif loading_now:
            read_meanwhile += 1
    assert read_meanwhile > 0, events
    lane_of = {relative: thread for step, thread, relative in events if step == "load"}
    committed = query(
        settings.warehouse, "SELECT relative_path, seen_seq FROM ingest_file WHERE rows_loaded > 0 ORDER BY file_id"
    )
    assert len(committed) > 10
    for lane in lanes:
        order = [row["seen_seq"] for row in committed if lane_of[row["relative_path"]] == lane]
        assert order == sorted(order), lane
    assert_matches_truth(settings, plan.truth(after_batch=1))


def test_load_lanes_come_from_the_environment_and_are_at_least_one(monkeypatch, tmp_path):
    monkeypatch.setenv("MASHAGHEL_LOAD_LANES", "3")
    assert Settings.resolve(warehouse=f"sqlite:///{tmp_path / 'w.sqlite'}").load_lanes == 3
    monkeypatch.setenv("MASHAGHEL_LOAD_LANES", "0")
    with pytest.raises(ValueError, match="MASHAGHEL_LOAD_LANES must be at least 1"):
        Settings.resolve(warehouse=f"sqlite:///{tmp_path / 'w.sqlite'}")


def test_a_failed_validation_in_the_worker_stops_the_run_and_loses_no_file(settings, monkeypatch):
    """A later batch's validation fails while the one before it loads: what was loaded stays loaded and
    archived, the rest stays in the ingest folder, and the next run takes it."""
    settings = dataclasses.replace(settings, batch_rows=400, validate_in_worker=True)
    plan = build_plan()
    written = plan.write_batch(settings.ingest_root, 1)
    submit, sent = SuiteWorker.submit, []

    def third_fails(worker, frames, source):
        sent.append(source.name)
        if len(sent) == 6:
            broken = Future()
            broken.set_exception(SuiteError("the suite worker stopped"))
            return PendingValidation(frames, source, broken)
        return submit(worker, frames, source)

    monkeypatch.setattr(SuiteWorker, "submit", third_fails)
    with pytest.raises(SuiteError, match="the suite worker stopped"):
        run(settings)
    archived, left = files_left(settings.archive_root), files_left(settings.ingest_root)
    assert archived and left and len(archived) + len(left) == len(written)

    monkeypatch.undo()
    report = run(dataclasses.replace(settings, claim_timeout=5))
    assert not report.failures and report.held_elsewhere == []
    assert files_left(settings.ingest_root) == []
    assert_matches_truth(settings, plan.truth(after_batch=1))


def test_rejected_rows_are_kept_as_sent_with_line_numbers(settings):
    folder = settings.ingest_root / "IR-04" / "applicants"
    folder.mkdir(parents=True)
    rows = [
        "شماره پرونده,کد ملی,نام,نام خانوادگی,تاریخ ثبت نام,رنگ",
        "A1,0499370899,علی,رضایی,1402/05/01,آبی",
        "",
        "A2,0499370898,زهرا,کریمی,1402/05/02,سبز",
        "A3,0790419904,,احمدی,۱۴۰۴/۱۲/۳۰,",
        "A4,0084575948,مریم,نوری,1402/05/03,,extra",
    ]
    (folder / "ثبت نام.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    run(settings)
    outbox = settings.outbox_root / "IR-04" / "applicants"
    receipt = json.loads(next(outbox.glob("*.receipt.json")).read_text(encoding="utf-8"))
    assert receipt["status"] == "loaded_with_rejections"
    assert (receipt["rows_read"], receipt["rows_loaded"], receipt["rows_rejected"]) == (4, 1, 3)
    assert receipt["rejected_by_reason"] == {
        "invalid_national_id": 1,
        "missing_required": 1,
        "invalid_date": 1,
        "malformed_row": 1,
    }
    rejected = next(outbox.glob("*.rejected.csv")).read_text(encoding="utf-8-sig").splitlines()
    assert rejected[0] == "شماره پرونده,کد ملی,نام,نام خانوادگی,تاریخ ثبت نام,رنگ,column_7,line_number,reasons"
    assert rejected[1:] == [
        "A2,0499370898,زهرا,کریمی,1402/05/02,سبز,,4,invalid_national_id",
        "A3,0790419904,,احمدی,۱۴۰۴/۱۲/۳۰,,,5,missing_required;invalid_date",
        "A4,0084575948,مریم,نوری,1402/05/03,,extra,6,malformed_row",
    ]
    engine = create_warehouse_engine(settings.warehouse)
    with engine.connect() as connection:
        extra = connection.execute(sa.text("SELECT extra FROM registration")).scalar_one()
    engine.dispose()
    assert json.loads(extra) == {"رنگ": "آبی"}


def test_a_later_file_replaces_a_key_and_a_rejected_later_row_does_not(settings, monkeypatch):
    """On PostgreSQL the first file's new keys are COPYed straight in; the second file's known key makes
    that COPY fail and the file is upserted instead, in the same transaction."""
    copied = []

    def spy(connection, spec, records):
        copied.append(copy_new_keys(connection, spec, records))
        return copied[-1]

    copy_new_keys = etl.load._copy_new_keys
    monkeypatch.setattr(etl.load, "_copy_new_keys", spy)
    folder = settings.ingest_root / "IR-10" / "loans"
    folder.mkdir(parents=True)
    header = "loan_id,bank,national_id,loan_type,amount_rial,status,approved_at\n"
    first = folder / "first.csv"
    first.write_text(
        header + "L1,بانک ملت,0499370899,individual,100000000,approved,1402/01/10\n"
        "L2,بانک ملت,0790419904,individual,100000000,approved,1402/01/10\n",
        encoding="utf-8",
    )
    os.utime(first, (1_700_000_000, 1_700_000_000))
    second = folder / "second.csv"
    second.write_text(
        header + "l1,بانك ملت,0499370899,individual,100000000,cancelled,1402/01/10\n"
        "L2,بانک ملت,0790419904,individual,0,cancelled,1402/01/10\n",
        encoding="utf-8",
    )
    os.utime(second, (1_700_000_100, 1_700_000_100))
    run(settings)
    summary = {r["province_code"]: r for r in warehouse_views(settings.warehouse)["rpt_province_summary"]}
    assert summary["IR-10"]["loans"] == 1  # L1 cancelled by the later file; L2's later row was refused
    assert summary["IR-10"]["loan_amount_rial"] == 100000000
    engine = create_warehouse_engine(settings.warehouse)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT loan_id, status FROM loan ORDER BY loan_key")).all()
        persons = connection.execute(sa.text("SELECT national_id FROM person ORDER BY national_id")).scalars().all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("l1", "cancelled"), ("L2", "approved")]
    assert persons == ["0499370899", "0790419904"]
    assert copied == ([True, False] if settings.warehouse.startswith("postgresql") else [])


def test_links_are_never_followed_and_nothing_outside_the_root_is_read(settings, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text(
        "application_id,national_id,first_name,last_name,registered_at\nA1,0499370899,علی,رضایی,1402/05/01\n",
        encoding="utf-8",
    )
    secret_folder = tmp_path / "secret"
    secret_folder.mkdir()
    (secret_folder / "x.csv").write_text("a\n1\n", encoding="utf-8")
    folder = settings.ingest_root / "IR-04" / "applicants"
    folder.mkdir(parents=True)
    (folder / "link.csv").symlink_to(outside)
    (settings.ingest_root / "IR-05").symlink_to(secret_folder, target_is_directory=True)
    report = run(settings)
    assert sorted((o.relative_path, o.status, o.file_reason) for o in report.outcomes) == [
        ("IR-04/applicants/link.csv", "rejected", "unsafe_path"),
        ("IR-05", "rejected", "unsafe_path"),
    ]
    assert outside.exists() and (secret_folder / "x.csv").exists()
    assert warehouse_views(settings.warehouse)["rpt_province_summary"][4]["registrations"] == 0
    archived_links = [p for p in settings.archive_root.rglob("*") if p.is_symlink()]
    assert len(archived_links) == 2


def test_files_still_being_written_are_left_alone(settings):
    folder = settings.ingest_root / "IR-04" / "training"
    folder.mkdir(parents=True)
    for name in ("x.csv.part", ".hidden.csv", "~$book.xlsx", "y.csv.crdownload", "z.TMP"):
        (folder / name).write_text("enrollment_id\n1\n", encoding="utf-8")
    fresh = folder / "fresh.csv"
    fresh.write_text("enrollment_id\n1\n", encoding="utf-8")
    report = run(Settings(**{**settings.__dict__, "settle_seconds": 3600}))
    assert report.files_found == 0
    assert len(files_left(settings.ingest_root)) == 6


def test_the_command_line_fails_clearly_when_it_cannot_run(tmp_path, capsys):
    code = main(["run", "--ingest-root", str(tmp_path / "missing"), "--warehouse", f"sqlite:///{tmp_path}/w.db"])
    assert code == 2
    assert "ingest root" in capsys.readouterr().err
    (tmp_path / "in").mkdir()
    code = main(
        [
            "run",
            "--ingest-root",
            str(tmp_path / "in"),
            "--archive-root",
            str(tmp_path / "a"),
            "--outbox-root",
            str(tmp_path / "o"),
            "--warehouse",
            "postgresql://nobody@127.0.0.1:9/none",
        ]
    )
    assert code == 2
    assert "unreachable" in capsys.readouterr().err


def test_the_command_line_reads_its_settings_from_the_environment(tmp_path, monkeypatch, capsys):
    (tmp_path / "in" / "IR-04" / "loans").mkdir(parents=True)
    (tmp_path / "in" / "IR-04" / "loans" / "l.csv").write_text(
        "loan_id,bank,national_id,loan_type,amount_toman,status\nL1,بانک ملت,0499370899,شبکه ای,۵۰۰۰۰۰۰,پرداخت شده\n",
        encoding="utf-8",
    )
    for name, value in {
        "INGEST_ROOT": "in",
        "ARCHIVE_ROOT": "a",
        "OUTBOX_ROOT": "o",
        "WAREHOUSE": f"sqlite:///{tmp_path}/w.db",
        "SETTLE_SECONDS": "0",
    }.items():
        monkeypatch.setenv(f"MASHAGHEL_{name}", str(tmp_path / value) if name.endswith("ROOT") else value)
    assert main(["run", "--quiet"]) == 0
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "IR-04 West Azerbaijan" in out and "50,000,000" in out


def test_a_file_that_fails_unexpectedly_stays_for_the_next_run_and_the_others_load(settings, monkeypatch, capsys):
    import etl.pipeline

    folder = settings.ingest_root / "IR-04" / "loans"
    folder.mkdir(parents=True)
    header = "loan_id,bank,national_id,loan_type,amount_rial,status\n"
    (folder / "a.csv").write_text(header + "L1,بانک ملت,0499370899,individual,5000,approved\n", "utf-8")
    (folder / "b.csv").write_text(header + "L2,بانک ملت,0790419904,individual,7000,approved\n", "utf-8")
    real_read = etl.pipeline.read_file

    def read_or_fail(path, source, **options):
        if path.name == "a.csv":
            raise OSError("simulated read error")
        return real_read(path, source, **options)

    monkeypatch.setattr(etl.pipeline, "read_file", read_or_fail)
    code = main(
        [
            "run",
            "--ingest-root",
            str(settings.ingest_root),
            "--archive-root",
            str(settings.archive_root),
            "--outbox-root",
            str(settings.outbox_root),
            "--warehouse",
            settings.warehouse,
            "--quiet",
        ]
    )
    assert code == 1
    assert "IR-04/loans/a.csv failed and stays in the ingest folder" in capsys.readouterr().err
    assert [p.name for p in files_left(settings.ingest_root)] == ["a.csv"]
    monkeypatch.setattr(etl.pipeline, "read_file", real_read)
    report = run(settings)
    assert [(o.relative_path, o.status) for o in report.outcomes] == [("IR-04/loans/a.csv", "loaded")]
    summary = {r["province_code"]: r for r in warehouse_views(settings.warehouse)["rpt_province_summary"]}
    assert (summary["IR-04"]["loans"], summary["IR-04"]["loan_amount_rial"]) == (2, 12000)


def test_a_duplicate_receipt_names_the_file_that_was_loaded(settings):
    folder = settings.ingest_root / "IR-04" / "training"
    folder.mkdir(parents=True)
    content = "enrollment_id,national_id,course_title,completed\nE1,0499370899,خیاطی,بله\n"
    (folder / "t.csv").write_text(content, "utf-8")
    run(settings)
    (folder / "t.csv").write_text(content, "utf-8")
    report = run(settings)
    assert [o.status for o in report.outcomes] == ["duplicate_file"]
    receipt = json.loads(next(settings.outbox_root.rglob("t.csv.*.receipt.json")).read_text("utf-8"))
    assert receipt["status"] == "duplicate_file"
    assert receipt["duplicate_of"]["relative_path"] == "IR-04/training/t.csv"
    assert receipt["duplicate_of"]["status"] == "loaded"
