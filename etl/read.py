"""Read one provincial file into a table of text, with canonical column names.

Everything is read as text: the encoding and the delimiter are decided
deterministically (never guessed silently wrong), headers are mapped to the
contract's canonical names, and each row keeps its physical line number and its
original cells so that a rejected row can be sent back as it came.

Decisions the contract leaves open:
- Windows-1256 is accepted when at least 80% of the non-ASCII letters are Arabic
  script and at most 5% as many Arabic/Latin junctions inside words as Arabic
  letters (Latin text in another code page, decoded as cp1256, fails both).
- A row is malformed when a non-empty (not whitespace-only) field lies beyond the
  header's last cell; missing trailing fields are NA.
- A header cell that is empty but whose column holds a value is kept in ``_extra``
  as "column N"; a repeated unknown header name gets " (column N)" appended.
- An unterminated quote that swallows the end of a file makes it unreadable.
- A file with only blank lines is empty, like a 0-byte file (of any extension).
- xlsx: the sheet's used range is the table (its width is the header's width);
  an Excel serial 60 (the fake 1900-02-29), 0 or a negative stays a number.

Hostile and broken files (every limit is a module constant below; each refusal is
``unreadable`` with a detail naming the limit):
- An .xlsx is checked as a zip before anything in it is unpacked, from its central
  directory alone: not a zip, more than MAX_XLSX_MEMBERS members, more than
  MAX_XLSX_UNCOMPRESSED bytes unpacked in all, or a member over XLSX_RATIO_FROM bytes
  unpacking more than MAX_XLSX_RATIO times its packed size is refused. Only then is
  each member inflated in 1 MiB pieces that are thrown away (never held whole): a member
  that inflates beyond the size its directory entry declares (a lying zip bomb), or
  that is encrypted or corrupt, is refused, and so is a sheet whose cell references
  span more than MAX_CELLS cells (calamine allocates the whole span: two cells at A1
  and XFD1048576 would abort the process, not raise).
- A text cell may be up to MAX_CELL_CHARS characters (the csv module's default of
  128 KiB is raised for every reader, process-wide); a longer cell makes the file
  unreadable rather than one malformed row (the csv reader can't resume inside it).
- A header may have up to MAX_COLUMNS columns (Excel's own limit), and a table up to
  MAX_CELLS cells (rows times the header's width: short rows are padded to it);
  beyond either the file is unreadable. Thousands of columns are fine.
"""

from __future__ import annotations

import codecs
import copy
import csv
import gc
import io
import json
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import chain, islice
from pathlib import Path

import numpy as np
import pandas as pd

from etl import reasons
from etl.contract import Source

TEXT_EXTENSIONS = frozenset({".csv", ".tsv"})
XLSX_EXTENSIONS = frozenset({".xlsx"})
# Candidate delimiters, in the order that wins a tie.
DELIMITERS = ("\t", ";", ",")

# Limits against hostile files (see the module docs).
MAX_XLSX_UNCOMPRESSED = 512 * 1024 * 1024  # bytes unpacked, all members together
MAX_XLSX_RATIO = 200  # unpacked size / packed size of one member ...
XLSX_RATIO_FROM = 1024 * 1024  # ... counted for members unpacking to more than this
MAX_XLSX_MEMBERS = 10_000
MAX_CELL_CHARS = 64 * 1024 * 1024  # characters in one text cell
MAX_COLUMNS = 16_384  # Excel's own limit (column XFD)
MAX_CELLS = 30_000_000  # rows x columns of one table (about 1 GB in calamine's dense range)

# Windows-1256 is accepted only when its non-ASCII letters are mostly Arabic script
# and Arabic-script characters rarely touch a Latin letter inside a word (which is
# what Latin text in another code page looks like when decoded as cp1256).
MIN_ARABIC_SHARE = 0.8
MAX_MIXED_SHARE = 0.05

_C0_BYTES = bytes(b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D)) + b"\x7f"
_NOT_C0_BYTES = bytes(b for b in range(256) if b not in _C0_BYTES)
_UTF8_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_CONTENT = re.compile(r'[^\s,;"]')
_LINE_END = re.compile(r"[\r\n]")
_ARABIC_LETTER = re.compile("[\u0621-\u063a\u0641-\u064a\u066e-\u06d3\u06d5\u06ee\u06ef\u06fa-\u06ff]")
_LATIN_HIGH_LETTER = re.compile("[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")
_ARABIC_OTHER = re.compile("[\u0600-\u06ff]")

