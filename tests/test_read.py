"""Tests for etl.read: encodings, delimiters, headers, line numbers and xlsx cells."""

from __future__ import annotations

import codecs
import datetime as dt
import json
import os
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from etl import reasons
from etl.contract import Source, contract
from etl.read import (
    ReadResult,
    UnreadableFile,
    decode_text,
    excel_serial_date,
    number_text,
    read_file,
    sniff_delimiter,
)

HEADER = "application_id,national_id,first_name,last_name,registered_at"
ROW = "A1,0012345678,علی,رضایی,1402/01/05"


@pytest.fixture
def applicants() -> Source:
    return contract()["applicants"]


@pytest.fixture
def loans() -> Source:
    return contract()["loans"]


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def loaded(result: ReadResult) -> pd.DataFrame:
    assert result.reason is None, result.detail
    assert not result.empty
    assert result.frame is not None
    return result.frame


def column(frame: pd.DataFrame, name: str) -> list[str | None]:
    return [None if pd.isna(value) else value for value in frame[name]]


def raw(frame: pd.DataFrame) -> list[list[str]]:
    return [json.loads(value) for value in frame["_raw"]]


# --- encodings ---------------------------------------------------------------------------------


def test_utf8_comma(tmp_path: Path, applicants: Source) -> None:
    result = read_file(write(tmp_path, "a.csv", f"{HEADER}\n{ROW}\n"), applicants)
    frame = loaded(result)
    assert (result.encoding, result.delimiter) == ("utf-8", ",")
    assert result.header == HEADER.split(",")
    assert list(frame.columns) == [
        "application_id",
        "national_id",
        "first_name",
        "last_name",
        "registered_at",
        "_line",
        "_raw",
        "_extra",
        "_malformed",
    ]
    assert frame.iloc[0, :5].tolist() == ROW.split(",")
    assert column(frame, "_line") == [2]
    assert raw(frame) == [ROW.split(",")]
    assert column(frame, "_extra") == [None]
    assert column(frame, "_malformed") == [False]
    assert str(frame["national_id"].dtype) == "string"
    assert frame["_line"].dtype == "int64"


def test_utf8_bom_semicolon(tmp_path: Path, applicants: Source) -> None:
    text = f"{HEADER}\r\n{ROW}\r\n".replace(",", ";")
    result = read_file(write(tmp_path, "a.csv", text, "utf-8-sig"), applicants)
    frame = loaded(result)
    assert (result.encoding, result.delimiter) == ("utf-8-sig", ";")
    assert result.header[0] == "application_id"  # BOM not part of the first header cell
    assert column(frame, "first_name") == ["علی"]
    assert column(frame, "registered_at") == ["1402/01/05"]


