"""Sample provincial drops for all 31 provinces, and the truth the warehouse must then hold.

``build_plan`` makes a deterministic plan of files in two batches: realistic records
written in every format and spelling the contract accepts, bad rows of every row
reason, files refused whole for every file reason, resends, and later updates.

``DropPlan.truth`` is an oracle written independently of the pipeline: it replays the
contract (file order, seen files, keys, later-wins, people and flags) over the records
the generator meant to write, not over the files, and returns what the reporting views
must contain after batch 1, or after batch 1 and then batch 2. It also lists the duplicate
identities the plan plants (``suspected_duplicates``: one person under two national IDs;
``suspected_refused_links``: a refused row and the person its mistyped ID belongs to), which
the matching stage (etl.match) must report; the bulk population is too small and too varied
for any other pair to be likely.

Readings of the contract the truth relies on (where CONTRACT.md leaves room):

- A file refused whole, a duplicate_file and an empty file report rows_read = rows_loaded =
  rows_rejected = 0; file_reason is the reason code for "rejected", "duplicate_file" for a
  duplicate, and null otherwise. rows_loaded = rows_read - rows_rejected, so identical
  duplicate rows of one file both count as loaded (they make one record).
- Empty files are empty every time (checked before duplicates). A resent copy of a file that
  was refused for its format or content (not its place) is a duplicate_file.
- bank and loan_id are the normalised text (etl.persian.normalise_text) of the row that won:
  «بانك ملت» is stored «بانک ملت», but «بانک‌ملت» keeps its ZWNJ (same key, other text).
- A province value naming no province at all («نامعلوم», IR-99) is province_mismatch.
- Whitespace-only values are empty; a supporter_id of blanks names no supporter.
- Optional dates that are invalid or in the future are emptied, which changes the date used for
  the home province, the cap year and the month (approved_at empty -> disbursed_at).
- Malformed rows fill every header field and add non-empty fields, so both readings of "more
  non-empty fields than the header" agree; extra trailing empty fields are harmless.
- No file has every row rejected (its status would be open to argument).
- A loan belongs to the province whose file sent its current version; no loan key moves
  between provinces in the plan.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import re
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, cast

import jdatetime
from openpyxl import Workbook

from etl import reasons
from etl.contract import SOURCES, Column, contract
from etl.persian import match_key, normalise_text

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = Path("/work/shared/reference")

BATCH_START = {
    1: datetime(2025, 1, 1, tzinfo=UTC).timestamp(),
    2: datetime(2025, 6, 1, tzinfo=UTC).timestamp(),
}
FILE_STEP_SECONDS = 60
CHUNK_ROWS = 4000

MIN_DATE = date(2019, 3, 21)  # 1398/01/01
MAX_DATE = date(2025, 9, 22)  # 1404/06/31: every generated date is well before any run day
EXCEL_EPOCH = date(1899, 12, 30)

SILENT = ("IR-16", "IR-20", "IR-29")  # send nothing at all
NO_LOANS = ("IR-25", "IR-28")
NO_TRAINING = ("IR-26", "IR-27")
LIVE = ("approved", "disbursed")
AMOUNTS = ("amount_rial", "amount_toman")

BANKS = (
    "بانک ملت",
    "بانک صادرات",
    "بانک توسعه تعاون",
    "بانک تجارت",
    "بانک رفاه کارگران",
    "بانک شهر",
    "بانک مهر ایران",
    "بانک رسالت",
)
FIRST_F = (
    "مریم",
    "زهرا",
    "فاطمه",
    "سکینه",
    "کبری",
    "نرگس",
    "لیلا",
    "یاسمن",
    "شیوا",
    "رقیه",
    "معصومه",
    "ژیلا",
)
FIRST_M = ("علی", "محمد", "رضا", "حسین", "یوسف", "کریم", "مهدی", "جواد", "یعقوب", "کاظم", "پرویز", "عبدالله")
LAST = (
    "محمدی",
    "کریمی",
    "یوسفی",
    "حسینی",
    "رضایی",
    "کاظمی",
    "احمدی",
    "نیک‌نام",
    "قاسمی",
    "یزدانی",
    "کردستانی",
    "بلوچ",
    "ترکمن",
    "گیلانی",
    "چراغی",
    "پاک‌نیت",
    "زارعی",
    "شیرازی",
    "مرادی",
    "کیانی",
)
CATEGORIES = ("پوشاک", "صنایع دستی", "فرش دستباف", "مواد غذایی", "خیاطی", "سفالگری", "عروسک‌سازی", "زیورآلات")
COURSES = ("خیاطی مقدماتی", "گلیم‌بافی", "شیرینی‌پزی", "بازاریابی آنلاین", "حسابداری ساده", "معرق‌کاری")
PROVIDERS = ("جهاد دانشگاهی", "سازمان آموزش فنی و حرفه‌ای", "اتاق تعاون")
EXTRA_COLUMNS = ("ردیف", "توضیحات", "notes", "کد پستی")
NOTES = ("", "تکمیل مدارک", "ارجاع به بانک", "پیگیری شود")
ENUM_SPELLINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "gender": {"female": ("زن", "female", "F", "Female"), "male": ("مرد", "male", "M")},
    "loan_type": {
        "individual": ("انفرادی", "individual", "Individual", "انفرادي"),
        "network": ("شبکه‌ای", "شبکه ای", "network", "پشتیبان", "Network", "شبكه اي"),
    },
    "loan_status": {
        "approved": ("تصویب شده", "approved", "Approved", "تصویب‌شده"),
        "disbursed": ("پرداخت شده", "disbursed", "پرداخت‌شده", "DISBURSED"),
        "cancelled": ("لغو شده", "cancelled", "canceled", "Canceled"),
    },
    "course_type": {"specialized": ("تخصصی", "specialized"), "general": ("عمومی", "general", "General")},
    "yes_no": {
        "yes": ("بله", "قبول", "1", "true", "yes", "Yes", "TRUE"),
        "no": ("خیر", "مردود", "0", "false", "no"),
    },
}
FORMAT_CYCLE = (
    "csv",
    "xlsx",
    "csv_bom",
    "csv_semicolon",
    "tsv_utf16",
    "csv",
    "csv_cp1256",
    "xlsx",
    "csv_bom",
)
STYLE_CYCLE = ("fa", "en", "variant")
FILE_STATUSES = (
    reasons.STATUS_LOADED,
    reasons.STATUS_LOADED_WITH_REJECTIONS,
    reasons.STATUS_REJECTED,
    reasons.STATUS_DUPLICATE,
    reasons.STATUS_EMPTY,
)
ROW_REASONS = (
    reasons.MALFORMED_ROW,
    reasons.MISSING_REQUIRED,
    reasons.INVALID_NATIONAL_ID,
    reasons.INVALID_DATE,
    reasons.FUTURE_DATE,
    reasons.INVALID_AMOUNT,
    reasons.INVALID_VALUE,
    reasons.PROVINCE_MISMATCH,
    reasons.CONFLICTING_DUPLICATE,
)

_FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_AR_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_ARABIC_LETTERS = str.maketrans({"ی": "ي", "ک": "ك"})
_CP1256_SAFE = str.maketrans(
    {
        **{d: str(i) for i, d in enumerate("۰۱۲۳۴۵۶۷۸۹")},
        **{d: str(i) for i, d in enumerate("٠١٢٣٤٥٦٧٨٩")},
        "ی": "ي",
        "٬": ",",
        "٫": ".",
    }
)


# --------------------------------------------------------------------------- reference data


def reference_file(name: str) -> Path:
    """The repository's copy of a reference table if there is one, else the shared one."""
    for folder in (REPO_ROOT / "sql" / "reference", REPO_ROOT / "reference", SHARED_REFERENCE):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(name)


@dataclass(frozen=True)
class Province:
    """One row of provinces.csv."""

    code: str
    name_fa: str
    name_en: str
    center_fa: str


def load_provinces(path: Path | None = None) -> list[Province]:
    """The 31 provinces, in code order."""
    with open(path or reference_file("provinces.csv"), encoding="utf-8", newline="") as fh:
        rows = [Province(r["iso_code"], r["name_fa"], r["name_en"], r["center_fa"]) for r in csv.DictReader(fh)]
    return sorted(rows, key=lambda p: p.code)


def load_caps(path: Path | None = None) -> dict[tuple[int, str], int]:
    """Loan caps as {(jalali_year, loan_type): cap_rial}."""
    with open(path or reference_file("loan_caps.csv"), encoding="utf-8", newline="") as fh:
        return {(int(r["jalali_year"]), r["loan_type"]): int(r["cap_rial"]) for r in csv.DictReader(fh)}


# --------------------------------------------------------------------------- small helpers


def check_digit(first9: str) -> int:
    """The national-ID check digit of nine digits."""
    r = sum(int(d) * (10 - i) for i, d in enumerate(first9)) % 11
    return r if r < 2 else 11 - r


def valid_national_id(nid: str) -> bool:
    """Ten ASCII digits, correct check digit, not one digit repeated."""
    return (
        len(nid) == 10 and nid.isascii() and nid.isdigit() and len(set(nid)) > 1 and int(nid[9]) == check_digit(nid[:9])
    )


@cache
def jalali(d: date) -> tuple[int, int, int]:
    """(year, month, day) of a Gregorian date in the Solar Hijri calendar."""
    j = jdatetime.date.fromgregorian(date=d)
    return j.year, j.month, j.day


@cache
def gregorian(y: int, m: int, d: int) -> date:
    """The Gregorian date of a Jalali date."""
    return jdatetime.date(y, m, d).togregorian()


def _fa(text: str) -> str:
    return text.translate(_FA_DIGITS)


def _arabic(text: str) -> str:
    return text.translate(_ARABIC_LETTERS)


def _cp1256_safe(text: str) -> str:
    safe = text.translate(_CP1256_SAFE)
    safe.encode("cp1256")
    return safe


def _folders(rel: str) -> tuple[str, str]:
    """(province folder, source folder) of a path relative to the ingest root, '' when missing."""
    parts = rel.split("/")
    return (parts[0] if len(parts) > 1 else "", parts[1] if len(parts) > 2 else "")


