"""Dates as provinces write them: Jalali (Solar Hijri) or Gregorian, one separator.

A year from 1300 to 1499 is Jalali, from 1900 to 2100 Gregorian; anything else,
two-digit years included, is not a date. The Gregorian date is stored together
with the Jalali year and month.

Whole columns are parsed at once: the text is split by one regular expression
over the column's distinct values, and the calendars are converted with integer
arithmetic on NumPy arrays. A Jalali year's months have fixed lengths (six of 31
days, five of 30, then Esfand of 29, or 30 in a leap year), so a Jalali date is
its year's first day plus an offset; the first days of the years come from
jdatetime, once per process, and so do the leap years (a year of 366 days).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

import jdatetime
import numpy as np
import pandas as pd

from etl.persian import to_ascii_digits

_DATE = re.compile(r"([0-9]{4})([/.\-])([0-9]{1,2})\2([0-9]{1,2})")
_TIME_SUFFIX = re.compile(r"\s+[0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(\s*[AaPp][Mm])?$")
JALALI_YEARS = (1300, 1499)
GREGORIAN_YEARS = (1900, 2100)
# The Jalali years whose first days are tabled: the Gregorian years above fall within Jalali 1278-1479,
# and the last Jalali year read, 1499, ends where 1500 begins.
_TABLE_YEARS = (1270, 1501)
_NOT_A_DAY = np.datetime64("NaT", "D")
_NO_DAY = -1 << 40  # the day number of a date that does not exist (below every real one)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


@lru_cache(maxsize=1)
def _year_starts() -> np.ndarray:
    """Days since 1970-01-01 of 1 Farvardin of every Jalali year in ``_TABLE_YEARS`` (inclusive)."""
    first, last = _TABLE_YEARS
    return np.array(
        [jdatetime.date(year, 1, 1, locale="en_US").togregorian().toordinal() - _EPOCH_ORDINAL
         for year in range(first, last + 1)],
        dtype=np.int64,
    )  # fmt: skip


def _day_of_year(month: np.ndarray) -> np.ndarray:
    """Days in a Jalali year before the first of ``month`` (1-12)."""
    return np.where(month <= 6, (month - 1) * 31, 186 + (month - 7) * 30)


def _jalali_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of Jalali dates, or _NO_DAY where the date does not exist."""
    starts = _year_starts()
    inside = (year >= JALALI_YEARS[0]) & (year <= JALALI_YEARS[1]) & (month >= 1) & (month <= 12) & (day >= 1)
    index = np.clip(year - _TABLE_YEARS[0], 0, len(starts) - 2)
    year_length = starts[index + 1] - starts[index]
    month_length = np.where(month <= 6, 31, np.where(month <= 11, 30, year_length - 336))
    valid = inside & (day <= month_length)
    return np.where(valid, starts[index] + _day_of_year(month) + day - 1, _NO_DAY)