@pytest.mark.parametrize("bom, codec", [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")])
def test_utf16_tab_as_excel_writes(tmp_path: Path, applicants: Source, bom: bytes, codec: str) -> None:
    text = "شماره پرونده\tکد ملی\tنام\tنام خانوادگی\tتاریخ ثبت نام\r\nA7\t0012345678\tمریم\tکریمی\t1402/02/01\r\n"
    result = read_file(write(tmp_path, "a.tsv", bom + text.encode(codec)), applicants)
    frame = loaded(result)
    assert (result.encoding, result.delimiter) == ("utf-16", "\t")
    assert frame.iloc[0, :5].tolist() == ["A7", "0012345678", "مریم", "کریمی", "1402/02/01"]
    assert column(frame, "_line") == [2]


def test_cp1256_persian(tmp_path: Path, applicants: Source) -> None:
    # Excel's Persian "CSV" has no Persian ی: it writes Arabic ي; values are kept as sent.
    text = "شماره پرونده,كد ملي,نام,نام خانوادگي,تاريخ ثبت نام\r\nA1,0012345678,علي,رضايي,1402/01/05\r\n"
    result = read_file(write(tmp_path, "a.csv", text, "cp1256"), applicants)
    frame = loaded(result)
    assert (result.encoding, result.delimiter) == ("cp1256", ",")
    assert result.header[1] == "كد ملي"
    assert column(frame, "first_name") == ["علي"]
    assert column(frame, "last_name") == ["رضايي"]


@pytest.mark.parametrize(
    "junk",
    [
        "Caf\xe9 M\xfcller,Stra\xdfe".encode("latin-1"),  # Western text in another code page
        b"\x80\x85\xa9 total,x\xae",  # only symbols above ASCII
        b"ab\xe1cd,ef\xedgh",  # Arabic letters stuck inside Latin words
    ],
)
def test_cp1256_without_persian_is_unreadable(tmp_path: Path, applicants: Source, junk: bytes) -> None:
    data = f"{HEADER}\nA1,0012345678,".encode() + junk + b",1402/01/05\n"
    result = read_file(write(tmp_path, "a.csv", data), applicants)
    assert result.reason == reasons.UNREADABLE
    assert result.frame is None
    assert "Windows-1256" in result.detail


def test_nul_bytes_without_bom_are_unreadable(tmp_path: Path, applicants: Source) -> None:
    data = f"{HEADER}\n{ROW}\n".encode("utf-16-le")  # UTF-16 without its BOM
    result = read_file(write(tmp_path, "a.csv", data), applicants)
    assert result.reason == reasons.UNREADABLE
    assert result.detail == "NUL bytes without a UTF-16 byte order mark"


@pytest.mark.parametrize(
    "char, encoding",
    [
        ("\x01", "utf-8"),
        ("\x0c", "utf-8"),
        ("\x7f", "utf-8"),
        ("\x85", "utf-8"),
        ("\x9f", "utf-8-sig"),
        ("\x1a", "utf-16"),
        ("\x85", "utf-16"),
    ],
)
def test_control_characters_are_unreadable(tmp_path: Path, applicants: Source, char: str, encoding: str) -> None:
    text = f"{HEADER}\n{ROW}\nA2,0012345679,نام{char},رضایی,1402/01/05\n"
    result = read_file(write(tmp_path, "a.csv", text, encoding), applicants)
    assert result.reason == reasons.UNREADABLE
    assert result.detail.startswith(f"control character U+{ord(char):04X} on line 3")


def test_control_character_in_cp1256_is_unreadable(tmp_path: Path, applicants: Source) -> None:
    text = f"{HEADER}\nA1,0012345678,علي\x7f,رضايي,1402/01/05\n"
    result = read_file(write(tmp_path, "a.csv", text, "cp1256"), applicants)
    assert result.reason == reasons.UNREADABLE
    assert result.detail == "control character U+007F on line 2 (cp1256)"


def test_invalid_utf8_after_bom_is_unreadable(tmp_path: Path, applicants: Source) -> None:
    data = codecs.BOM_UTF8 + f"{HEADER}\n".encode() + "A1,0012345678,علي".encode("cp1256") + b"\n"
    result = read_file(write(tmp_path, "a.csv", data), applicants)
    assert result.reason == reasons.UNREADABLE
    assert result.detail.startswith("invalid utf-8-sig text")


def test_decode_text_order() -> None:
    assert decode_text(b"a,b\n") == ("a,b\n", "utf-8")
    assert decode_text(codecs.BOM_UTF8 + b"a") == ("a", "utf-8-sig")
    assert decode_text(codecs.BOM_UTF16_LE + "نام".encode("utf-16-le")) == ("نام", "utf-16")
    assert decode_text("نام و نام خانوادگي".encode("cp1256")) == ("نام و نام خانوادگي", "cp1256")
    with pytest.raises(UnreadableFile):
        decode_text(b"a\x00b")
    with pytest.raises(UnreadableFile):
        decode_text(b"plain \xe9t\xe9")


# --- empty files -------------------------------------------------------------------------------


def test_zero_bytes_is_empty(tmp_path: Path, applicants: Source) -> None:
    result = read_file(write(tmp_path, "a.csv", b""), applicants)
    assert (result.reason, result.empty, result.frame, result.header) == (None, True, None, [])


def test_zero_byte_xlsx_is_empty(tmp_path: Path, applicants: Source) -> None:
    result = read_file(write(tmp_path, "a.xlsx", b""), applicants)
    assert (result.reason, result.empty) == (None, True)


def test_header_only_is_empty(tmp_path: Path, applicants: Source) -> None:
    result = read_file(write(tmp_path, "a.csv", f"{HEADER}\r\n\r\n,,,,\r\n", "utf-8-sig"), applicants)
    assert (result.reason, result.empty, result.frame) == (None, True, None)
    assert result.header == HEADER.split(",")
    assert (result.encoding, result.delimiter) == ("utf-8-sig", ",")


def test_header_only_with_missing_columns_is_empty(tmp_path: Path, applicants: Source) -> None:
    result = read_file(write(tmp_path, "a.csv", "application_id,notes\n"), applicants)
    assert (result.reason, result.empty) == (None, True)


def test_only_blank_lines_is_empty(tmp_path: Path, applicants: Source) -> None:
    result = read_file(write(tmp_path, "a.csv", "\n  \n;;\n"), applicants)
    assert (result.reason, result.empty, result.header) == (None, True, [])


# --- delimiters and line numbers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        ("a,b,c", ","),
        ("a;b;c", ";"),
        ("a\tb\tc", "\t"),
        ("a;b,c", ";"),  # tie: semicolon beats comma
        ("a\tb;c", "\t"),  # tie: tab beats semicolon
        ("a,b;c;d", ";"),
        ('"a,b,c";d;e', ";"),  # delimiters inside quotes don't count
        ("national_id", ","),  # one column
    ],
)
def test_sniff_delimiter(line: str, expected: str) -> None:
    assert sniff_delimiter(line) == expected


