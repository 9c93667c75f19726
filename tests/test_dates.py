import datetime as dt

import jdatetime
import numpy as np
import pandas as pd
import pytest

from etl.dates import (
    jalali_parts,
    jalali_text,
    jalali_year_month,
    parse_date,
    parse_date_series,
    parse_dates,
    tehran_today,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1398/07/09", dt.date(2019, 10, 1)),
        ("1398/07/07", dt.date(2019, 9, 29)),
        ("1398-7-9", dt.date(2019, 10, 1)),
        ("1398.07.09", dt.date(2019, 10, 1)),
        ("۱۳۹۸/۰۷/۰۹", dt.date(2019, 10, 1)),
        ("١٣٩٨/٠٧/٠٩", dt.date(2019, 10, 1)),
        ("1398/07/09 14:30", dt.date(2019, 10, 1)),
        ("2019-10-01 00:00:00", dt.date(2019, 10, 1)),
        ("2019-10-01 9:05:00.000 PM", dt.date(2019, 10, 1)),
        ("2019-10-01", dt.date(2019, 10, 1)),
        ("2019/10/1", dt.date(2019, 10, 1)),
        ("1403/12/30", dt.date(2025, 3, 20)),  # 1403 is a leap year: Esfand 30 exists
        ("1399/12/30", dt.date(2021, 3, 20)),
        ("1370/12/30", dt.date(1992, 3, 20)),
        ("1300/01/01", dt.date(1921, 3, 21)),
        ("2100-12-31", dt.date(2100, 12, 31)),
    ],
)
def test_valid_dates(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1404/12/30",  # 1404 is not a leap year
        "1371/12/30",
        "1402/13/01",
        "1402/07/31",  # months 7-11 have 30 days
        "1402/00/10",
        "2023-02-29",
        "2023-02-30",
        "1398/07-09",  # mixed separators
        "98/07/09",  # two-digit years are not dates
        "68-01-01",
        "1299/01/01",
        "1500/01/01",
        "1899-12-31",
        "2101-01-01",
        "1700-01-01",
        "13980709",
        "1403/01/15 xyz",  # only a time may follow the date
        "yesterday",
        "",
        None,
    ],
)
def test_not_dates(text):
    assert parse_date(text) is None


def test_jalali_year_month_of_a_gregorian_date():
    assert jalali_year_month(dt.date(2019, 10, 1)) == (1398, 7)
    assert jalali_year_month(dt.date(2025, 3, 20)) == (1403, 12)
    assert jalali_year_month(dt.date(2025, 3, 21)) == (1404, 1)


def test_series_parses_each_value_and_keeps_the_index():
    values = pd.Series(["1398/07/09", "bad", None, "1398/07/09"], index=[5, 6, 7, 8], dtype="string")
    parsed = parse_date_series(values)
    assert parsed.index.tolist() == [5, 6, 7, 8]
    assert parsed.loc[5, "date"] == "2019-10-01" and parsed.loc[8, "date"] == "2019-10-01"
    assert pd.isna(parsed.loc[6, "date"]) and pd.isna(parsed.loc[7, "jalali_year"])
    assert parsed.loc[5, "jalali_year"] == 1398 and parsed.loc[5, "jalali_month"] == 7


def test_the_day_in_tehran_is_three_and_a_half_hours_ahead():
    late_evening_utc = dt.datetime(2024, 3, 19, 21, 0, tzinfo=dt.UTC)
    assert tehran_today(late_evening_utc) == dt.date(2024, 3, 20)
    assert tehran_today(dt.datetime(2024, 3, 19, 20, 0, tzinfo=dt.UTC)) == dt.date(2024, 3, 19)


def test_every_jalali_day_of_the_contract_years_is_the_day_jdatetime_gives():
    """Every day of the Jalali years 1300-1499 (and the 30th of every Esfand, a 31st of every month
    7-12, a 32nd of every month) against jdatetime, in both directions."""
    texts, expected = [], []
    for year in range(1300, 1500):
        for month in range(1, 13):
            for day in range(1, 33):
                texts.append(f"{year}/{month:02d}/{day}")
                try:
                    expected.append(jdatetime.date(year, month, day).togregorian())
                except ValueError:
                    expected.append(None)
    days = parse_dates(pd.Series(texts, dtype=object))
    got = [None if np.isnat(d) else d.item() for d in days]
    wrong = [(t, g, e) for t, g, e in zip(texts, got, expected, strict=True) if g != e]
    assert not wrong, wrong[:5]
    assert sum(e is not None for e in expected) == 200 * 365 + 49  # 49 leap years

    gregorian = np.arange(np.datetime64("1900-01-01"), np.datetime64("2101-01-01"))
    year, month, day = jalali_parts(gregorian)
    truth = [jdatetime.date.fromgregorian(date=d.item()) for d in gregorian[::7]]
    assert list(zip(year[::7], month[::7], day[::7], strict=True)) == [(j.year, j.month, j.day) for j in truth]
    assert set(jalali_text(gregorian[:3])) == {"1278-10-11", "1278-10-12", "1278-10-13"}


def test_gregorian_days_exist_only_in_their_months():
    texts = ["2024-02-29", "2023-02-29", "2100-02-29", "2000-02-29", "1900-02-29", "2023-04-31", "2023-12-31"]
    assert [parse_date(t) for t in texts] == [
        dt.date(2024, 2, 29),
        None,
        None,
        dt.date(2000, 2, 29),
        None,
        None,
        dt.date(2023, 12, 31),
    ]


def test_dates_outside_the_table_have_no_jalali_parts():
    assert [part.tolist() for part in jalali_parts(np.array(["1800-01-01", "NaT"], dtype="datetime64[D]"))] == [
        [0, 0],
        [0, 0],
        [0, 0],
    ]
    with pytest.raises(ValueError, match="outside"):
        jalali_year_month(dt.date(1700, 1, 1))
