"""Load one file in one transaction: its manifest row, its upserted records, its refused rows.

On PostgreSQL rows go in with COPY through a temporary staging table and are
upserted from there; on SQLite with executemany. A key sent again replaces the
earlier version only when it comes from a file seen later (``file_seq``), so
files loaded out of order still end with the latest version.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.contract import Source
from etl.pseudonym import pseudonym_series


@dataclass(frozen=True)
class TableSpec:
    """How a source's normalised rows map to its warehouse table."""

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]


def _dates(*names: str) -> tuple[str, ...]:
    return tuple(part for name in names for part in (name, f"{name}_jalali_year", f"{name}_jalali_month"))


COPY_BLOCK = 1 << 20  # bytes of CSV sent to COPY at a time
FEW_ROWS = 2_000  # up to this many rows are sent to COPY as Python values rather than as a CSV file
LINEAGE = ("extra", "file_id", "file_seq", "line_number")
TABLES: dict[str, TableSpec] = {
    "applicants": TableSpec(
        table="registration",
        key=("province_code", "application_key"),
        columns=(
            "province_code",
            "application_key",
            "application_id",
            "national_id",
            "person_pseudonym",
            "first_name",
            "last_name",
            "father_name",
            "gender",
            *_dates("birth_date"),
            "mobile",
            "county",
            "business_category",
            *_dates("registered_at"),
            "supporter_id",
            *LINEAGE,
        ),
    ),
    "loans": TableSpec(
        table="loan",
        key=("bank_key", "loan_key"),
        columns=(
            "bank_key",
            "loan_key",
            "bank",
            "loan_id",
            "province_code",
            "national_id",
            "person_pseudonym",
            "first_name",
            "last_name",
            "loan_type",
            "amount_rial",
            *_dates("approved_at", "disbursed_at", "loan_date"),
            "status",
            *LINEAGE,
        ),
    ),
    "training": TableSpec(
        table="training_enrollment",
        key=("province_code", "enrollment_key"),
        columns=(
            "province_code",
            "enrollment_key",
            "enrollment_id",
            "national_id",
            "person_pseudonym",
            "first_name",
            "last_name",
            "course_title",
            "course_type",
            "provider",
            "hours",
            *_dates("start_date", "end_date"),
            "completed",
            *LINEAGE,
        ),
    ),
}


def records_frame(
    accepted: pd.DataFrame,
    source: Source,
    province_code: str,
    file_id: int,
    file_seq: int,
    extra: pd.Series,
    pseudonym_key: bytes,
) -> pd.DataFrame:
    """The accepted rows shaped as the source's table, in its column order, with person pseudonyms."""
    spec = TABLES[source.name]
    rows = accepted.copy()
    rows["province_code"] = province_code
    rows["person_pseudonym"] = pseudonym_series(pseudonym_key, rows["national_id"])
    rows["extra"] = extra.reindex(rows.index)
    rows["file_id"] = file_id
    rows["file_seq"] = file_seq
    rows["line_number"] = rows["_line"]
    if source.name == "applicants":
        rows["application_key"] = rows["application_id__key"]
    elif source.name == "loans":
        rows["bank_key"] = rows["bank__key"]
        rows["loan_key"] = rows["loan_id__key"]
        approved = rows["approved_at"].notna()
        for part in ("", "_jalali_year", "_jalali_month"):
            rows[f"loan_date{part}"] = rows[f"approved_at{part}"].where(approved, rows[f"disbursed_at{part}"])
    else:
        rows["enrollment_key"] = rows["enrollment_id__key"]
        rows["completed"] = rows["completed"] == "yes"
    return rows[list(spec.columns)]


def insert_manifest(connection: Connection, manifest: dict) -> int:
    """Insert the file's manifest row and return its file_id."""
    columns = list(manifest)
    statement = sa.text(
        f"INSERT INTO ingest_file ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
        " RETURNING file_id"
    )
    return int(connection.execute(statement, manifest).scalar_one())


def missing_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as Python objects with every missing value (NaN, NA, NaT) as None, which drivers and
    DuckDB read as NULL."""
    return frame.astype(object).where(frame.notna(), None)


def _tuples(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples of plain Python values, missing values as None (built column by column: a
    third of the time of ``missing_as_none(frame).itertuples()``)."""
    columns = []
    for name in frame.columns:
        column = frame[name]
        values = column.to_numpy(dtype=object)
        missing = column.isna().to_numpy()
        columns.append(np.where(missing, None, values) if missing.any() else values)
    return list(zip(*columns, strict=True))


def _copy_frame(connection: Connection, table: str, frame: pd.DataFrame) -> None:
    """COPY a frame into a table on PostgreSQL; a missing value is NULL, any text (even ``\\N``) stays text.

    A few rows go as Python values (psycopg adapts each); more go as CSV that DuckDB writes, about
    twice as fast as pandas (which also wrote a text ``\\N`` bare, for PostgreSQL to read as NULL).
    """
    cursor = connection.connection.driver_connection.cursor()
    columns = ", ".join(frame.columns)
    if len(frame) <= FEW_ROWS:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in _tuples(frame):
                copy.write_row(row)
        return
    with tempfile.TemporaryDirectory(prefix="mashaghel-copy-") as folder:
        path = Path(folder) / "rows.csv"
        with _csv_writer().cursor() as duck:
            duck.from_df(frame).write_csv(str(path), header=False, na_rep="\\N")
        with (
            path.open("rb") as written,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy,
        ):
            while block := written.read(COPY_BLOCK):
                copy.write(block)