def test_tab_file_with_commas_in_values(tmp_path: Path, applicants: Source) -> None:
    text = HEADER.replace(",", "\t") + "\nA1\t0012345678\tعلی, حسن\tرضایی\t1402/01/05\n"
    frame = loaded(read_file(write(tmp_path, "a.tsv", text), applicants))
    assert column(frame, "first_name") == ["علی, حسن"]


def test_blank_lines_skipped_and_counted(tmp_path: Path, applicants: Source) -> None:
    text = f"\n ,, \n{HEADER}\n{ROW}\n\n , , ,,\n\t\nA2,0012345679,سارا,احمدی,1402/01/06\n\n"
    result = read_file(write(tmp_path, "a.csv", text), applicants)
    frame = loaded(result)
    assert column(frame, "_line") == [4, 8]
    assert column(frame, "application_id") == ["A1", "A2"]
    assert result.detail == "2 data rows, header on line 3"


def test_quoted_multiline_field_line_numbers(tmp_path: Path, applicants: Source) -> None:
    text = (
        f"{HEADER},notes\r\n"
        f'A1,0012345678,علی,رضایی,1402/01/05,"first\r\nsecond\nthird"\r\n'
        "\r\n"
        f'A2,0012345679,"سارا ""س""",احمدی,1402/01/06,x\r\n'
    )
    frame = loaded(read_file(write(tmp_path, "a.csv", text), applicants))
    assert column(frame, "_line") == [2, 6]
    assert json.loads(frame["_extra"][0]) == {"notes": "first\r\nsecond\nthird"}
    assert column(frame, "first_name") == ["علی", 'سارا "س"']
    assert raw(frame)[1] == ["A2", "0012345679", 'سارا "س"', "احمدی", "1402/01/06", "x"]


def test_unterminated_quote_is_unreadable(tmp_path: Path, applicants: Source) -> None:
    text = f'{HEADER}\n{ROW}\nA2,"0012345679,سارا,احمدی,1402/01/06\nA3,0012345670,مینا,کاظمی,1402/01/07\n'
    result = read_file(write(tmp_path, "a.csv", text), applicants)
    assert result.reason == reasons.UNREADABLE
    assert "line 3" in result.detail


