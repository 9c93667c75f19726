"""Cells written back to people never run as spreadsheet formulas; plain numbers stay as sent."""

from __future__ import annotations

import pytest

from etl.spreadsheet import neutralise, neutralise_row


@pytest.mark.parametrize(
    "cell",
    [
        "=1+2",
        '=HYPERLINK("http://example.com","x")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1)",
        "\t=1+2",
        "\r=1+2",
        "-",
        "+",
        "=",
        "+98 912 123 4567",
        "-ali",
    ],
)
def test_formula_like_text_gets_an_apostrophe(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell",
    [
        "-500000",
        "+989121234567",
        "-1.5",
        "+3",
        "-1,500,000",
        "1=1",
        "علی",
        "",
        "0912",
        " =1",
        "a@b.com",
    ],
)
def test_other_text_and_plain_numbers_are_left_as_sent(cell):
    assert neutralise(cell) == cell


def test_non_text_values_pass_through():
    assert neutralise_row([None, -5, 3.5, True, "=x"]) == [None, -5, 3.5, True, "'=x"]
