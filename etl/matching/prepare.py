"""The tables Splink scores: Persian-aware comparison keys, then capped blocking keys in DuckDB.

Names are compared by :func:`etl.persian.name_key` (Arabic ي/ك as ی/ک, no ZWNJ or spaces,
hamza forms folded), birth dates also as the Jalali text a clerk typed, national IDs as digits.
Keys are computed once per distinct value in Python; the blocking keys are derived in DuckDB.
A blocking key shared by more than ``block_cap`` rows names nobody in particular (a placeholder
mobile, a very common name on a common day) and is dropped, so that no block grows with the
data and the comparisons stay near-linear in the number of persons.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from etl.dates import iso_text, jalali_text, parse_dates
from etl.distinct import map_distinct
from etl.load import missing_as_none
from etl.normalise import clean_mobile
from etl.persian import name_key, to_ascii_digits

# The version of the keys below: a change to how a row is keyed must give it a new number, so that the
# next run keys every row again (etl/resolve.py: rules_fingerprint). 2: dates read as the contract does.
KEYS_VERSION = 2
BLOCK_CAP = 50
REFUSED_BLOCK_CAP = 2000

# Blocking keys of the persons model; of the refused-row model (built on both sides).
PERSON_BLOCKS = {
    "bk_last_birth": "last_key || '|' || birth_date",
    "bk_first_father_birth": "first_key || '|' || father_key || '|' || birth_date",
    "bk_mobile": "mobile",
    "bk_names_year": "first_key || '|' || last_key || '|' || father_key || '|' || substr(birth_jalali, 1, 4)",
    "bk_names_day": "first_key || '|' || last_key || '|' || father_key || '|' || substr(birth_jalali, 6)",
}
REFUSED_BLOCKS = {
    "id_head": "substr(id_padded, 1, 5)",
    "id_tail": "substr(id_digits, -5)",
    "id_ends": "substr(id_padded, 1, 4) || substr(id_digits, -4)",
    "id_head_sent": "substr(id_digits, 1, 5)",
    "bk_last_birth": "last_key || '|' || birth_date",
}
KEY_COLUMNS = (
    "unique_id", "national_id", "province_code", "first_key", "first_given", "last_key", "father_key",
    "father_given", "birth_date", "birth_jalali", "mobile", "county_key", "id_digits", "id_padded",
)  # fmt: skip
INTEGER_COLUMNS = ("match_pass", "relink")  # an incremental match's markers (etl/matching/incremental.py)
GIVEN_NAMES = Path(__file__).resolve().parents[1] / "models" / "given_names.txt"

_NOT_DIGIT = re.compile(r"[^0-9]")
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MOBILE = re.compile(r"09[0-9]{9}")


def _values(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as an object array, None where missing (all None when there is no such column)."""
    if name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    values = frame[name].to_numpy(dtype=object)
    return np.where(pd.isna(values), None, values)


def _distinct(values: np.ndarray, func: Callable[[object], object]) -> np.ndarray:
    return map_distinct(pd.Series(values, dtype=object), func).to_numpy(dtype=object)


@cache
def given_names() -> frozenset[str]:
    """Keys of the common given names in :data:`GIVEN_NAMES`."""
    lines = GIVEN_NAMES.read_text(encoding="utf-8").splitlines()
    return frozenset(k for line in lines if not line.startswith("#") and (k := name_key(line)))


def _given(keys: np.ndarray) -> np.ndarray:
    """'1' where a name key is a common given name, None elsewhere."""
    known = given_names()
    return np.array(["1" if k in known else None for k in keys], dtype=object)