def test_multiline_last_record_is_fine(tmp_path: Path, applicants: Source) -> None:
    text = f'{HEADER}\n{ROW}\nA2,0012345679,سارا,"احمدی\nدوم",1402/01/06'
    frame = loaded(read_file(write(tmp_path, "a.csv", text), applicants))
    assert column(frame, "_line") == [2, 3]
    assert column(frame, "last_name") == ["رضایی", "احمدی\nدوم"]
    assert column(frame, "registered_at") == ["1402/01/05", "1402/01/06"]


def test_values_kept_exactly_as_text(tmp_path: Path, applicants: Source) -> None:
    text = f"{HEADER}\n 007 ,0012345678,  علی ,1e5,1402/01/05\n"
    frame = loaded(read_file(write(tmp_path, "a.csv", text), applicants))
    assert frame.iloc[0, :5].tolist() == [" 007 ", "0012345678", "  علی ", "1e5", "1402/01/05"]


# --- headers -----------------------------------------------------------------------------------


def test_persian_aliases_and_spelling_variants(tmp_path: Path, applicants: Source) -> None:
    header = " شناسه درخواست ,كد ملي,نام,نام‌خانوادگی,تاریخ  ثبت‌نام,Mobile,رسته شغلي"
    text = f"{header}\nA1,0012345678,علی,رضایی,1402/01/05,09121234567,پوشاک\n"
    result = read_file(write(tmp_path, "a.csv", text), applicants)
    frame = loaded(result)
    assert result.header[0] == " شناسه درخواست "
    assert list(frame.columns[:7]) == [
        "application_id",
        "national_id",
        "first_name",
        "last_name",
        "mobile",
        "business_category",
        "registered_at",
    ]
    assert column(frame, "business_category") == ["پوشاک"]
    assert column(frame, "_extra") == [None]


def test_unknown_columns_kept_in_extra(tmp_path: Path, applicants: Source) -> None:
    text = f"{HEADER},توضیحات,,notes\n{ROW},یادداشت,,n1\n{ROW},,orphan,\n{ROW}\n"
    frame = loaded(read_file(write(tmp_path, "a.csv", text), applicants))
    assert [json.loads(value) for value in frame["_extra"]] == [
        {"توضیحات": "یادداشت", "notes": "n1"},
        {"توضیحات": "", "column 7": "orphan", "notes": ""},
        {"توضیحات": None, "notes": None},
    ]
    assert column(frame, "_malformed") == [False, False, False]


def test_ambiguous_columns(tmp_path: Path, applicants: Source) -> None:
    text = f"{HEADER},کد ملی\n{ROW},0012345678\n"
    result = read_file(write(tmp_path, "a.csv", text), applicants)
    assert result.reason == reasons.AMBIGUOUS_COLUMNS
    assert result.detail == "ambiguous columns: national_id (national_id | کد ملی)"
    assert result.frame is None


def test_missing_columns(tmp_path: Path, applicants: Source) -> None:
    text = "application_id,first_name,last_name\nA1,علی,رضایی\n"
    result = read_file(write(tmp_path, "a.csv", text), applicants)
    assert result.reason == reasons.MISSING_COLUMNS
    assert result.detail == "missing columns: national_id, registered_at"
    assert result.header == ["application_id", "first_name", "last_name"]


def test_missing_columns_checked_before_ambiguous(tmp_path: Path, applicants: Source) -> None:
    text = "application_id,national_id,کد ملی,first_name,last_name\nA1,1,1,علی,رضایی\n"
    result = read_file(write(tmp_path, "a.csv", text), applicants)
    assert result.reason == reasons.MISSING_COLUMNS
    assert result.detail == "missing columns: registered_at"


LOAN_HEADER = "loan_id,bank,national_id,loan_type,status"
LOAN_ROW = "L1,ملت,0012345678,انفرادی,پرداخت شده"