_EXCEL_EPOCH = date(1899, 12, 30)  # serial 61 and later (after the fake 1900-02-29)
_EXCEL_EPOCH_EARLY = date(1899, 12, 31)  # serials 1-59: serial 1 is 1900-01-01

_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class UnreadableFile(Exception):
    """The file's bytes can't be decided to be text in a supported encoding, or parsed."""


@dataclass
class ReadResult:
    """What reading one file gave: a reason to refuse it, an empty file, or a table of text."""

    reason: str | None
    empty: bool = False
    frame: pd.DataFrame | None = None
    header: list[str] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    detail: str = ""
    header_line: int = 0
    # A text file of more than ``chunk_rows`` data rows is not tabulated whole: each call
    # parses it again and yields frames of at most ``stream_rows`` rows (index labels run on
    # across frames); a parse error on the way raises UnreadableFile.
    streamed: bool = False
    chunks: Callable[[], Iterator[pd.DataFrame]] | None = None


def read_file(path: Path, source: Source, chunk_rows: int | None = None, stream_rows: int | None = None) -> ReadResult:
    """Read one file of ``source`` into text columns named canonically (see module docs).

    A CSV/TSV file of more than ``chunk_rows`` data rows comes back streamed (see
    ReadResult.chunks), in chunks of ``stream_rows`` rows (default ``chunk_rows``):
    its rows are never all in memory at once.
    Raises OSError only when the file itself can't be opened.
    """
    suffix = path.suffix.lower()
    if suffix not in TEXT_EXTENSIONS and suffix not in XLSX_EXTENSIONS:
        shown = path.suffix or "none"
        return ReadResult(reasons.UNSUPPORTED_FORMAT, detail=f"unsupported file extension: {shown}")
    data = path.read_bytes()
    if not data:
        return ReadResult(None, empty=True, detail="0-byte file")
    with _gc_paused():
        if suffix in XLSX_EXTENSIONS:
            try:
                check_workbook_zip(data)
            except UnreadableFile as exc:
                return ReadResult(reasons.UNREADABLE, encoding="xlsx", detail=str(exc))
            return _read_xlsx(data, source)
        return _read_text(data, source, chunk_rows, stream_rows or chunk_rows)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: reading makes millions of acyclic objects, and its
    passes over them would otherwise take as long as the parsing itself."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- text files --------------------------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode a text file's bytes: BOM, then strict UTF-8, then Persian Windows-1256.

    Returns (text, encoding name); raises UnreadableFile when no encoding can be decided
    or the text holds control characters other than tab, CR and LF.
    """
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in data:
        raise UnreadableFile("NUL bytes without a UTF-16 byte order mark")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_cp1256(data)
            encoding = "cp1256"
        else:
            encoding = "utf-8"
    if encoding in ("utf-8-sig", "utf-16"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"invalid {encoding} text at byte {exc.start}") from None
    control = _CONTROL.search(text) if _may_hold_controls(data, encoding) else None
    if control is not None:
        line = len(_NEWLINE.findall(text, 0, control.start())) + 1
        raise UnreadableFile(f"control character U+{ord(control.group()):04X} on line {line} ({encoding})")
    return text, encoding


def _may_hold_controls(data: bytes, encoding: str) -> bool:
    """Cheap byte-level test: False when the text surely has no forbidden control character."""
    if encoding == "utf-16":
        return True
    if data.translate(None, _NOT_C0_BYTES):  # leaves only C0 controls other than tab, CR, LF, and DEL
        return True
    # In UTF-8, U+0080-U+009F are C2 80-C2 9F; in Windows-1256 those bytes are letters and marks.
    return encoding != "cp1256" and _UTF8_C1.search(data) is not None


def _decode_cp1256(data: bytes) -> str:
    """Decode as Windows-1256, accepted only when the result reads as Persian/Arabic text.

    Counted on the bytes (one class letter per byte, see ``_CP1256_CLASSES``), which is fast.
    """
    try:
        text = data.decode("cp1256")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"neither UTF-8 nor Windows-1256 (byte {exc.start})") from None
    classes = data.translate(_CP1256_CLASSES)
    arabic = classes.count(b"a")
    latin = classes.count(b"l")
    mixed = sum(classes.count(pair) for pair in _MIXED_PAIRS)
    if arabic == 0 or arabic < MIN_ARABIC_SHARE * (arabic + latin) or mixed > MAX_MIXED_SHARE * arabic:
        raise UnreadableFile(
            "not UTF-8, and not Persian Windows-1256 text "
            f"({arabic} Arabic-script letters, {latin} other non-ASCII letters, "
            f"{mixed} Arabic/Latin junctions inside words)"
        )
    return text


def _cp1256_classes() -> bytes:
    """Byte -> class: a Arabic letter, m other Arabic-script char, L ASCII letter, l other Latin letter."""
    table = bytearray(b" " * 256)
    for byte in range(256):
        char = bytes([byte]).decode("cp1256")
        if _ARABIC_LETTER.match(char):
            table[byte] = ord("a")
        elif _ARABIC_OTHER.match(char):
            table[byte] = ord("m")
        elif char.isascii() and char.isalpha():
            table[byte] = ord("L")
        elif _LATIN_HIGH_LETTER.match(char):
            table[byte] = ord("l")
    return bytes(table)


_CP1256_CLASSES = _cp1256_classes()
# An Arabic-script character directly beside a Latin letter: junk, not Persian.
_MIXED_PAIRS = tuple(pair for x in b"am" for y in b"Ll" for pair in (bytes([x, y]), bytes([y, x])))


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a header line: the most frequent of tab, ';' and ',' outside quotes.

    Ties go to tab, then semicolon, then comma; a line with none of them is one column (',').
    """
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=counts.__getitem__)  # max keeps the first of equals
    return best if counts[best] else ","


