import datetime as dt

import pandas as pd
import pytest

from etl.dates import jalali_year_month, parse_date, parse_date_series, tehran_today


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