def _empty(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


# --------------------------------------------------------------------------- plan model


@dataclass
class _Rec:
    """A record the generator means to send: canonical values, forced cells, known reasons."""

    values: dict[str, object]
    raw: dict[str, object] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()


@dataclass
class Row:
    """One data row of a file: cells as written and the normalised values the pipeline must store."""

    cells: list[object]
    canon: dict[str, object] | None  # None when the row is rejected for its own values
    reasons: tuple[str, ...] = ()  # row reasons known from the row alone (not conflicting_duplicate)
    overflow: tuple[str, ...] = ()  # non-empty fields past the header
    blank_before: bool = False
    trim: bool = False  # trailing empty fields left out
    pad: int = 0  # empty fields written past the header


@dataclass
class DropFile:
    """One file of the plan."""

    rel: str  # posix path relative to the ingest root
    batch: int
    fmt: str  # csv, csv_bom, csv_semicolon, tsv_utf16, csv_cp1256, csv_utf16_nobom, xlsx, raw
    source: str  # source whose columns the rows follow ('' for raw files)
    home: str  # province the rows were written for
    columns: list[tuple[str, str | None]] = field(default_factory=list)  # (header, canonical or None)
    rows: list[Row] = field(default_factory=list)
    reason: str | None = None  # planned whole-file reason (unreadable, missing/ambiguous columns, place)
    payload: bytes | None = None  # fixed bytes of a raw file
    copy_of: str | None = None  # rel of the file whose bytes this one repeats
    mtime: float = 0.0
    same_mtime_as: str | None = None
    extra_sheet: bool = False

    @property
    def folder_province(self) -> str:
        return _folders(self.rel)[0]

    @property
    def folder_source(self) -> str:
        return _folders(self.rel)[1]


@dataclass
class DropPlan:
    """Every file of both batches, and the oracle for the warehouse views."""

    seed: int
    persons: int
    caps: dict[tuple[int, str], int]
    provinces: list[Province]
    files: list[DropFile]
    # Planted duplicate identities: pairs of national IDs of one person, and refused rows (file,
    # row index, national ID) whose ID as sent belongs to a loaded person; see
    # _Builder.duplicate_identities.
    suspected: list[tuple[str, str]] = field(default_factory=list)
    refused_links: list[tuple[str, int, str]] = field(default_factory=list)
    _bytes: dict[str, bytes] = field(default_factory=dict, repr=False)
    _by_rel: dict[str, DropFile] = field(default_factory=dict, repr=False)

    def file(self, rel: str) -> DropFile:
        """The planned file at a path relative to the ingest root."""
        if not self._by_rel:
            self._by_rel.update((f.rel, f) for f in self.files)
        return self._by_rel[rel]

    def file_bytes(self, rel: str) -> bytes:
        """The exact bytes of a planned file (rendered once, then cached)."""
        if rel not in self._bytes:
            f = self.file(rel)
            self._bytes[rel] = self.file_bytes(f.copy_of) if f.copy_of else _render(f)
        return self._bytes[rel]

    def batch_files(self, batch: int) -> list[DropFile]:
        """Files of one batch in the order the pipeline must take them (mtime, then path)."""
        return sorted((f for f in self.files if f.batch == batch), key=lambda f: (f.mtime, f.rel))

    def write_batch(self, ingest_root: Path, batch: int) -> list[Path]:
        """Write one batch under ``ingest_root`` with planned modification times; return the paths."""
        if batch not in (1, 2):
            raise ValueError("batch is 1 or 2")
        written = []
        for f in self.batch_files(batch):
            path = Path(ingest_root, *f.rel.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.file_bytes(f.rel))
            os.utime(path, (f.mtime, f.mtime))
            written.append(path)
        return written

    def truth(self, after_batch: int) -> dict:
        """What the warehouse must hold after running batch 1, or batch 1 and then batch 2."""
        if after_batch not in (1, 2):
            raise ValueError("after_batch is 1 or 2")
        return _Oracle(self).run(after_batch)


def write_truth(truth: dict, path: Path) -> None:
    """Write a truth dict as JSON (UTF-8, not ASCII-escaped, indent 1, sorted keys)."""
    Path(path).write_text(json.dumps(truth, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- rendering files


def _text(f: DropFile) -> str:
    delimiter = {"csv_semicolon": ";", "tsv_utf16": "\t"}.get(f.fmt, ",")
    eol = "\n" if f.fmt == "csv" else "\r\n"
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=eol)
    writer.writerow([h for h, _ in f.columns])
    for row in f.rows:
        if row.blank_before:
            buf.write(eol)
        cells = ["" if c is None else str(c) for c in row.cells] + list(row.overflow) + [""] * row.pad
        if row.trim:
            while cells and cells[-1] == "":
                cells.pop()
        assert any(cells), f.rel
        writer.writerow(cells)
    return buf.getvalue()


def _stable_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps so that equal content gives equal bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                payload = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                    rb"\g<1>2025-01-01T00:00:00Z\g<3>",
                    payload,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=(2025, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, payload)
    return out.getvalue()


def _xlsx(f: DropFile) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(contract()[f.source].label_fa if f.source else "Sheet1")
    ws.append([h for h, _ in f.columns])
    for row in f.rows:
        if row.blank_before:
            ws.append([])
        ws.append([None if _empty(c) else c for c in [*row.cells, *row.overflow]])
    if f.extra_sheet:
        notes = wb.create_sheet("راهنما")
        notes.append(["این برگه فقط راهنماست", "this sheet is only a note"])
        notes.append(["کد ملی", "0000000000"])
    buf = io.BytesIO()
    wb.save(buf)
    return _stable_zip(buf.getvalue())


def _render(f: DropFile) -> bytes:
    if f.payload is not None:
        return f.payload
    if f.fmt == "xlsx":
        return _xlsx(f)
    text = _text(f)
    if f.fmt == "csv_bom":
        return text.encode("utf-8-sig")
    if f.fmt == "tsv_utf16":
        return b"\xff\xfe" + text.encode("utf-16-le")
    if f.fmt == "csv_utf16_nobom":
        return text.encode("utf-16-le")
    if f.fmt == "csv_cp1256":
        return text.encode("cp1256")
    return text.encode("utf-8")


def _zip_bytes(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _line_of(f: DropFile, index: int) -> int:
    """The physical line of row ``index`` of a planned file (header line 1, blank lines and line
    breaks inside cells counted; an xlsx row number)."""
    if f.fmt == "xlsx":
        return index + 2
    line = 1
    for row in f.rows[: index + 1]:
        line += 1 + row.blank_before + sum(str(c).count("\n") for c in row.cells if c is not None)
    return line - sum(str(c).count("\n") for c in f.rows[index].cells if c is not None)


# --------------------------------------------------------------------------- the generator


@dataclass(frozen=True)
class _Person:
    nid: str
    first: str
    last: str
    father: str
    gender: str
    birth: date
    mobile: str


def _j(y: int, m: int, d: int) -> date:
    return gregorian(y, m, d)


class _Builder:
    """Builds the plan: bulk population, hand-made scenarios, bad rows and bad files."""

    def __init__(self, seed: int, persons: int, caps: dict[tuple[int, str], int]) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.n = persons
        self.caps = caps
        self.provinces = load_provinces()
        self.prov = {p.code: p for p in self.provinces}
        self.used_nids: set[str] = set()
        self.app_seq: Counter[str] = Counter()
        self.enr_seq: Counter[str] = Counter()
        self.loan_seq: Counter[str] = Counter()
        self.supporter_seq = 0
        self.files: list[DropFile] = []
        self.suspected: list[tuple[str, str]] = []
        self.refused_links: list[tuple[str, int, str]] = []
        self.by_rel: dict[str, DropFile] = {}
        self.by_stem: dict[str, DropFile] = {}
        self.layouts: dict[str, tuple] = {}
        self.fmt_i = self.rng.randrange(len(FORMAT_CYCLE))
        self.style_i = self.rng.randrange(len(STYLE_CYCLE))
        self.active = [p.code for p in self.provinces if p.code not in SILENT]
        self.loan_provs = [c for c in self.active if c not in NO_LOANS]
        self.train_provs = [c for c in self.active if c not in NO_TRAINING]

    # ---- identities and values

    def nid(self, zeros: int | None = None) -> str:
        """A fresh valid national ID; ``zeros`` leading zeros (random when None, at most two)."""
        rng = self.rng
        while True:
            z = zeros
            if z is None:
                r = rng.random()
                z = 2 if r < 0.08 else 1 if r < 0.2 else 0
            body = "0" * z + str(rng.randint(1, 9)) + f"{rng.randrange(10 ** (8 - z)):0{8 - z}d}"
            nid = body + str(check_digit(body))
            if nid not in self.used_nids and len(set(nid)) > 1:
                self.used_nids.add(nid)
                return nid

    def bad_nid(self) -> str:
        """A fresh ten-digit ID whose check digit is wrong."""
        good = self.nid()
        return good[:9] + str((int(good[9]) + 1 + self.rng.randrange(8)) % 10)

    def person(self, zeros: int | None = None) -> _Person:
        rng = self.rng
        gender = "female" if rng.random() < 0.7 else "male"
        first = rng.choice(FIRST_F if gender == "female" else FIRST_M)
        birth = MIN_DATE - timedelta(days=rng.randint(18 * 365, 55 * 365))
        mobile = "09" + rng.choice(("12", "13", "19", "35", "36", "01", "03", "90")) + f"{rng.randrange(10**7):07d}"
        return _Person(self.nid(zeros), first, rng.choice(LAST), rng.choice(FIRST_M), gender, birth, mobile)

    def date(self) -> date:
        return MIN_DATE + timedelta(days=self.rng.randint(0, (MAX_DATE - MIN_DATE).days - 150))

    @staticmethod
    def clamp(d: date) -> date:
        return max(MIN_DATE, min(MAX_DATE, d))

    def supporter(self) -> str:
        self.supporter_seq += 1
        return f"SP{self.supporter_seq:05d}"

    def amount(self, jy: int, loan_type: str) -> int:
        lo, hi = {
            1398: (20, 52),
            1399: (30, 80),
            1400: (30, 100),
            1401: (40, 120),
            1402: (50, 155),
            1403: (80, 220),
            1404: (100, 205),
        }.get(jy, (30, 100))
        if loan_type == "network":
            lo, hi = (100, 260) if jy == 1398 else (lo * 2, hi * 3)
        return self.rng.randint(lo, hi) * 10_000_000

    def reg(
        self, p: _Person, prov: str, when: date, *, supporter: str | None = None, app_id: str | None = None
    ) -> _Rec:
        if app_id is None:
            self.app_seq[prov] += 1
            app_id = f"{jalali(when)[0]}{self.app_seq[prov]:05d}"
        return _Rec(
            {
                "application_id": app_id,
                "national_id": p.nid,
                "first_name": p.first,
                "last_name": p.last,
                "father_name": p.father,
                "gender": p.gender,
                "birth_date": p.birth,
                "mobile": p.mobile,
                "county": self.prov[prov].center_fa,
                "business_category": self.rng.choice(CATEGORIES),
                "registered_at": when,
                "supporter_id": supporter,
            }
        )

    def loan(
        self,
        p: _Person,
        *,
        amount: int,
        loan_type: str = "individual",
        status: str = "approved",
        approved: date | None = None,
        disbursed: date | None = None,
        bank: str | None = None,
        loan_id: str | None = None,
    ) -> _Rec:
        bank = bank or self.rng.choice(BANKS)
        if loan_id is None:
            self.loan_seq[bank] += 1
            loan_id = str(100000 + self.loan_seq[bank])
        return _Rec(
            {
                "loan_id": loan_id,
                "bank": bank,
                "national_id": p.nid,
                "first_name": p.first,
                "last_name": p.last,
                "loan_type": loan_type,
                "amount_rial": amount,
                "approved_at": approved,
                "disbursed_at": disbursed,
                "status": status,
            }
        )

    def train(
        self,
        p: _Person,
        prov: str,
        *,
        completed: bool,
        start: date | None = None,
        enrollment_id: str | None = None,
    ) -> _Rec:
        if enrollment_id is None:
            self.enr_seq[prov] += 1
            enrollment_id = f"T-{self.enr_seq[prov]:06d}"
        end = None if start is None else self.clamp(start + timedelta(days=self.rng.randint(20, 90)))
        return _Rec(
            {
                "enrollment_id": enrollment_id,
                "national_id": p.nid,
                "first_name": p.first,
                "last_name": p.last,
                "course_title": self.rng.choice(COURSES),
                "course_type": self.rng.choice(("specialized", "general")),
                "provider": self.rng.choice(PROVIDERS),
                "hours": self.rng.choice((40, 60, 80, 120)),
                "start_date": start,
                "end_date": end,
                "completed": "yes" if completed else "no",
            }
        )

    @staticmethod
    def again(rec: _Rec, **changes: object) -> _Rec:
        """The same record sent again with some values changed (cells re-rendered)."""
        return _Rec({**rec.values, **changes})

    def bulk_loan(self, p: _Person, after: date) -> _Rec:
        rng = self.rng
        approved: date | None = self.clamp(after + timedelta(days=rng.randint(30, 400)))
        disbursed: date | None = self.clamp(approved + timedelta(days=rng.randint(5, 60)))
        r = rng.random()
        if r < 0.12:
            disbursed = None
        elif r < 0.22:
            approved = None
        elif r < 0.25:
            approved = disbursed = None
        if disbursed is not None:
            status = rng.choices(("disbursed", "approved", "cancelled"), (6, 3, 1))[0]
        else:
            status = rng.choices(("approved", "cancelled"), (85, 15))[0]
        loan_type = "network" if rng.random() < 0.2 else "individual"
        year = jalali(approved or disbursed or after)[0]
        return self.loan(
            p,
            amount=self.amount(year, loan_type),
            loan_type=loan_type,
            status=status,
            approved=approved,
            disbursed=disbursed,
        )

    # ---- files

    def next_fmt(self) -> str:
        self.fmt_i += 1
        return FORMAT_CYCLE[self.fmt_i % len(FORMAT_CYCLE)]

    def next_style(self) -> str:
        self.style_i += 1
        return STYLE_CYCLE[self.style_i % len(STYLE_CYCLE)]

    def ext(self, fmt: str) -> str:
        ext = {"xlsx": ".xlsx", "tsv_utf16": ".tsv" if self.rng.random() < 0.7 else ".csv"}.get(fmt, ".csv")
        return ext.upper() if self.rng.random() < 0.08 else ext

    def header(self, source: str, name: str, style: str, fmt: str) -> str:
        rng = self.rng
        column = contract()[source].column(name)
        if style == "en" or not column.aliases:
            text = name
            r = rng.random()
            if r < 0.15:
                text = name.replace("_", " ").title()
            elif r < 0.25:
                text = name.upper()
            elif r < 0.3:
                text = f" {name} "
        else:
            text = rng.choice(column.aliases)
            if style == "variant":
                r = rng.random()
                if r < 0.3:
                    text = _arabic(text)
                elif r < 0.5:
                    text = text.replace(" ", "\u200c")
                elif r < 0.65:
                    text = text.replace(" ", "  ")
                elif r < 0.8:
                    text = f" {text}  "
                elif r < 0.9:
                    text = text.replace(" (", "(")
        if fmt == "csv_cp1256":
            text = _cp1256_safe(text)
        assert contract()[source].canonical_name(text) == name, (text, name)
        return text

    def register(self, f: DropFile) -> DropFile:
        assert f.rel not in self.by_rel, f.rel
        self.files.append(f)
        self.by_rel[f.rel] = f
        return f

    def data_file(
        self,
        stem: str,
        batch: int,
        *,
        fmt: str | None = None,
        style: str | None = None,
        optional: float = 0.75,
        amount: str | None = None,
        extra: tuple[str, ...] | None = None,
        names: list[str] | None = None,
        home: str | None = None,
        reason: str | None = None,
        ext: str | None = None,
    ) -> DropFile:
        """A data file at ``stem`` plus the extension of its format; random columns unless ``names``."""
        rng = self.rng
        fmt = fmt or self.next_fmt()
        style = style or self.next_style()
        province, source = _folders(stem)
        if source not in SOURCES:  # misplaced file: rows still follow a source
            source = "applicants"
        if names is None:
            names = []
            for c in contract()[source].columns:
                if c.name == "amount_rial":
                    names.append(amount or ("amount_toman" if rng.random() < 0.3 else "amount_rial"))
                elif c.kind != "amount" and (c.required or c.name == "approved_at" or rng.random() < optional):
                    names.append(c.name)
        columns: list[tuple[str, str | None]] = [(self.header(source, n, style, fmt), n) for n in names]
        if extra is None:
            extra = (rng.choice(EXTRA_COLUMNS),) if rng.random() < 0.3 else ()
        for header in extra:
            header = _cp1256_safe(header) if fmt == "csv_cp1256" else header
            assert contract()[source].canonical_name(header) is None
            columns.insert(rng.randint(0, len(columns)), (header, None))
        rel = stem + (ext if ext is not None else self.ext(fmt))
        f = DropFile(
            rel=rel,
            batch=batch,
            fmt=fmt,
            source=source,
            home=home or province,
            columns=columns,
            reason=reason,
            extra_sheet=fmt == "xlsx" and rng.random() < 0.5,
        )
        self.by_stem[stem] = f
        return self.register(f)

    def sfile(self, stem: str, batch: int, **kw: Any) -> DropFile:
        """A scenario file with every column (created on first use)."""
        if stem not in self.by_stem:
            self.data_file(stem, batch, optional=1.0, **kw)
        f = self.by_stem[stem]
        assert f.batch == batch
        return f

    def raw_file(self, rel: str, batch: int, payload: bytes, reason: str | None) -> DropFile:
        return self.register(
            DropFile(rel=rel, batch=batch, fmt="raw", source="", home="", payload=payload, reason=reason)
        )

    def copy_file(self, original: DropFile, rel: str, batch: int) -> DropFile:
        """A file with the same bytes as ``original`` (and so the same rows) at another path."""
        reason = None if original.reason in reasons.PLACE_REASONS else original.reason
        return self.register(
            DropFile(
                rel=rel,
                batch=batch,
                fmt=original.fmt,
                source=original.source,
                home=original.home,
                columns=original.columns,
                rows=original.rows,
                copy_of=original.rel,
                payload=original.payload,
                reason=reason,
            )
        )

    # ---- cells

    def cell(self, column: Column, rec: _Rec, f: DropFile) -> object:
        rng = self.rng
        xlsx = f.fmt == "xlsx"
        if column.kind == "province":
            return self.province_cell(f.home) if rng.random() < 0.8 else ""
        value = rec.values.get("amount_rial" if column.kind == "amount" else column.name)
        if value is None:
            return None if xlsx else ""
        kind = column.kind
        if kind == "national_id":
            return self.nid_cell(str(value), xlsx)
        if kind == "date":
            assert isinstance(value, date)
            return self.date_cell(value, xlsx)
        if kind == "amount":
            assert isinstance(value, int)
            if column.unit == "toman":
                assert value % 10 == 0, value
                value //= 10
            return self.amount_cell(value, xlsx)
        if kind == "enum":
            assert column.enum is not None
            return rng.choice(ENUM_SPELLINGS[column.enum][str(value)])
        if kind == "mobile":
            return self.mobile_cell(str(value))
        if kind == "number":
            if xlsx and rng.random() < 0.7:
                return value
            return _fa(str(value)) if rng.random() < 0.2 else str(value)
        if kind == "key":
            return self.key_cell(column.name, str(value))
        return self.text_cell(str(value))

    def province_cell(self, code: str) -> str:
        p = self.prov[code]
        return self.rng.choice((p.code, p.name_fa, p.name_en, _arabic(p.name_fa)))

    def nid_cell(self, nid: str, xlsx: bool) -> object:
        rng = self.rng
        if xlsx and len(nid.lstrip("0")) >= 8 and rng.random() < 0.85:
            return int(nid)
        r = rng.random()
        if r < 0.08:
            return _fa(nid)
        if r < 0.11:
            return nid.translate(_AR_DIGITS)
        if r < 0.15:
            return f"{nid[:3]}-{nid[3:9]}-{nid[9]}"
        if r < 0.18:
            return f"{nid[:3]} {nid[3:6]} {nid[6:]}"
        if r < 0.24 and len(nid.lstrip("0")) >= 8:
            return nid.lstrip("0")
        return nid

    def date_cell(self, d: date, xlsx: bool) -> object:
        rng = self.rng
        r = rng.random()
        if xlsx and r < 0.35:
            return d
        if xlsx and r < 0.38:
            return (d - EXCEL_EPOCH).days
        y, m, dd = jalali(d)
        r = rng.random()
        if r < 0.45:
            return f"{y}/{m:02d}/{dd:02d}"
        if r < 0.55:
            return f"{y}-{m}-{dd}"
        if r < 0.6:
            return f"{y}.{m:02d}.{dd:02d}"
        if r < 0.7:
            return _fa(f"{y}/{m:02d}/{dd:02d}")
        if r < 0.73:
            return f"{y}/{m:02d}/{dd:02d}".translate(_AR_DIGITS)
        if r < 0.78:
            return f"{y}/{m:02d}/{dd:02d} {rng.randint(8, 16)}:{rng.choice(('00', '30'))}"
        if r < 0.93:
            return d.isoformat()
        return d.strftime("%Y/%m/%d")

    def amount_cell(self, value: int, xlsx: bool) -> object:
        rng = self.rng
        if xlsx and rng.random() < 0.8:
            return value
        grouped = f"{value:,}"
        return rng.choice(
            (
                str(value),
                str(value),
                grouped,
                _fa(grouped),
                grouped.replace(",", "٬"),
                _fa(grouped).replace(",", "٬"),
                grouped.replace(",", "،"),
                grouped.replace(",", " "),
                _fa(str(value)),
            )
        )

    def mobile_cell(self, mobile: str) -> str:
        rest = mobile[1:]
        return self.rng.choice(
            (
                mobile,
                mobile,
                "+98" + rest,
                "0098" + rest,
                "98" + rest,
                rest,
                f"{mobile[:4]} {mobile[4:7]} {mobile[7:]}",
                f"{mobile[:4]}-{mobile[4:7]}-{mobile[7:]}",
                f"({mobile[:4]}) {mobile[4:]}",
                _fa(mobile),
            )
        )

    def key_cell(self, name: str, value: str) -> str:
        r = self.rng.random()
        if name == "bank":
            if r < 0.12:
                return _arabic(value)
            if r < 0.16:
                return value.replace(" ", "\u200c", 1)
            if r < 0.2:
                return value.replace(" ", "  ")
            return value
        if name == "enrollment_id" and r < 0.1:
            return value.lower()
        if r < 0.2:
            return _fa(value)
        if r < 0.23:
            return value.translate(_AR_DIGITS)
        return value

    def text_cell(self, value: str) -> str:
        r = self.rng.random()
        if r < 0.12:
            return _arabic(value)
        if r < 0.16:
            return f" {value}  "
        if r < 0.19:
            return value.replace(" ", "  ")
        if r < 0.25:
            return _fa(value)
        return value

    def extra_cell(self, header: str, index: int) -> str:
        if header == "ردیف":
            return _fa(str(index)) if self.rng.random() < 0.5 else str(index)
        if header == "کد پستی":
            return f"{self.rng.randrange(10**10):010d}"
        return self.rng.choice(NOTES)

    # ---- rows

    def add(self, f: DropFile, rec: _Rec, *, noise: bool = False, overflow: tuple[str, ...] = ()) -> Row:
        """Render ``rec`` into a row of ``f`` and work out what the pipeline must store for it."""
        src = contract()[f.source]
        layout = self.layouts.get(f.rel)
        if layout is None or layout[0] is not f.columns or len(layout[1]) != len(f.columns):
            resolved = [(h, n, src.column(n) if n else None) for h, n in f.columns]
            layout = self.layouts[f.rel] = (
                f.columns,
                resolved,
                {n for _, n in f.columns if n},
                {h for h, n in f.columns if n is None},
            )
        _, resolved, present, extras = layout
        for key in rec.raw if rec.reasons else ():  # the cells that make a row bad must be written
            assert key in present | extras or (key == "amount" and present & set(AMOUNTS)), (f.rel, key)
        cells: list[object] = []
        canon: dict[str, object] = {c.name: None for c in src.columns if c.name != "amount_toman"}
        for header, name, column in resolved:
            if name is None or column is None:
                extra = rec.raw[header] if header in rec.raw else self.extra_cell(header, len(f.rows) + 1)
                cells.append(_cp1256_safe(str(extra)) if f.fmt == "csv_cp1256" else extra)
                continue
            if name in rec.raw or (column.kind == "amount" and "amount" in rec.raw):
                cell = rec.raw.get(name, rec.raw.get("amount"))
            else:
                cell = self.cell(column, rec, f)
            if isinstance(cell, str) and f.fmt == "csv_cp1256":
                cell = _cp1256_safe(cell)
            cells.append(cell)
            canon["amount_rial" if column.kind == "amount" else name] = self.canon(column, rec, cell, f)
        row = Row(cells=cells, canon=None if rec.reasons else canon, reasons=rec.reasons)
        if overflow:
            row.cells = [("-" if _empty(c) else c) for c in cells]
            row.overflow = overflow
            row.reasons = (reasons.MALFORMED_ROW,)
            row.canon = None
        if row.canon is not None:
            for _, name, column in resolved:
                if column is not None and column.required:
                    assert row.canon["amount_rial" if column.kind == "amount" else name] is not None, f.rel
        if noise and f.fmt != "xlsx":
            r = self.rng.random()
            row.blank_before = r < 0.01
            row.pad = 2 if 0.01 <= r < 0.03 else 0
            row.trim = 0.03 <= r < 0.1
        f.rows.append(row)
        return row

    def canon(self, column: Column, rec: _Rec, cell: object, f: DropFile) -> object:
        if _empty(cell):
            return None
        if column.kind in ("text", "key"):
            return normalise_text(str(cell))
        if column.kind == "province":
            return f.home
        if column.kind == "amount":
            return rec.values["amount_rial"]
        return rec.values[column.name]

    def repeat(self, f: DropFile, row: Row, **cells: object) -> Row:
        """The same row again in the same file, optionally with some cells spelled differently."""
        copy = Row(cells=list(row.cells), canon=row.canon, reasons=row.reasons)
        for name, value in cells.items():
            j = next(i for i, (_, n) in enumerate(f.columns) if n == name)
            assert normalise_text(str(value)) == normalise_text(str(copy.cells[j]))
            copy.cells[j] = value
        f.rows.append(copy)
        return copy

    # ---- the plan

    def build(self) -> DropPlan:
        self.bulk()
        self.scenarios()
        self.bad_rows()
        self.bad_files()
        self.duplicate_identities()
        for batch in (1, 2):
            t = BATCH_START[batch]
            for f in self.files:
                if f.batch == batch:
                    f.mtime = self.by_rel[f.same_mtime_as].mtime if f.same_mtime_as else t
                    t += FILE_STEP_SECONDS
        return DropPlan(
            seed=self.seed,
            persons=self.n,
            caps=self.caps,
            provinces=self.provinces,
            files=self.files,
            suspected=self.suspected,
            refused_links=self.refused_links,
        )

    def bulk(self) -> None:
        """The ordinary population: most of the rows, clean apart from spelling and format noise."""
        rng = self.rng
        late = sorted(rng.sample(self.active, 10))
        recs: dict[tuple[int, str, str], list[_Rec]] = defaultdict(list)
        first_batch = int(self.n * 0.8)
        for i in range(self.n):
            batch = 1 if i < first_batch else 2
            pool = self.active if batch == 1 else late
            loan_pool = [c for c in pool if c in self.loan_provs]
            train_pool = [c for c in pool if c in self.train_provs]
            p = self.person()
            r = rng.random()
            if r < 0.06:  # borrower without any registration
                prov = rng.choice(loan_pool)
                for _ in range(2 if rng.random() < 0.2 else 1):
                    recs[batch, prov, "loans"].append(self.bulk_loan(p, self.date()))
                if rng.random() < 0.3:
                    prov = rng.choice(train_pool)
                    recs[batch, prov, "training"].append(self.train(p, prov, completed=True, start=self.date()))
                continue
            if r < 0.11:  # training only
                for prov in rng.sample(train_pool, 2 if rng.random() < 0.2 else 1):
                    start = self.date() if rng.random() < 0.9 else None
                    recs[batch, prov, "training"].append(self.train(p, prov, completed=rng.random() < 0.7, start=start))
                continue
            if r < 0.13:  # a cancelled loan and nothing else
                prov = rng.choice(loan_pool)
                rec = self.bulk_loan(p, self.date())
                rec.values["status"] = "cancelled"
                recs[batch, prov, "loans"].append(rec)
                continue
            home = rng.choice(pool)
            d0 = self.date()
            regs = [(home, d0)]
            r = rng.random()
            if r < 0.08:
                others = rng.sample([c for c in pool if c != home], rng.choice((1, 1, 2)))
                regs += [(c, self.clamp(d0 + timedelta(days=rng.randint(-300, 300)))) for c in others]
            elif r < 0.09:
                regs.append((home, self.clamp(d0 + timedelta(days=rng.randint(20, 200)))))
            for prov, d in regs:
                rec = self.reg(p, prov, d, supporter=self.supporter() if rng.random() < 0.25 else None)
                if rng.random() < 0.01:
                    rec.values["mobile"] = None
                    rec.raw["mobile"] = rng.choice(("0912345", "12345", "0098-21-555"))
                recs[batch, prov, "applicants"].append(rec)
            if home in train_pool and rng.random() < 0.55:
                prov = home if rng.random() < 0.9 else rng.choice(train_pool)
                start = self.clamp(d0 + timedelta(days=rng.randint(10, 200)))
                rec = self.train(p, prov, completed=rng.random() < 0.8, start=start)
                recs[batch, prov, "training"].append(rec)
                if batch == 1 and prov in late and rec.values["completed"] == "no" and rng.random() < 0.3:
                    recs[2, prov, "training"].append(self.again(rec, completed="yes"))  # passed a retake
            if home in loan_pool and rng.random() < 0.45:
                rec = self.bulk_loan(p, d0)
                recs[batch, home, "loans"].append(rec)
                approved = rec.values["approved_at"]
                if (
                    batch == 1
                    and home in late
                    and rec.values["status"] == "approved"
                    and rec.values["disbursed_at"] is None
                    and isinstance(approved, date)
                    and rng.random() < 0.3
                ):  # paid out later: the batch-2 version wins
                    paid = self.clamp(approved + timedelta(days=rng.randint(5, 60)))
                    recs[2, home, "loans"].append(self.again(rec, status="disbursed", disbursed_at=paid))
        stems = {
            "applicants": ("motaghazian", "متقاضیان", "applicants list"),
            "loans": ("tashilat", "تسهیلات بانک", "loans"),
            "training": ("amoozesh", "آموزش", "training"),
        }
        for batch, prov, source in sorted(recs):
            rows = recs[batch, prov, source]
            chunks = (len(rows) + CHUNK_ROWS - 1) // CHUNK_ROWS
            for k in range(chunks):
                suffix = f"_{k + 1}" if chunks > 1 else ""
                name = f"{rng.choice(stems[source])}_{1403 if batch == 1 else 1404}{suffix}"
                f = self.data_file(f"{prov}/{source}/{name}", batch)
                for rec in rows[k * CHUNK_ROWS : (k + 1) * CHUNK_ROWS]:
                    self.add(f, rec, noise=True)

    def scenarios(self) -> None:
        """Hand-made people whose flags and home provinces test keys, dates and later-wins."""
        rng = self.rng
        p = self.person

        # A: loan-only in batch 1; batch 2 resends the registration (key in Persian digits) with a supporter.
        a = p()
        ra = self.reg(a, "IR-10", _j(1402, 3, 12))
        self.add(self.sfile("IR-10/applicants/pilot_1402", 1), ra)
        self.add(
            self.sfile("IR-10/loans/pilot_loans_1402", 1, fmt="xlsx"),
            self.loan(a, amount=900_000_000, approved=_j(1402, 9, 1)),
        )
        upd = self.again(ra, supporter_id="SP07781")
        upd.raw["application_id"] = _fa(str(ra.values["application_id"]))
        self.add(self.sfile("IR-10/applicants/updates_1404", 2, fmt="csv"), upd)

        # B: unregistered borrower whose loan is cancelled in batch 2; B2: a cancelled loan revived.
        b, b2 = p(), p()
        lb = self.loan(b, amount=700_000_000, approved=_j(1401, 6, 5))
        lb2 = self.loan(b2, amount=400_000_000, approved=_j(1400, 2, 2), status="cancelled")
        melli = self.sfile("IR-03/loans/bank_list_1401", 1, fmt="csv")
        self.add(melli, lb)
        self.add(melli, lb2)
        b_upd = self.sfile("IR-03/loans/bank_updates_1404", 2, fmt="csv_semicolon")
        cancel = self.again(lb, status="cancelled")
        cancel.raw["status"] = "لغو شده"
        self.add(b_upd, cancel)
        self.add(b_upd, self.again(lb2, status="disbursed", disbursed_at=_j(1404, 3, 3)))

        # C: batch-2 resends that are rejected leave the batch-1 versions in place.
        c, c2 = p(), p()
        rc = self.reg(c, "IR-09", _j(1401, 2, 10))
        rc2 = self.reg(c2, "IR-09", _j(1401, 4, 4), supporter="SP00991")
        lc = self.loan(c, amount=900_000_000, approved=_j(1401, 8, 8))
        self.add(self.sfile("IR-09/applicants/list_1401", 1), rc)
        self.add(self.by_stem["IR-09/applicants/list_1401"], rc2)
        self.add(self.sfile("IR-09/loans/loans_1401", 1, amount="amount_toman", fmt="csv_bom"), lc)
        c_upd = self.sfile("IR-09/applicants/updates_1404", 2, fmt="xlsx")
        bad = self.again(rc)
        bad.raw["registered_at"] = "1499/01/01"
        bad.reasons = (reasons.FUTURE_DATE,)
        self.add(c_upd, bad)
        self.add(c_upd, self.again(rc2, supporter_id=None))  # the same key twice, different: both rejected
        self.add(c_upd, self.again(rc2, supporter_id="SP00992"))
        self.add(c_upd, self.reg(p(), "IR-09", _j(1404, 1, 20)))
        bad = self.again(lc)
        bad.raw["amount"] = "0"
        bad.reasons = (reasons.INVALID_AMOUNT,)
        c_loans = self.sfile("IR-09/loans/updates_1404", 2, fmt="tsv_utf16")
        self.add(c_loans, bad)
        self.add(c_loans, self.loan(p(), amount=1_200_000_000, approved=_j(1404, 1, 25)))

        # D: loan-only until a training is passed in batch 2 (same enrollment; D2: a new one elsewhere).
        d, d2 = p(), p()
        td = self.train(d, "IR-06", completed=False, start=_j(1401, 3, 1))
        for person_, day in ((d, 20), (d2, 25)):
            self.add(self.sfile("IR-06/applicants/list_1401", 1), self.reg(person_, "IR-06", _j(1401, 1, day)))
            self.add(
                self.sfile("IR-06/loans/loans_1401", 1),
                self.loan(
                    person_,
                    amount=600_000_000,
                    status="disbursed",
                    approved=_j(1401, 10, 1),
                    disbursed=_j(1401, 10, 20),
                ),
            )
        self.add(self.sfile("IR-06/training/courses_1401", 1), td)
        passed = self.again(td, completed="yes")
        passed.raw["completed"] = "قبول"
        passed.raw["enrollment_id"] = str(td.values["enrollment_id"]).lower()
        self.add(self.sfile("IR-06/training/results_1404", 2, fmt="csv_cp1256"), passed)
        self.add(
            self.sfile("IR-07/training/courses_1404", 2),
            self.train(d2, "IR-07", completed=True, start=_j(1404, 2, 1)),
        )

        # E: two provinces; a batch-2 resend with an earlier date moves the home province.
        e = p()
        re_ = self.reg(e, "IR-04", _j(1402, 5, 1))
        self.add(self.sfile("IR-04/applicants/list_1402", 1), re_)
        self.add(self.sfile("IR-05/applicants/list_1401", 1), self.reg(e, "IR-05", _j(1401, 3, 10)))
        self.add(self.sfile("IR-04/applicants/corrections_1404", 2), self.again(re_, registered_at=_j(1400, 1, 15)))

        # F: the same registration date in two provinces: the lower code is home. L: two keys, one province.
        f_, l_ = p(), p()
        self.add(self.sfile("IR-12/applicants/list_1401", 1), self.reg(f_, "IR-12", _j(1401, 8, 20)))
        f_file = self.sfile("IR-02/applicants/list_1401", 1, fmt="csv_bom")
        self.add(f_file, self.reg(f_, "IR-02", _j(1401, 8, 20)))
        self.add(f_file, self.reg(p(), "IR-02", _j(1401, 9, 9)))
        self.copy_file(f_file, f_file.rel.rsplit(".", 1)[0] + " - Copy." + f_file.rel.rsplit(".", 1)[1], 1)
        for day in (1, 15):
            self.add(self.sfile("IR-11/applicants/list_1402", 1), self.reg(l_, "IR-11", _j(1402, 2, day)))

        # G: borrower only; a dated loan beats an undated one with a lower province code.
        g = p()
        self.add(self.sfile("IR-21/loans/loans_1400", 1), self.loan(g, amount=9_000_000_000, status="disbursed"))
        self.add(self.sfile("IR-22/loans/loans_1400", 1), self.loan(g, amount=600_000_000, approved=_j(1400, 5, 5)))

        # H: training only; a dated training beats an undated one with a lower province code.
        h = p()
        self.add(self.sfile("IR-14/training/courses_1402", 1), self.train(h, "IR-14", completed=True))
        self.add(
            self.sfile("IR-30/training/courses_1402", 1),
            self.train(h, "IR-30", completed=False, start=_j(1402, 1, 20)),
        )

        # I: loan caps (IR-07): over, equal, no cap row, no date, cancelled, bank spellings, blanked dates.
        regs = self.sfile("IR-07/applicants/list_1398", 1, fmt="csv_cp1256", style="fa")
        loans = self.sfile("IR-07/loans/breaches_1398", 1, fmt="csv", amount="amount_rial")
        fixes = self.sfile("IR-07/loans/اصلاحیه_1404", 2, fmt="csv_bom", amount="amount_rial")

        def case(
            amount: int,
            approved: date | None = None,
            disbursed: date | None = None,
            loan_type: str = "individual",
            status: str = "approved",
            bank: str | None = None,
            raw: dict[str, object] | None = None,
            fix: int | None = None,
            fix_bank: str | None = None,
        ) -> None:
            person_ = p()
            supporter = self.supporter() if rng.random() < 0.5 else None
            self.add(regs, self.reg(person_, "IR-07", _j(1398, 1, 5), supporter=supporter))
            rec = self.loan(
                person_,
                amount=amount,
                loan_type=loan_type,
                status=status,
                approved=approved,
                disbursed=disbursed,
                bank=bank,
            )
            rec.raw.update(raw or {})
            self.add(loans, rec)
            if fix is not None:
                again = self.again(rec, amount_rial=fix)
                if fix_bank:
                    again.raw["bank"] = fix_bank
                self.add(fixes, again)

        case(600_000_000, _j(1398, 7, 9), fix=500_000_000)  # over the 1398 cap, then equal to it
        case(500_000_000, _j(1398, 8, 1))  # equal: not a breach
        case(3_000_000_000, _j(1398, 11, 11), loan_type="network")
        case(2_500_000_000, _j(1398, 3, 3), loan_type="network")  # equal
        case(1_800_000_000, _j(1402, 4, 4), status="cancelled")  # cancelled loans are listed too
        case(3_000_000_000, _j(1403, 2, 2))  # no cap row for 1403
        case(5_000_000_000, _j(1402, 6, 6), loan_type="network")  # no cap row for 1402 network
        case(2_500_000_000, None, _j(1404, 2, 10), status="disbursed")  # year from disbursed_at
        case(
            700_000_000,
            _j(1398, 9, 9),
            bank="بانک ملت",
            raw={"bank": "بانك ملت"},
            fix=800_000_000,
            fix_bank="بانک\u200cملت",
        )
        case(550_000_000, _j(1398, 7, 9), raw={"approved_at": "2019-10-01"})
        case(1_600_000_000, None, _j(1402, 3, 1), raw={"approved_at": "1402/13/05"})  # emptied: disbursed_at
        case(510_000_000, None, _j(1398, 5, 5), raw={"approved_at": "1499/01/01"})  # future: emptied
        case(900_000_000, _j(1399, 5, 5))
        case(2_000_000_010, _j(1404, 1, 28), _j(1404, 2, 2), status="disbursed")  # ten rial over
        case(450_000_000, _j(1398, 2, 2), fix=520_000_000)  # a breach only after batch 2
        case(9_000_000_000, status="cancelled")  # no date: not checked

        # J: two files with the same modification time: the path decides, b after a.
        j = p()
        self.add(self.sfile("IR-13/applicants/list_1402", 1), self.reg(j, "IR-13", _j(1402, 1, 1)))
        first = self.sfile("IR-13/loans/a_loans_1402", 1, fmt="csv")
        second = self.sfile("IR-13/loans/b_loans_1402", 1, fmt="csv_semicolon")
        second.same_mtime_as = first.rel
        lj = self.loan(j, amount=700_000_000, approved=_j(1402, 6, 1))
        self.add(first, lj)
        self.add(first, self.loan(p(), amount=800_000_000, approved=_j(1402, 6, 2)))
        self.add(second, self.again(lj, amount_rial=720_000_000))
        self.add(second, self.loan(p(), amount=810_000_000, approved=_j(1402, 6, 3)))

        # K: two files of one batch: the later one adds a supporter, so K is not loan-only.
        k = p()
        rk = self.reg(k, "IR-08", _j(1403, 1, 10))
        self.add(self.sfile("IR-08/applicants/list_1403_part1", 1), rk)
        self.add(
            self.sfile("IR-08/loans/loans_1403", 1),
            self.loan(k, amount=1_000_000_000, approved=_j(1403, 5, 5)),
        )
        self.add(self.sfile("IR-08/applicants/list_1403_part2", 1), self.again(rk, supporter_id="SP04242"))

        # M: a province sent to a folder named 'Tehran' first, then to IR-23 in batch 2.
        tehran = self.data_file(
            "Tehran/applicants/tehran_list",
            1,
            fmt="csv_bom",
            optional=1.0,
            home="IR-23",
            reason=reasons.UNKNOWN_PROVINCE,
            ext=".csv",
        )
        for _ in range(3):
            self.add(tehran, self.reg(p(), "IR-23", self.date(), supporter=self.supporter()))
        self.copy_file(tehran, "IR-23/applicants/tehran_list.csv", 2)

        # O: unregistered borrower who passed a training; P: a supporter cell of blanks names no supporter.
        o, pp = p(), p()
        self.add(self.sfile("IR-19/loans/loans_1402", 1), self.loan(o, amount=800_000_000, approved=_j(1402, 2, 2)))
        self.add(
            self.sfile("IR-19/training/courses_1401", 1),
            self.train(o, "IR-19", completed=True, start=_j(1401, 5, 5)),
        )
        rp = self.reg(pp, "IR-15", _j(1402, 2, 2))
        rp.raw["supporter_id"] = "   "
        self.add(self.sfile("IR-15/applicants/list_1402", 1), rp)
        self.add(
            self.sfile("IR-15/loans/loans_1402", 1),
            self.loan(pp, amount=700_000_000, approved=_j(1402, 4, 4)),
        )

        # Q: a file in a sub-folder of a source folder; R: only a cancelled loan; S: supporter and loan.
        sub = self.sfile("IR-10/applicants/1403/mehr/list_mehr", 1)
        for _ in range(3):
            self.add(sub, self.reg(p(), "IR-10", self.date(), supporter=self.supporter()))
        self.add(
            self.sfile("IR-18/loans/loans_1401", 1),
            self.loan(p(), amount=400_000_000, status="cancelled", approved=_j(1401, 1, 1)),
        )
        s = p()
        self.add(
            self.sfile("IR-24/applicants/list_1402", 1),
            self.reg(s, "IR-24", _j(1402, 1, 1), supporter="SP00001"),
        )
        self.add(self.sfile("IR-24/loans/loans_1402", 1), self.loan(s, amount=500_000_000, approved=_j(1402, 3, 3)))

        # Resends of the same bytes in batch 2.
        self.copy_file(melli, "IR-03/loans/bank_list_1401_resend" + Path(melli.rel).suffix, 2)

    def bad_rows(self) -> None:
        """Files with bad rows of every row reason (each also has good rows)."""
        p = self.person
        mr, nid, dt, fut = (
            reasons.MISSING_REQUIRED,
            reasons.INVALID_NATIONAL_ID,
            reasons.INVALID_DATE,
            reasons.FUTURE_DATE,
        )
        amt, val, pm = reasons.INVALID_AMOUNT, reasons.INVALID_VALUE, reasons.PROVINCE_MISMATCH

        # Applicants, IR-01, UTF-8 CSV with Persian headers and a row-number column.
        f = self.data_file(
            "IR-01/applicants/ثبت نام_خطادار_1403",
            1,
            fmt="csv",
            style="fa",
            optional=1.0,
            extra=("ردیف", "توضیحات"),
            ext=".csv",
        )

        def reg(prov: str = "IR-01", when: date | None = None, **raw: object) -> _Rec:
            rec = self.reg(p(), prov, when or self.date(), supporter=None)
            rec.raw.update(raw)
            return rec

        def bad(file: DropFile, rec: _Rec, *why: str) -> Row:
            rec.reasons = why
            return self.add(file, rec)

        def warn(file: DropFile, rec: _Rec, **raw: object) -> Row:
            for name, value in raw.items():
                rec.values[name] = None
                rec.raw[name] = value
            return self.add(file, rec)

        for _ in range(4):
            self.add(f, reg())
        bad(f, reg(first_name=""), mr)
        bad(f, reg(last_name="   "), mr)
        bad(f, reg(registered_at=""), mr)
        bad(f, reg(application_id=""), mr)
        bad(f, reg(national_id=""), mr)
        bad(f, reg(first_name="", last_name=""), mr)
        bad(f, reg(national_id=self.bad_nid()), nid)
        bad(f, reg(national_id="1111111111"), nid)
        bad(f, reg(national_id="1234567"), nid)
        bad(f, reg(national_id="۰۴۹۹۳۷۰۸۹۸"), nid)
        bad(f, reg(national_id=self.bad_nid(), first_name=""), nid, mr)
        for text in (
            "1403/13/01",
            "1404/12/30",
            "2023-02-30",
            "03/01/05",
            "1402/07-15",
            "1250/01/01",
            "۱۴۰۲/۰۰/۱۰",
        ):
            bad(f, reg(registered_at=text), dt)
        bad(f, reg(registered_at="1499/01/01"), fut)
        bad(f, reg(registered_at="2099-01-01"), fut)
        bad(f, reg(province="IR-05"), pm)
        bad(f, reg(province="تهران"), pm)
        bad(f, reg(province="نامعلوم"), pm)
        bad(f, reg(registered_at="1402/00/10", province="Fars"), dt, pm)
        bad(f, reg(national_id=self.bad_nid(), registered_at="1499/06/06", province="IR-30"), nid, fut, pm)
        warn(f, reg(), birth_date="1360/13/40")
        warn(f, reg(), birth_date="2099-01-01")
        warn(f, reg(), gender="نامعلوم")
        warn(f, reg(), mobile="12345")
        self.add(f, reg(when=_j(1403, 12, 30)))  # Esfand 30 of a leap year
        self.add(f, reg(when=date(2024, 2, 29), registered_at="2024-02-29"))
        self.add(f, reg(when=_j(1402, 7, 15), توضیحات="خط اول\nخط دوم"))  # a quoted line break: still one row
        one = self.add(f, reg())
        self.repeat(f, one)  # identical: loaded once
        two = self.add(f, reg())
        j = next(i for i, (_, n) in enumerate(f.columns) if n == "application_id")
        self.repeat(f, two, application_id=_fa(str(two.cells[j])))  # identical after normalisation
        three = reg()
        self.add(f, three)
        clash = self.again(three)
        clash.values["mobile"] = (
            "09" + ("1" if str(three.values["mobile"])[2] != "1" else "3") + str(three.values["mobile"])[3:]
        )
        self.add(f, clash)  # same key, other mobile: both rejected
        four = reg()
        row4 = self.add(f, four)
        self.repeat(f, row4)
        bad_copy = self.again(four)
        bad_copy.raw["national_id"] = "1234567890"
        bad(f, bad_copy, nid)  # same key, but rejected for itself: the other two still load once
        self.refused_links.append((f.rel, len(f.rows) - 1, str(four.values["national_id"])))
        self.add(f, reg(), overflow=("اضافه", "x"))
        f.rows[5].blank_before = True

        # Loans, IR-02, UTF-8 CSV with a BOM, English headers, rial.
        f = self.data_file(
            "IR-02/loans/bank_errors_1403",
            1,
            fmt="csv_bom",
            style="en",
            optional=1.0,
            amount="amount_rial",
            extra=(),
            ext=".csv",
        )

        def loan(rial: int = 800_000_000, **raw: object) -> _Rec:
            rec = self.loan(p(), amount=rial, approved=self.date())
            rec.raw.update(raw)
            return rec

        for _ in range(4):
            self.add(f, loan())
        self.add(f, self.loan(p(), amount=300_000_000, status="cancelled", approved=self.date()))
        for text in ("0", "-5,000,000", "12.5", "پانصد میلیون", "۰"):
            bad(f, loan(amount=text), amt)
        bad(f, loan(amount=""), mr)
        bad(f, loan(status="نامشخص"), val)
        bad(f, loan(loan_type="قرض الحسنه"), val)
        bad(f, loan(bank=""), mr)
        bad(f, loan(loan_id=""), mr)
        bad(f, loan(status=""), mr)
        bad(f, loan(national_id=self.bad_nid(), amount="0"), nid, amt)
        bad(f, loan(amount="-1", status="?"), amt, val)
        bad(f, loan(province="Tehran"), pm)
        bad(f, loan(province="IR-99"), pm)
        warn(f, loan(), approved_at="1403/13/01")
        warn(f, loan(), approved_at="1499/01/01")
        warn(f, loan(), disbursed_at="2099-01-01")
        clash = loan(bank="بانک ملت")
        self.add(f, clash)
        other = self.again(clash, amount_rial=900_000_000)
        other.raw["bank"] = "بانك ملت"
        self.add(f, other)  # one key (Arabic letters), two amounts: both rejected
        same = self.add(f, loan())
        self.repeat(f, same)
        self.add(f, loan(), overflow=("اضافی",))

        # Loans, IR-03, xlsx in toman with number cells.
        f = self.data_file(
            "IR-03/loans/تسهیلات_تومانی_1402",
            1,
            fmt="xlsx",
            style="fa",
            optional=1.0,
            amount="amount_toman",
            extra=(),
            ext=".xlsx",
        )
        for _ in range(4):
            self.add(f, loan())
        self.add(f, loan(rial=250_000_005, amount="۲۵۰۰۰۰۰۰٫۵"))  # half a toman is five rial: whole
        three_zeros = self.person(zeros=3)
        rec = self.loan(three_zeros, amount=500_000_000, approved=self.date())
        rec.raw["national_id"] = int(three_zeros.nid)  # seven digits once a number: not padded
        bad(f, rec, nid)
        bad(f, loan(amount=0), amt)
        bad(f, loan(amount=-100), amt)
        self.add(
            f,
            self.loan(p(), amount=2_000_000_000, loan_type="network", approved=_j(1402, 2, 2), status="cancelled"),
        )

        # Training, IR-05, UTF-16 tab-separated with header variants.
        f = self.data_file(
            "IR-05/training/دوره_ها_1402",
            1,
            fmt="tsv_utf16",
            style="variant",
            optional=1.0,
            extra=("notes",),
            ext=".tsv",
        )

        def course(**raw: object) -> _Rec:
            rec = self.train(p(), "IR-05", completed=True, start=self.date())
            rec.raw.update(raw)
            return rec

        for _ in range(4):
            self.add(f, course())
        bad(f, course(completed=""), mr)
        bad(f, course(completed="شاید"), val)
        bad(f, course(course_title=""), mr)
        bad(f, course(enrollment_id=""), mr)
        bad(f, course(national_id="0000000000"), nid)
        bad(f, course(national_id="12-34"), nid)
        bad(f, course(province="کرمان"), pm)
        warn(f, course(), start_date="1402/08/31")
        warn(f, course(), start_date="1499/01/01")
        warn(f, course(), course_type="کارگاهی")
        c1 = course()
        self.add(f, c1)
        self.add(f, self.again(c1, completed="no"))
        self.add(f, course(), overflow=("اضافه",))

        # Applicants, IR-09, semicolon CSV; IR-27 Windows-1256 with bad rows.
        f = self.data_file("IR-09/applicants/list_semicolon_1403", 1, fmt="csv_semicolon", optional=1.0, ext=".csv")
        for _ in range(3):
            self.add(f, reg("IR-09"))
        bad(f, reg("IR-09", registered_at="1404/12/30"), dt)
        bad(f, reg("IR-09", national_id="0084575949"), nid)
        f = self.data_file("IR-27/applicants/list_1403", 1, fmt="csv_cp1256", style="variant", optional=1.0, ext=".csv")
        for _ in range(3):
            self.add(f, reg("IR-27"))
        bad(f, reg("IR-27", registered_at="1403/13/01"), dt)
        bad(f, reg("IR-27", province="IR-26"), pm)

        # Batch 2: more of the same, so that the quarantine history accumulates.
        f = self.data_file("IR-01/applicants/errors_1404", 2, fmt="xlsx", style="en", optional=1.0, ext=".xlsx")
        for _ in range(3):
            self.add(f, reg())
        bad(f, reg(registered_at=date(2099, 1, 1)), fut)
        bad(f, reg(national_id="1111111111"), nid)
        bad(f, reg(first_name=None), mr)
        f = self.data_file(
            "IR-02/loans/bank_errors_1404",
            2,
            fmt="csv",
            style="fa",
            optional=1.0,
            amount="amount_toman",
            ext=".csv",
        )
        for _ in range(2):
            self.add(f, loan())
        bad(f, loan(amount="12.5.0"), amt)
        bad(f, loan(status="معلق"), val)

    def bad_files(self) -> None:
        """Files refused whole, empty files and duplicates."""
        p = self.person

        def filled(file: DropFile, n: int = 2) -> DropFile:
            for _ in range(n):
                person_ = p()
                if file.source == "applicants":
                    self.add(file, self.reg(person_, file.home, self.date()))
                elif file.source == "loans":
                    self.add(file, self.loan(person_, amount=500_000_000, approved=self.date()))
                else:
                    self.add(file, self.train(person_, file.home, completed=True, start=self.date()))
            return file

        pdf = self.raw_file(
            "IR-04/loans/scan_report.pdf",
            1,
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
            reasons.UNSUPPORTED_FORMAT,
        )
        self.raw_file(
            "IR-11/applicants/list_1403.docx",
            1,
            _zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}),
            reasons.UNSUPPORTED_FORMAT,
        )
        # Unreadable: UTF-16 without a BOM (NUL bytes), a control character, an xlsx that is HTML.
        filled(
            self.data_file(
                "IR-18/training/export_1403",
                1,
                fmt="csv_utf16_nobom",
                optional=1.0,
                reason=reasons.UNREADABLE,
                ext=".csv",
            )
        )
        f = filled(
            self.data_file(
                "IR-19/applicants/list_ctrl_1403",
                1,
                fmt="csv",
                optional=1.0,
                reason=reasons.UNREADABLE,
                ext=".csv",
            )
        )
        f.rows[0].cells[self._col(f, "first_name")] = "مریم\x07"
        self.raw_file(
            "IR-24/loans/export_1403.xlsx",
            1,
            "<html><body><table><tr><td>کد ملی</td></tr></table></body></html>".encode(),
            reasons.UNREADABLE,
        )
        # Missing and ambiguous columns.
        names = {s: [c.name for c in contract()[s].columns if c.kind != "amount"] for s in SOURCES}
        filled(
            self.data_file(
                "IR-13/loans/no_amount_1403",
                1,
                fmt="csv",
                names=names["loans"],
                reason=reasons.MISSING_COLUMNS,
                ext=".csv",
            )
        )
        filled(
            self.data_file(
                "IR-14/loans/two_amounts_1403",
                1,
                fmt="csv_bom",
                names=[*names["loans"], "amount_rial", "amount_toman"],
                reason=reasons.MISSING_COLUMNS,
                ext=".csv",
            )
        )
        filled(
            self.data_file(
                "IR-15/applicants/no_national_id_1403",
                1,
                fmt="xlsx",
                names=[n for n in names["applicants"] if n != "national_id"],
                reason=reasons.MISSING_COLUMNS,
                ext=".xlsx",
            )
        )
        filled(
            self.data_file(
                "IR-21/training/no_result_1403",
                1,
                fmt="csv",
                names=[n for n in names["training"] if n != "completed"],
                reason=reasons.MISSING_COLUMNS,
                ext=".csv",
            )
        )
        amb = filled(
            self.data_file(
                "IR-17/applicants/list_1403",
                1,
                fmt="csv",
                style="fa",
                optional=1.0,
                reason=reasons.AMBIGUOUS_COLUMNS,
                ext=".csv",
            )
        )
        amb.columns.append(("national_id", "national_id"))
        for row in amb.rows:
            row.cells.append(row.cells[self._col(amb, "national_id")])
        amb2 = self.data_file(
            "IR-22/training/courses_1403",
            1,
            fmt="csv_semicolon",
            style="en",
            optional=1.0,
            extra=(),
            reason=reasons.AMBIGUOUS_COLUMNS,
            ext=".csv",
        )
        amb2.columns.append(("کد دوره آموزی", "enrollment_id"))
        filled(amb2)
        # Misplaced files.
        filled(
            self.data_file(
                "IR-99/applicants/list_1403",
                1,
                fmt="csv",
                home="IR-01",
                reason=reasons.UNKNOWN_PROVINCE,
                ext=".csv",
            )
        )
        filled(
            self.data_file(
                "IR-04/payments/payments_1403",
                1,
                fmt="csv",
                home="IR-04",
                reason=reasons.UNKNOWN_SOURCE,
                ext=".csv",
            )
        )
        filled(
            self.data_file(
                "IR-08/loose_file_1403", 1, fmt="csv", home="IR-08", reason=reasons.UNKNOWN_SOURCE, ext=".csv"
            )
        )
        filled(self.data_file("stray_1403", 1, fmt="csv", home="IR-01", reason=reasons.UNKNOWN_PROVINCE, ext=".csv"))
        # Empty files: 0 bytes, a header only.
        self.raw_file("IR-05/applicants/empty.csv", 1, b"", None)
        self.data_file("IR-06/training/header_only_1403", 1, fmt="csv_bom", ext=".csv")
        # Batch 2: resends and an empty file again, a C1 control character, a corrected resend.
        self.copy_file(pdf, "IR-04/loans/scan_report (1).pdf", 2)
        self.raw_file("IR-05/applicants/empty_again.csv", 2, b"", None)
        f = filled(
            self.data_file(
                "IR-30/training/export_1404",
                2,
                fmt="csv",
                optional=1.0,
                reason=reasons.UNREADABLE,
                ext=".csv",
            )
        )
        f.rows[-1].cells[self._col(f, "course_title")] = "خیاطی\u0086"
        fixed = self.data_file(
            "IR-17/applicants/list_1403_corrected", 2, fmt="csv", style="fa", optional=1.0, ext=".csv"
        )
        for _ in amb.rows:
            self.add(fixed, self.reg(p(), "IR-17", self.date()))
        assert fixed.rows

    def duplicate_identities(self) -> None:
        """One person under two valid IDs in two provinces, a refused row of theirs, and twins.

        U registers in IR-02 as «عبدالله کریمی» and again in IR-18 under a second valid ID as
        «عبد الله كريمي» (spacing and Arabic letters), same father, birth date and mobile; an IR-02
        row of U with two neighbouring ID digits swapped is refused (invalid_national_id only).
        Twins in IR-12 share last name, father, birth date and county but not first names: no pair.
        """
        rng = self.rng
        u = replace(self.person(), first="عبدالله", last="کریمی", gender="male")
        second = replace(u, nid=self.nid())
        first_file = self.sfile("IR-02/applicants/duplicates_1403", 1, fmt="csv", style="fa")
        other_file = self.sfile("IR-18/applicants/duplicates_1403", 1, fmt="csv", style="en")
        self.add(first_file, self.reg(u, "IR-02", _j(1402, 4, 4)))
        again = self.reg(second, "IR-18", _j(1403, 2, 9))
        again.raw.update(first_name="عبد الله", last_name="كريمي")
        self.add(other_file, again)
        self.suspected.append((min(u.nid, second.nid), max(u.nid, second.nid)))
        refused_file = self.sfile("IR-02/applicants/duplicates_refused_1403", 1, fmt="csv", style="fa")
        self.add(refused_file, self.reg(self.person(), "IR-02", _j(1403, 3, 3)))
        swapped = u.nid
        for i in rng.sample(range(9), 9):
            digits = list(u.nid)
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
            if not valid_national_id("".join(digits)):
                swapped = "".join(digits)
                break
        assert swapped != u.nid
        typo = self.reg(u, "IR-02", _j(1403, 3, 4))
        typo.raw["national_id"] = swapped
        typo.reasons = (reasons.INVALID_NATIONAL_ID,)
        self.add(refused_file, typo)
        self.refused_links.append((refused_file.rel, len(refused_file.rows) - 1, u.nid))
        twin = self.person()
        born = MIN_DATE - timedelta(days=rng.randint(20 * 365, 40 * 365))
        twins_file = self.sfile("IR-12/applicants/twins_1403", 1, fmt="csv")
        for name in ("حسن", "حسین"):
            person_ = replace(twin, nid=self.nid(), first=name, gender="male", birth=born, mobile=self.person().mobile)
            self.add(twins_file, self.reg(person_, "IR-12", _j(1403, 1, 15)))

    @staticmethod
    def _col(f: DropFile, name: str) -> int:
        return next(i for i, (_, n) in enumerate(f.columns) if n == name)


# --------------------------------------------------------------------------- the oracle


def _frozen(canon: dict[str, object]) -> tuple:
    return tuple(sorted(canon.items()))


class _Oracle:
    """Replays the contract over the planned records; knows nothing of the pipeline's code."""

    def __init__(self, plan: DropPlan) -> None:
        self.plan = plan
        self.codes = {p.code for p in plan.provinces}

    def file_reason(self, f: DropFile) -> str | None:
        """Whole-file reason from the path, the planned content and the header."""
        province, source = f.folder_province, f.folder_source
        if not province or province not in self.codes:
            found: str | None = reasons.UNKNOWN_PROVINCE
        elif not source or source not in SOURCES:
            found = reasons.UNKNOWN_SOURCE
        elif Path(f.rel).suffix.lower() not in (".csv", ".tsv", ".xlsx"):
            found = reasons.UNSUPPORTED_FORMAT
        elif f.reason == reasons.UNREADABLE:
            found = reasons.UNREADABLE
        elif f.fmt == "raw":
            found = f.reason
        else:
            src = contract()[source]
            named = [src.canonical_name(h) for h, _ in f.columns]
            assert named == [n for _, n in f.columns], f.rel
            have = Counter(n for n in named if n)
            missing = any(n not in have for n in src.required_columns())
            missing |= any(sum(n in have for n in group) != 1 for group in src.one_of)
            found = (
                reasons.MISSING_COLUMNS
                if missing
                else reasons.AMBIGUOUS_COLUMNS
                if any(v > 1 for v in have.values())
                else None
            )
        assert found == f.reason, (f.rel, found, f.reason)
        return found

    def run(self, after_batch: int) -> dict:
        plan = self.plan
        seen: set[tuple[str, str, str]] = set()
        tables: dict[str, dict[tuple[str, str], dict[str, object]]] = {s: {} for s in SOURCES}
        q_rows: Counter[tuple[str, str, str]] = Counter()
        q_files: Counter[tuple[str, str, str]] = Counter()
        files: dict[str, dict] = {}
        for batch in range(1, after_batch + 1):
            for f in plan.batch_files(batch):
                files[f.rel] = self.replay(f, seen, tables, q_rows, q_files)
        people = self.people(tables)
        suspected = [(a, b) for a, b in sorted(plan.suspected) if a in people and b in people]
        return {
            "rpt_province_summary": self.province_summary(tables, people, {n for pair in suspected for n in pair}),
            "rpt_quarantine_summary": [
                {
                    "province_code": k[0],
                    "source": k[1],
                    "reason": k[2],
                    "rows": q_rows[k],
                    "files": q_files[k],
                }
                for k in sorted(set(q_rows) | set(q_files))
            ],
            "rpt_loan_cap_breaches": self.breaches(tables),
            "rpt_monthly_loans": self.monthly(tables),
            "files": files,
            "persons": {
                nid: {k: v for k, v in info.items() if not k.startswith("_")} for nid, info in sorted(people.items())
            },
            "suspected_duplicates": [{"national_id_l": a, "national_id_r": b} for a, b in suspected],
            "suspected_refused_links": [
                {"file": rel, "line_number": _line_of(plan.file(rel), index), "national_id": nid}
                for rel, index, nid in sorted(plan.refused_links)
                if nid in people and files.get(rel, {}).get("rows_rejected", 0) > 0
            ],
        }

    def replay(self, f: DropFile, seen: set, tables: dict, q_rows: Counter, q_files: Counter) -> dict:
        province, source = f.folder_province, f.folder_source
        out = {
            "status": reasons.STATUS_REJECTED,
            "rows_read": 0,
            "rows_loaded": 0,
            "rows_rejected": 0,
            "rejected_by_reason": {},
            "file_reason": None,
        }
        reason = self.file_reason(f)
        if reason in reasons.PLACE_REASONS:
            q_files[province, source, reason] += 1
            return {**out, "file_reason": reason}
        if not self.plan.file_bytes(f.rel) or (f.fmt != "raw" and not f.rows and reason is None):
            return {**out, "status": reasons.STATUS_EMPTY}
        identity = (province, source, hashlib.sha256(self.plan.file_bytes(f.rel)).hexdigest())
        if identity in seen:
            return {**out, "status": reasons.STATUS_DUPLICATE, "file_reason": reasons.DUPLICATE_FILE}
        seen.add(identity)
        if reason is not None:
            q_files[province, source, reason] += 1
            return {**out, "file_reason": reason}
        assert f.home == province, f.rel
        rejected: list[tuple[str, ...]] = []
        by_key: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
        for row in f.rows:
            if row.reasons or row.canon is None:
                rejected.append(row.reasons)
            else:
                by_key[self.key(source, province, row.canon)].append(row.canon)
        for key, versions in by_key.items():
            if len({_frozen(v) for v in versions}) > 1:  # the same key, different values: all rejected
                rejected += [(reasons.CONFLICTING_DUPLICATE,)] * len(versions)
            else:  # identical rows count once; a later file replaces an earlier version
                tables[source][key] = {**versions[0], "_province": province}
        by_reason: Counter[str] = Counter(r for why in rejected for r in set(why))
        for r, n in by_reason.items():
            q_rows[province, source, r] += n
        read = len(f.rows)
        status = reasons.STATUS_LOADED_WITH_REJECTIONS if rejected else reasons.STATUS_LOADED
        assert len(rejected) < read, f"{f.rel}: every row rejected"
        return {
            **out,
            "status": status,
            "rows_read": read,
            "rows_loaded": read - len(rejected),
            "rows_rejected": len(rejected),
            "rejected_by_reason": dict(sorted(by_reason.items())),
        }

    @staticmethod
    def key(source: str, province: str, canon: dict[str, object]) -> tuple[str, str]:
        if source == "loans":
            return (match_key(str(canon["bank"])) or "", match_key(str(canon["loan_id"])) or "")
        name = "application_id" if source == "applicants" else "enrollment_id"
        return (province, match_key(str(canon[name])) or "")

    @staticmethod
    def loan_date(loan: dict[str, object]) -> date | None:
        return cast(date | None, loan["approved_at"] or loan["disbursed_at"])

    def people(self, tables: dict) -> dict[str, dict]:
        regs: dict[str, list[tuple]] = defaultdict(list)
        loans: dict[str, list[tuple]] = defaultdict(list)
        trains: dict[str, list[tuple]] = defaultdict(list)
        supporter: set[str] = set()
        live: set[str] = set()
        trained: set[str] = set()
        for r in tables["applicants"].values():
            regs[r["national_id"]].append((r["registered_at"], r["_province"]))
            if r["supporter_id"]:
                supporter.add(r["national_id"])
        for r in tables["loans"].values():
            d = self.loan_date(r)
            loans[r["national_id"]].append((d is None, d or date.max, r["_province"]))
            if r["status"] in LIVE:
                live.add(r["national_id"])
        for r in tables["training"].values():
            d = r["start_date"]
            trains[r["national_id"]].append((d is None, d or date.max, r["_province"]))
            if r["completed"] == "yes":
                trained.add(r["national_id"])
        people = {}
        for nid in set(regs) | set(loans) | set(trains):
            home = min(regs[nid])[1] if nid in regs else min(loans[nid])[2] if nid in loans else min(trains[nid])[2]
            people[nid] = {
                "home_province": home,
                "multi_registration": len(regs.get(nid, ())) > 1,
                "loan_only": nid in live and nid not in trained and nid not in supporter,
                "unregistered_borrower": nid in live and nid not in regs,
                "_trained": nid in trained,
            }
        return people

    def province_summary(self, tables: dict, people: dict[str, dict], suspected: set[str]) -> list[dict]:
        rows = {
            p.code: {
                "province_code": p.code,
                "province_name_fa": p.name_fa,
                "province_name_en": p.name_en,
                "persons": 0,
                "registrations": 0,
                "multi_registration_persons": 0,
                "loans": 0,
                "loan_amount_rial": 0,
                "borrowers": 0,
                "trained_persons": 0,
                "loan_only_persons": 0,
                "unregistered_borrowers": 0,
                "suspected_duplicate_persons": 0,
            }
            for p in self.plan.provinces
        }
        for info in people.values():
            row = rows[info["home_province"]]
            row["persons"] += 1
            row["multi_registration_persons"] += info["multi_registration"]
            row["trained_persons"] += info["_trained"]
            row["loan_only_persons"] += info["loan_only"]
            row["unregistered_borrowers"] += info["unregistered_borrower"]
        for nid in suspected:  # persons in a planted suspected pair, by home province
            rows[people[nid]["home_province"]]["suspected_duplicate_persons"] += 1
        for r in tables["applicants"].values():
            rows[r["_province"]]["registrations"] += 1
        borrowers: dict[str, set[str]] = defaultdict(set)
        for r in tables["loans"].values():
            if r["status"] in LIVE:
                rows[r["_province"]]["loans"] += 1
                rows[r["_province"]]["loan_amount_rial"] += r["amount_rial"]
                borrowers[r["_province"]].add(r["national_id"])
        for code, nids in borrowers.items():
            rows[code]["borrowers"] = len(nids)
        return [row for _, row in sorted(rows.items())]

    def breaches(self, tables: dict) -> list[dict]:
        out = []
        for r in tables["loans"].values():
            d = self.loan_date(r)
            if d is None:
                continue
            jy = jalali(d)[0]
            cap = self.plan.caps.get((jy, r["loan_type"]))
            if cap is not None and r["amount_rial"] > cap:
                out.append(
                    {
                        "province_code": r["_province"],
                        "bank": r["bank"],
                        "loan_id": r["loan_id"],
                        "national_id": r["national_id"],
                        "loan_type": r["loan_type"],
                        "jalali_year": jy,
                        "amount_rial": r["amount_rial"],
                        "cap_rial": cap,
                    }
                )
        return sorted(out, key=lambda b: (b["province_code"], b["bank"], b["loan_id"]))

    def monthly(self, tables: dict) -> list[dict]:
        totals: dict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0, 0])
        for r in tables["loans"].values():
            d = self.loan_date(r)
            if r["status"] in LIVE and d is not None:
                jy, jm, _ = jalali(d)
                t = totals[jy, jm, r["_province"]]
                t[0] += 1
                t[1] += r["amount_rial"]
        return [
            {
                "jalali_year": k[0],
                "jalali_month": k[1],
                "province_code": k[2],
                "loans": v[0],
                "loan_amount_rial": v[1],
            }
            for k, v in sorted(totals.items())
        ]


def build_plan(seed: int = 1404, persons: int = 400, caps: dict[tuple[int, str], int] | None = None) -> DropPlan:
    """A deterministic plan of both batches for ``persons`` ordinary people plus the hand-made cases."""
    if persons < 0:
        raise ValueError("persons must be >= 0")
    return _Builder(seed, persons, caps if caps is not None else load_caps()).build()


def main(argv: list[str] | None = None) -> int:
    """Command line: write one batch under an ingest root, and optionally the truth after it."""
    parser = argparse.ArgumentParser(description="Write sample provincial drops and the expected warehouse.")
    parser.add_argument("ingest_root", type=Path)
    parser.add_argument("--batch", type=int, choices=(1, 2), required=True)
    parser.add_argument("--seed", type=int, default=1404)
    parser.add_argument("--persons", type=int, default=400)
    parser.add_argument("--truth", type=Path, help="write the truth after this batch to this JSON file")
    args = parser.parse_args(argv)
    plan = build_plan(args.seed, args.persons)
    paths = plan.write_batch(args.ingest_root, args.batch)
    if args.truth:
        write_truth(plan.truth(args.batch), args.truth)
    print(f"{len(paths)} files of batch {args.batch} written under {args.ingest_root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
