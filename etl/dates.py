"""Dates as provinces write them: Jalali (Solar Hijri) or Gregorian, one separator.

A year from 1300 to 1499 is Jalali, from 1900 to 2100 Gregorian; anything else,
two-digit years included, is not a date. The Gregorian date is stored together
with the Jalali year and month.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

import jdatetime
import pandas as pd

from etl.distinct import map_distinct, passes_distinct
from etl.persian import to_ascii_digits

_DATE = re.compile(r"([0-9]{4})([/.\-])([0-9]{1,2})\2([0-9]{1,2})")
_TIME_SUFFIX = re.compile(r"\s+[0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(\s*[AaPp][Mm])?$")


@lru_cache(maxsize=1 << 16)
def parse_date(value: str | None) -> dt.date | None:
    """The Gregorian date a cell names, or None when it names no date.

    Accepts ``YYYY/MM/DD``, ``YYYY-MM-DD`` and ``YYYY.MM.DD`` with one separator
    throughout, one-digit month and day, Persian digits, and a time after a space.
    """
    if value is None:
        return None
    text = _TIME_SUFFIX.sub("", to_ascii_digits(value).strip())
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[3]), int(match[4])
    try:
        if 1300 <= year <= 1499:
            return jdatetime.date(year, month, day).togregorian()
        if 1900 <= year <= 2100:
            return dt.date(year, month, day)
    except ValueError:
        return None
    return None


def jalali_year_month(day: dt.date) -> tuple[int, int]:
    """The Jalali year and month of a Gregorian date."""
    jalali = jdatetime.date.fromgregorian(date=day)
    return jalali.year, jalali.month


def parse_date_series(values: pd.Series) -> pd.DataFrame:
    """Parse a column of date text once per distinct value (and once per process for common dates).

    Returns a frame on the same index with ``date`` (ISO text or missing),
    ``jalali_year`` and ``jalali_month`` (nullable integers).
    """
    parsed = map_distinct(values, _iso_and_jalali)
    parts = parsed.map(lambda p: (None, None, None) if p is None else p)  # missing text stays None
    return pd.DataFrame(
        {
            "date": pd.array([p[0] for p in parts], dtype="string"),
            "jalali_year": pd.array([p[1] for p in parts], dtype="Int64"),
            "jalali_month": pd.array([p[2] for p in parts], dtype="Int64"),
        },
        index=values.index,
    )


@lru_cache(maxsize=1 << 16)
def _iso_and_jalali(text: str) -> tuple[str | None, int | None, int | None]:
    day = parse_date(text)
    return (day.isoformat(), *jalali_year_month(day)) if day else (None, None, None)


def is_date_series(values: pd.Series) -> pd.Series:
    """Boolean Series: whether each value names a date (missing is False)."""
    return passes_distinct(values, lambda text: parse_date(text) is not None)


def tehran_today(moment: dt.datetime) -> dt.date:
    """The calendar day in Asia/Tehran at an aware moment."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Tehran")).date()