def _first_content_line(text: str) -> str | None:
    """The first physical line holding more than whitespace, delimiters and quotes."""
    found = _CONTENT.search(text)
    if found is None:
        return None
    start = max(text.rfind("\n", 0, found.start()), text.rfind("\r", 0, found.start())) + 1
    end = _LINE_END.search(text, found.start())
    return text[start : end.start() if end else len(text)]


def _read_text(
    data: bytes, source: Source, chunk_rows: int | None = None, stream_rows: int | None = None
) -> ReadResult:
    """Read a .csv/.tsv file: decode, sniff the delimiter, parse with the csv module."""
    try:
        text, encoding = decode_text(data)
    except UnreadableFile as exc:
        return ReadResult(reasons.UNREADABLE, detail=str(exc))
    header_line = _first_content_line(text)
    if header_line is None:
        return ReadResult(None, empty=True, encoding=encoding, detail="no header and no data rows")
    delimiter = sniff_delimiter(header_line)
    # Without quotes, backslashes or in-cell tabs no cell needs JSON escaping (controls are refused).
    plain = '"' not in text and "\\" not in text and (delimiter == "\t" or "\t" not in text)
    del text  # parse from the bytes again rather than hold a second copy of the text

    def records() -> _CsvRecords:
        return _CsvRecords(io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=""), delimiter)

    def checked(parsed: _CsvRecords) -> None:
        if parsed.open_end is not None:
            _check_last_record(data, encoding, delimiter, parsed.open_end)

    parsed = records()
    try:
        result = _tabulate(parsed, source, plain, chunk_rows)
        if result.streamed:
            result.chunks = lambda: _stream(records, checked, source, plain, stream_rows or chunk_rows)
        else:
            checked(parsed)
    except (csv.Error, UnreadableFile) as exc:
        return ReadResult(reasons.UNREADABLE, encoding=encoding, delimiter=delimiter, detail=str(exc))
    result.encoding = encoding
    result.delimiter = delimiter
    return result


