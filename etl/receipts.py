"""What a province gets back: the archived file, its receipt, and its refused rows.

Archive: ``<archive>/<province>/<source>/<YYYY-MM-DD>/<sha256>__<name>``.
Receipt: ``<outbox>/<province>/<source>/<name>.<sha12>.receipt.json`` and, when
rows were refused, ``<name>.<sha12>.rejected.csv`` beside it. A missing folder
name is ``_`` in both paths.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from etl.reasons import (
    DESCRIPTIONS,
    STATUS_DUPLICATE,
    STATUS_EMPTY,
    STATUS_REJECTED,
)
from etl.spreadsheet import neutralise_row

PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@dataclass
class FileOutcome:
    """Everything a receipt says about one file."""

    relative_path: str
    file_name: str
    province_code: str
    source: str
    sha256: str
    status: str
    received_on: dt.date
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    warnings_by_reason: dict[str, int] = field(default_factory=dict)
    file_reason: str | None = None
    detail: str = ""

    @property
    def stem(self) -> str:
        return f"{self.file_name}.{self.sha256[:12]}"


def _folder(name: str) -> str:
    return name or "_"


def archive_path(archive_root: Path, outcome: FileOutcome) -> Path:
    return (
        archive_root
        / _folder(outcome.province_code)
        / _folder(outcome.source)
        / outcome.received_on.isoformat()
        / f"{outcome.sha256}__{outcome.file_name}"
    )


def receipt_path(outbox_root: Path, outcome: FileOutcome) -> Path:
    return outbox_root / _folder(outcome.province_code) / _folder(outcome.source) / f"{outcome.stem}.receipt.json"


def rejected_csv_path(outbox_root: Path, outcome: FileOutcome) -> Path:
    return outbox_root / _folder(outcome.province_code) / _folder(outcome.source) / f"{outcome.stem}.rejected.csv"


def _fa(number: int) -> str:
    return f"{number:,}".replace(",", "٬").translate(PERSIAN_DIGITS)


def summary_lines(outcome: FileOutcome) -> tuple[str, str]:
    """A short line in Persian and one in English saying what happened to the file."""
    name = outcome.file_name
    if outcome.status == STATUS_REJECTED:
        fa_reason, en_reason = DESCRIPTIONS[outcome.file_reason or ""]
        return (
            f"فایل «{name}» پذیرفته نشد: {fa_reason}. لطفاً اصلاح و دوباره ارسال کنید.",
            f"File {name} was refused: {en_reason}. Please correct it and send it again.",
        )
    if outcome.status == STATUS_DUPLICATE:
        return (
            f"فایل «{name}» قبلاً دریافت شده بود و دوباره بارگذاری نشد.",
            f"File {name} was received before and was not loaded again.",
        )
    if outcome.status == STATUS_EMPTY:
        return (f"فایل «{name}» هیچ سطر داده‌ای نداشت.", f"File {name} has no data rows.")
    fa = f"از {_fa(outcome.rows_read)} سطر فایل «{name}»، {_fa(outcome.rows_loaded)} سطر بارگذاری شد"
    en = f"File {name}: {outcome.rows_loaded:,} of {outcome.rows_read:,} rows loaded"
    if outcome.rows_rejected:
        reasons_fa = "، ".join(
            f"{DESCRIPTIONS[r][0]} ({_fa(n)})" for r, n in sorted(outcome.rejected_by_reason.items())
        )
        reasons_en = ", ".join(f"{DESCRIPTIONS[r][1]} ({n:,})" for r, n in sorted(outcome.rejected_by_reason.items()))
        fa += f" و {_fa(outcome.rows_rejected)} سطر پذیرفته نشد: {reasons_fa}."
        fa += " سطرهای ردشده در فایل rejected.csv آمده‌اند."
        en += f"; {outcome.rows_rejected:,} refused: {reasons_en}. The refused rows are in the rejected.csv file."
    else:
        fa += "."
        en += "."
    return fa, en


def receipt_document(outcome: FileOutcome, archived_to: Path, rejected_csv: Path | None) -> dict:
    """The receipt's JSON content."""
    summary_fa, summary_en = summary_lines(outcome)
    return {
        "file_name": outcome.file_name,
        "relative_path": outcome.relative_path,
        "province_code": outcome.province_code,
        "source": outcome.source,
        "sha256": outcome.sha256,
        "received_on": outcome.received_on.isoformat(),
        "status": outcome.status,
        "file_reason": outcome.file_reason,
        "rows_read": outcome.rows_read,
        "rows_loaded": outcome.rows_loaded,
        "rows_rejected": outcome.rows_rejected,
        "rejected_by_reason": dict(sorted(outcome.rejected_by_reason.items())),
        "warnings_by_reason": dict(sorted(outcome.warnings_by_reason.items())),
        "detail": outcome.detail,
        "summary_fa": summary_fa,
        "summary_en": summary_en,
        "archived_as": str(archived_to),
        "rejected_rows_file": rejected_csv.name if rejected_csv else None,
    }


def _write_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8-sig" if path.suffix == ".csv" else "utf-8", newline="") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_rejected_csv(
    path: Path,
    header: list[str],
    rows: list[tuple[int, list[str], list[str]]],
    extra: dict[str, dict[int, str]] | None = None,
) -> None:
    """The refused rows as sent, then their line number and reason codes (UTF-8 with BOM for Excel).

    ``extra`` adds columns after those: column name -> value by line number (the
    matching stage adds the likely national ID of a mistyped one). Cells a
    spreadsheet would run as formulas are neutralised (etl/spreadsheet.py); the
    warehouse keeps them exactly as sent in ``rejected_row.raw``.
    """
    extra = extra or {}
    width = max([len(header), *(len(cells) for _, cells, _ in rows)])
    columns = header + [f"column_{i + 1}" for i in range(len(header), width)]

    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(neutralise_row([*columns, "line_number", "reasons", *extra]))
        for line, cells, reasons in rows:
            writer.writerow(
                [
                    *neutralise_row(cells),
                    *[""] * (width - len(cells)),
                    line,
                    ";".join(reasons),
                    *(values.get(line, "") for values in extra.values()),
                ]
            )

    _write_atomically(path, write)


def write_receipt(path: Path, document: dict) -> None:
    _write_atomically(path, lambda handle: handle.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n"))


def move_to_archive(source_path: Path, target: Path) -> None:
    """Move a file (or a link, never its target) into the archive; the pipeline never deletes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not os.path.lexists(source_path):
        return  # already moved by an earlier, interrupted attempt
    try:
        os.replace(source_path, target)
    except OSError:
        shutil.move(str(source_path), str(target))
