"""A national drop at benchmark scale, generated column-wise with numpy.

The scenario generator (etl/sample.py) builds every record in Python with its
exact truth, which suits hundreds of rows, not millions. This one writes the
same kind of drop at national size: 31 provinces, Persian headers, Jalali
dates, the usual share of refused rows (invalid national IDs, impossible dates,
empty required values, bad amounts), Windows-1256 CSV and xlsx files among UTF-8
CSV, people registered in several provinces, loans without registrations. It
keeps only the counts needed to check a run (rows written, rows meant to be
refused), not a full truth.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from etl.national_id import check_digits
from etl.sample import _CP1256_SAFE as CP1256_SAFE
from etl.sample import BANKS, CATEGORIES, COURSES, FIRST_F, FIRST_M, LAST, PROVIDERS, _cp1256_safe, load_provinces

NATIONAL_DEFAULTS = {"applicants": 1_000_000, "loans": 300_000, "training": 600_000}
ROWS_PER_FILE = 25_000
BAD_SHARE = 0.02
CP1256_EVERY = 7  # every 7th file is Windows-1256
XLSX_EVERY = 23  # every 23rd file is xlsx (kept small: Excel files are the small ones in practice)
XLSX_MAX_ROWS = 5_000
FATHERS = (*FIRST_M, "اسماعیل", "ابراهیم", "غلامرضا", "حسن", "احمد", "جعفر", "عباس", "صادق")
COUNTIES = ("مرکزی", "شمالی", "جنوبی", "شرقی", "غربی", "کوهستان", "ساحلی", "دشت")

HEADERS = {
    "applicants": {
        "application_id": "شماره پرونده",
        "national_id": "کد ملی",
        "first_name": "نام",
        "last_name": "نام خانوادگی",
        "father_name": "نام پدر",
        "gender": "جنسیت",
        "birth_date": "تاریخ تولد",
        "mobile": "تلفن همراه",
        "county": "شهرستان",
        "business_category": "رسته شغلی",
        "registered_at": "تاریخ ثبت نام",
        "supporter_id": "کد پشتیبان",
    },
    "loans": {
        "loan_id": "شماره تسهیلات",
        "bank": "بانک عامل",
        "national_id": "کد ملی",
        "first_name": "نام",
        "last_name": "نام خانوادگی",
        "loan_type": "نوع تسهیلات",
        "amount_rial": "مبلغ (ریال)",
        "approved_at": "تاریخ تصویب",
        "disbursed_at": "تاریخ پرداخت",
        "status": "وضعیت",
    },
    "training": {
        "enrollment_id": "شماره ثبت نام دوره",
        "national_id": "کد ملی",
        "first_name": "نام",
        "last_name": "نام خانوادگی",
        "course_title": "عنوان دوره",
        "course_type": "نوع دوره",
        "provider": "مجری آموزش",
        "hours": "ساعت",
        "start_date": "تاریخ شروع",
        "end_date": "تاریخ پایان",
        "completed": "قبولی",
    },
}


@dataclass
class DropSummary:
    """What was written: files and rows per source, and rows written to be refused."""

    files: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    bad_rows: dict[str, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def national_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` distinct valid national IDs (ten-digit strings), check digits computed column-wise."""
    chosen = np.unique(rng.integers(1_000_000, 999_999_999, size=int(count * 1.05) + 100))
    chosen = rng.permutation(chosen)[:count]
    check = check_digits((chosen[:, None] // 10 ** np.arange(8, -1, -1)) % 10)
    return np.char.add(np.char.zfill(chosen.astype(str), 9), check.astype(str))


def _jalali_dates(rng: np.random.Generator, count: int, first_year: int = 1398, last_year: int = 1403) -> np.ndarray:
    """Jalali dates ``YYYY/MM/DD``, every one a real day long before any run."""
    years = rng.integers(first_year, last_year + 1, size=count)
    months = rng.integers(1, 13, size=count)
    days = rng.integers(1, 30, size=count)
    return np.char.add(
        np.char.add(np.char.add(years.astype(str), "/"), np.char.add(np.char.zfill(months.astype(str), 2), "/")),
        np.char.zfill(days.astype(str), 2),
    )


def _pick(rng: np.random.Generator, choices: tuple[str, ...], count: int) -> np.ndarray:
    return np.asarray(choices, dtype=object)[rng.integers(0, len(choices), size=count)]


@dataclass
class _People:
    national_id: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    father_name: np.ndarray
    gender: np.ndarray
    birth_date: np.ndarray
    mobile: np.ndarray
    home: np.ndarray  # index into provinces


def _people(rng: np.random.Generator, count: int, provinces: int) -> _People:
    female = rng.random(count) < 0.7
    first = np.where(female, _pick(rng, FIRST_F, count), _pick(rng, FIRST_M, count))
    mobiles = np.char.add("09", np.char.zfill(rng.integers(100_000_000, 399_999_999, size=count).astype(str), 9))
    return _People(
        national_id=national_ids(rng, count).astype(object),
        first_name=first,
        last_name=_pick(rng, LAST, count),
        father_name=_pick(rng, FATHERS, count),
        gender=np.where(female, "زن", "مرد").astype(object),
        birth_date=_jalali_dates(rng, count, 1340, 1385).astype(object),
        mobile=mobiles.astype(object),
        home=rng.integers(0, provinces, size=count),
    )


def _applicants(rng: np.random.Generator, people: _People, count: int, codes: list[str]) -> pd.DataFrame:
    """Registrations: most persons once in their home province, about 8% again elsewhere."""
    person = np.concatenate(
        [
            np.arange(len(people.national_id)),
            rng.integers(0, len(people.national_id), size=max(count - len(people.national_id), 0)),
        ]
    )
    person = person[:count]
    again = np.arange(count) >= len(people.national_id)
    province = np.where(again, rng.integers(0, len(codes), size=count), people.home[person])
    supporter = np.where(
        rng.random(count) < 0.25, np.char.add("S-", rng.integers(1000, 9999, size=count).astype(str)).astype(object), ""
    )
    return pd.DataFrame(
        {
            "_province": np.asarray(codes, dtype=object)[province],
            "application_id": np.char.add("A-", np.arange(1, count + 1).astype(str)).astype(object),
            "national_id": people.national_id[person],
            "first_name": people.first_name[person],
            "last_name": people.last_name[person],
            "father_name": people.father_name[person],
            "gender": people.gender[person],
            "birth_date": people.birth_date[person],
            "mobile": people.mobile[person],
            "county": _pick(rng, COUNTIES, count),
            "business_category": _pick(rng, CATEGORIES, count),
            "registered_at": _jalali_dates(rng, count).astype(object),
            "supporter_id": supporter,
        }
    )


def _loans(rng: np.random.Generator, people: _People, count: int, codes: list[str]) -> pd.DataFrame:
    """Loans: registered persons in their home province, and about 6% of borrowers never registered."""
    person = rng.integers(0, len(people.national_id), size=count)
    approved = _jalali_dates(rng, count).astype(object)
    status = _pick(rng, ("تصویب شده", "پرداخت شده", "پرداخت شده", "لغو شده"), count)
    individual = rng.random(count) < 0.8
    amount = np.where(individual, rng.integers(20, 150, size=count), rng.integers(100, 250, size=count)) * 10_000_000
    return pd.DataFrame(
        {
            "_province": np.asarray(codes, dtype=object)[people.home[person]],
            "loan_id": np.char.add("L-", np.arange(1, count + 1).astype(str)).astype(object),
            "bank": _pick(rng, BANKS, count),
            "national_id": people.national_id[person],
            "first_name": people.first_name[person],
            "last_name": people.last_name[person],
            "loan_type": np.where(individual, "انفرادی", "شبکه‌ای").astype(object),
            "amount_rial": amount.astype(str).astype(object),
            "approved_at": approved,
            "disbursed_at": np.where(status == "پرداخت شده", approved, ""),
            "status": status,
        }
    )


def _training(rng: np.random.Generator, people: _People, count: int, codes: list[str]) -> pd.DataFrame:
    person = rng.integers(0, len(people.national_id), size=count)
    start = _jalali_dates(rng, count)
    return pd.DataFrame(
        {
            "_province": np.asarray(codes, dtype=object)[people.home[person]],
            "enrollment_id": np.char.add("T-", np.arange(1, count + 1).astype(str)).astype(object),
            "national_id": people.national_id[person],
            "first_name": people.first_name[person],
            "last_name": people.last_name[person],
            "course_title": _pick(rng, COURSES, count),
            "course_type": _pick(rng, ("تخصصی", "عمومی"), count),
            "provider": _pick(rng, PROVIDERS, count),
            "hours": rng.integers(8, 120, size=count).astype(str).astype(object),
            "start_date": start.astype(object),
            "end_date": start.astype(object),
            "completed": _pick(rng, ("بله", "بله", "بله", "خیر"), count),
        }
    )


SPOILERS = {
    "applicants": {"national_id": None, "registered_at": "1403/13/45", "last_name": ""},
    "loans": {"national_id": None, "amount_rial": "-5000", "status": ""},
    "training": {"national_id": None, "completed": "شاید", "course_title": ""},
}


def _mistype_ids(frame: pd.DataFrame, rows: np.ndarray) -> None:
    ids = frame["national_id"].to_numpy()[rows].astype("U10")
    last = ids.view("U1").reshape(-1, 10)[:, 9].astype(int)
    frame.iloc[rows, frame.columns.get_loc("national_id")] = np.char.add(
        np.asarray([value[:9] for value in ids], dtype="U9"), ((last + 1) % 10).astype(str)
    ).astype(object)


def _refusable(frame: pd.DataFrame, rng: np.random.Generator, source: str, share: float) -> int:
    """Spoil about ``share`` of the rows, each in one of the source's ways; returns rows spoiled."""
    bad = np.flatnonzero(rng.random(len(frame)) < share)
    ways = list(SPOILERS[source].items())
    way_of = rng.integers(0, len(ways), size=len(bad))
    for way, (column, value) in enumerate(ways):
        rows = bad[way_of == way]
        if column == "national_id":
            _mistype_ids(frame, rows)
        else:
            frame.iloc[rows, frame.columns.get_loc(column)] = value
    return len(bad)


def _xlsx_bytes(frame: pd.DataFrame, sheet: str) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)
    worksheet.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        worksheet.append([value if value != "" else None for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _write_files(
    root: Path, source: str, frame: pd.DataFrame, tag: str, rows_per_file: int, summary: DropSummary, counter: list[int]
) -> None:
    """Each province's rows in files of at most ``rows_per_file``, in a mix of formats."""
    for province, rows in frame.groupby("_province", sort=True):
        rows = rows.drop(columns="_province").rename(columns=HEADERS[source])
        folder = root / str(province) / source
        folder.mkdir(parents=True, exist_ok=True)
        for part, start in enumerate(range(0, len(rows), rows_per_file), start=1):
            chunk = rows.iloc[start : start + rows_per_file]
            counter[0] += 1
            stem = f"{source}_{tag}_{part:03d}"
            if counter[0] % XLSX_EVERY == 0:  # an Excel file, with the rest of the chunk as CSV
                (folder / f"{stem}.xlsx").write_bytes(_xlsx_bytes(chunk.iloc[:XLSX_MAX_ROWS], source))
                _count(summary, source, "xlsx")
                chunk = chunk.iloc[XLSX_MAX_ROWS:]
                stem += "_b"
                if chunk.empty:
                    continue
            encoding = "cp1256" if counter[0] % CP1256_EVERY == 0 else "utf-8"
            if encoding == "cp1256":  # as Excel saves Persian there: Arabic ي for ی
                chunk = chunk.rename(columns=_cp1256_safe).apply(lambda column: column.str.translate(CP1256_SAFE))
            chunk.to_csv(folder / f"{stem}.csv", index=False, encoding=encoding)
            _count(summary, source, encoding)


def _count(summary: DropSummary, source: str, kind: str) -> None:
    summary.formats[kind] = summary.formats.get(kind, 0) + 1
    summary.files[source] = summary.files.get(source, 0) + 1


def write_national_drop(
    root: Path,
    applicants: int = NATIONAL_DEFAULTS["applicants"],
    loans: int = NATIONAL_DEFAULTS["loans"],
    training: int = NATIONAL_DEFAULTS["training"],
    seed: int = 1404,
    tag: str = "1403",
    bad_share: float = BAD_SHARE,
    rows_per_file: int = ROWS_PER_FILE,
    first_id: int = 0,
    provinces: int | None = None,
) -> DropSummary:
    """Write a national drop under ``root`` (``<IR-xx>/<source>/*.csv|xlsx``); returns what was written.

    ``first_id`` offsets the record IDs, so that a later drop (a daily increment)
    brings new keys rather than new versions of old ones. ``provinces`` limits the
    drop to the first provinces (one province and a large ``rows_per_file``: one big file).
    """
    rng = np.random.default_rng(seed)
    codes = [province.code for province in load_provinces()][:provinces]
    people = _people(rng, max(int(applicants * 0.93), loans, 1), len(codes))
    makers = {"applicants": (_applicants, applicants), "loans": (_loans, loans), "training": (_training, training)}
    frames = {source: make(rng, people, count, codes) for source, (make, count) in makers.items() if count}
    summary = DropSummary()
    counter = [0]
    for source, frame in frames.items():
        if frame.empty:
            continue
        key = next(iter(HEADERS[source]))
        frame[key] = frame[key].str.replace("-", f"-{tag}-{first_id}-", n=1, regex=False)
        summary.rows[source] = len(frame)
        summary.bad_rows[source] = _refusable(frame, rng, source, bad_share)
        _write_files(root, source, frame, tag, rows_per_file, summary, counter)
    return summary