@pytest.mark.parametrize(
    "amounts, values, reason, detail",
    [
        ("", "", reasons.MISSING_COLUMNS, "missing columns: one of amount_rial / amount_toman"),
        (
            ",مبلغ (ریال),مبلغ تومان",
            ",500000000,50000000",
            reasons.MISSING_COLUMNS,
            "exactly one of amount_rial / amount_toman is allowed, found amount_rial, amount_toman",
        ),
        (",مبلغ (تومان)", ",50000000", None, "1 data rows, header on line 1"),
        (",amount_rial", ",500000000", None, "1 data rows, header on line 1"),
    ],
)
def test_loans_need_exactly_one_amount(
    tmp_path: Path, loans: Source, amounts: str, values: str, reason: str | None, detail: str
) -> None:
    text = f"{LOAN_HEADER}{amounts}\n{LOAN_ROW}{values}\n"
    result = read_file(write(tmp_path, "l.csv", text), loans)
    assert (result.reason, result.detail) == (reason, detail)


def test_loans_missing_required_and_amount(tmp_path: Path, loans: Source) -> None:
    result = read_file(write(tmp_path, "l.csv", "loan_id,bank\nL1,ملت\n"), loans)
    assert result.reason == reasons.MISSING_COLUMNS
    assert result.detail == (
        "missing columns: national_id, loan_type, status; missing columns: one of amount_rial / amount_toman"
    )


# --- row shapes --------------------------------------------------------------------------------


def test_malformed_rows_and_short_rows(tmp_path: Path, applicants: Source) -> None:
    text = (
        f"{HEADER}\n"
        f"{ROW},extra\n"  # one more non-empty field: malformed
        f"{ROW},,\n"  # extra empty trailing fields: fine
        f"{ROW}, ,\t\n"  # extra whitespace-only fields: fine
        "A4,0012345678,علی\n"  # missing trailing fields: empty
        f"A5,0012345678,,x,,,y\n"  # a value beyond the header after an empty one: malformed
    )
    frame = loaded(read_file(write(tmp_path, "a.csv", text), applicants))
    assert column(frame, "_malformed") == [True, False, False, False, True]
    assert column(frame, "_line") == [2, 3, 4, 5, 6]
    assert column(frame, "last_name") == ["رضایی", "رضایی", "رضایی", None, "x"]
    assert column(frame, "registered_at") == ["1402/01/05", "1402/01/05", "1402/01/05", None, ""]
    assert raw(frame) == [
        [*ROW.split(","), "extra"],
        [*ROW.split(","), "", ""],
        [*ROW.split(","), " ", "\t"],
        ["A4", "0012345678", "علی"],
        ["A5", "0012345678", "", "x", "", "", "y"],
    ]


def test_raw_escapes_json(tmp_path: Path, applicants: Source) -> None:
    text = f'{HEADER}\nA1,0012345678,"علی ""ع"" \\ x",رضایی,1402/01/05\n'
    frame = loaded(read_file(write(tmp_path, "a.csv", text), applicants))
    assert raw(frame) == [["A1", "0012345678", 'علی "ع" \\ x', "رضایی", "1402/01/05"]]


# --- extensions --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["A.CSV", "b.Tsv", "c.csv"])
def test_extension_in_any_case(tmp_path: Path, applicants: Source, name: str) -> None:
    frame = loaded(read_file(write(tmp_path, name, f"{HEADER}\n{ROW}\n"), applicants))
    assert column(frame, "application_id") == ["A1"]


@pytest.mark.parametrize("name", ["a.pdf", "a.xls", "a.csv.txt", "README"])
def test_unsupported_format(tmp_path: Path, applicants: Source, name: str) -> None:
    result = read_file(write(tmp_path, name, f"{HEADER}\n{ROW}\n"), applicants)
    assert result.reason == reasons.UNSUPPORTED_FORMAT
    assert result.frame is None


# --- xlsx --------------------------------------------------------------------------------------


def make_xlsx(path: Path, cells: dict[str, object], number_formats: dict[str, str] | None = None) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for ref, value in cells.items():
        sheet[ref] = value
    for ref, number_format in (number_formats or {}).items():
        sheet[ref].number_format = number_format
    workbook.save(path)
    return path


XLSX_HEADER = {
    "A1": "شماره پرونده",
    "B1": "کد ملی",
    "C1": "نام",
    "D1": "نام خانوادگی",
    "E1": "تاریخ ثبت نام",
    "F1": "تاریخ تولد",
    "G1": "notes",
}


