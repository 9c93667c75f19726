"""Cells we write back to people (CSV and xlsx) must never run as spreadsheet formulas.

Excel, LibreOffice and Google Sheets read a cell that starts with ``=``, ``+``,
``-`` or ``@`` (or a tab or carriage return before one) as a formula, which is
how a crafted cell in a provincial file could run on a clerk's machine ("CSV
injection"). Such a cell gets a leading apostrophe, the spreadsheet convention
for "this is text", which the spreadsheet shows without the apostrophe. Plain
numbers such as ``-500000`` or ``+989121234567`` are left as sent: a spreadsheet
reads them as numbers, not formulas, and the refused rows must stay as sent.
"""

from __future__ import annotations

import re

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+([.,]\d+)*|\.\d+)")


def neutralise(value: object) -> object:
    """The value, or for text a spreadsheet would read as a formula, that text behind an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralise_row(values: list) -> list:
    """``neutralise`` of every cell of a row."""
    return [neutralise(value) for value in values]
