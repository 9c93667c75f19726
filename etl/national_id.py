"""The Iranian national ID (کد ملی): cleaning, padding and the check digit."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from etl.distinct import map_distinct
from etl.persian import to_ascii_digits

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_DIGITS_8_TO_10 = re.compile(r"[0-9]{8,10}")
_TEN_DIGITS = re.compile(r"[0-9]{10}")


def clean_national_id(value: str | None) -> str | None:
    """ASCII digits, spaces and dashes removed, 8 or 9 digits left-padded to 10.

    Anything else is returned cleaned but unpadded, for :func:`is_valid_national_id`
    to refuse; an empty value is None.
    """
    if value is None:
        return None
    text = _SEPARATORS.sub("", to_ascii_digits(value))
    if not text:
        return None
    if text.endswith(".0") and _DIGITS_8_TO_10.fullmatch(text[:-2]):
        text = text[:-2]  # a number cell written back by a spreadsheet
    if _DIGITS_8_TO_10.fullmatch(text):
        return text.zfill(10)
    return text


def is_valid_national_id(value: str | None) -> bool:
    """Ten ASCII digits, not one digit repeated, with a correct check digit."""
    if value is None or not _TEN_DIGITS.fullmatch(value) or len(set(value)) == 1:
        return False
    total = sum(int(value[i]) * (10 - i) for i in range(9))
    remainder = total % 11
    check = remainder if remainder < 2 else 11 - remainder
    return int(value[9]) == check


def check_digits(first_nine: np.ndarray) -> np.ndarray:
    """The check digit of each row of an (n, 9) array of digits: weights 10 to 2, modulo 11."""
    remainder = (first_nine * np.arange(10, 1, -1)).sum(axis=1) % 11
    return np.where(remainder < 2, remainder, 11 - remainder)


def clean_national_id_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`clean_national_id`: ten ASCII digits are already clean, others once per value."""
    return map_distinct(values, clean_national_id, "string", already=_TEN_DIGITS.pattern)


def valid_national_id_series(values: pd.Series) -> pd.Series:
    """Boolean Series: :func:`is_valid_national_id` of each value (missing is False), column-wise.

    The check digit of every ten-digit value is computed with numpy at once.
    """
    text = values.astype("string")
    ten_digits = text.str.fullmatch(_TEN_DIGITS.pattern).fillna(False).to_numpy(dtype=bool)
    valid = np.zeros(len(values), dtype=bool)
    if ten_digits.any():
        digits = (
            np.frombuffer("".join(text[ten_digits].tolist()).encode("ascii"), dtype=np.uint8)
            .reshape(-1, 10)
            .astype(np.int64)
            - 48
        )
        repeated = (digits == digits[:, :1]).all(axis=1)
        valid[ten_digits] = (digits[:, 9] == check_digits(digits[:, :9])) & ~repeated
    return pd.Series(valid, index=values.index)
