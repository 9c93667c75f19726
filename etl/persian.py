"""Persian text primitives: digits, Arabic letters, and the keys used for matching.

The Series versions apply the same rules to whole columns, once per distinct value.
"""

from __future__ import annotations

import re

import pandas as pd

from etl.distinct import map_distinct

PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
ZWNJ = "\u200c"

# Digits to ASCII, Arabic letters to Persian, tatweel and diacritics dropped.
_TEXT_TABLE = str.maketrans(
    {
        **{d: str(i) for i, d in enumerate(PERSIAN_DIGITS)},
        **{d: str(i) for i, d in enumerate(ARABIC_INDIC_DIGITS)},
        "\u064a": "\u06cc",  # ي -> ی
        "\u0649": "\u06cc",  # ى -> ی
        "\u0643": "\u06a9",  # ك -> ک
        "\u0640": None,  # tatweel
        "\u00a0": " ",  # no-break space
        "\u200f": None,  # right-to-left mark
        "\u200e": None,  # left-to-right mark
        "\ufeff": None,  # stray BOM / zero-width no-break space
        **{chr(c): None for c in range(0x064B, 0x0660)},  # harakat
        "\u0670": None,  # superscript alef
    }
)

# For keys, headers and enumerations: ZWNJ and ZWJ removed (spaces and underscores separately).
_KEY_TABLE = str.maketrans({ZWNJ: None, "\u200d": None})

_SPACES = re.compile(r"\s+")
_ALL_SPACES = re.compile(r"[\s_]+")  # "Application Id" meets application_id


def to_ascii_digits(value: str) -> str:
    """Persian and Arabic-Indic digits as ASCII; nothing else changes."""
    return value.translate(_TEXT_TABLE) if value else value


def normalise_text(value: str | None) -> str | None:
    """Trimmed, inner spaces collapsed, Arabic letters as Persian, digits ASCII; '' -> None."""
    if value is None:
        return None
    cleaned = _SPACES.sub(" ", value.translate(_TEXT_TABLE)).strip()
    return cleaned or None


def match_key(value: str | None) -> str | None:
    """Key for comparing headers, keys and enumerations: case-folded, no ZWNJ or spaces."""
    return key_of_normalised(normalise_text(value))


def key_of_normalised(text: str | None) -> str | None:
    """:func:`match_key` of text that :func:`normalise_text` already cleaned."""
    if text is None:
        return None
    return _ALL_SPACES.sub("", text.translate(_KEY_TABLE).casefold()) or None


# Already normalised (so skipped by the column versions): plain ASCII text, single inner spaces ...
ASCII_TEXT = r"[!-~]+(?: [!-~]+)*"
# ... and, for keys, ASCII without spaces, underscores or capitals.
ASCII_KEY = r"[!-@\[-^`-~]+"


def normalise_text_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`normalise_text` (empty strings become missing)."""
    return map_distinct(values, normalise_text, "string", already=ASCII_TEXT)


def key_of_normalised_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`key_of_normalised`."""
    return map_distinct(values, key_of_normalised, "string", already=ASCII_KEY)


def match_key_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`match_key`."""
    return map_distinct(values, match_key, "string")


# People's names: hamza forms, alef madda and round tā folded, so that spellings of one name meet.
_NAME_TABLE = str.maketrans({"أ": "ا", "إ": "ا", "ٱ": "ا", "آ": "ا", "ؤ": "و", "ئ": "ی", "ة": "ه", "ۀ": "ه"})


def name_key(value: str | None) -> str | None:
    """Key for comparing people's names: :func:`match_key`, with hamza forms and آ as ا.

    «عبد الله», «عبدالله» and «عبد‌الله» meet, and so do «آزاده» and «ازاده».
    """
    key = match_key(value)
    return key.translate(_NAME_TABLE) if key else None


def name_key_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`name_key`."""
    return map_distinct(values, name_key, "string")
