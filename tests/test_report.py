"""The national report: its numbers are the views', its Persian has glyphs, and it renders in headless Chromium.

The screenshot is kept as a test artefact in ``test-artefacts/national-report.png``.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from etl import report
from etl.config import Settings
from etl.pipeline import run
from etl.publish import view_rows
from etl.sample import build_plan
from etl.warehouse import create_warehouse_engine

REPO = Path(__file__).resolve().parents[1]
ARTEFACTS = REPO / "test-artefacts"
IN_CI = os.environ.get("CI", "").lower() == "true"


class Cells(HTMLParser):
    """Collects the page's numbers (elements with data-value) and its visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.province: str | None = None
        self.open: list[tuple[str, str, str]] = []  # (scope, column, value) of a data-value element being read
        self.cells: dict[tuple[str, str], tuple[int, str]] = {}  # (province or "totals", column) -> value, text
        self.text: list[str] = []
        self.skip = 0
        self.attributes: dict[str, dict[str, str]] = {}
        self.text_at = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        self.attributes.setdefault(tag, found)
        if tag in ("style", "script"):
            self.skip += 1
        if tag == "tr":
            self.province = found.get("data-province")
        if "data-value" in found:
            scope, column = (
                ("totals", found["data-total"])
                if "data-total" in found
                else (self.province or "", found["data-column"])
            )
            self.open.append((scope, column, found["data-value"]))
            self.text_at = len(self.text)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.skip -= 1
        if tag in ("td", "dd") and self.open:
            scope, column, value = self.open.pop()
            self.cells[(scope, column)] = (int(value), "".join(self.text[self.text_at :]).strip())

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.text.append(data)


def parse(page: str) -> Cells:
    cells = Cells()
    cells.feed(page)
    return cells


def load_sample(tmp: Path, warehouse: str) -> dict[str, list[dict]]:
    """Load a generated 31-province drop; returns the reporting views' rows."""
    settings = Settings(
        ingest_root=tmp / "in",
        archive_root=tmp / "archive",
        outbox_root=tmp / "outbox",
        warehouse=warehouse,
        settle_seconds=0,
    )
    build_plan(persons=60).write_batch(settings.ingest_root, 1)
    run(settings)
    return views_of(warehouse)


def views_of(warehouse: str) -> dict[str, list[dict]]:
    engine = create_warehouse_engine(warehouse)
    try:
        with engine.connect() as connection:
            return {
                view: view_rows(connection, view)
                for view in ("rpt_province_summary", "rpt_monthly_loans", "rpt_quarantine_summary")
            }
    finally:
        engine.dispose()


def assert_page_shows_the_views(page: Cells, views: dict[str, list[dict]]) -> None:
    provinces = views["rpt_province_summary"]
    assert len(provinces) == 31
    expected = {
        (row["province_code"], column): int(row[column]) for row in provinces for column, _, _ in report.COLUMNS
    }
    for column in report.ADDITIVE:
        total = sum(int(row[column]) for row in provinces)
        expected[("totals", column)] = expected[("total", column)] = total
    expected[("totals", "dated_loans")] = sum(int(row["loans"]) for row in views["rpt_monthly_loans"])
    expected[("totals", "refused_rows")] = sum(int(row["rows"]) for row in views["rpt_quarantine_summary"])
    expected[("totals", "refused_files")] = sum(int(row["files"]) for row in views["rpt_quarantine_summary"])
    assert {key: value for key, (value, _) in page.cells.items()} == expected
    for key, (value, text) in page.cells.items():  # what a reader sees is the same number, in Persian digits
        assert text == report.fa(value), key
    assert expected[("totals", "persons")] > 0 and expected[("totals", "loans")] > 0


def require_chromium() -> str:
    """The Chromium executable; skip when there is none, except in CI (CI=true), where that fails."""
    browser = report.chromium()
    if browser is None:
        reason = "no chromium on this machine (`make test-deps` installs Debian's chromium as root)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return browser


