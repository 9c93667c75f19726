"""Resolve people: one row per national ID with home province and flags, set-based SQL.

Only the persons whose records changed are recomputed: each file's transaction
puts the national IDs it touched in ``person_pending`` (etl/load.py), and a
resolve recomputes those persons and empties it, so its cost grows with the
new data, not with the warehouse.
"""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.claims import lock_table
from etl.faults import fault_point
from etl.pseudonym import fill_missing
from etl.warehouse import SQL_DIR, empty_queue, indexes_built_after, rewrites_most

PERSON_SQL = SQL_DIR / "resolve" / "person.sql"
MODELS_DIR = Path(__file__).resolve().parent / "models"


def rules_fingerprint(match_threshold: float | None, match_max_cluster: int | None) -> str:
    """What people, flags and matches are computed by: the person SQL, the matching model files, the
    version of the matching keys and the settings.

    A publish under other rules than the last one recomputes everyone.
    """
    from etl.matching.prepare import KEYS_VERSION

    digest = hashlib.sha256(PERSON_SQL.read_bytes())
    digest.update(f"keys {KEYS_VERSION}".encode())
    for path in sorted(MODELS_DIR.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(f"{match_threshold}|{match_max_cluster}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Resolved:
    """What a resolve did: persons in the warehouse after it, and person rows it recomputed."""

    persons: int
    recomputed: int


def resolve_people(engine: Engine, pseudonym_key: bytes, everyone: bool = False) -> Resolved:
    """Recompute the pending persons (``everyone``: all) in one transaction; a person left with no record goes.

    Loads wait for it (the pending table is locked), so no national ID is marked
    pending while its person is being recomputed and then forgotten. Records
    loaded before pseudonyms existed get theirs first, so every person has one.
    The recomputed IDs are handed to the matching stage (``match_pending``).
    """
    statement = PERSON_SQL.read_text(encoding="utf-8")
    with engine.begin() as connection:
        lock_table(connection, "person_pending")
        fill_missing(connection, pseudonym_key)
        if everyone:
            connection.exec_driver_sql(
                "INSERT INTO person_pending (national_id)"
                " SELECT national_id FROM person UNION SELECT national_id FROM registration"
                " UNION SELECT national_id FROM loan UNION SELECT national_id FROM training_enrollment"
            )
            # The refused rows are keyed again too (keyed once otherwise), and then linked against everyone.
            connection.exec_driver_sql("DELETE FROM match_refused")
        recomputed = _resolving(connection)
        if recomputed:
            # Most persons recomputed (a national first run, new rules): their indexes are built afterwards.
            most = rewrites_most(recomputed, lambda: _persons(connection))
            with indexes_built_after(connection, "person") if most else nullcontext():
                connection.exec_driver_sql(
                    "DELETE FROM person WHERE national_id IN (SELECT national_id FROM person_resolving)"
                )
                fault_point("during_resolve")
                connection.exec_driver_sql(statement)
            connection.exec_driver_sql(
                "INSERT INTO match_pending (national_id) SELECT national_id FROM person_resolving"
            )
            empty_queue(connection, "person_pending")
        if connection.dialect.name != "postgresql":
            connection.exec_driver_sql("DROP TABLE temp.person_resolving")
        persons = _persons(connection)
    return Resolved(persons=persons, recomputed=recomputed)


def _persons(connection: Connection) -> int:
    return int(connection.execute(sa.text("SELECT COUNT(*) FROM person")).scalar_one())


def _resolving(connection: Connection) -> int:
    """Copy the pending IDs, each once, into the temporary table ``person_resolving``; returns how many.

    The log repeats an ID for every file that touched it: filtering person.sql by a table with a key
    and statistics (ANALYZE on PostgreSQL) lets the planner join rather than scan the log per record.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE person_resolving (national_id VARCHAR(10) PRIMARY KEY) ON COMMIT DROP"
        )
    else:
        connection.exec_driver_sql("DROP TABLE IF EXISTS temp.person_resolving")
        connection.exec_driver_sql("CREATE TEMPORARY TABLE person_resolving (national_id VARCHAR(10) PRIMARY KEY)")
    connection.exec_driver_sql(
        "INSERT INTO person_resolving (national_id) SELECT DISTINCT national_id FROM person_pending"
    )
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ANALYZE person_resolving")
    return int(connection.execute(sa.text("SELECT COUNT(*) FROM person_resolving")).scalar_one())
