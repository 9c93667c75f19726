"""Rows reach the warehouse as they were: COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from etl.load import FEW_ROWS, insert_frame
from etl.warehouse import create_warehouse_engine

TRICKY = pd.DataFrame(
    {
        "t": pd.array(
            ["a,b", 'say "hi"', "line1\nline2", "\\N", "", "  padded ", "سلام، دنیا", None, "x\r\ny", "\\"],
            dtype="string",
        ),
        "i": pd.array([1, None, 3, 4, 5, 6, 7, 8, 9, 2**62], dtype="Int64"),
        "f": pd.array([1.5, None, 70.0, 1e20, 0.1, 2, 3, 4, 5, 6], dtype="Float64"),
        "b": pd.array([True, False, None, True, False, True, False, True, False, True], dtype="boolean"),
        "o": [f"p-{n}" if n % 3 else None for n in range(10)],
        "n": range(10),
    }
)


def test_every_value_arrives_as_sent(warehouse_url):
    engine = create_warehouse_engine(warehouse_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE load_probe (t TEXT, i BIGINT, f DOUBLE PRECISION, b BOOLEAN, o TEXT, n INTEGER)"
            )
            insert_frame(connection, "load_probe", TRICKY)
            rows = connection.execute(sa.text("SELECT t, i, f, b, o FROM load_probe ORDER BY n")).all()
    finally:
        engine.dispose()
    expected = TRICKY.drop(columns="n").astype(object).where(TRICKY.notna(), None)
    assert [tuple(row) for row in rows] == list(expected.itertuples(index=False, name=None))
    assert rows[3][0] == "\\N" and rows[7][0] is None and rows[4][0] == ""  # a text \N is not NULL, nor is ""


def test_many_rows_arrive_as_sent_too(warehouse_url):
    """Beyond FEW_ROWS the rows go another way (a CSV file) on PostgreSQL."""
    many = pd.concat([TRICKY] * (FEW_ROWS // len(TRICKY) + 1), ignore_index=True)
    many["n"] = range(len(many))
    engine = create_warehouse_engine(warehouse_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE load_probe (t TEXT, i BIGINT, f DOUBLE PRECISION, b BOOLEAN, o TEXT, n INTEGER)"
            )
            insert_frame(connection, "load_probe", many)
            rows = connection.execute(sa.text("SELECT t, i, f, b, o FROM load_probe ORDER BY n")).all()
    finally:
        engine.dispose()
    expected = many.drop(columns="n").astype(object).where(many.notna(), None)
    assert len(many) > FEW_ROWS
    assert [tuple(row) for row in rows] == list(expected.itertuples(index=False, name=None))