@cache
def _csv_writer():
    """An in-memory DuckDB connection that turns frames into CSV (a cursor of it per use: thread-safe)."""
    import duckdb

    return duckdb.connect()


def insert_frame(connection: Connection, table: str, frame: pd.DataFrame) -> None:
    """Append a frame's rows to ``table`` (its columns by name): COPY on PostgreSQL, executemany on SQLite."""
    if frame.empty:
        return
    if connection.dialect.name == "postgresql":
        _copy_frame(connection, table, frame)
        return
    marks = ", ".join("?" for _ in frame.columns)
    connection.exec_driver_sql(f"INSERT INTO {table} ({', '.join(frame.columns)}) VALUES ({marks})", _tuples(frame))


def _upsert_sql(spec: TableSpec, values: str) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in spec.columns if c not in spec.key)
    return (
        f"INSERT INTO {spec.table} ({', '.join(spec.columns)}) {values}"
        f" ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET {updates}"
        f" WHERE {spec.table}.file_seq <= excluded.file_seq"
    )


def _copy_new_keys(connection: Connection, spec: TableSpec, records: pd.DataFrame) -> bool:
    """On PostgreSQL, COPY the rows straight into their table when none of their keys is there yet
    (a national first load, a day's new registrations); returns whether it did.

    The primary key decides: at the first key already there, the COPY fails, is rolled back to a
    savepoint, and the caller upserts the rows instead. Rows that all insert are what the upsert
    would have written, without its staging table, its conflict checks or its lookup of the rows
    replaced (there are none); their national IDs are pending.
    """
    savepoint = connection.begin_nested()
    try:
        _copy_frame(connection, spec.table, records)
    except psycopg_errors().UniqueViolation:
        savepoint.rollback()
        return False
    savepoint.commit()
    pending = pd.DataFrame({"national_id": records["national_id"].drop_duplicates().to_numpy()})
    insert_frame(connection, "person_pending", pending)
    return True


@cache
def psycopg_errors():
    """psycopg's error classes (imported on first use: SQLite needs no driver of PostgreSQL)."""
    from psycopg import errors

    return errors


def upsert_records(connection: Connection, source: Source, records: pd.DataFrame) -> None:
    """Insert new keys and replace older versions of known ones; mark their persons pending.

    The national IDs of the incoming rows, and the other IDs of the rows they replace,
    are appended to ``person_pending``, so that the resolve stage recomputes only those persons.
    """
    if records.empty:
        return
    spec = TABLES[source.name]
    if connection.dialect.name == "postgresql":
        if _copy_new_keys(connection, spec, records):
            return
        staging = f"stage_{spec.table}"
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE {spec.table} INCLUDING DEFAULTS)"
            " ON COMMIT DELETE ROWS"
        )
        connection.exec_driver_sql(f"TRUNCATE {staging}")  # a file loaded in chunks comes here once per chunk
        _copy_frame(connection, staging, records)
        same_key = " AND ".join(f"t.{column} = s.{column}" for column in spec.key)
        # The rows replaced, looked up by key one by one (LIMIT keeps the lookup from being turned into a
        # join that reads the whole table): the cost follows the file, not the warehouse.
        connection.exec_driver_sql(
            f"INSERT INTO person_pending (national_id) SELECT DISTINCT national_id FROM {staging}"
            f" UNION ALL SELECT replaced.national_id FROM {staging} AS s CROSS JOIN LATERAL"
            f" (SELECT t.national_id FROM {spec.table} AS t WHERE {same_key} LIMIT 1) AS replaced"
            " WHERE replaced.national_id <> s.national_id"
        )
        connection.exec_driver_sql(_upsert_sql(spec, f"SELECT {', '.join(spec.columns)} FROM {staging}"))
    else:
        same_key = " AND ".join(f"{column} = ?" for column in spec.key)
        connection.exec_driver_sql(
            f"INSERT INTO person_pending (national_id) SELECT national_id FROM {spec.table}"
            f" WHERE {same_key} AND national_id <> ?",
            _tuples(records[[*spec.key, "national_id"]]),
        )
        connection.exec_driver_sql(
            "INSERT INTO person_pending (national_id) VALUES (?)",
            [(national_id,) for national_id in records["national_id"].unique()],
        )
        placeholders = ", ".join("?" for _ in spec.columns)
        connection.exec_driver_sql(_upsert_sql(spec, f"VALUES ({placeholders})"), _tuples(records))


def insert_rejected(connection: Connection, file_id: int, rejected: pd.DataFrame) -> None:
    """Keep every refused row: the row as sent, its line number and its reason codes.

    ``rejected`` has columns ``line_number``, ``reasons`` (list) and ``raw`` (JSON list).
    """
    if rejected.empty:
        return
    rows = pd.DataFrame(
        {
            "file_id": file_id,
            "line_number": rejected["line_number"].astype("int64"),
            "reasons": rejected["reasons"].map(";".join),
            "raw": rejected["raw"],
        }
    )
    reasons = rows[["file_id", "line_number"]].assign(reason=rejected["reasons"]).explode("reason")
    insert_frame(connection, "rejected_row", rows)
    insert_frame(connection, "rejected_row_reason", reasons)


def rejected_rows_of_file(connection: Connection, file_id: int) -> list[tuple[int, list[str], list[str]]]:
    """(line, cells as sent, reasons) of a loaded file's refused rows, by line."""
    result = connection.execute(
        sa.text("SELECT line_number, raw, reasons FROM rejected_row WHERE file_id = :f ORDER BY line_number"),
        {"f": file_id},
    )
    return [(int(line), json.loads(raw), reasons.split(";")) for line, raw, reasons in result]
