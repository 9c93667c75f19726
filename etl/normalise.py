"""Normalise a file's text into canonical values, whole columns at a time.

For every canonical column the output has the canonical value (``<column>``) and,
where the value has to be parsed, the cleaned input (``<column>__input``): digits
ASCII, letters Persian, separators removed, toman converted to rial. The
expectation suites in ``expectations/`` judge the cleaned input; the canonical
value is what is loaded. Parsing is done once per distinct value.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import cache

import pandas as pd

from etl.contract import Source, enum_lookup
from etl.dates import parse_date_series
from etl.distinct import map_distinct
from etl.national_id import clean_national_id_series
from etl.persian import key_of_normalised_series, match_key, match_key_series, normalise_text_series, to_ascii_digits

FOLDER_PROVINCE = "_folder_province"
RECEIVED_ON = "_received_on"
MAX_BIGINT = 9_223_372_036_854_775_807

_NUMBER_NOISE = re.compile(r"[,\u066c\u060c\s]")  # , ٬ ، and spaces
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_MOBILE_NOISE = re.compile(r"[\s\-()\[\]]")
CANONICAL_MOBILE = "09[0-9]{9}"
_MOBILE = re.compile(r"(?:\+98|0098|98|0)?(9[0-9]{9})")


def clean_number(value: str) -> str | None:
    """Number text with ASCII digits, thousands separators dropped and '.' as decimal point."""
    text = _NUMBER_NOISE.sub("", to_ascii_digits(value)).replace("\u066b", ".")  # ٫ Arabic decimal separator
    return text or None


def clean_number_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`clean_number`."""
    return map_distinct(values, clean_number, "string")


def parse_decimal(text: str | None) -> Decimal | None:
    """A cleaned number as a Decimal, or None when it is not a plain number."""
    if text is None or not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def rial_amount(text: str | None) -> int | None:
    """A positive whole number of rial within BIGINT, or None."""
    number = parse_decimal(text)
    if number is None or number <= 0 or number != number.to_integral_value() or number > MAX_BIGINT:
        return None
    return int(number)


def toman_as_rial_text(text: str | None) -> str | None:
    """A cleaned toman amount as rial text (×10); text that is not a number stays as it is."""
    number = parse_decimal(text)
    if number is None:
        return text
    rial = number * 10
    return str(int(rial)) if rial == rial.to_integral_value() else format(rial.normalize(), "f")


def non_negative_number(text: str | None) -> float | None:
    """A non-negative number, or None."""
    number = parse_decimal(text)
    return float(number) if number is not None and number >= 0 else None


def clean_mobile(text: str | None) -> str | None:
    """A mobile number as 09XXXXXXXXX, or None when it is not one."""
    if text is None:
        return None
    match = _MOBILE.fullmatch(_MOBILE_NOISE.sub("", text))
    return "0" + match[1] if match else None


@cache
def province_lookup() -> dict[str, str]:
    """Province code, Persian name or English name (as match keys) -> province code."""
    from etl.warehouse import province_rows

    lookup: dict[str, str] = {}
    for row in province_rows():
        for spelling in (row["iso_code"], row["name_fa"], row["name_en"]):
            lookup[match_key(spelling) or ""] = row["iso_code"]
    return lookup


def normalise(frame: pd.DataFrame, source: Source, province_code: str, received_on: dt.date) -> pd.DataFrame:
    """Canonical values and cleaned inputs for every column of ``source``.

    ``frame`` holds the file's cells as text under canonical names (columns the
    file lacks are treated as empty) plus ``_line``. The result keeps the index.
    """
    out = pd.DataFrame(index=frame.index)
    out["_line"] = frame["_line"]
    missing = pd.Series(pd.NA, index=frame.index, dtype="string")
    for column in source.columns:
        name = column.name
        raw = frame[name].astype("string") if name in frame.columns else missing
        if column.kind == "key":
            out[name] = normalise_text_series(raw)
            out[f"{name}__key"] = key_of_normalised_series(out[name])
        elif column.kind == "text":
            out[name] = normalise_text_series(raw)
        elif column.kind == "national_id":
            out[name] = clean_national_id_series(raw)
        elif column.kind == "date":
            cleaned = normalise_text_series(raw)
            parsed = parse_date_series(cleaned)
            out[f"{name}__input"] = cleaned
            out[name] = parsed["date"]
            out[f"{name}_jalali_year"] = parsed["jalali_year"]
            out[f"{name}_jalali_month"] = parsed["jalali_month"]
        elif column.kind == "mobile":
            cleaned = normalise_text_series(raw)
            out[f"{name}__input"] = cleaned
            out[name] = map_distinct(cleaned, clean_mobile, "string", already=CANONICAL_MOBILE)
        elif column.kind == "number":
            cleaned = clean_number_series(raw)
            out[f"{name}__input"] = cleaned
            out[name] = map_distinct(cleaned, non_negative_number).astype("Float64")
        elif column.kind == "enum":
            keys = match_key_series(raw)
            out[f"{name}__input"] = keys
            out[name] = keys.map(enum_lookup(column.enum)).astype("string")
        elif column.kind == "province":
            keys = match_key_series(raw)
            out[f"{name}__input"] = keys
            # An unknown name stays as typed, so it differs from the folder's code.
            out[name] = keys.map(province_lookup()).fillna(keys).astype("string")
        elif column.kind == "amount":
            continue
        else:  # pragma: no cover - columns.toml is checked by tests
            raise ValueError(f"unknown column kind {column.kind!r}")
    if any(c.kind == "amount" for c in source.columns):
        _normalise_amount(frame, source, out)
    out[FOLDER_PROVINCE] = pd.Series(province_code, index=frame.index, dtype="string")
    out[RECEIVED_ON] = pd.Series(received_on.isoformat(), index=frame.index, dtype="string")
    return out


def _normalise_amount(frame: pd.DataFrame, source: Source, out: pd.DataFrame) -> None:
    """One amount column, in rial: ``amount_rial__input`` (cleaned) and ``amount_rial`` (integer)."""
    amount_columns = [c for c in source.columns if c.kind == "amount" and c.name in frame.columns]
    if len(amount_columns) == 1:
        column = amount_columns[0]
        cleaned = clean_number_series(frame[column.name].astype("string"))
        if column.unit == "toman":
            cleaned = map_distinct(cleaned, toman_as_rial_text).astype("string")
    else:  # the reader refuses such a file (missing_columns); keep the frame well-formed anyway
        cleaned = pd.Series(pd.NA, index=frame.index, dtype="string")
    out["amount_rial__input"] = cleaned
    out["amount_rial"] = map_distinct(cleaned, rial_amount).astype("Int64")