def chromium_run(browser: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="mashaghel-chromium-") as profile:
        return subprocess.run(
            [browser, *report.CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, dict[str, list[dict]], str]:
    """A sample drop loaded into SQLite and its report written: (index.html, views, warehouse URL)."""
    tmp = tmp_path_factory.mktemp("report")
    warehouse = f"sqlite:///{tmp / 'warehouse.sqlite'}"
    views = load_sample(tmp, warehouse)
    engine = create_warehouse_engine(warehouse)
    try:
        index = report.write_report(engine, tmp / "report")
    finally:
        engine.dispose()
    return index, views, warehouse


def test_the_report_renders_in_chromium_with_the_views_numbers(rendered):
    browser = require_chromium()
    index, views, _ = rendered
    dom = chromium_run(browser, "--dump-dom", index.as_uri()).stdout
    page = parse(dom)
    assert page.attributes["html"] == {"dir": "rtl", "lang": "fa"}
    assert_page_shows_the_views(page, views)
    names = {row["province_name_fa"] for row in views["rpt_province_summary"]}
    text = "".join(page.text)
    assert all(name in text for name in names) and "گزارش ملی" in text
    assert dom.count('<figure data-chart="') == 5 and dom.count('src="data:image/svg+xml;base64,') == 5
    assert (index.parent / "report.pdf").read_bytes().startswith(b"%PDF")

    ARTEFACTS.mkdir(exist_ok=True)
    screenshot = ARTEFACTS / "national-report.png"
    screenshot.unlink(missing_ok=True)
    chromium_run(browser, f"--screenshot={screenshot}", "--window-size=1400,3000", index.as_uri())
    from PIL import Image

    with Image.open(screenshot) as image:
        assert image.size == (1400, 3000)
        assert len(image.convert("L").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 16  # not a blank page


def test_every_character_has_a_glyph_in_the_projects_font(rendered):
    """No tofu: the page's font is the project's file, and it maps every character of the page and the charts."""
    import matplotlib.ft2font
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager
    from matplotlib.text import Text

    index, views, _ = rendered
    html = index.read_text(encoding="utf-8")
    font = index.parent / report.FONT_FILE
    assert font.read_bytes() == report.font_path().read_bytes()
    assert f'url("{report.FONT_FILE}")' in html and f'font-family: "{report.FONT_FAMILY}"' in html
    cmap = TTFont(font).getBestCmap()
    page_text = "".join(parse(html).text)
    assert any("\u0600" <= char <= "\u06ff" for char in page_text)
    missing = {char for char in page_text if not char.isspace() and ord(char) not in cmap}
    assert not missing, f"characters the font lacks: {sorted(missing)}"

    # matplotlib 3.11 shapes right-to-left text itself with libraqm; the charts must use the project's font.
    assert matplotlib.ft2font.__libraqm_version__
    with report.chart_style():
        for key, draw, _ in report.charts(views):
            figure = draw()
            figure.savefig(io.BytesIO(), format="svg")  # lays out the tick labels
            texts = [t for t in figure.findobj(Text) if t.get_text().strip()]
            assert any("\u0600" <= c <= "\u06ff" for t in texts for c in t.get_text()), key
            for text in texts:
                found = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
                assert Path(found).resolve() == report.font_path().resolve(), (key, text.get_text())
                lacking = {c for c in text.get_text() if not c.isspace() and ord(c) not in cmap}
                assert not lacking, (key, text.get_text(), lacking)


# SQLite is the rendering tests' warehouse above; this adds PostgreSQL (numbers as Decimal, other collations).
@pytest.mark.parametrize("warehouse_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_the_report_numbers_are_the_views_on_postgresql(tmp_path, warehouse_url, monkeypatch):
    monkeypatch.setattr(report, "chromium", lambda: None)  # the page alone; Chromium is tested above
    views = load_sample(tmp_path, warehouse_url)
    engine = create_warehouse_engine(warehouse_url)
    try:
        index = report.write_report(engine, tmp_path / "report")
    finally:
        engine.dispose()
    assert_page_shows_the_views(parse(index.read_text(encoding="utf-8")), views)
    assert not (tmp_path / "report" / "report.pdf").exists()


def test_the_command_prints_the_report_path(rendered, tmp_path, capsys, monkeypatch):
    from etl.cli import main

    monkeypatch.setattr(report, "chromium", lambda: None)

    _, _, warehouse = rendered
    assert main(["report", "--warehouse", warehouse, "--out", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r" / "index.html")
