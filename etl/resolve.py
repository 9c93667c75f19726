"""Resolve people: one row per national ID with home province and flags, set-based SQL.

Only the persons whose records changed are recomputed: each file's transaction
puts the national IDs it touched in ``person_pending`` (etl/load.py), and a
resolve recomputes those persons and empties it, so its cost grows with the
new data, not with the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.claims import lock_table
from etl.faults import fault_point
from etl.pseudonym import fill_missing
from etl.warehouse import SQL_DIR

PERSON_SQL = SQL_DIR / "resolve" / "person.sql"


@dataclass(frozen=True)
class Resolved:
    """What a resolve did: persons in the warehouse after it, and person rows it recomputed."""

    persons: int
    recomputed: int


def resolve_people(engine: Engine, pseudonym_key: bytes) -> Resolved:
    """Recompute the pending persons in one transaction (a person left with no record goes).

    Loads wait for it (the pending table is locked), so no national ID is marked
    pending while its person is being recomputed and then forgotten. Records
    loaded before pseudonyms existed get theirs first, so every person has one.
    """
    statement = PERSON_SQL.read_text(encoding="utf-8")
    with engine.begin() as connection:
        lock_table(connection, "person_pending")
        fill_missing(connection, pseudonym_key)
        recomputed = int(connection.execute(sa.text("SELECT COUNT(*) FROM person_pending")).scalar_one())
        if recomputed:
            connection.exec_driver_sql(
                "DELETE FROM person WHERE national_id IN (SELECT national_id FROM person_pending)")
            fault_point("during_resolve")
            connection.exec_driver_sql(statement)
            connection.exec_driver_sql("DELETE FROM person_pending")
        persons = int(connection.execute(sa.text("SELECT COUNT(*) FROM person")).scalar_one())
    return Resolved(persons=persons, recomputed=recomputed)
