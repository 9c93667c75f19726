"""Rows reach the warehouse as they were: COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from etl.load import FEW_ROWS, _tuples, insert_frame, missing_as_none
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


def _round_trip(url: str, frame: pd.DataFrame) -> list[tuple]:
    """The frame's rows inserted with insert_frame and read back, in order of column n."""
    engine = create_warehouse_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE load_probe (t TEXT, i BIGINT, f DOUBLE PRECISION, b BOOLEAN, o TEXT, n INTEGER)"
            )
            insert_frame(connection, "load_probe", frame)
            read = connection.execute(sa.text("SELECT t, i, f, b, o FROM load_probe ORDER BY n"))
            return [tuple(row) for row in read]
    finally:
        engine.dispose()


def _plain(frame: pd.DataFrame) -> list[tuple]:
    """The rows as pandas itself turns them into Python values, missing as None."""
    return list(missing_as_none(frame).itertuples(index=False, name=None))


def _as_sent(frame: pd.DataFrame) -> list[tuple]:
    return _plain(frame.drop(columns="n"))


def test_every_value_arrives_as_sent(warehouse_url):
    rows = _round_trip(warehouse_url, TRICKY)
    assert rows == _as_sent(TRICKY)
    assert rows[3][0] == "\\N" and rows[7][0] is None and rows[4][0] == ""  # a text \N is not NULL, nor is ""


def test_many_rows_arrive_as_sent_too(warehouse_url):
    """Beyond FEW_ROWS the rows go another way (a CSV file) on PostgreSQL."""
    many = pd.concat([TRICKY] * (FEW_ROWS // len(TRICKY) + 1), ignore_index=True)
    many["n"] = range(len(many))
    assert len(many) > FEW_ROWS
    assert _round_trip(warehouse_url, many) == _as_sent(many)


def test_rows_become_plain_python_values():
    """What COPY and executemany are given: Python values of the same types as pandas' own conversion,
    None (not NaN or pd.NA) where a value is missing."""
    rows = _tuples(TRICKY)
    reference = _plain(TRICKY)
    assert rows == reference
    assert [tuple(map(type, row)) for row in rows] == [tuple(map(type, row)) for row in reference]
    assert rows[1][1] is None and rows[1][2] is None and rows[2][3] is None and type(rows[0][5]) is int
