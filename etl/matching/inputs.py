"""Matching input read from the warehouse with set-based SQL (SQLite and PostgreSQL alike).

Table names are unqualified: PostgreSQL finds them through the warehouse's search_path.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl import reasons
from etl.contract import SOURCES, contract
from etl.load import missing_as_none
from etl.persian import normalise_text

# One row per national ID and distinct identity (names and birth date) on its registrations, the
# earliest registration's province, county and mobile; for a person with no registration, the
# name on their earliest loan, else training (contract section 4 order), without other details.
# {only}: nothing, or a condition on national_id that limits the rows to some persons. Identities of one
# national ID are ranked by their names and birth date in code-point order ({collate}: "C" on PostgreSQL).
IDENTITY_ROWS_SQL = """
WITH registered AS (
    SELECT
        national_id, first_name, last_name, father_name, gender, birth_date, mobile, county, province_code,
        ROW_NUMBER() OVER (
            PARTITION BY national_id, first_name, last_name, father_name, birth_date
            ORDER BY CASE WHEN registered_at IS NULL THEN 1 ELSE 0 END, registered_at, province_code,
                     application_key
        ) AS position
    FROM registration
    {only}
),
named AS (
    SELECT national_id, first_name, last_name, province_code, 2 AS source_rank, loan_date AS record_date
    FROM loan
    {only}
    UNION ALL
    SELECT national_id, first_name, last_name, province_code, 3 AS source_rank, start_date AS record_date
    FROM training_enrollment
    {only}
),
unregistered AS (
    SELECT
        national_id, first_name, last_name, province_code,
        ROW_NUMBER() OVER (
            PARTITION BY national_id
            ORDER BY source_rank, CASE WHEN record_date IS NULL THEN 1 ELSE 0 END, record_date, province_code
        ) AS position
    FROM named
    WHERE first_name IS NOT NULL AND last_name IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM registration r WHERE r.national_id = named.national_id)
)
SELECT
    national_id, first_name, last_name, father_name, gender, birth_date, mobile, county, province_code,
    ROW_NUMBER() OVER (
        PARTITION BY national_id
        ORDER BY first_name{collate} NULLS LAST, last_name{collate} NULLS LAST, father_name{collate} NULLS LAST,
                 birth_date NULLS LAST
    ) - 1 AS identity_rank
FROM (
    SELECT national_id, first_name, last_name, father_name, gender, birth_date, mobile, county, province_code
    FROM registered
    WHERE position = 1
    UNION ALL
    SELECT national_id, first_name, last_name, CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS DATE),
           CAST(NULL AS TEXT), CAST(NULL AS TEXT), province_code
    FROM unregistered
    WHERE position = 1
) AS identities
"""

# Rows refused for invalid_national_id and for nothing else, with their file's folder and header.
REFUSED_ROWS_SQL = """
SELECT rr.file_id, rr.line_number, f.province_code, f.source, f.file_name, f.header, rr.raw
FROM rejected_row rr
JOIN ingest_file f ON f.file_id = rr.file_id
WHERE EXISTS (
    SELECT 1 FROM rejected_row_reason x
    WHERE x.file_id = rr.file_id AND x.line_number = rr.line_number AND x.reason = :reason
)
AND NOT EXISTS (
    SELECT 1 FROM rejected_row_reason x
    WHERE x.file_id = rr.file_id AND x.line_number = rr.line_number AND x.reason <> :reason
)
{only}
ORDER BY rr.file_id, rr.line_number
"""

REFUSED_FIELDS = ("national_id", "first_name", "last_name", "father_name", "birth_date", "mobile", "county")


def query_frame(connection: Connection, sql: str, **params: object) -> pd.DataFrame:
    """The query's rows; on PostgreSQL (no parameters) through COPY, as text: dates come as ISO text."""
    if connection.dialect.name == "postgresql" and not params:
        with tempfile.TemporaryFile() as buffer:
            copy_csv(connection, sql, buffer)
            return missing_as_none(pd.read_csv(buffer, **CSV_OPTIONS))
    result = connection.execute(sa.text(sql), params)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def query_chunks(connection: Connection, sql: str, rows: int) -> Iterator[pd.DataFrame]:
    """The query's rows, at most ``rows`` at a time (on PostgreSQL through COPY into a temporary file)."""
    if connection.dialect.name == "postgresql":
        with tempfile.TemporaryFile() as buffer:
            copy_csv(connection, sql, buffer)
            with pd.read_csv(buffer, chunksize=rows, **CSV_OPTIONS) as reader:
                for chunk in reader:
                    yield missing_as_none(chunk)
        return
    result = connection.execute(sa.text(sql))
    columns = list(result.keys())
    while batch := result.fetchmany(rows):
        yield pd.DataFrame(batch, columns=columns)


