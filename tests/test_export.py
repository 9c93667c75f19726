"""`python -m etl export`: a province's own rows as an xlsx workbook, and formula-safe files written back."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from etl.cli import main
from etl.config import Settings
from etl.export import RECORD_SHEETS, REFUSED_SHEET
from etl.pipeline import run
from etl.sample import build_plan, check_digit
from etl.spreadsheet import FORMULA_TRIGGERS
from etl.warehouse import create_warehouse_engine
from tests.conftest import create_postgres_database, drop_postgres_database, require_postgres

PROVINCE = "IR-04"


def _nid(first9: str) -> str:
    return first9 + str(check_digit(first9))


HOSTILE_APPLICANTS = (
    "شماره پرونده,کد ملی,نام,نام خانوادگی,شهرستان,رسته شغلی,تاریخ ثبت نام\n"
    f"X-1,{_nid('004123456')},=1+2,@SUM(A1),\"+cmd|' /C calc'!A0\",-2+3,1403/01/15\n"
    'X-2,"=HYPERLINK(""http://example.com"",""x"")",علی,رضایی,-500,پوشاک,1403/01/16\n'
)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def loaded(request, tmp_path_factory) -> Iterator[Settings]:
    """The sample drop plus hostile cells, loaded once per warehouse for this module."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        warehouse_url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    else:
        require_postgres()
        warehouse_url = create_postgres_database()
    settings = Settings(
        ingest_root=tmp_path / "in",
        archive_root=tmp_path / "archive",
        outbox_root=tmp_path / "outbox",
        warehouse=warehouse_url,
        settle_seconds=0,
    )
    build_plan(persons=60).write_batch(settings.ingest_root, 1)
    hostile = settings.ingest_root / PROVINCE / "applicants" / "hostile.csv"
    hostile.parent.mkdir(parents=True, exist_ok=True)
    hostile.write_text(HOSTILE_APPLICANTS, encoding="utf-8")
    evil_folder = settings.ingest_root / "=1+2" / "applicants"
    evil_folder.mkdir(parents=True)
    (evil_folder / "f.csv").write_text(HOSTILE_APPLICANTS, encoding="utf-8")
    assert not run(settings).failures
    yield settings
    if request.param == "postgresql":
        drop_postgres_database(warehouse_url)


def _sheet_rows(workbook, name: str) -> list[tuple]:
    return [tuple(cell.value for cell in row) for row in workbook[name].iter_rows()]


def test_export_writes_the_provinces_own_rows_in_persian_and_nothing_runs_as_a_formula(loaded, tmp_path):
    target = tmp_path / "out" / "ir04.xlsx"
    assert main(["export", "--warehouse", loaded.warehouse, "--province", PROVINCE, "--to", str(target)]) == 0
    workbook = load_workbook(target)
    assert workbook.sheetnames == ["خلاصه", *RECORD_SHEETS, REFUSED_SHEET]
    engine = create_warehouse_engine(loaded.warehouse)
    with engine.connect() as connection:
        for sheet, (_, table, _) in RECORD_SHEETS.items():
            sent = connection.execute(
                sa.text(f"SELECT COUNT(*) FROM {table} WHERE province_code = :p"), {"p": PROVINCE}
            ).scalar_one()
            assert len(_sheet_rows(workbook, sheet)) == sent + 1, sheet  # plus the header
        refused = connection.execute(
            sa.text(
                "SELECT COUNT(*) FROM rejected_row AS r JOIN ingest_file AS f ON f.file_id = r.file_id"
                " WHERE f.province_code = :p"
            ),
            {"p": PROVINCE},
        ).scalar_one()
        summary = (
            connection.execute(sa.text("SELECT * FROM rpt_province_summary WHERE province_code = :p"), {"p": PROVINCE})
            .mappings()
            .one()
        )
    engine.dispose()
    assert refused >= 1 and len(_sheet_rows(workbook, REFUSED_SHEET)) == refused + 1

    registrations = _sheet_rows(workbook, "متقاضیان")
    header = registrations[0]
    assert "کد ملی" in header and "تاریخ ثبت نام" in header and "فایل" in header
    assert all(sheet.sheet_view.rightToLeft for sheet in workbook.worksheets)
    hostile = next(row for row in registrations if row[0] == "X-1")
    assert hostile[header.index("نام")] == "'=1+2"
    assert hostile[header.index("نام خانوادگی")] == "'@SUM(A1)"
    assert hostile[header.index("تاریخ ثبت نام")] == "1403/01/15"
    assert {row[header.index("جنسیت")] for row in registrations[1:]} <= {"زن", "مرد", None}
    summary_rows = dict(_sheet_rows(workbook, "خلاصه")[1:])
    assert summary_rows["ثبت‌نام‌های ارسالی"] == summary["registrations"]
    assert summary_rows["مبلغ تسهیلات جاری (ریال)"] == summary["loan_amount_rial"]
    refused_rows = _sheet_rows(workbook, REFUSED_SHEET)
    assert any("کد ملی نامعتبر است" in (row[3] or "") for row in refused_rows[1:])

    formulas = [
        (sheet.title, cell.coordinate, cell.value)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "f" or (isinstance(cell.value, str) and cell.value.startswith(FORMULA_TRIGGERS))
    ]
    assert formulas == []


def test_export_of_an_unknown_province_says_so(loaded, tmp_path, capsys):
    assert (
        main(["export", "--warehouse", loaded.warehouse, "--province", "IR-99", "--to", str(tmp_path / "x.xlsx")]) == 2
    )
    assert "IR-99 is not a province code" in capsys.readouterr().err
    assert not (tmp_path / "x.xlsx").exists()


def test_refused_rows_and_national_exports_are_formula_safe_but_numbers_stay_as_sent(loaded):
    rejected = next((loaded.outbox_root / PROVINCE / "applicants").glob("hostile.*.rejected.csv"))
    with rejected.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    refused = next(row for row in rows[1:] if row[0] == "X-2")
    assert refused[1] == '\'=HYPERLINK("http://example.com","x")'
    assert refused[4] == "-500"  # a plain number, as sent
    engine = create_warehouse_engine(loaded.warehouse)
    with engine.connect() as connection:
        raw = connection.execute(sa.text("SELECT raw FROM rejected_row WHERE raw LIKE '%HYPERLINK%'")).scalars().all()
    engine.dispose()
    assert raw and json.loads(raw[0])[1].startswith("=HYPERLINK")  # the warehouse keeps it exactly

    with (loaded.outbox_root / "national" / "rpt_quarantine_summary.csv").open(encoding="utf-8-sig") as handle:
        quarantine = list(csv.reader(handle))
    assert any(row[0] == "'=1+2" for row in quarantine)
    assert not any(
        cell.startswith(FORMULA_TRIGGERS)
        for row in quarantine
        for cell in row
        if not cell.lstrip("+-").replace(".", "").isdigit()
    )