def test_xlsx_numbers_as_text(tmp_path: Path, applicants: Source) -> None:
    cells: dict[str, object] = {
        **XLSX_HEADER,
        **{"A2": 101, "B2": 68415941, "C2": "علی", "D2": "رضایی", "E2": "1402/01/05", "G2": 500000000.0},
        **{"A3": 102.0, "B3": 12345678.0, "C3": "سارا", "D3": True, "E3": "1402/01/06", "G3": 1.5},
        **{"A4": "0103", "B4": "0012345678", "C4": "مینا", "D4": False, "E4": "1402/01/07", "G4": 1e-7},
    }
    result = read_file(make_xlsx(tmp_path / "a.xlsx", cells), applicants)
    frame = loaded(result)
    assert (result.encoding, result.delimiter) == ("xlsx", None)
    assert result.header == list(XLSX_HEADER.values())
    assert column(frame, "application_id") == ["101", "102", "0103"]
    assert column(frame, "national_id") == ["68415941", "12345678", "0012345678"]
    assert column(frame, "last_name") == ["رضایی", "true", "false"]
    assert [json.loads(value)["notes"] for value in frame["_extra"]] == ["500000000", "1.5", "0.0000001"]
    assert raw(frame)[0] == ["101", "68415941", "علی", "رضایی", "1402/01/05", "", "500000000"]
    assert column(frame, "_line") == [2, 3, 4]


def test_xlsx_dates(tmp_path: Path, applicants: Source) -> None:
    cells: dict[str, object] = {
        **XLSX_HEADER,
        **{"A2": "A1", "B2": "0012345678", "C2": "علی", "D2": "رضایی"},
        "E2": dt.date(2023, 5, 1),  # a date cell
        "F2": 30000,  # a plain number in a date column: an Excel serial
        "G2": dt.datetime(2024, 1, 2, 13, 45),  # a date cell outside date columns
        **{"A3": "A2", "B3": "0012345679", "C3": "سارا", "D3": "احمدی"},
        "E3": 45000.75,  # serial with a time of day: the time is dropped
        "F3": 45000,  # formatted as a date below: calamine gives a date
        "G3": 45000,  # a number outside date columns stays a number
    }
    result = read_file(make_xlsx(tmp_path / "a.xlsx", cells, {"F3": "yyyy-mm-dd"}), applicants)
    frame = loaded(result)
    assert column(frame, "registered_at") == ["2023-05-01", "2023-03-15"]
    assert column(frame, "birth_date") == ["1982-02-18", "2023-03-15"]
    assert [json.loads(value)["notes"] for value in frame["_extra"]] == ["2024-01-02", "45000"]


@pytest.mark.parametrize(
    "serial, expected",
    [
        (1, "1900-01-01"),
        (59, "1900-02-28"),
        (60, None),  # Excel's fake 1900-02-29
        (61, "1900-03-01"),
        (45000.99, "2023-03-15"),
        (0, None),
        (-3, None),
        (1e12, None),
    ],
)
def test_excel_serial_date(serial: float, expected: str | None) -> None:
    assert excel_serial_date(serial) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        (68415941.0, "68415941"),
        (500000000.0, "500000000"),
        (7, "7"),
        (2.5, "2.5"),
        (1e-7, "0.0000001"),
        (1e20, "100000000000000000000"),
        (-0.0, "0"),
    ],
)
def test_number_text(value: float, expected: str) -> None:
    assert number_text(value) == expected


