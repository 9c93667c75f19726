import pandas as pd
import pytest

from etl.national_id import (
    clean_national_id,
    clean_national_id_series,
    is_valid_national_id,
    valid_national_id_series,
)


@pytest.mark.parametrize("value", ["0499370899", "0790419904", "0084575948", "1583250689", "4032152314"])
def test_known_valid_ids_pass(value):
    assert is_valid_national_id(value)


@pytest.mark.parametrize("value", ["0684159415", "4271427685", "0200203041"])
def test_known_invalid_ids_fail(value):
    assert not is_valid_national_id(value)


@pytest.mark.parametrize("digit", "0123456789")
def test_one_digit_repeated_is_refused_although_the_sum_passes(digit):
    value = digit * 10
    total = sum(int(value[i]) * (10 - i) for i in range(9)) % 11
    assert int(value[9]) == (total if total < 2 else 11 - total)  # the check digit alone would accept it
    assert not is_valid_national_id(value)


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("499370899", "0499370899"),  # a spreadsheet dropped one leading zero
        ("84575948", "0084575948"),  # and two
        ("۰۴۹۹۳۷۰۸۹۹", "0499370899"),  # Persian digits
        ("٠٤٩٩٣٧٠٨٩٩", "0499370899"),  # Arabic-Indic digits
        ("049-937-0899", "0499370899"),
        (" 049 937 0899 ", "0499370899"),
        ("84575948.0", "0084575948"),  # a number cell written back as a float
        ("1234567", "1234567"),  # too short: left for the check to refuse
        ("abc", "abc"),
        ("", None),
        (None, None),
    ],
)
def test_cleaning_pads_and_converts(raw, cleaned):
    assert clean_national_id(raw) == cleaned


@pytest.mark.parametrize("value", ["1234567", "04993708990", "049937089a", "۰۴۹۹۳۷۰۸۹۹", None, ""])
def test_only_ten_ascii_digits_can_pass(value):
    assert not is_valid_national_id(value)


def test_series_versions_agree_with_the_scalar_ones():
    raw = pd.Series(["499370899", None, "1111111111", "۱۵۸۳۲۵۰۶۸۹", "0684159415"], dtype="string")
    cleaned = clean_national_id_series(raw)
    assert cleaned.tolist()[0] == "0499370899"
    assert pd.isna(cleaned.iloc[1])
    assert valid_national_id_series(cleaned).tolist() == [True, False, False, True, False]
