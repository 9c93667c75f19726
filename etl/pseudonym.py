"""Stable pseudonyms for persons: a keyed hash (HMAC-SHA256) of the national ID.

The key is configuration (``MASHAGHEL_PSEUDONYM_KEY``, the Airflow Variable
``mashaghel_pseudonym_key``, or a key file), never stored in the warehouse. The
warehouse keeps only the key's fingerprint, so that a run with a different key
stops instead of mixing pseudonyms of two keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.distinct import map_distinct

log = logging.getLogger("mashaghel")

PSEUDONYM_PREFIX = "p-"
PSEUDONYM_HEX_DIGITS = 20  # 80 bits: no collision expected among 10^8 persons
_FINGERPRINT_MESSAGE = b"mashaghel pseudonym key fingerprint"


class PseudonymKeyError(RuntimeError):
    """The configured key is missing, malformed, or not the one the warehouse was built with."""


def key_bytes(key: str | None, key_file: Path) -> bytes:
    """The key: ``key`` if given, else the key file, created with a random key on first use."""
    if key:
        return _checked(key.strip(), "MASHAGHEL_PSEUDONYM_KEY")
    return _key_from_file(key_file.resolve())


@lru_cache(maxsize=8)
def _key_from_file(path: Path) -> bytes:
    if not path.exists():
        _create_key_file(path)
    return _checked(path.read_text(encoding="ascii").strip(), str(path))


def _create_key_file(path: Path) -> None:
    """Write a random key, atomically: concurrent first runs all end with the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    try:
        os.link(temporary, path)  # fails if another process linked its key first: keep that one
        log.warning("no pseudonym key configured: created %s; keep it with the warehouse's backups", path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def _checked(text: str, origin: str) -> bytes:
    if len(text) < 32:
        raise PseudonymKeyError(f"the pseudonym key in {origin} must be at least 32 characters")
    return text.encode("utf-8")


def fingerprint(key: bytes) -> str:
    """A short public fingerprint of the key: tells keys apart without revealing them."""
    return hmac.new(key, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


def pseudonym(key: bytes, national_id: str) -> str:
    """The person's pseudonym, e.g. ``p-3f0c…``: the same national ID always gives the same one."""
    digest = hmac.digest(key, national_id.encode("ascii"), "sha256").hex()  # the one-shot C path
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_DIGITS]


def pseudonym_series(key: bytes, national_ids: pd.Series) -> pd.Series:
    """Pseudonyms of a column of valid national IDs, each distinct ID hashed once."""
    return map_distinct(national_ids, lambda value: pseudonym(key, value))


PSEUDONYMISED_TABLES = ("registration", "loan", "training_enrollment", "person")


def check_key(engine: Engine, key: bytes) -> None:
    """Remember the key's fingerprint on first use; refuse a key other than the one the warehouse uses."""
    mine = fingerprint(key)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO pseudonym_key (id, fingerprint, since) VALUES (1, :f, :t) ON CONFLICT (id) DO NOTHING"
            ),
            {"f": mine, "t": dt.datetime.now(dt.UTC)},
        )
        theirs = connection.execute(sa.text("SELECT fingerprint FROM pseudonym_key WHERE id = 1")).scalar_one()
    if theirs != mine:
        raise PseudonymKeyError(
            f"the pseudonym key configured here (fingerprint {mine}) is not the one this warehouse uses"
            f" (fingerprint {theirs}): set MASHAGHEL_PSEUDONYM_KEY to the warehouse's key, or run"
            " `python -m etl rekey` to recompute every pseudonym with the new one"
        )


def fill_missing(connection: Connection, key: bytes) -> int:
    """Give every record and person still without one its pseudonym (each ID hashed once); returns IDs hashed.

    Only rows with a NULL pseudonym are read (a partial index finds them), so the
    cost grows with the rows loaded before pseudonyms existed or since a rekey.
    """
    missing = pd.Series(
        sorted(
            {
                national_id
                for table in PSEUDONYMISED_TABLES
                for (national_id,) in connection.execute(
                    sa.text(f"SELECT DISTINCT national_id FROM {table} WHERE person_pseudonym IS NULL")
                )
            }
        ),
        dtype=object,
    )
    if missing.empty:
        return 0
    pairs = pd.DataFrame({"national_id": missing, "person_pseudonym": pseudonym_series(key, missing)})
    connection.exec_driver_sql(
        "CREATE TEMPORARY TABLE pseudonym_fill (national_id VARCHAR(10) PRIMARY KEY, person_pseudonym VARCHAR(32))"
    )
    try:
        connection.execute(
            sa.text("INSERT INTO pseudonym_fill VALUES (:national_id, :person_pseudonym)"), pairs.to_dict("records")
        )
        for table in PSEUDONYMISED_TABLES:
            connection.exec_driver_sql(
                f"UPDATE {table} SET person_pseudonym = pseudonym_fill.person_pseudonym FROM pseudonym_fill"
                f" WHERE {table}.person_pseudonym IS NULL AND {table}.national_id = pseudonym_fill.national_id"
            )
    finally:
        connection.exec_driver_sql("DROP TABLE pseudonym_fill")
    return len(pairs)


def rekey(engine: Engine, key: bytes) -> int:
    """Recompute every pseudonym with ``key`` and make it the warehouse's key, in one transaction."""
    with engine.begin() as connection:
        for table in PSEUDONYMISED_TABLES:
            connection.exec_driver_sql(f"UPDATE {table} SET person_pseudonym = NULL")
        hashed = fill_missing(connection, key)
        connection.execute(sa.text("DELETE FROM pseudonym_key"))
        connection.execute(
            sa.text("INSERT INTO pseudonym_key (id, fingerprint, since) VALUES (1, :f, :t)"),
            {"f": fingerprint(key), "t": dt.datetime.now(dt.UTC)},
        )
    return hashed
