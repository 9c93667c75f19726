import datetime as dt

import pandas as pd
import pytest

from etl.contract import SOURCES, contract, enum_lookup
from etl.normalise import clean_mobile, normalise, rial_amount, toman_as_rial_text
from etl.persian import match_key, normalise_text

TODAY = dt.date(2026, 1, 10)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  علي   كريمي ", "علی کریمی"),  # Arabic ي/ك stored as Persian ی/ک, spaces collapsed
        ("رضا\u0640\u0640یی", "رضایی"),  # tatweel dropped
        ("شماره ۱۲۳", "شماره 123"),
        ("   ", None),
        (None, None),
    ],
)
def test_text_normalisation(raw, expected):
    assert normalise_text(raw) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("شبکه‌ای", "شبکه ای"),
        ("عبد الله", "عبدالله"),
        ("بانك ملت", "بانک‌ملت"),
        ("L-1 ", "l-1"),
        ("IR-04", "ir-04"),
        ("۱۲۳", "123"),
        ("Application Id", "application_id"),
    ],
)
def test_match_keys_meet(a, b):
    assert match_key(a) == match_key(b)


@pytest.mark.parametrize(("a", "b"), [("A-1", "A1"), ("L1", "L2"), ("آ1", "ا1")])
def test_match_keys_keep_what_the_contract_does_not_fold(a, b):
    assert match_key(a) != match_key(b)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("09121234567", "09121234567"),
        ("+989121234567", "09121234567"),
        ("00989121234567", "09121234567"),
        ("989121234567", "09121234567"),
        ("9121234567", "09121234567"),
        ("0912 123-4567", "09121234567"),
        ("(0912) 123 4567", "09121234567"),
        ("02112345678", None),  # a landline
        ("0912123456", None),
        ("912123456789", None),
        ("abc", None),
    ],
)
def test_mobiles(raw, expected):
    assert clean_mobile(raw) == expected


@pytest.mark.parametrize(
    ("text", "rial"),
    [
        ("500000000", 500000000),
        ("1", 1),
        ("5.0", 5),
        ("0", None),
        ("-5", None),
        ("12.5", None),
        ("abc", None),
        ("9223372036854775808", None),
    ],
)
def test_rial_amounts(text, rial):
    assert rial_amount(text) == rial


@pytest.mark.parametrize(
    ("toman", "rial_text"), [("50000000", "500000000"), ("12.5", "125"), ("0.05", "0.5"), ("abc", "abc")]
)
def test_toman_is_ten_rial(toman, rial_text):
    assert toman_as_rial_text(toman) == rial_text


def _loans(**columns) -> pd.DataFrame:
    frame = pd.DataFrame(columns, dtype="string")
    frame["_line"] = range(2, len(frame) + 2)
    return frame


def test_loan_amounts_in_toman_with_persian_digits_and_separators_become_rial():
    frame = _loans(amount_toman=["۵۰,۰۰۰,۰۰۰", "50٬000٬000", "۱۲٫۵", "5 000"])
    out = normalise(frame, contract()["loans"], "IR-04", TODAY)
    assert out["amount_rial"].tolist() == [500000000, 500000000, 125, 50000]


def test_loan_amounts_in_rial_stay():
    out = normalise(_loans(amount_rial=["1,500,000,000", "12.5"]), contract()["loans"], "IR-04", TODAY)
    assert out["amount_rial"].iloc[0] == 1500000000
    assert pd.isna(out["amount_rial"].iloc[1]) and out["amount_rial__input"].iloc[1] == "12.5"


@pytest.mark.parametrize(
    ("enum", "spellings", "canonical"),
    [
        ("loan_type", ["individual", "INDIVIDUAL", "انفرادی"], "individual"),
        ("loan_type", ["network", "شبکه‌ای", "شبکه ای", "شبكه اي", "پشتیبان"], "network"),
        ("loan_status", ["approved", "تصویب شده", "تصویب‌شده"], "approved"),
        ("loan_status", ["disbursed", "پرداخت شده"], "disbursed"),
        ("loan_status", ["cancelled", "canceled", "Canceled", "لغو شده"], "cancelled"),
        ("yes_no", ["yes", "true", "1", "بله", "قبول", "YES", "۱"], "yes"),
        ("yes_no", ["no", "false", "0", "خیر", "مردود", "۰"], "no"),
        ("gender", ["female", "F", "زن"], "female"),
        ("gender", ["male", "m", "مرد"], "male"),
        ("course_type", ["specialized", "تخصصی"], "specialized"),
        ("course_type", ["general", "عمومی"], "general"),
    ],
)
def test_every_enumeration_spelling(enum, spellings, canonical):
    for spelling in spellings:
        assert enum_lookup(enum)[match_key(spelling)] == canonical, spelling


def test_province_column_accepts_code_persian_and_english_names():
    frame = _loans(province=["IR-04", "آذربایجان غربی", "west azerbaijan", "آذربايجان  غربي", "Tehran", "Narnia"])
    out = normalise(frame, contract()["loans"], "IR-04", TODAY)
    assert out["province"].tolist()[:5] == ["IR-04", "IR-04", "IR-04", "IR-04", "IR-23"]
    assert out["province"].iloc[5] != "IR-04"


def test_dates_are_stored_gregorian_with_jalali_year_and_month():
    frame = pd.DataFrame({"registered_at": ["۱۴۰۲/۰۷/۱۵", "2023-10-07", "1404/12/30"], "_line": [2, 3, 4]})
    out = normalise(frame.astype({"registered_at": "string"}), contract()["applicants"], "IR-04", TODAY)
    assert out["registered_at"].tolist()[:2] == ["2023-10-07", "2023-10-07"]
    assert out["registered_at_jalali_year"].tolist()[:2] == [1402, 1402]
    assert out["registered_at_jalali_month"].tolist()[:2] == [7, 7]
    assert pd.isna(out["registered_at"].iloc[2]) and out["registered_at__input"].iloc[2] == "1404/12/30"


@pytest.mark.parametrize("source", SOURCES)
def test_every_header_alias_maps_to_its_column(source):
    spec = contract()[source]
    for column in spec.columns:
        for spelling in (column.name, column.name.upper(), *column.aliases):
            assert spec.canonical_name(spelling) == column.name, spelling
            arabic = spelling.replace("ی", "ي").replace("ک", "ك")
            assert spec.canonical_name(f"  {arabic} ") == column.name, arabic
            assert spec.canonical_name(spelling.replace(" ", "\u200c")) == column.name


def test_unknown_headers_are_not_columns():
    assert contract()["applicants"].canonical_name("رنگ مورد علاقه") is None
