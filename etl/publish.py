"""Publish: check the reporting views add up, and export them for the ministry.

The views themselves are defined in ``sql/views`` and always current; this stage
refuses to publish numbers that do not add up, and writes a CSV of each view to
``<outbox>/national/``.
"""

from __future__ import annotations

import csv
from decimal import Decimal
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

# Each promise is (what it promises, the warehouse figure, the view and the column whose sum must equal it;
# a column of None counts the view's rows). The warehouse figures are taken in one statement
# (BASE_FIGURES) and the views' sums from the rows that are published, in the same snapshot, so that
# each view is evaluated once and the figures checked are the figures exported.
LIVE_LOAN = "status IN ('approved', 'disbursed')"
BASE_FIGURES = {
    "persons": "SELECT COUNT(*) FROM person",
    "live_loans": f"SELECT COUNT(*) FROM loan WHERE {LIVE_LOAN}",
    "live_loan_amount": f"SELECT COALESCE(SUM(amount_rial), 0) FROM loan WHERE {LIVE_LOAN}",
    "dated_live_loans": f"SELECT COUNT(*) FROM loan WHERE {LIVE_LOAN} AND loan_date IS NOT NULL",
    "registrations": "SELECT COUNT(*) FROM registration",
    "flagged_persons": "SELECT COUNT(*) FROM person WHERE suspected_duplicate",
    "paired_persons": "SELECT COUNT(*) FROM (SELECT national_id_l FROM suspected_duplicate_pair"
    " UNION SELECT national_id_r FROM suspected_duplicate_pair) AS paired",
    "provinces": "SELECT COUNT(*) FROM ref_province",
}
INVARIANTS = (
    ("every person has one home province among the 31", "persons", "rpt_province_summary", "persons"),
    ("province loan counts add up to all live loans", "live_loans", "rpt_province_summary", "loans"),
    (
        "province loan amounts add up to all live loan amounts",
        "live_loan_amount",
        "rpt_province_summary",
        "loan_amount_rial",
    ),
    ("monthly loans add up to all dated live loans", "dated_live_loans", "rpt_monthly_loans", "loans"),
    ("registrations add up", "registrations", "rpt_province_summary", "registrations"),
    (
        "province suspected duplicates add up to all persons flagged",
        "flagged_persons",
        "rpt_province_summary",
        "suspected_duplicate_persons",
    ),
    ("every person in a suspected pair is flagged, and only they", "flagged_persons", None, "paired_persons"),
    ("the province summary has the 31 provinces", "provinces", "rpt_province_summary", None),
)
CHECKED_VIEWS = ("rpt_province_summary", "rpt_monthly_loans")


class PublishError(RuntimeError):
    """The reporting views do not add up; nothing was published."""


def begin_snapshot(connection: Connection) -> Connection:
    """Make every later read on ``connection`` see one snapshot of the warehouse (until it closes).

    PostgreSQL: a REPEATABLE READ transaction. SQLite: an explicit read transaction, which
    the driver would otherwise not open for SELECTs (each would see the latest commit).
    """
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    elif not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")
    return connection


def base_figures(connection: Connection) -> dict[str, int]:
    """The warehouse's own counts and sums that the reporting views must add up to."""
    query = "SELECT " + ", ".join(f"({sql}) AS {name}" for name, sql in BASE_FIGURES.items())
    row = connection.execute(sa.text(query)).one()
    return {name: int(value) for name, value in row._mapping.items()}


def broken_promises(figures: dict[str, int], views: dict[str, list[dict]]) -> list[str]:
    """The invariants that ``views`` (rows of CHECKED_VIEWS) break against the warehouse ``figures``."""
    broken = []
    for promise, figure, view, column in INVARIANTS:
        if view is None:
            other = figures[column]
        elif column is None:
            other = len(views[view])
        else:
            other = sum(int(row[column] or 0) for row in views[view])
        if figures[figure] != other:
            broken.append(f"{promise}: {figures[figure]} != {other}")
    return broken


def read_checked_views(connection: Connection, views: tuple[str, ...] = REPORTING_VIEWS) -> dict[str, list[dict]]:
    """The rows of ``views`` (and of the views the invariants need), once each, in one snapshot,
    after checking that they add up; raises PublishError when they do not."""
    connection = begin_snapshot(connection)
    figures = base_figures(connection)
    rows = {view: view_rows(connection, view) for view in dict.fromkeys(CHECKED_VIEWS + tuple(views))}
    broken = broken_promises(figures, rows)
    if broken:
        raise PublishError("reporting views do not add up: " + "; ".join(broken))
    return {view: rows[view] for view in views}


def view_rows(connection: Connection, view: str) -> list[dict]:
    """A reporting view's rows in a stable order, as plain Python values (whole numbers as int)."""
    result = connection.execute(sa.text(f"SELECT * FROM {view} ORDER BY {ORDER_BY[view]}"))
    columns = list(result.keys())
    rows = [list(row) for row in result]
    for index in range(len(columns)):
        if any(isinstance(row[index], Decimal) for row in rows):
            for row in rows:
                row[index] = _plain(row[index])
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _plain(value: object) -> object:
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
        views = read_checked_views(connection)
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
