"""Resolve people: one row per national ID with home province and flags, set-based SQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.faults import fault_point
from etl.pseudonym import fill_missing
from etl.warehouse import SQL_DIR

PERSON_SQL = SQL_DIR / "resolve" / "person.sql"


def resolve_people(engine: Engine, pseudonym_key: bytes) -> int:
    """Recompute the person table from all loaded records in one transaction; returns persons.

    Records loaded before pseudonyms existed get theirs first, so every person has one.
    """
    statement = PERSON_SQL.read_text(encoding="utf-8")
    with engine.begin() as connection:
        fill_missing(connection, pseudonym_key)
        connection.execute(sa.text("DELETE FROM person"))
        fault_point("during_resolve")
        connection.exec_driver_sql(statement)
        return int(connection.execute(sa.text("SELECT COUNT(*) FROM person")).scalar_one())
