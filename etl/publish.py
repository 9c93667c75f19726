"""Publish: check the reporting views add up, and export them for the ministry.

The views themselves are defined in ``sql/views`` and always current; this stage
refuses to publish numbers that do not add up, and writes a CSV of each view to
``<outbox>/national/``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.faults import fault_point
from etl.spreadsheet import neutralise_row

REPORTING_VIEWS = (
    "rpt_province_summary",
    "rpt_quarantine_summary",
    "rpt_loan_cap_breaches",
    "rpt_monthly_loans",
    "rpt_suspected_duplicates",
    "rpt_suspected_id_typos",
)
ORDER_BY = {
    "rpt_suspected_duplicates": "national_id_l, national_id_r",
    "rpt_suspected_id_typos": "province_code, source, file_name, line_number",
    "rpt_province_summary": "province_code",
    "rpt_quarantine_summary": "province_code, source, reason",
    "rpt_loan_cap_breaches": "province_code, bank, loan_id",
    "rpt_monthly_loans": "jalali_year, jalali_month, province_code",
}

# Each check is (what it promises, SQL returning two numbers that must be equal).
INVARIANTS = (
    (
        "every person has one home province among the 31",
        "SELECT (SELECT COUNT(*) FROM person), (SELECT COALESCE(SUM(persons), 0) FROM rpt_province_summary)",
    ),
    (
        "province loan counts add up to all live loans",
        "SELECT (SELECT COUNT(*) FROM loan WHERE status IN ('approved', 'disbursed')),"
        " (SELECT COALESCE(SUM(loans), 0) FROM rpt_province_summary)",
    ),
    (
        "province loan amounts add up to all live loan amounts",
        "SELECT (SELECT COALESCE(SUM(amount_rial), 0) FROM loan WHERE status IN ('approved', 'disbursed')),"
        " (SELECT COALESCE(SUM(loan_amount_rial), 0) FROM rpt_province_summary)",
    ),
    (
        "monthly loans add up to all dated live loans",
        "SELECT (SELECT COUNT(*) FROM loan WHERE status IN ('approved', 'disbursed') AND loan_date IS NOT NULL),"
        " (SELECT COALESCE(SUM(loans), 0) FROM rpt_monthly_loans)",
    ),
    (
        "registrations add up",
        "SELECT (SELECT COUNT(*) FROM registration),"
        " (SELECT COALESCE(SUM(registrations), 0) FROM rpt_province_summary)",
    ),
    (
        "province suspected duplicates add up to all persons flagged",
        "SELECT (SELECT COUNT(*) FROM person WHERE suspected_duplicate),"
        " (SELECT COALESCE(SUM(suspected_duplicate_persons), 0) FROM rpt_province_summary)",
    ),
    (
        "every person in a suspected pair is flagged, and only they",
        "SELECT (SELECT COUNT(*) FROM person WHERE suspected_duplicate),"
        " (SELECT COUNT(*) FROM (SELECT national_id_l FROM suspected_duplicate_pair"
        " UNION SELECT national_id_r FROM suspected_duplicate_pair) AS flagged)",
    ),
    (
        "the province summary has the 31 provinces",
        "SELECT (SELECT COUNT(*) FROM ref_province), (SELECT COUNT(*) FROM rpt_province_summary)",
    ),
)


class PublishError(RuntimeError):
    """The reporting views do not add up; nothing was published."""


def check_invariants(connection: Connection) -> None:
    broken = []
    for promise, query in INVARIANTS:
        left, right = connection.execute(sa.text(query)).one()
        if int(left) != int(right):
            broken.append(f"{promise}: {left} != {right}")
    if broken:
        raise PublishError("reporting views do not add up: " + "; ".join(broken))


def view_rows(connection: Connection, view: str) -> list[dict]:
    """A reporting view's rows in a stable order, as plain Python values."""
    result = connection.execute(sa.text(f"SELECT * FROM {view} ORDER BY {ORDER_BY[view]}"))
    return [{key: _plain(value) for key, value in row.items()} for row in result.mappings()]


def _plain(value: object) -> object:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def export_path(outbox_root: Path, view: str) -> Path:
    """Where a reporting view's CSV is published."""
    return outbox_root / "national" / f"{view}.csv"


def publish(engine: Engine, outbox_root: Path) -> dict[str, list[dict]]:
    """Check the invariants, then export every reporting view; returns the views' rows.

    Folder names in rpt_quarantine_summary are as sent, so cells are neutralised
    against spreadsheet formulas (etl/spreadsheet.py).
    """
    with engine.connect() as connection:
        check_invariants(connection)
        views = {view: view_rows(connection, view) for view in REPORTING_VIEWS}
    for view, rows in views.items():
        target = export_path(outbox_root, view)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        with temporary.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            if rows:
                writer.writerow(rows[0].keys())
                writer.writerows(neutralise_row(list(row.values())) for row in rows)
        temporary.replace(target)
        fault_point("during_publish")
    return views
