"""Tests of the sample-drop generator and its truth oracle (not of the pipeline)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import jdatetime
import pytest
from openpyxl import load_workbook

from etl import reasons
from etl.contract import contract, enum_lookup
from etl.persian import match_key, normalise_text
from etl.sample import (
    FILE_STATUSES,
    ROW_REASONS,
    DropFile,
    DropPlan,
    build_plan,
    load_provinces,
    valid_national_id,
    write_truth,
)

SMALL = {"seed": 7, "persons": 120}


@pytest.fixture(scope="module")
def plan() -> DropPlan:
    return build_plan()


@pytest.fixture(scope="module")
def written(plan: DropPlan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ingest")
    for batch in (1, 2):
        plan.write_batch(root, batch)
    return root


def _snapshot(root: Path) -> dict[str, tuple[bytes, float]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime) for p in root.rglob("*") if p.is_file()}


def test_same_seed_same_bytes_and_truth(tmp_path: Path) -> None:
    first, second = build_plan(**SMALL), build_plan(**SMALL)
    for name, plan in (("a", first), ("b", second)):
        for batch in (1, 2):
            plan.write_batch(tmp_path / name, batch)
    assert _snapshot(tmp_path / "a") == _snapshot(tmp_path / "b")
    assert first.truth(2) == second.truth(2)
    write_truth(first.truth(2), tmp_path / "a.json")
    write_truth(second.truth(2), tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    other = build_plan(seed=8, persons=120)
    assert other.file_bytes(other.files[0].rel) != first.file_bytes(first.files[0].rel)


def test_write_batch_returns_each_file_with_planned_mtime(plan: DropPlan, tmp_path: Path) -> None:
    paths = plan.write_batch(tmp_path, 1)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [f.rel for f in plan.batch_files(1)]
    mtimes = [p.stat().st_mtime for p in paths]
    assert mtimes == sorted(mtimes)
    assert max(mtimes) < datetime(2025, 6, 1).timestamp() <= min(f.mtime for f in plan.batch_files(2))
    assert not any(p.is_symlink() for p in tmp_path.rglob("*"))


def test_every_reason_and_status_appears(plan: DropPlan) -> None:
    truth = plan.truth(2)
    quarantined = {q["reason"] for q in truth["rpt_quarantine_summary"]}
    assert set(ROW_REASONS) <= quarantined
    file_reasons = set(reasons.FILE_REJECTION_REASONS) - {reasons.UNSAFE_PATH}  # symlinks: added by tests
    assert file_reasons <= quarantined
    assert not quarantined & {reasons.DUPLICATE_FILE, reasons.STATUS_EMPTY}
    assert {v["status"] for v in truth["files"].values()} == set(FILE_STATUSES)
    for q in truth["rpt_quarantine_summary"]:
        assert (q["files"] > 0) == (q["reason"] in reasons.FILE_REJECTION_REASONS)
        assert (q["rows"] > 0) == (q["reason"] not in reasons.FILE_REJECTION_REASONS)
    places = {(q["province_code"], q["source"]) for q in truth["rpt_quarantine_summary"]}
    assert {("", ""), ("IR-08", ""), ("Tehran", "applicants"), ("IR-04", "payments")} <= places
    # A row with two or three reasons is counted under each of them, and once in rows_rejected.
    f = truth["files"]["IR-01/applicants/ثبت نام_خطادار_1403.csv"]
    assert sum(f["rejected_by_reason"].values()) > f["rows_rejected"]


def test_quarantine_history_accumulates(plan: DropPlan) -> None:
    one = {(q["province_code"], q["source"], q["reason"]): q for q in plan.truth(1)["rpt_quarantine_summary"]}
    two = {(q["province_code"], q["source"], q["reason"]): q for q in plan.truth(2)["rpt_quarantine_summary"]}
    assert set(one) < set(two)
    for key, q in one.items():
        assert two[key]["rows"] >= q["rows"] and two[key]["files"] >= q["files"]
    assert two["IR-17", "applicants", reasons.AMBIGUOUS_COLUMNS]["files"] == 1  # the corrected resend loads


def test_truth_invariants(plan: DropPlan) -> None:
    provinces = load_provinces()
    for after in (1, 2):
        truth = plan.truth(after)
        summary = truth["rpt_province_summary"]
        persons = truth["persons"]
        assert [r["province_code"] for r in summary] == sorted(p.code for p in provinces) and len(summary) == 31
        assert sum(r["persons"] for r in summary) == len(persons)
        by_code = {r["province_code"]: r for r in summary}
        for code in ("IR-16", "IR-20", "IR-29"):  # silent provinces
            assert all(v == 0 for k, v in by_code[code].items() if not k.startswith("province_"))
        for flag, column in (
            ("multi_registration", "multi_registration_persons"),
            ("loan_only", "loan_only_persons"),
            ("unregistered_borrower", "unregistered_borrowers"),
        ):
            assert sum(r[column] for r in summary) == sum(p[flag] for p in persons.values())
        for nid, p in persons.items():
            assert valid_national_id(nid) and p["home_province"] in by_code
            assert not (p["multi_registration"] and p["unregistered_borrower"])
        monthly = truth["rpt_monthly_loans"]
        assert sum(m["loans"] for m in monthly) <= sum(r["loans"] for r in summary)
        assert sum(m["loan_amount_rial"] for m in monthly) <= sum(r["loan_amount_rial"] for r in summary)
        for r in summary:
            assert r["borrowers"] <= r["loans"] and r["loan_only_persons"] <= r["persons"]
        for b in truth["rpt_loan_cap_breaches"]:
            assert b["amount_rial"] > b["cap_rial"]
        for rel, f in truth["files"].items():
            assert f["rows_loaded"] == f["rows_read"] - f["rows_rejected"] >= 0, rel
            assert (f["file_reason"] is not None) == (f["status"] in ("rejected", "duplicate_file")), rel
    assert set(plan.truth(1)["files"]) < set(plan.truth(2)["files"])


def test_scenarios(plan: DropPlan) -> None:
    one, two = plan.truth(1), plan.truth(2)
    flips = [nid for nid in one["persons"] if one["persons"][nid]["loan_only"] and not two["persons"][nid]["loan_only"]]
    assert len(flips) >= 4  # supporter added, loan cancelled, training passed (twice)
    moved = [
        nid for nid in one["persons"] if one["persons"][nid]["home_province"] != two["persons"][nid]["home_province"]
    ]
    assert moved
    breaches = {(b["province_code"], b["amount_rial"]) for b in two["rpt_loan_cap_breaches"]}
    assert ("IR-07", 3_000_000_000) in breaches and ("IR-07", 2_000_000_010) in breaches
    assert ("IR-07", 500_000_000) not in breaches and ("IR-07", 9_000_000_000) not in breaches
    assert any(b["bank"] == "بانک\u200cملت" and b["amount_rial"] == 800_000_000 for b in two["rpt_loan_cap_breaches"])
    assert ("IR-07", 600_000_000) in {(b["province_code"], b["amount_rial"]) for b in one["rpt_loan_cap_breaches"]}
    assert ("IR-07", 600_000_000) not in breaches
    assert two["files"]["IR-23/applicants/tehran_list.csv"]["status"] == "loaded"
    assert two["files"]["IR-05/applicants/empty_again.csv"]["status"] == "empty"
    assert two["files"]["IR-04/loans/scan_report (1).pdf"]["status"] == "duplicate_file"


def test_xlsx_national_ids_are_numbers(plan: DropPlan) -> None:
    numbers = 0
    for f in plan.files:
        if f.fmt != "xlsx" or f.copy_of:
            continue
        sheet = load_workbook(io.BytesIO(plan.file_bytes(f.rel)), read_only=True).worksheets[0]
        header = next(sheet.iter_rows(max_row=1, values_only=True))
        names = [contract()[f.source].canonical_name(str(h)) for h in header]
        if "national_id" not in names:
            continue
        j = names.index("national_id")
        numbers += sum(isinstance(r[j], int) for r in sheet.iter_rows(min_row=2, values_only=True) if len(r) > j)
    assert numbers > 20


def test_cp1256_files_are_not_utf8(plan: DropPlan) -> None:
    files = [f for f in plan.files if f.fmt == "csv_cp1256"]
    assert files
    for f in files:
        data = plan.file_bytes(f.rel)
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        assert "ي" in data.decode("cp1256")


def test_formats_mixed(plan: DropPlan) -> None:
    fmts = {f.fmt for f in plan.files}
    assert {"csv", "csv_bom", "csv_semicolon", "tsv_utf16", "csv_cp1256", "xlsx"} <= fmts
    assert any(f.rel.endswith((".CSV", ".XLSX", ".TSV")) for f in plan.files)
    assert any(plan.file_bytes(f.rel).startswith(b"\xef\xbb\xbf") for f in plan.files if f.fmt == "csv_bom")
    assert all(plan.file_bytes(f.rel).startswith(b"\xff\xfe") for f in plan.files if f.fmt == "tsv_utf16")


def test_scales_linearly() -> None:
    plan = build_plan(seed=3, persons=3000)
    truth = plan.truth(2)
    assert len(truth["persons"]) > 3000
    assert sum(f["rows_read"] for f in truth["files"].values()) > 6000


# --------------------------------------------------------------------------- an independent re-reading

DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
EXCEL_EPOCH = date(1899, 12, 30)


def _decode(data: bytes) -> str:
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1256")


def _read(f: DropFile, data: bytes) -> tuple[list[str], list[list[object]]]:
    if f.rel.lower().endswith(".xlsx"):
        rows = [list(r) for r in load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(values_only=True)]
    else:
        text = _decode(data)
        first = text.split("\n", 1)[0]
        delimiter = max(",;\t", key=first.count)
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    rows = [r for r in rows if any(c not in (None, "") for c in r)]
    return [str(h) for h in rows[0]], rows[1:]


def _nid(cell: object) -> str | None:
    text = str(cell) if isinstance(cell, int) else re.sub(r"[\s-]", "", str(cell).translate(DIGITS))
    if re.fullmatch(r"[0-9]{8,9}", text):
        text = text.zfill(10)
    return text if valid_national_id(text) else None


def _date(cell: object) -> date | None:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, int):
        return EXCEL_EPOCH + timedelta(days=cell)
    m = re.fullmatch(r"([0-9]+)([/.-])([0-9]{1,2})\2([0-9]{1,2})( .*)?", str(cell).translate(DIGITS).strip())
    if not m:
        return None
    y, mo, d = int(m[1]), int(m[3]), int(m[4])
    try:
        if 1300 <= y <= 1499:
            return jdatetime.date(y, mo, d).togregorian()
        if 1900 <= y <= 2100:
            return date(y, mo, d)
    except ValueError:
        return None
    return None


def _amount(cell: object, unit: str | None) -> int | None:
    text = re.sub(r"[,٬،\s]", "", str(cell).translate(DIGITS)).replace("٫", ".")
    try:
        value = Decimal(text) * (10 if unit == "toman" else 1)
    except InvalidOperation:
        return None
    return int(value) if value > 0 and value == value.to_integral_value() else None


def _check_row(f: DropFile, names: list[str | None], cells: list[object], planned) -> None:
    """Work out the row's reasons and values from the cells alone and compare with the plan."""
    src = contract()[f.source]
    today = date.today()
    if sum(not _blank(c) for c in cells[len(names) :]):
        assert planned.reasons == (reasons.MALFORMED_ROW,)
        return
    why: set[str] = set()
    got: dict[str, object] = {}
    province = next(p for p in load_provinces() if p.code == f.folder_province)
    cells = (cells + [None] * len(names))[: len(names)]  # missing trailing fields are empty
    for name, cell in zip(names, cells, strict=True):
        if name is None:
            continue
        column = src.column(name)
        target = "amount_rial" if column.kind == "amount" else name
        if _blank(cell):
            got[target] = None
            if column.required:
                why.add(reasons.MISSING_REQUIRED)
            continue
        if column.kind == "national_id":
            got[target] = value = _nid(cell)
            bad = reasons.INVALID_NATIONAL_ID if value is None else None
        elif column.kind == "date":
            value = _date(cell)
            bad = reasons.INVALID_DATE if value is None else reasons.FUTURE_DATE if value > today else None
            got[target] = None if bad else value
        elif column.kind == "amount":
            got[target] = value = _amount(cell, column.unit)
            bad = reasons.INVALID_AMOUNT if value is None else None
        elif column.kind == "enum":
            got[target] = value = enum_lookup(column.enum).get(match_key(str(cell)) or "")
            bad = reasons.INVALID_VALUE if value is None else None
        elif column.kind == "province":
            keys = {match_key(province.code), match_key(province.name_fa), match_key(province.name_en)}
            got[target] = f.folder_province
            bad = None if match_key(str(cell)) in keys else reasons.PROVINCE_MISMATCH
        elif column.kind in ("text", "key"):
            got[target], bad = normalise_text(str(cell)), None
        else:
            continue
        if bad and (column.required or column.kind == "province"):
            why.add(bad)
    assert why == set(planned.reasons), (f.rel, cells, why, planned.reasons)
    if not why:
        for name, value in got.items():
            assert planned.canon[name] == value, (f.rel, name, value, planned.canon[name])


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def test_files_reread_independently_match_the_plan(plan: DropPlan, written: Path) -> None:
    truth = plan.truth(2)
    checked = 0
    for f in plan.files:
        if truth["files"][f.rel]["status"] not in ("loaded", "loaded_with_rejections"):
            continue
        header, rows = _read(f, (written / f.rel).read_bytes())
        names = [contract()[f.source].canonical_name(h) for h in header]
        assert names == [n for _, n in f.columns], f.rel
        assert len(rows) == len(f.rows) == truth["files"][f.rel]["rows_read"], f.rel
        for cells, planned in zip(rows, f.rows, strict=True):
            _check_row(f, names, cells, planned)
            checked += 1
    assert checked > 800