CSV_OPTIONS = {"dtype": str, "na_values": ["\\N"], "keep_default_na": False, "encoding": "utf-8"}


def copy_csv(connection: Connection, sql: str, target: BinaryIO) -> None:
    """Write the query's rows to ``target`` as CSV with a header, NULL as \\N (PostgreSQL), and rewind it."""
    with connection.connection.driver_connection.cursor().copy(
        f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER, NULL '\\N')"
    ) as copy:
        for block in copy:
            target.write(block)
    target.seek(0)


def _identity_sql(connection: Connection, only: str) -> str:
    collate = ' COLLATE "C"' if connection.dialect.name == "postgresql" else ""
    return IDENTITY_ROWS_SQL.format(only=f"WHERE {only}" if only else "", collate=collate)


def _with_record_id(frame: pd.DataFrame) -> pd.DataFrame:
    rank = frame.pop("identity_rank").astype(str)
    frame.insert(0, "record_id", frame["national_id"] + "#" + rank)
    return frame


def identity_rows(connection: Connection, only: str = "") -> pd.DataFrame:
    """Identity rows for :func:`etl.match.find_suspected_duplicates`: one per national ID and
    distinct identity, ``record_id`` = national ID, ``#`` and the identity's rank.

    ``only``: a condition on ``national_id`` (``"national_id IN (SELECT ...)"``) that limits the
    rows to those persons; a person's rows and ranks are the same either way.
    """
    frame = query_frame(connection, _identity_sql(connection, only) + " ORDER BY national_id, identity_rank")
    return _with_record_id(frame)


def identity_chunks(connection: Connection, only: str = "", rows: int = 200_000) -> Iterator[pd.DataFrame]:
    """:func:`identity_rows` at most ``rows`` at a time, from one query."""
    for chunk in query_chunks(connection, _identity_sql(connection, only), rows):
        yield _with_record_id(chunk)


def refused_rows(connection: Connection, only: str = "") -> pd.DataFrame:
    """Rows refused only for ``invalid_national_id``, their cells mapped to canonical columns.

    Values are as sent, apart from text normalisation of names (the matcher builds its own keys).
    ``only``: a further condition on ``rr`` (the ``rejected_row``).
    """
    frame = query_frame(
        connection, REFUSED_ROWS_SQL.format(only=f"AND {only}" if only else ""), reason=reasons.INVALID_NATIONAL_ID
    )
    records = []
    for row in frame.itertuples(index=False):
        if row.source not in SOURCES:
            continue
        source = contract()[row.source]
        header = json.loads(row.header or "[]")
        cells = json.loads(row.raw)
        values: dict[str, object] = {}
        for name, cell in zip(header, cells, strict=False):
            canonical = source.canonical_name(name)
            if canonical in REFUSED_FIELDS and canonical not in values:
                values[canonical] = None if cell is None else normalise_text(str(cell))
        records.append(
            {
                "refused_id": f"{row.file_id}:{row.line_number}",
                "file_id": int(row.file_id),
                "line_number": int(row.line_number),
                "province_code": row.province_code,
                "source": row.source,
                "file_name": row.file_name,
                **{name: values.get(name) for name in REFUSED_FIELDS},
            }
        )
    columns = ["refused_id", "file_id", "line_number", "province_code", "source", "file_name", *REFUSED_FIELDS]
    return pd.DataFrame(records, columns=columns)


def read_match_inputs(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(identity rows, refused rows) from the warehouse, read in one transaction."""
    with engine.connect() as connection:
        return identity_rows(connection), refused_rows(connection)