def _date_text(value: object) -> str:
    """A date or datetime as ISO text; ISO text without what follows its day; other text as it is."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text[:10] if _ISO.fullmatch(text[:10]) else text


def _mobile(value: object) -> str | None:
    text = str(value).strip()
    return text if _MOBILE.fullmatch(text) else clean_mobile(text)


def _digits(value: object) -> str | None:
    return _NOT_DIGIT.sub("", to_ascii_digits(str(value))) or None


def key_frame(frame: pd.DataFrame, ids: pd.Series | np.ndarray, *, ids_as_sent: bool) -> pd.DataFrame:
    """The comparison keys of :data:`KEY_COLUMNS`; ``ids_as_sent``: the ID may be invalid."""
    birth_days = parse_dates(pd.Series(_distinct(_values(frame, "birth_date"), _date_text), dtype=object))
    national_id = _values(frame, "national_id")
    if ids_as_sent:
        digits = _distinct(national_id, _digits)
        padded = np.array([d.zfill(10) if isinstance(d, str) and len(d) in (8, 9) else d for d in digits], dtype=object)
    else:
        digits = padded = _distinct(national_id, lambda v: str(v).strip())
    first = _distinct(_values(frame, "first_name"), name_key)
    father = _distinct(_values(frame, "father_name"), name_key)
    columns = {
        "unique_id": np.asarray(ids, dtype=object),
        "national_id": national_id if ids_as_sent else digits,
        "province_code": _values(frame, "province_code"),
        "first_key": first,
        "first_given": _given(first),
        "last_key": _distinct(_values(frame, "last_name"), name_key),
        "father_key": father,
        "father_given": _given(father),
        "birth_date": iso_text(birth_days),
        "birth_jalali": jalali_text(birth_days),
        "mobile": _distinct(_values(frame, "mobile"), _mobile),
        "county_key": _distinct(_values(frame, "county"), name_key),
        "id_digits": digits,
        "id_padded": padded,
    }
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})


def persons_keys(persons: pd.DataFrame) -> pd.DataFrame:
    """Keys of identity rows, ``unique_id`` = ``record_id`` (or national ID and a rank)."""
    for required in ("national_id", "first_name", "last_name"):
        if required not in persons.columns:
            raise ValueError(f"persons has no {required} column")
    if "record_id" in persons.columns:
        ids = persons["record_id"].astype(str).to_numpy(dtype=object)
    else:
        rank = persons.groupby("national_id").cumcount().astype(str)
        ids = (persons["national_id"].astype(str) + "#" + rank).to_numpy(dtype=object)
    if pd.Series(ids).duplicated().any():
        raise ValueError("persons: record_id must be unique")
    return key_frame(persons, ids, ids_as_sent=False)


def refused_keys(refused: pd.DataFrame) -> pd.DataFrame:
    """Keys of refused rows, ``unique_id`` = ``refused_id`` (or ``file_id:line_number``)."""
    if "refused_id" in refused.columns:
        ids = refused["refused_id"].astype(str)
    elif len(refused):
        ids = refused["file_id"].astype(str) + ":" + refused["line_number"].astype(str)
    else:
        ids = pd.Series([], dtype=object)
    if ids.duplicated().any():
        raise ValueError("refused: refused_id (or file_id and line_number) must be unique")
    return key_frame(refused, ids.to_numpy(dtype=object), ids_as_sent=True)


def with_blocking_keys(keys: pd.DataFrame, blocks: dict[str, str]) -> pd.DataFrame:
    """The key frame with its blocking keys as they are before any cap (DuckDB derives them, as in
    :func:`load_table`); missing values are None."""
    con = duckdb.connect()
    try:
        con.register("keys_view", keys)
        casts = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in keys.columns)
        derived = ", ".join(f"{sql} AS {key}" for key, sql in blocks.items())
        frame = con.execute(f"WITH keyed AS (SELECT {casts} FROM keys_view) SELECT *, {derived} FROM keyed").df()
    finally:
        con.close()
    return missing_as_none(frame)


def load_blocked(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, columns: list[str]) -> str:
    """Copy a frame whose blocking keys are already capped into DuckDB table ``name`` (text columns,
    the :data:`INTEGER_COLUMNS` as integers); returns ``name``."""
    con.register(f"{name}_rows", missing_as_none(frame))
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {typed(columns)} FROM {name}_rows ORDER BY unique_id")
    con.unregister(f"{name}_rows")
    return name


def typed(columns: list[str]) -> str:
    """SELECT list: the columns as text, the :data:`INTEGER_COLUMNS` as integers."""
    return ", ".join(f"CAST({c} AS {'BIGINT' if c in INTEGER_COLUMNS else 'VARCHAR'}) AS {c}" for c in columns)


def capped_keys(blocks: dict[str, str], cap: int) -> str:
    """SELECT list: each blocking key, NULL where more than ``cap`` rows share it."""
    return ", ".join(f"CASE WHEN count(*) OVER (PARTITION BY {key}) <= {cap} THEN {key} END AS {key}" for key in blocks)


def load_table(
    con: duckdb.DuckDBPyConnection, name: str, keys: pd.DataFrame, *, persons: bool, block_cap: int = BLOCK_CAP
) -> str:
    """Copy a key frame into DuckDB table ``name`` with its blocking keys; returns ``name``."""
    con.register(f"{name}_keys", keys)
    blocks = {**(PERSON_BLOCKS if persons else {}), **REFUSED_BLOCKS}
    derived = ", ".join(f"{sql} AS {key}" for key, sql in blocks.items())
    refused_caps = {k: v for k, v in REFUSED_BLOCKS.items() if not persons or k not in PERSON_BLOCKS}
    select = ", ".join(KEY_COLUMNS)
    caps = capped_keys(PERSON_BLOCKS, block_cap) + ", " if persons else ""
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {name} AS
        WITH keyed AS (SELECT {", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in KEY_COLUMNS)} FROM {name}_keys),
        blocked AS (SELECT *, {derived} FROM keyed)
        SELECT {select}, {caps}{capped_keys(refused_caps, REFUSED_BLOCK_CAP)}
        FROM blocked
        ORDER BY unique_id
        """
    )
    con.unregister(f"{name}_keys")
    return name