def test_xlsx_row_numbers_with_blank_rows(tmp_path: Path, applicants: Source) -> None:
    cells: dict[str, object] = {
        "B3": "application_id",
        "C3": "national_id",
        "D3": "first_name",
        "E3": "last_name",
        "F3": "registered_at",
        **{"B4": "A1", "C4": "0012345678", "D4": "علی", "E4": "رضایی", "F4": "1402/01/05"},
        "C5": "   ",  # whitespace only: a blank row
        **{"B7": "A2", "C7": "0012345679", "D7": "سارا", "E7": "احمدی", "F7": "1402/01/06"},
    }
    result = read_file(make_xlsx(tmp_path / "a.xlsx", cells), applicants)
    frame = loaded(result)
    assert column(frame, "_line") == [4, 7]
    assert column(frame, "application_id") == ["A1", "A2"]
    assert result.header == ["application_id", "national_id", "first_name", "last_name", "registered_at"]
    assert raw(frame)[0] == ["A1", "0012345678", "علی", "رضایی", "1402/01/05"]
    assert result.detail == "2 data rows, header on line 3"


def test_xlsx_header_only_is_empty(tmp_path: Path, applicants: Source) -> None:
    result = read_file(make_xlsx(tmp_path / "a.XLSX", dict(XLSX_HEADER)), applicants)
    assert (result.reason, result.empty, result.encoding) == (None, True, "xlsx")


def test_xlsx_missing_columns(tmp_path: Path, applicants: Source) -> None:
    result = read_file(make_xlsx(tmp_path / "a.xlsx", {"A1": "کد ملی", "A2": "0012345678"}), applicants)
    assert result.reason == reasons.MISSING_COLUMNS
    assert result.detail == "missing columns: application_id, first_name, last_name, registered_at"


def test_broken_xlsx_is_unreadable(tmp_path: Path, applicants: Source) -> None:
    result = read_file(write(tmp_path, "a.xlsx", os.urandom(2048)), applicants)
    assert result.reason == reasons.UNREADABLE
    assert result.detail.startswith("not a valid xlsx workbook")


def test_zip_that_is_not_a_workbook_is_unreadable(tmp_path: Path, applicants: Source) -> None:
    with zipfile.ZipFile(tmp_path / "a.xlsx", "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    result = read_file(tmp_path / "a.xlsx", applicants)
    assert result.reason == reasons.UNREADABLE


def test_csv_named_xlsx_is_unreadable(tmp_path: Path, applicants: Source) -> None:
    result = read_file(write(tmp_path, "a.xlsx", f"{HEADER}\n{ROW}\n"), applicants)
    assert result.reason == reasons.UNREADABLE


# --- files too big to hold -------------------------------------------------------------------------


def _rows(count: int) -> str:
    return "".join(f"A{n},00123456{n % 100:02d},علی,رضایی,1402/01/05\n" for n in range(count))


def test_a_file_over_chunk_rows_is_streamed_in_chunks_equal_to_the_whole(tmp_path: Path, applicants: Source) -> None:
    path = write(tmp_path, "a.csv", f"\n{HEADER}\n{_rows(4)}\n{_rows(4)[:-1]};\n")
    whole = loaded(read_file(path, applicants))
    result = read_file(path, applicants, chunk_rows=3)
    assert result.streamed and result.frame is None and result.reason is None and result.header_line == 2
    first, second = result.chunks(), result.chunks()  # each call reads the file again, from the start
    chunks = list(first)
    assert [len(chunk) for chunk in chunks] == [3, 3, 2]
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)  # labels, lines, raw rows and all
    assert [len(chunk) for chunk in second] == [3, 3, 2]
    assert not read_file(path, applicants, chunk_rows=8).streamed  # not more than chunk_rows: whole
    smaller = read_file(path, applicants, chunk_rows=3, stream_rows=2)  # streamed in chunks of its own size
    chunks = list(smaller.chunks())
    assert [len(chunk) for chunk in chunks] == [2, 2, 2, 2]
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)


def test_a_broken_quote_beyond_the_first_chunk_surfaces_while_streaming(tmp_path: Path, applicants: Source) -> None:
    path = write(tmp_path, "a.csv", f'{HEADER}\n{_rows(5)}A9,"0012345679,سارا,احمدی,1402/01/06\n{_rows(2)}')
    assert read_file(path, applicants).reason == reasons.UNREADABLE
    result = read_file(path, applicants, chunk_rows=2)
    assert result.streamed
    with pytest.raises(UnreadableFile, match="line 7"):
        list(result.chunks())
