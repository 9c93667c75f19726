"""A province's own rows as one xlsx workbook, for provincial offices without SQL access.

``python -m etl export --province IR-04 --to file.xlsx`` writes, right to left and
with Persian headers: the province's line of the national summary, the
registrations, loans and training enrolments the province sent (current
versions), and every row refused from its folders with the reasons in Persian.
Dates are Jalali (YYYY/MM/DD). Every text cell a spreadsheet would run as a
formula is neutralised (etl/spreadsheet.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import jdatetime
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl import reasons as rc
from etl.contract import contract, enum_lookup
from etl.distinct import map_distinct
from etl.load import missing_as_none
from etl.spreadsheet import neutralise

SUMMARY_LABELS = {
    "province_code": "کد استان",
    "province_name_fa": "استان",
    "persons": "افراد (استان محل سکونت)",
    "registrations": "ثبت‌نام‌های ارسالی",
    "multi_registration_persons": "افراد با بیش از یک ثبت‌نام",
    "loans": "تسهیلات جاری ارسالی",
    "loan_amount_rial": "مبلغ تسهیلات جاری (ریال)",
    "borrowers": "وام‌گیرندگان",
    "trained_persons": "افراد آموزش‌دیده",
    "loan_only_persons": "افراد فقط‌وام",
    "unregistered_borrowers": "وام‌گیرندگان بدون ثبت‌نام",
}
LINEAGE_LABELS = {"file_name": "فایل", "line_number": "سطر"}
# Sheet name -> (source, table, columns in order; the contract's Persian header names them).
RECORD_SHEETS = {
    "متقاضیان": (
        "applicants",
        "registration",
        (
            "application_id",
            "national_id",
            "first_name",
            "last_name",
            "father_name",
            "gender",
            "birth_date",
            "mobile",
            "county",
            "business_category",
            "registered_at",
            "supporter_id",
        ),
    ),
    "تسهیلات": (
        "loans",
        "loan",
        (
            "bank",
            "loan_id",
            "national_id",
            "first_name",
            "last_name",
            "loan_type",
            "amount_rial",
            "approved_at",
            "disbursed_at",
            "status",
        ),
    ),
    "آموزش": (
        "training",
        "training_enrollment",
        (
            "enrollment_id",
            "national_id",
            "first_name",
            "last_name",
            "course_title",
            "course_type",
            "provider",
            "hours",
            "start_date",
            "end_date",
            "completed",
        ),
    ),
}
REFUSED_SHEET = "ردشده"
REFUSED_COLUMNS = {
    "file_name": "فایل",
    "source": "نوع",
    "line_number": "سطر",
    "reasons_fa": "دلایل",
    "reasons": "کد دلایل",
    "row_as_sent": "سطر ارسالی",
}
ENUMS = {
    "gender": "gender",
    "loan_type": "loan_type",
    "status": "loan_status",
    "course_type": "course_type",
    "completed": "yes_no",
}


class ExportError(RuntimeError):
    """The export cannot be made (unknown province, unwritable target)."""


def _persian_label(source: str, column: str) -> str:
    if column == "amount_rial":
        return "مبلغ (ریال)"
    return contract()[source].column(column).aliases[0]


def _persian_enum(enum: str) -> dict[str, str]:
    """Canonical value -> its first Persian spelling, e.g. female -> زن."""
    persian: dict[str, str] = {}
    for spelling, canonical in enum_lookup(enum).items():
        if canonical not in persian and not spelling.isascii():
            persian[canonical] = spelling
    return persian


def _jalali(values: pd.Series) -> pd.Series:
    def convert(value: object) -> str:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
        return jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d")

    return map_distinct(values, convert)


def _records(engine: Engine, province: str, source: str, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
    query = sa.text(
        f"SELECT {', '.join('t.' + c for c in columns)}, f.file_name, t.line_number FROM {table} AS t"
        f" JOIN ingest_file AS f ON f.file_id = t.file_id WHERE t.province_code = :p"
        f" ORDER BY t.file_seq, t.line_number"
    )
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection, params={"p": province})
    for column in columns:
        kind = contract()[source].column(column).kind if column != "amount_rial" else "amount"
        if kind == "date":
            frame[column] = _jalali(frame[column])
        elif column in ENUMS:
            values = (
                frame[column].astype(bool).map({True: "yes", False: "no"}) if column == "completed" else frame[column]
            )
            frame[column] = values.map(_persian_enum(ENUMS[column]))
    return frame.rename(columns={c: _persian_label(source, c) for c in columns} | LINEAGE_LABELS)


def _refused(engine: Engine, province: str) -> pd.DataFrame:
    query = sa.text(
        "SELECT f.file_name, f.source, r.line_number, r.reasons, r.raw FROM rejected_row AS r"
        " JOIN ingest_file AS f ON f.file_id = r.file_id WHERE f.province_code = :p"
        " ORDER BY f.seen_seq, r.line_number"
    )
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection, params={"p": province})
    frame["reasons_fa"] = frame["reasons"].map(
        lambda codes: "؛ ".join(rc.DESCRIPTIONS[c][0] if c in rc.DESCRIPTIONS else c for c in codes.split(";"))
    )
    frame["row_as_sent"] = frame.pop("raw").map(lambda raw: " | ".join(str(cell) for cell in json.loads(raw)))
    return frame[list(REFUSED_COLUMNS)].rename(columns=REFUSED_COLUMNS)


def _summary(engine: Engine, province: str) -> pd.DataFrame:
    with engine.connect() as connection:
        row = (
            connection.execute(sa.text("SELECT * FROM rpt_province_summary WHERE province_code = :p"), {"p": province})
            .mappings()
            .first()
        )
    if row is None:
        raise ExportError(f"{province} is not a province code (IR-00 … IR-30)")
    return pd.DataFrame({"شاخص": list(SUMMARY_LABELS.values()), "مقدار": [row[k] for k in SUMMARY_LABELS]})


def _cells(frame: pd.DataFrame) -> Iterator[list]:
    yield [neutralise(str(column)) for column in frame.columns]
    for values in missing_as_none(frame).itertuples(index=False, name=None):
        yield [neutralise(value) if isinstance(value, str) else _plain(value) for value in values]


def _plain(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value.item() if hasattr(value, "item") else value


def export_province(engine: Engine, province: str, target: Path) -> dict[str, int]:
    """Write the province's workbook to ``target`` (atomically); returns rows per sheet."""
    from openpyxl import Workbook

    sheets: dict[str, pd.DataFrame] = {"خلاصه": _summary(engine, province)}
    for name, (source, table, columns) in RECORD_SHEETS.items():
        sheets[name] = _records(engine, province, source, table, columns)
    sheets[REFUSED_SHEET] = _refused(engine, province)
    workbook = Workbook(write_only=True)
    for name, frame in sheets.items():
        sheet = workbook.create_sheet(name)
        sheet.sheet_view.rightToLeft = True
        _append(sheet, _cells(frame))
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        workbook.save(temporary)
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ExportError(f"cannot write {target}: {error}") from error
    return {name: len(frame) for name, frame in sheets.items()}


def _append(sheet, rows: Iterable[list]) -> None:
    from openpyxl.cell import WriteOnlyCell

    for values in rows:
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text stays text, even after neutralisation
            cells.append(cell)
        sheet.append(cells)
