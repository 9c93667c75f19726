"""The national report: one self-contained HTML page (and a PDF of it) drawn from the reporting views.

Every figure on the page is read from the reporting views (``etl.publish.view_rows``)
and at most summed over their rows; nothing is recomputed from the base tables.
The page is Persian and right-to-left; its font (Noto Sans Arabic, from the
``fontpkg-noto-sans-arabic`` package) is copied next to ``index.html``, and the
charts are embedded as SVG with their text drawn as outlines. matplotlib 3.11
shapes and orders Persian text itself (libraqm), so labels are passed as they are.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from etl.publish import read_checked_views

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

FONT_FAMILY = "Noto Sans Arabic"
FONT_FILE = "NotoSansArabic.ttf"
PERSIAN_DIGITS = str.maketrans("0123456789,.-", "۰۱۲۳۴۵۶۷۸۹٬٫−")
MONTHS_FA = ("فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند")
SOURCES_FA = {"applicants": "متقاضیان", "loans": "تسهیلات", "training": "آموزش"}
# Columns of rpt_province_summary shown per province: (column, Persian header, English header).
COLUMNS = (
    ("persons", "افراد", "persons"),
    ("registrations", "ثبت‌نام‌ها", "registrations"),
    ("multi_registration_persons", "ثبت‌نام چندگانه", "multi-registered"),
    ("loans", "وام‌های جاری", "live loans"),
    ("loan_amount_rial", "مبلغ وام‌ها (ریال)", "loan amount, rial"),
    ("borrowers", "وام‌گیرندگان", "borrowers"),
    ("trained_persons", "آموزش‌دیده", "trained"),
    ("loan_only_persons", "فقط وام", "loan only"),
    ("unregistered_borrowers", "وام‌گیرندهٔ بی‌ثبت‌نام", "unregistered borrowers"),
)
# Columns that add up over provinces (docs/warehouse.md §3.5); borrowers does not.
ADDITIVE = tuple(column for column, _, _ in COLUMNS if column != "borrowers")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def default_out_dir(outbox_root: Path) -> Path:
    """Where the report goes by default: ``<outbox>/national/report``."""
    return outbox_root / "national" / "report"


def font_path() -> Path:
    """The Persian font file installed with the project (a dependency, not the machine's fonts)."""
    import fontpkg_noto_sans_arabic

    return next((fontpkg_noto_sans_arabic.ROOT / "files").glob("*.ttf"))


def chromium() -> str | None:
    """The path of a Chromium executable, or None."""
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def fa(value: float | int | str, decimals: int = 0) -> str:
    """A number in Persian digits with Persian separators (1234567 -> ۱٬۲۳۴٬۵۶۷)."""
    text = value if isinstance(value, str) else f"{value:,.{decimals}f}"
    return text.translate(PERSIAN_DIGITS)


def read_views(engine: Engine) -> dict[str, list[dict]]:
    """The rows of the views the report shows, after checking that the views add up."""
    with engine.connect() as connection:
        return read_checked_views(connection, ("rpt_province_summary", "rpt_monthly_loans", "rpt_quarantine_summary"))


def national_totals(provinces: list[dict]) -> dict[str, int]:
    """Sums of the additive columns of rpt_province_summary."""
    return {column: sum(int(row[column]) for row in provinces) for column in ADDITIVE}


def monthly_totals(monthly: list[dict]) -> list[tuple[int, int, int, int]]:
    """(year, month, loans, amount) for every month from the first to the last, all provinces."""
    by_month: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for row in monthly:
        totals = by_month[(int(row["jalali_year"]), int(row["jalali_month"]))]
        totals[0] += int(row["loans"])
        totals[1] += int(row["loan_amount_rial"])
    if not by_month:
        return []
    (year, month), last = min(by_month), max(by_month)
    months = []
    while (year, month) <= last:
        loans, amount = by_month.get((year, month), (0, 0))
        months.append((year, month, loans, amount))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def refusals_by_folder(quarantine: list[dict]) -> dict[str, dict[str, int]]:
    """Refusals per sending province folder and source: refused rows per reason plus files refused whole."""
    folders: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in quarantine:
        folders[row["province_code"]][row["source"]] += int(row["rows"]) + int(row["files"])
    return folders


# --- charts -------------------------------------------------------------------------------------


def _figure(height: float, width: float = 10.0, ncols: int = 1) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots(1, ncols, sharey=ncols > 1, squeeze=False)[0]


def _svg(figure: Figure) -> str:
    """The figure as a data: URI of its SVG (text as outlines, so the image needs no font)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _fa_axis(axis: Any, decimals: int = 0, suffix: str = "", integer: bool = False) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if integer:
        axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(FuncFormatter(lambda value, _: fa(value, decimals) + suffix))


def _province_bars(
    ax: Any,
    labels: list[str],
    values: list[float],
    color: str,
    title: str,
    label_side: str = "right",
    decimals: int = 0,
    suffix: str = "",
) -> None:
    """Horizontal bars growing right to left, province names on the right, values at the bar ends."""
    positions = range(len(labels))
    bars = ax.barh(positions, values, color=color)
    if label_side == "right":
        ax.set_yticks(list(positions), labels)
        ax.invert_yaxis()
        ax.yaxis.tick_right()
        ax.tick_params(axis="y", labelright=True)  # sharey hid the labels of the right-hand panel
    else:  # shares the y axis of a panel that has the labels
        ax.tick_params(left=False, labelleft=False)
    ax.invert_xaxis()
    ax.bar_label(bars, labels=[fa(v, decimals) + suffix if v else "" for v in values], padding=3, fontsize=8)
    ax.set_title(title, loc="right", fontsize=12)
    _fa_axis(ax.xaxis, decimals, suffix, integer=not decimals)
    ax.margins(x=0.15)
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "left"]].set_visible(False)


@contextmanager
def chart_style() -> Iterator[None]:
    """matplotlib settings of the report's charts: the project's Persian font, SVG text as outlines."""
    import matplotlib
    from matplotlib import font_manager

    if FONT_FAMILY not in {font.name for font in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(font_path()))
    style = {
        "font.family": FONT_FAMILY,
        "font.size": 9,
        "svg.fonttype": "path",
        "axes.unicode_minus": False,
        "svg.hashsalt": "mashaghel",
        "text.language": "fa",
    }
    with matplotlib.rc_context(style):
        yield


def chart_loans_and_amount(provinces: list[dict]) -> Figure:
    """Live loans and their amount per (sending) province, largest first."""
    rows = sorted(provinces, key=lambda r: (-r["loans"], -r["loan_amount_rial"], r["province_code"]))
    labels = [r["province_name_fa"] for r in rows]
    figure, (amount_ax, loans_ax) = _figure(0.26 * len(rows) + 1.2, ncols=2)
    _province_bars(loans_ax, labels, [r["loans"] for r in rows], "#2a6f97", "تعداد وام‌های جاری")
    _province_bars(
        amount_ax,
        labels,
        [r["loan_amount_rial"] / 1e9 for r in rows],
        "#61a5c2",
        "مبلغ وام‌های جاری (میلیارد ریال)",
        label_side="",
        decimals=1,
    )
    return figure


def chart_loan_only_share(provinces: list[dict]) -> Figure:
    """Loan-only persons as a share of all persons, by home province (both home columns)."""
    rows = sorted(
        (r for r in provinces if r["persons"]),
        key=lambda r: (-r["loan_only_persons"] / r["persons"], r["province_code"]),
    )
    figure, (ax,) = _figure(0.26 * max(len(rows), 1) + 1.2)
    _province_bars(
        ax,
        [r["province_name_fa"] for r in rows],
        [100 * r["loan_only_persons"] / r["persons"] for r in rows],
        "#c8553d",
        "سهم افراد «فقط وام» از همهٔ افراد هر استان (استان محل سکونت، درصد)",
        decimals=1,
        suffix="٪",
    )
    return figure


def chart_monthly(monthly: list[dict]) -> Figure:
    """Live loans per Jalali month, all provinces."""
    months = monthly_totals(monthly)
    figure, (ax,) = _figure(4.2)
    positions = range(len(months))
    ax.bar(positions, [m[2] for m in months], color="#2a6f97", width=0.8)
    ticks = [i for i, m in enumerate(months) if m[1] == 1 or i == 0]
    ax.set_xticks(
        ticks,
        [fa(f"{m[0]}") if m[1] == 1 else f"{MONTHS_FA[m[1] - 1]} {fa(str(m[0]))}" for m in (months[i] for i in ticks)],
    )
    ax.set_xticks(list(positions), minor=True)
    _fa_axis(ax.yaxis, integer=True)
    ax.set_title("وام‌های جاری در هر ماه شمسی (همهٔ استان‌ها، بر پایهٔ تاریخ تصویب یا پرداخت)", loc="right", fontsize=12)
    ax.yaxis.tick_right()
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "left"]].set_visible(False)
    return figure


def chart_refusals(quarantine: list[dict], names: dict[str, str]) -> Figure:
    """Refusals per sending province folder, stacked by source folder."""
    folders = refusals_by_folder(quarantine)
    order = sorted(folders, key=lambda code: (-sum(folders[code].values()), code))
    sources = sorted(
        {s for counts in folders.values() for s in counts},
        key=lambda s: (s not in SOURCES_FA, list(SOURCES_FA).index(s) if s in SOURCES_FA else 0, s),
    )
    figure, (ax,) = _figure(0.3 * max(len(order), 1) + 1.6)
    labels = [names.get(code, f"{code} (ناشناخته)" if code else "(بدون پوشهٔ استان)") for code in order]
    left = [0] * len(order)
    colors = ("#2a6f97", "#c8553d", "#f2a541", "#7d8491", "#9c6644")
    for index, source in enumerate(sources):
        values = [folders[code].get(source, 0) for code in order]
        ax.barh(
            range(len(order)),
            values,
            left=left,
            color=colors[index % len(colors)],
            label=SOURCES_FA.get(source, source or "(بدون پوشهٔ منبع)"),
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    for position, total in enumerate(left):  # to the left of the bar's end (the x axis is inverted)
        ax.annotate(
            fa(total),
            (total, position),
            xytext=(-3, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(order)), labels)
    ax.invert_yaxis()
    ax.invert_xaxis()
    ax.yaxis.tick_right()
    ax.margins(x=0.1)
    _fa_axis(ax.xaxis, integer=True)
    ax.legend(loc="lower left", title="پوشهٔ منبع")
    ax.set_title(
        "ردشده‌ها به تفکیک پوشهٔ استان و منبع (سطرهای رد شده برای هر دلیل + پرونده‌های ردشدهٔ کامل)",
        loc="right",
        fontsize=12,
    )
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "left"]].set_visible(False)
    return figure


def chart_multi_registration(provinces: list[dict]) -> Figure:
    """Persons with more than one registration, by home province (provinces with any)."""
    rows = sorted(
        (r for r in provinces if r["multi_registration_persons"]),
        key=lambda r: (-r["multi_registration_persons"], r["province_code"]),
    )
    figure, (ax,) = _figure(0.26 * max(len(rows), 1) + 1.2)
    _province_bars(
        ax,
        [r["province_name_fa"] for r in rows],
        [r["multi_registration_persons"] for r in rows],
        "#7b2cbf",
        "افراد با بیش از یک ثبت‌نام (استان محل سکونت)",
    )
    return figure


# --- the page -----------------------------------------------------------------------------------

CSS = """
@font-face { font-family: "%(family)s"; src: url("%(file)s") format("truetype"); font-weight: 100 900; }
@page { size: A4 landscape; margin: 10mm; }
@media print { body { max-width: none; margin: 0; padding: 0; } table { font-size: .68rem; }
               figure img { max-height: 180mm; object-fit: contain; } }
td[dir="ltr"] { white-space: nowrap; }
body { font-family: "%(family)s", sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem;
       color: #1d2733; line-height: 1.6; }
h1 { font-size: 1.7rem; margin-bottom: 0; } h2 { font-size: 1.25rem; margin-top: 2.2rem; }
.sub { color: #5b6775; margin-top: .2rem; } .en { color: #5b6775; font-size: .8em; }
.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: .6rem; }
.totals div { border: 1px solid #d0d7de; border-radius: .4rem; padding: .5rem .8rem; }
.totals dt { font-size: .85rem; color: #5b6775; } .totals .en { display: block; }
.totals dd { margin: 0; font-size: 1.35rem; font-weight: 600; }
table { border-collapse: collapse; width: 100%%; font-size: .82rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: .25rem .4rem; }
th { background: #f3f5f7; vertical-align: bottom; } td.n { text-align: left; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: 600; border-top: 2px solid #1d2733; }
figure { margin: 1rem 0; break-inside: avoid; } figure img { width: 100%%; height: auto; }
figcaption { font-size: .85rem; color: #5b6775; }
p.note { font-size: .85rem; color: #5b6775; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cell(column: str, value: int) -> str:
    return f'<td class="n" data-column="{column}" data-value="{int(value)}">{fa(int(value))}</td>'


def _totals_html(totals: dict[str, int], dated_loans: int, refused: tuple[int, int]) -> str:
    items = [(column, fa_name, en_name, totals[column]) for column, fa_name, en_name in COLUMNS if column in totals]
    items += [
        ("dated_loans", "وام‌های جاری تاریخ‌دار", "dated live loans", dated_loans),
        ("refused_rows", "سطرهای رد شده (برای هر دلیل)", "refused rows, per reason", refused[0]),
        ("refused_files", "پرونده‌های ردشدهٔ کامل", "files refused whole", refused[1]),
    ]
    return "\n".join(
        f'<div><dt>{_e(fa_name)}<span class="en" lang="en" dir="ltr">{_e(en_name)}</span></dt>'
        f'<dd data-total="{column}" data-value="{int(value)}">{fa(int(value))}</dd></div>'
        for column, fa_name, en_name, value in items
    )


def _table_html(provinces: list[dict], totals: dict[str, int]) -> str:
    head = "".join(
        f'<th>{_e(fa_name)}<br><span class="en" lang="en" dir="ltr">{_e(en_name)}</span></th>'
        for _, fa_name, en_name in COLUMNS
    )
    body = "\n".join(
        f'<tr data-province="{_e(r["province_code"])}"><td dir="ltr">{_e(r["province_code"])}</td>'
        f'<td>{_e(r["province_name_fa"])}</td><td dir="ltr" lang="en">{_e(r["province_name_en"])}</td>'
        + "".join(_cell(column, r[column]) for column, _, _ in COLUMNS)
        + "</tr>"
        for r in provinces
    )
    foot = "".join(
        _cell(column, totals[column]) if column in totals else '<td class="n">—</td>' for column, _, _ in COLUMNS
    )
    return (
        f'<table id="provinces"><thead><tr><th>کد<br><span class="en" lang="en">code</span></th>'
        f'<th>استان</th><th><span class="en" lang="en">Province</span></th>{head}</tr></thead>'
        f'<tbody>\n{body}\n</tbody><tfoot><tr data-province="total"><td></td><td>کل کشور</td>'
        f'<td dir="ltr" lang="en">Iran</td>{foot}</tr></tfoot></table>'
    )


def _figure_html(key: str, uri: str, caption: str) -> str:
    return (
        f'<figure data-chart="{key}"><img src="{uri}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def charts(views: dict[str, list[dict]]) -> list[tuple[str, Callable[[], Figure], str]]:
    """The report's charts: (key, function drawing the figure, caption); draw them inside chart_style()."""
    provinces = views["rpt_province_summary"]
    monthly, quarantine = views["rpt_monthly_loans"], views["rpt_quarantine_summary"]
    names = {r["province_code"]: r["province_name_fa"] for r in provinces}
    return [
        (
            "loans_by_province",
            lambda: chart_loans_and_amount(provinces),
            "وام‌های جاری و مبلغ آن‌ها به تفکیک استان فرستنده (rpt_province_summary: loans, loan_amount_rial)",
        ),
        (
            "loan_only_share",
            lambda: chart_loan_only_share(provinces),
            "loan_only_persons ÷ persons، هر دو بر پایهٔ استان محل سکونت (rpt_province_summary)",
        ),
        (
            "monthly_loans",
            lambda: chart_monthly(monthly),
            "جمع همهٔ استان‌ها در هر ماه (rpt_monthly_loans)؛ وام‌های بدون تاریخ در این نمودار نیستند",
        ),
        (
            "refusals",
            lambda: chart_refusals(quarantine, names),
            "rpt_quarantine_summary: سطری که به چند دلیل رد شده، برای هر دلیل یک بار شمرده می‌شود",
        ),
        (
            "multi_registration",
            lambda: chart_multi_registration(provinces),
            "multi_registration_persons (rpt_province_summary)",
        ),
    ]


def render_html(views: dict[str, list[dict]], generated_at: dt.datetime) -> str:
    """The report page for the given view rows."""
    import jdatetime

    provinces = views["rpt_province_summary"]
    monthly, quarantine = views["rpt_monthly_loans"], views["rpt_quarantine_summary"]
    totals = national_totals(provinces)
    refused = (sum(int(r["rows"]) for r in quarantine), sum(int(r["files"]) for r in quarantine))
    with chart_style():
        figures = "\n".join(_figure_html(key, _svg(draw()), caption) for key, draw, caption in charts(views))
    when = jdatetime.datetime.fromgregorian(datetime=generated_at)
    stamp = fa(when.strftime("%Y/%m/%d %H:%M"))
    return f"""<!DOCTYPE html>
<html dir="rtl" lang="fa">
<head>
<meta charset="utf-8">
<title>گزارش ملی مشاغل خانگی</title>
<style>{CSS % {"family": FONT_FAMILY, "file": FONT_FILE}}</style>
</head>
<body>
<h1>گزارش ملی طرح مشاغل خانگی</h1>
<p class="sub">تهیه‌شده در <span data-generated-at="{_e(generated_at.isoformat(timespec="seconds"))}">{stamp}</span>
— همهٔ ارقام از نماهای گزارش‌دهی انبار داده (rpt_province_summary، rpt_monthly_loans،
rpt_quarantine_summary) است. مبالغ به ریال.
<span class="en" lang="en" dir="ltr">National report of the home-based business programme.</span></p>
<h2>ارقام کل کشور</h2>
<dl class="totals" id="totals">
{_totals_html(totals, sum(int(r["loans"]) for r in monthly), refused)}
</dl>
<p class="note">افراد، ثبت‌نام چندگانه، آموزش‌دیده، «فقط وام» و وام‌گیرندهٔ بی‌ثبت‌نام بر پایهٔ استان محل سکونت
شمرده می‌شوند؛ ثبت‌نام‌ها، وام‌ها، مبلغ و وام‌گیرندگان بر پایهٔ استانی که پرونده را فرستاده است. ستون
وام‌گیرندگان جمع‌پذیر نیست (کسی که در دو استان وام گرفته در هر دو شمرده می‌شود) و جمع کل ندارد.</p>
<h2>استان‌ها</h2>
{_table_html(provinces, totals)}
<h2>نمودارها</h2>
{figures}
</body>
</html>
"""


def write_pdf(index: Path, pdf: Path, timeout: float = 180.0) -> Path | None:
    """Print the page to PDF with headless Chromium; None (and a warning) when that cannot be done."""
    browser = chromium()
    if browser is None:
        log.warning("no Chromium found (%s): the report has no PDF", ", ".join(CHROMIUM_NAMES))
        return None
    with tempfile.TemporaryDirectory(prefix="mashaghel-chromium-") as profile:
        command = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            index.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            log.warning("Chromium did not print the report within %.0f s: no PDF", timeout)
            return None
    if done.returncode != 0 or not pdf.exists():
        log.warning("Chromium could not print the report (exit %s): %s", done.returncode, done.stderr[-500:])
        return None
    return pdf


def write_report(engine: Engine, out_dir: Path) -> Path:
    """Write ``index.html`` (with its font beside it) and, when Chromium is there, ``report.pdf``; returns the page.

    Raises etl.publish.PublishError, writing nothing, when the reporting views do not add up.
    """
    import zoneinfo

    views = read_views(engine)
    page = render_html(views, dt.datetime.now(zoneinfo.ZoneInfo("Asia/Tehran")))
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(font_path(), out_dir / FONT_FILE)
    index = out_dir / "index.html"
    temporary = out_dir / "index.html.tmp"
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(index)
    (out_dir / "report.pdf").unlink(missing_ok=True)
    write_pdf(index, out_dir / "report.pdf")
    return index