def _gregorian_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of Gregorian dates, or _NO_DAY where the date does not exist."""
    inside = (year >= GREGORIAN_YEARS[0]) & (year <= GREGORIAN_YEARS[1]) & (month >= 1) & (month <= 12)
    months = np.where(inside, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    first = months.astype("datetime64[D]")
    following = (months + 1).astype("datetime64[D]")
    valid = inside & (day >= 1) & (day <= (following - first).astype(np.int64))
    return np.where(valid, first.astype(np.int64) + day - 1, _NO_DAY)


def parse_dates(values: pd.Series) -> np.ndarray:
    """The Gregorian day (``datetime64[D]``, NaT when it names no date) of every value of a text column.

    Accepts ``YYYY/MM/DD``, ``YYYY-MM-DD`` and ``YYYY.MM.DD`` with one separator throughout,
    one-digit month and day, Persian digits, and a time after a space. Each distinct value is
    split once (and once per process for common ones); the calendars are converted on arrays.
    """
    codes, distinct = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    days = np.full(len(distinct) + 1, _NOT_A_DAY)  # the last stays NaT: missing values (code -1)
    if len(distinct):
        parts = np.array([_date_parts(v) if isinstance(v, str) else (0, 0, 0) for v in distinct], dtype=np.int64)
        year, month, day = parts[:, 0], parts[:, 1], parts[:, 2]
        jalali = (year >= JALALI_YEARS[0]) & (year <= JALALI_YEARS[1])
        number = np.where(jalali, _jalali_days(year, month, day), _gregorian_days(year, month, day))
        valid = number != _NO_DAY
        days[:-1] = np.where(valid, number, 0).astype("datetime64[D]")
        days[:-1][~valid] = _NOT_A_DAY
    return days[codes]


@lru_cache(maxsize=1 << 16)
def _date_parts(text: str) -> tuple[int, int, int]:
    """(year, month, day) as written, or (0, 0, 0) when the text does not have the shape of a date."""
    match = _DATE.fullmatch(_TIME_SUFFIX.sub("", to_ascii_digits(text).strip()))
    return (int(match[1]), int(match[3]), int(match[4])) if match else (0, 0, 0)


def jalali_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Jalali year, month, day) of ``datetime64[D]`` days; 0, 0, 0 for NaT and for a day outside the
    Jalali years 1270-1500."""
    starts = _year_starts()
    days = np.asarray(days, dtype="datetime64[D]")
    number = days.astype(np.int64)
    index = np.searchsorted(starts, number, side="right") - 1
    known = ~np.isnat(days) & (index >= 0) & (index < len(starts) - 1)
    index = np.where(known, index, 0)
    within = np.where(known, number - starts[index], 0)
    month = np.where(within < 186, within // 31 + 1, (within - 186) // 30 + 7)
    day = within - _day_of_year(month) + 1
    year = index + _TABLE_YEARS[0]
    return tuple(np.where(known, part, 0).astype(np.int64) for part in (year, month, day))  # type: ignore[return-value]


def iso_text(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` text of ``datetime64[D]`` days (None for NaT), as objects."""
    return np.where(np.isnat(days), None, np.datetime_as_string(days, unit="D")).astype(object)


def jalali_text(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` Jalali text of ``datetime64[D]`` days (None for NaT and outside the table)."""
    year, month, day = jalali_parts(days)
    text = pd.Series(year).astype(str).str.zfill(4) + "-" + pd.Series(month).astype(str).str.zfill(2)
    text = text + "-" + pd.Series(day).astype(str).str.zfill(2)
    return np.where(year > 0, text.to_numpy(dtype=object), None)


def parse_date(value: str | None) -> dt.date | None:
    """The Gregorian date a cell names, or None when it names no date (see :func:`parse_dates`)."""
    if value is None:
        return None
    day = parse_dates(pd.Series([value], dtype=object))[0]
    return None if np.isnat(day) else day.item()


def jalali_year_month(day: dt.date) -> tuple[int, int]:
    """The Jalali year and month of a Gregorian date."""
    year, month, _ = jalali_parts(np.array([day], dtype="datetime64[D]"))
    if not year[0]:
        raise ValueError(f"{day} is outside the Jalali years 1270-1500")
    return int(year[0]), int(month[0])


def parse_date_series(values: pd.Series) -> pd.DataFrame:
    """Parse a column of date text, each distinct value once.

    Returns a frame on the same index with ``date`` (ISO text or missing),
    ``jalali_year`` and ``jalali_month`` (nullable integers).
    """
    days = parse_dates(values)
    missing = np.isnat(days)
    year, month, _ = jalali_parts(days)
    return pd.DataFrame(
        {
            "date": pd.array(iso_text(days), dtype="string"),
            "jalali_year": pd.arrays.IntegerArray(year, missing),
            "jalali_month": pd.arrays.IntegerArray(month, missing),
        },
        index=values.index,
    )


def is_date_series(values: pd.Series) -> pd.Series:
    """Boolean Series: whether each value names a date (missing is False)."""
    return pd.Series(~np.isnat(parse_dates(values)), index=values.index)


def tehran_today(moment: dt.datetime) -> dt.date:
    """The calendar day in Asia/Tehran at an aware moment."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Tehran")).date()