class _CsvRecords:
    """CSV records as (physical start line, cells); remembers where a multi-line last record began."""

    def __init__(self, stream: io.TextIOWrapper, delimiter: str) -> None:
        csv.field_size_limit(MAX_CELL_CHARS)  # process-wide; set here so that nobody's lower limit applies
        self._reader = csv.reader(stream, delimiter=delimiter)
        self.open_end: int | None = None

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader
        start = previous = 0
        try:
            for row in reader:
                start = previous + 1
                previous = reader.line_num
                yield start, row
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise UnreadableFile(
                    f"a cell longer than {MAX_CELL_CHARS:,} characters in the record starting on line {previous + 1}"
                ) from None
            raise UnreadableFile(f"CSV error after line {reader.line_num}: {exc}") from None
        # A record spanning the last lines may be an unterminated quote that swallowed the rest.
        self.open_end = start if previous > start else None


def _check_last_record(data: bytes, encoding: str, delimiter: str, start: int) -> None:
    """Refuse the file when its multi-line last record (from line ``start``) never closes its quote."""
    text = data.decode(encoding)
    offset = 0
    for _ in range(start - 1):
        newline = _NEWLINE.search(text, offset)
        if newline is None:
            return
        offset = newline.end()
    try:
        for _row in csv.reader(io.StringIO(text[offset:], newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        raise UnreadableFile(f"broken quoting in the record starting on line {start}: {exc}") from None


# --- xlsx --------------------------------------------------------------------------------------

_CENTRAL_DIRECTORY_ENTRY = b"PK\x01\x02"
_INFLATE_PIECE = 1024 * 1024
# Cell (and row) references in sheet XML, in any spacing or quoting XML allows.
_REF = rb"""r\s*=\s*["']\s*"""
_CELL_COLUMN = re.compile(_REF + rb"([A-Za-z]+)[0-9]")
_CELL_ROW = re.compile(_REF + rb"[A-Za-z]*([0-9]+)\s*[\"']")
# Fast test: a reference beyond column BL (64) or row 468,749 (64 x 468,749 < MAX_CELLS); only
# a member where one is found has its references scanned exactly (slow, but legitimate sheets
# that wide or that long are rare).
_FAR_REF = re.compile(
    _REF + rb"(?:[A-Za-z]{3,}|[C-Zc-z][A-Za-z]|[Bb][M-Zm-z]|[A-Za-z]*0*(?:[1-9][0-9]{6,}|[5-9][0-9]{5}|4[7-9][0-9]{4}))"
)
_OVERLAP = 256  # bytes of one inflated piece kept before the next, so a reference split between them is seen


def check_workbook_zip(data: bytes) -> None:
    """Raise UnreadableFile unless ``data`` is a zip that is safe to hand to the workbook reader.

    First from the central directory alone (nothing unpacked): a zip at all, its member count,
    total unpacked size and per-member ratio. Then each member is inflated piece by piece and
    thrown away, to prove it is no larger than declared and that its sheet stays within MAX_CELLS.
    """
    if data.count(_CENTRAL_DIRECTORY_ENTRY) > MAX_XLSX_MEMBERS:  # before zipfile parses every entry
        raise UnreadableFile(f"zip bomb: more than {MAX_XLSX_MEMBERS:,} members in the workbook")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            _check_declared_sizes(members)
            for member in members:
                _check_member(archive, member)
    except UnreadableFile:
        raise
    except zipfile.BadZipFile as exc:
        raise UnreadableFile(f"not a valid xlsx workbook (bad zip: {exc})") from None
    except (
        zipfile.LargeZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as exc:  # RuntimeError: an encrypted member
        raise UnreadableFile(f"not a valid xlsx workbook (broken zip: {exc})") from None


def _check_declared_sizes(members: list[zipfile.ZipInfo]) -> None:
    if len(members) > MAX_XLSX_MEMBERS:
        raise UnreadableFile(f"zip bomb: {len(members):,} members in the workbook, at most {MAX_XLSX_MEMBERS:,}")
    total = sum(member.file_size for member in members)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise UnreadableFile(
            f"zip bomb: the workbook would unpack to {total:,} bytes, at most {MAX_XLSX_UNCOMPRESSED:,}"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > XLSX_RATIO_FROM and ratio > MAX_XLSX_RATIO:
            raise UnreadableFile(
                f"zip bomb: member {member.filename!r} would unpack {member.file_size:,} bytes from "
                f"{member.compress_size:,} ({ratio:,.0f} to 1, at most {MAX_XLSX_RATIO} to 1)"
            )


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Inflate one member in pieces: no more bytes than declared, and no reference too far out."""
    probe = copy.copy(member)
    probe.file_size = member.file_size + 1  # so that zipfile hands over a byte too many, if there is one
    probe.CRC = None  # type: ignore[assignment]  # (the workbook reader checks it) else a liar fails as "Bad CRC"
    inflated = 0
    tail = b""
    far = False
    with archive.open(probe) as stream:
        while piece := stream.read(_INFLATE_PIECE):
            inflated += len(piece)
            if inflated > member.file_size:
                raise UnreadableFile(
                    f"zip bomb: member {member.filename!r} unpacks to more than the {member.file_size:,} "
                    "bytes it declares"
                )
            window = tail + piece
            far = far or _FAR_REF.search(window) is not None
            tail = window[-_OVERLAP:]
    if far:
        _check_sheet_span(archive, member)


def _check_sheet_span(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Refuse a sheet whose cell references span more than MAX_CELLS cells (exact, slow scan)."""
    max_row = max_column = 0
    tail = b""
    with archive.open(member) as stream:
        while piece := stream.read(_INFLATE_PIECE):
            window = tail + piece
            max_row = max(max_row, max(map(int, _CELL_ROW.findall(window)), default=0))
            for letters in set(_CELL_COLUMN.findall(window)):
                max_column = max(max_column, _column_number(letters.upper()))
            tail = window[-_OVERLAP:]
    if max_row * max_column > MAX_CELLS:
        raise UnreadableFile(
            f"{member.filename!r} has cells up to row {max_row:,} and column {max_column:,}: "
            f"a table of more than {MAX_CELLS:,} cells"
        )


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _read_xlsx(data: bytes, source: Source) -> ReadResult:
    """Read the first sheet of a workbook with python-calamine; cells become text."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not workbook.sheet_names:
            raise UnreadableFile("the workbook has no sheets")
        sheet = workbook.get_sheet_by_index(0)
        cells = sheet.to_python()
        first_row = sheet.start[0] if sheet.start else 0
    except UnreadableFile as exc:
        return ReadResult(reasons.UNREADABLE, encoding="xlsx", detail=str(exc))
    except (CalamineError, ValueError, OSError) as exc:
        return ReadResult(reasons.UNREADABLE, encoding="xlsx", detail=f"not a valid xlsx workbook: {exc}")
    records = _xlsx_records(cells, first_row + 1, source)
    result = _tabulate(records, source)
    result.encoding = "xlsx"
    return result


def _xlsx_records(rows: Sequence[Sequence[object]], first_line: int, source: Source) -> Iterator[tuple[int, list[str]]]:
    """Sheet rows as (sheet row number, cell texts); date columns are known once the header is."""
    dates: frozenset[int] | None = None
    for offset, row in enumerate(rows):
        if dates is None:
            cells = [cell_text(value) for value in row]
            if not _is_blank(cells):
                dates = frozenset(
                    i
                    for i, cell in enumerate(cells)
                    if (name := source.canonical_name(cell)) and source.column(name).kind == "date"
                )
        else:
            cells = [value if type(value) is str else cell_text(value, i in dates) for i, value in enumerate(row)]
        yield first_line + offset, cells


def cell_text(value: object, date_column: bool = False) -> str:
    """A spreadsheet cell as text; a number in a date column is an Excel serial date."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if date_column:
            serial = excel_serial_date(value)
            if serial is not None:
                return serial
        return number_text(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return "" if value is None else str(value)


def number_text(value: float) -> str:
    """A number as plain text: whole numbers without '.0', never exponent notation."""
    if isinstance(value, int) or not math.isfinite(value):
        return str(value)
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    return format(Decimal(text), "f") if "e" in text else text


def excel_serial_date(serial: float) -> str | None:
    """ISO date of an Excel 1900-system serial (time dropped); None for 0, negatives and 1900-02-29."""
    if not math.isfinite(serial) or serial < 1:
        return None
    days = int(serial)
    if days == 60:  # Excel's fake 1900-02-29
        return None
    try:
        day = (_EXCEL_EPOCH_EARLY if days < 60 else _EXCEL_EPOCH) + timedelta(days=days)
    except OverflowError:
        return None
    return day.isoformat()


# --- header and table --------------------------------------------------------------------------


def _is_blank(cells: list[str]) -> bool:
    """A row of only whitespace (or nothing) between its delimiters."""
    joined = "".join(cells)
    return not joined or joined.isspace()


def _column_problem(header: list[str], source: Source) -> tuple[str, str] | None:
    """missing_columns or ambiguous_columns (in that order) with a detail, or None."""
    positions = _canonical_positions(header, source)
    problems = []
    missing = [name for name in source.required_columns() if name not in positions]
    if missing:
        problems.append("missing columns: " + ", ".join(missing))
    for group in source.one_of:
        found = [name for name in group if name in positions]
        if not found:
            problems.append("missing columns: one of " + " / ".join(group))
        elif len(found) > 1:
            problems.append("exactly one of " + " / ".join(group) + " is allowed, found " + ", ".join(found))
    if problems:
        return reasons.MISSING_COLUMNS, "; ".join(problems)
    ambiguous = [
        f"{name} ({' | '.join(header[i].strip() for i in where)})"
        for name, where in positions.items()
        if len(where) > 1
    ]
    if ambiguous:
        return reasons.AMBIGUOUS_COLUMNS, "ambiguous columns: " + ", ".join(ambiguous)
    return None


def _canonical_positions(header: list[str], source: Source) -> dict[str, list[int]]:
    positions: dict[str, list[int]] = {}
    for index, cell in enumerate(header):
        name = source.canonical_name(cell)
        if name is not None:
            positions.setdefault(name, []).append(index)
    return positions


def _extra_keys(header: list[str], source: Source) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Keys for non-canonical columns: (named unknown columns, unnamed columns), as (index, key)."""
    named: list[tuple[int, str]] = []
    unnamed: list[tuple[int, str]] = []
    used: set[str] = set()
    for index, cell in enumerate(header):
        if source.canonical_name(cell) is not None:
            continue
        key = cell if cell.strip() else f"column {index + 1}"
        if key in used:
            key = f"{key} (column {index + 1})"
        used.add(key)
        (named if cell.strip() else unnamed).append((index, key))
    return named, unnamed


def _header(rows_iter: Iterator[tuple[int, list[str]]], source: Source) -> ReadResult | tuple[list[str], int]:
    """The header and its line, or the result when the file ends there or its header is refused."""
    header: list[str] | None = None
    header_line = 0
    for line, cells in rows_iter:
        if not _is_blank(cells):
            header, header_line = cells, line
            break
    if header is None:
        return ReadResult(None, empty=True, detail="no header and no data rows")
    if len(header) > MAX_COLUMNS:
        detail = f"the header on line {header_line} has {len(header):,} columns, at most {MAX_COLUMNS:,}"
        return ReadResult(reasons.UNREADABLE, detail=detail)

    problem = _column_problem(header, source)
    if problem is not None:
        # Read to the end all the same: a file that can't be parsed is unreadable first.
        data_rows = sum(not _is_blank(cells) for _line, cells in rows_iter)
        if data_rows:
            return ReadResult(problem[0], header=header, detail=problem[1])
        return ReadResult(None, empty=True, header=header, detail="header and no data rows")
    return header, header_line


def _data_records(rows_iter: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    return (record for record in rows_iter if (joined := "".join(record[1])) and not joined.isspace())


def _tabulate(
    records: Iterable[tuple[int, list[str]]], source: Source, plain: bool = False, chunk_rows: int | None = None
) -> ReadResult:
    """Find the header, check it, and gather the data rows into text columns.

    ``plain`` says that no cell can need JSON escaping, so raw rows are joined directly.
    With more than ``chunk_rows`` data rows, stops there and says the file is to be streamed
    (the caller sets ``chunks``).
    """
    rows_iter = iter(records)
    found = _header(rows_iter, source)
    if isinstance(found, ReadResult):
        return found
    header, header_line = found
    data = _data_records(rows_iter)
    # Comprehensions rather than one loop with appends: this is the hot path.
    kept = list(data) if chunk_rows is None else list(islice(data, chunk_rows + 1))
    if not kept:
        return ReadResult(None, empty=True, header=header, detail="header and no data rows")
    if chunk_rows is not None and len(kept) > chunk_rows:
        return ReadResult(
            None,
            header=header,
            header_line=header_line,
            streamed=True,
            detail=f"more than {chunk_rows:,} data rows, header on line {header_line}",
        )
    if len(kept) * len(header) > MAX_CELLS:
        return ReadResult(
            reasons.UNREADABLE,
            header=header,
            detail=f"{len(kept):,} data rows of {len(header):,} columns: more than {MAX_CELLS:,} cells",
        )
    frame = _rows_frame(kept, header, source, plain, first_label=0)
    bad = int(frame["_malformed"].sum())
    detail = f"{len(frame)} data rows, header on line {header_line}" + (f", {bad} malformed" if bad else "")
    return ReadResult(None, frame=frame, header=header, header_line=header_line, detail=detail)


def _stream(
    records: Callable[[], _CsvRecords],
    checked: Callable[[_CsvRecords], None],
    source: Source,
    plain: bool,
    chunk_rows: int,
) -> Iterator[pd.DataFrame]:
    """The data rows of a text file again, ``chunk_rows`` at a time (see ReadResult.chunks)."""
    parsed = records()
    rows_iter = iter(parsed)
    found = _header(rows_iter, source)
    if isinstance(found, ReadResult):  # the first pass found a header: the bytes changed under us
        raise UnreadableFile("the file changed while it was being read")
    header, _line = found
    data = _data_records(rows_iter)
    first_label = 0
    while kept := list(islice(data, chunk_rows)):
        if (first_label + len(kept)) * len(header) > MAX_CELLS:
            raise UnreadableFile(
                f"more than {first_label + len(kept) - 1:,} data rows of {len(header):,} columns:"
                f" more than {MAX_CELLS:,} cells"
            )
        yield _rows_frame(kept, header, source, plain, first_label)
        first_label += len(kept)
    checked(parsed)


def _rows_frame(
    kept: list[tuple[int, list[str]]], header: list[str], source: Source, plain: bool, first_label: int
) -> pd.DataFrame:
    """Data records as text columns named canonically, with _line, _raw, _extra and _malformed."""
    lines = np.array([record[0] for record in kept], dtype=np.int64)
    if plain:
        raws = ['["' + '","'.join(record[1]) + '"]' for record in kept]
    else:
        raws = [_raw_json(record[1]) for record in kept]
    rows: list[Sequence[str | None]] = [record[1] for record in kept]
    del kept

    width = len(header)
    malformed = np.zeros(len(rows), dtype=bool)
    for index in [k for k, cells in enumerate(rows) if len(cells) != width]:
        cells = rows[index]
        if len(cells) > width:
            malformed[index] = any(cell and not cell.isspace() for cell in cells[width:])
            rows[index] = cells[:width]
        else:
            rows[index] = [*cells, *([None] * (width - len(cells)))]

    named, unnamed = _extra_keys(header, source)
    has_extra = bool(named or unnamed)
    extras = [_extra_json(cells, named, unnamed) for cells in rows] if has_extra else [None] * len(rows)
    # One flat array of every cell, then a strided view per column: far faster than a list per column.
    table = np.array(list(chain.from_iterable(rows)), dtype=object).reshape(len(rows), width)
    del rows
    positions = _canonical_positions(header, source)
    columns: dict[str, object] = {
        name: pd.array(table[:, positions[name][0]], dtype="string")
        for name in source.column_names
        if name in positions
    }
    del table
    columns["_line"] = lines
    columns["_raw"] = pd.array(raws, dtype="string")
    columns["_extra"] = pd.array(extras, dtype="string")
    columns["_malformed"] = malformed
    return pd.DataFrame(columns, index=pd.RangeIndex(first_label, first_label + len(lines)), copy=False)


def _raw_json(cells: list[str]) -> str:
    """A row's cells as a JSON list (joined directly when no cell needs escaping)."""
    if _NEEDS_ESCAPE.search("".join(cells)):
        return _to_json(cells)
    return '["' + '","'.join(cells) + '"]'


def _extra_json(
    cells: Sequence[str | None], named: list[tuple[int, str]], unnamed: list[tuple[int, str]]
) -> str | None:
    """JSON of a row's non-canonical columns: every named one, and unnamed ones holding a value."""
    extra = {key: cells[index] for index, key in named}
    for index, key in unnamed:
        value = cells[index]
        if value is not None and value.strip():
            extra[key] = value
    return _to_json(extra) if extra else None
