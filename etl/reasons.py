"""Reason codes of the contract, with the words a provincial clerk reads in Persian."""

from __future__ import annotations

# File-level: the whole file is refused (or, for the last two, not loaded).
UNSAFE_PATH = "unsafe_path"
UNKNOWN_PROVINCE = "unknown_province"
UNKNOWN_SOURCE = "unknown_source"
DUPLICATE_FILE = "duplicate_file"
UNSUPPORTED_FORMAT = "unsupported_format"
UNREADABLE = "unreadable"
MISSING_COLUMNS = "missing_columns"
AMBIGUOUS_COLUMNS = "ambiguous_columns"

# Place rejections: such a file is not "seen", so the same bytes sent to the right
# folder later are read.
PLACE_REASONS = (UNSAFE_PATH, UNKNOWN_PROVINCE, UNKNOWN_SOURCE)
# File-level reasons counted in rpt_quarantine_summary.
FILE_REJECTION_REASONS = (
    UNSUPPORTED_FORMAT,
    UNREADABLE,
    MISSING_COLUMNS,
    AMBIGUOUS_COLUMNS,
    UNKNOWN_PROVINCE,
    UNKNOWN_SOURCE,
    UNSAFE_PATH,
)

# Row-level.
MALFORMED_ROW = "malformed_row"
MISSING_REQUIRED = "missing_required"
INVALID_NATIONAL_ID = "invalid_national_id"
INVALID_DATE = "invalid_date"
FUTURE_DATE = "future_date"
INVALID_AMOUNT = "invalid_amount"
INVALID_VALUE = "invalid_value"
PROVINCE_MISMATCH = "province_mismatch"
CONFLICTING_DUPLICATE = "conflicting_duplicate"

# Warning: an optional value was emptied.
INVALID_OPTIONAL_VALUE = "invalid_optional_value"

# File statuses.
STATUS_LOADED = "loaded"
STATUS_LOADED_WITH_REJECTIONS = "loaded_with_rejections"
STATUS_REJECTED = "rejected"
STATUS_DUPLICATE = "duplicate_file"
STATUS_EMPTY = "empty"

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    UNSAFE_PATH: ("پیوند نمادین پذیرفته نمی‌شود", "symbolic links are not accepted"),
    UNKNOWN_PROVINCE: ("پوشه استان شناخته نشد", "the province folder is not a province code"),
    UNKNOWN_SOURCE: (
        "پوشه باید یکی از applicants، loans یا training باشد",
        "the folder must be applicants, loans or training",
    ),
    DUPLICATE_FILE: ("این فایل قبلاً دریافت شده است", "this file was received before"),
    UNSUPPORTED_FORMAT: (
        "قالب فایل پشتیبانی نمی‌شود (فقط csv، tsv و xlsx)",
        "unsupported file format (csv, tsv and xlsx only)",
    ),
    UNREADABLE: ("فایل خوانا نیست یا رمزگذاری آن مشخص نیست", "the file cannot be read or its encoding is unclear"),
    MISSING_COLUMNS: ("ستون‌های الزامی در فایل نیست", "required columns are missing"),
    AMBIGUOUS_COLUMNS: ("دو ستون به یک نام اشاره دارند", "two columns name the same field"),
    MALFORMED_ROW: ("تعداد خانه‌های سطر بیش از ستون‌هاست", "the row has more fields than the header"),
    MISSING_REQUIRED: ("مقدار الزامی خالی است", "a required value is empty"),
    INVALID_NATIONAL_ID: ("کد ملی نامعتبر است", "invalid national ID"),
    INVALID_DATE: ("تاریخ نامعتبر است", "invalid date"),
    FUTURE_DATE: ("تاریخ در آینده است", "date in the future"),
    INVALID_AMOUNT: ("مبلغ نامعتبر است", "invalid amount"),
    INVALID_VALUE: ("مقدار مجاز نیست", "value not allowed"),
    PROVINCE_MISMATCH: ("استان با پوشه استان یکی نیست", "province differs from the folder's province"),
    CONFLICTING_DUPLICATE: (
        "یک شناسه چند بار با مقادیر متفاوت آمده است",
        "the same key appears more than once with different values",
    ),
    INVALID_OPTIONAL_VALUE: ("مقدار اختیاری نامعتبر بود و خالی شد", "an invalid optional value was emptied"),
}
