"""Hostile and broken files (issue 6, section 4): random bytes and encodings, ragged rows, huge
cells, thousands of columns, zip bombs, odd names, symbolic links and rows for another province.

Every file gets a receipt and nothing crashes; the reader refuses what it can't read safely as
``unreadable`` (see the limits in etl/read.py).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl import read as read_module
from etl import reasons
from etl.config import Settings
from etl.contract import SOURCES, contract
from etl.pipeline import run
from etl.read import ReadResult, read_file
from etl.warehouse import create_warehouse_engine
from tests.test_pipeline import files_left, receipts

REPO = Path(__file__).resolve().parents[1]
HEADER = ["application_id", "national_id", "first_name", "last_name", "registered_at"]
ROW = ["A1", "0499370899", "علی", "رضایی", "1402/05/01"]
VALID_IDS = ["0499370899", "0790419904", "0084575948"]
NEWLINE = re.compile(r"\r\n|\r|\n")

HEADERS = {
    "applicants": ",".join(HEADER),
    "loans": "loan_id,bank,national_id,loan_type,amount_rial,status",
    "training": "enrollment_id,national_id,course_title,completed",
}


def make_settings(root: Path) -> Settings:
    for name in ("ingest", "archive", "outbox"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return Settings(
        ingest_root=root / "ingest",
        archive_root=root / "archive",
        outbox_root=root / "outbox",
        warehouse=f"sqlite:///{root / 'warehouse.sqlite'}",
        settle_seconds=0,
        pseudonym_key="hostile-files-pseudonym-key-0123456789",
    )  # one key for the shared warehouse


@pytest.fixture
def hostile_settings(tmp_path: Path) -> Settings:
    """Tmp folders and a SQLite warehouse (these tests are about files, not the warehouse)."""
    return make_settings(tmp_path)


def left_in(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() or p.is_symlink()]


def physical_lines(data: bytes, encoding: str) -> int:
    return len(NEWLINE.findall(data.decode(encoding))) + 1


def check_shape(result: ReadResult, data: bytes) -> None:
    """A file-level reason, empty, or a frame whose line numbers rise within the file's lines."""
    if result.reason is not None:
        assert result.reason in reasons.FILE_REJECTION_REASONS, result.reason
        assert result.frame is None
        assert result.detail
        return
    if result.empty:
        assert result.frame is None
        return
    frame = result.frame
    assert frame is not None and len(frame) > 0
    lines = frame["_line"].tolist()
    assert all(a < b for a, b in itertools.pairwise(lines)), lines
    assert lines[0] >= 2
    if result.encoding != "xlsx":
        assert lines[-1] <= physical_lines(data, result.encoding or "utf-8")


def run_all(folder: Settings) -> None:
    report = run(folder)
    assert report.failures == {}, report.failures


# --- the reader on random input ----------------------------------------------------------------

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1256", "latin-1")
NAMES = ("f.csv", "f.tsv", "f.xlsx", "f.CSV")
ALPHABET = st.sampled_from(list("ab Z09,;\t\"'\r\n ۰۹علیرضایيك\u200c=+-@é\x00\x7f\x85"))
random_text = st.builds(
    lambda header, body, encoding: (header + body).encode(encoding, errors="replace"),
    st.sampled_from(["", *HEADERS.values(), HEADERS["applicants"].replace(",", ";") + "\n"]).map(
        lambda h: h + "\n" if h and not h.endswith("\n") else h
    ),
    st.text(ALPHABET, max_size=300),
    st.sampled_from(ENCODINGS),
)
random_bytes = st.binary(max_size=600)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(random_bytes, random_text), name=st.sampled_from(NAMES))
def test_random_bytes_and_encodings_never_crash_the_reader(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        for source in SOURCES:
            check_shape(read_file(path, contract()[source]), data)


# --- ragged rows -------------------------------------------------------------------------------

CELL = st.one_of(
    st.sampled_from(["", " ", "\t", " \t ", "\n", "،"]),  # blank and whitespace-only cells, often
    st.text(st.sampled_from(list('ab 7,;\t"\r\nعلی ۱۲ ‌')), max_size=8),
)
RAGGED_ROWS = st.lists(st.lists(CELL, min_size=0, max_size=9), min_size=0, max_size=12)
TEXT_ENCODINGS = st.sampled_from(("utf-8", "utf-8-sig", "utf-16"))


def blank(cells: list[str]) -> bool:
    joined = "".join(cells)
    return not joined or joined.isspace()


def ragged_file(rows: list[list[str]], encoding: str) -> bytes:
    """A valid applicants header, then the rows as the csv module quotes them."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def check_ragged(folder: Path, rows: list[list[str]], data: bytes) -> list[bool]:
    """One frame row per non-blank record, kept as sent; returns which ones are malformed."""
    path = folder / "ragged.csv"
    path.write_bytes(data)
    result = read_file(path, contract()["applicants"])
    check_shape(result, data)
    records = [cells for cells in rows if not blank(cells)]
    if not records:
        assert (result.reason, result.empty) == (None, True)
        return []
    assert result.reason is None and result.frame is not None, result.detail
    frame = result.frame
    assert len(frame) == len(records)
    assert [json.loads(raw) for raw in frame["_raw"]] == records
    expected_malformed = [any(c.strip() for c in cells[len(HEADER) :]) for cells in records]
    assert frame["_malformed"].tolist() == expected_malformed
    return expected_malformed


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(rows=RAGGED_ROWS, encoding=TEXT_ENCODINGS)
def test_ragged_rows_read_one_row_per_non_blank_record(rows: list[list[str]], encoding: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        check_ragged(Path(folder), rows, ragged_file(rows, encoding))


@pytest.fixture(scope="module")
def shared_warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite warehouse for every example (a fresh one each would cost a migration each)."""
    return f"sqlite:///{tmp_path_factory.mktemp('ragged') / 'warehouse.sqlite'}"


PROVINCE_CYCLE = [f"IR-{n:02d}" for n in range(1, 32)]


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(rows=RAGGED_ROWS, encoding=TEXT_ENCODINGS)
def test_ragged_rows_through_the_pipeline_get_a_receipt(
    shared_warehouse: str, rows: list[list[str]], encoding: str
) -> None:
    data = ragged_file(rows, encoding)
    with tempfile.TemporaryDirectory() as folder:
        malformed = check_ragged(Path(folder), rows, data)
        # Each example in its own folders and province (the same bytes twice in one province would be a
        # duplicate_file), all in one warehouse.
        settings_ = make_settings(Path(folder) / "run")
        settings_ = Settings(**{**settings_.__dict__, "warehouse": shared_warehouse})
        province = PROVINCE_CYCLE.pop(0) if PROVINCE_CYCLE else "IR-01"
        relative = f"{province}/applicants/ragged.csv"
        target = settings_.ingest_root / relative
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
        run_all(settings_)
        got = receipts(settings_.outbox_root)
        assert set(got) == {relative}
        receipt = got[relative]
        if receipt["status"] != "duplicate_file":  # only when shrinking replays an example
            assert receipt["rows_read"] == len(malformed)
            assert receipt["rejected_by_reason"].get("malformed_row", 0) == sum(malformed)
        assert left_in(settings_.ingest_root) == []
        assert len(files_left(settings_.archive_root)) == 1


# --- xlsx that is a zip bomb, not a zip, or not a workbook --------------------------------------


def zip_bomb(path: Path, megabytes: int = 300) -> Path:
    """A workbook-looking zip whose sheet is ``megabytes`` MB of zeros (about 1,000 to 1 packed)."""
    block = b"\0" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            for _ in range(megabytes):
                member.write(block)
    return path


@pytest.fixture
def no_workbook_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the workbook reader is reached at all."""
    import python_calamine

    def refuse(*_args, **_kwargs):
        raise AssertionError("the workbook reader was called")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_filelike", refuse)


def test_a_zip_bomb_is_refused_without_unpacking(tmp_path: Path, no_workbook_reader: None) -> None:
    bomb = zip_bomb(tmp_path / "bomb.xlsx")
    assert bomb.stat().st_size < 2_000_000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = read_file(bomb, contract()["applicants"])
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.reason == reasons.UNREADABLE
    assert result.detail.startswith("zip bomb: member 'xl/worksheets/sheet1.xml' would unpack 314,572,800 bytes")
    assert seconds < 1.0
    assert peak < 3 * bomb.stat().st_size + 2_000_000  # the packed file, never its 300 MB of zeros


def test_a_zip_bomb_too_big_in_all_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_workbook_reader: None
) -> None:
    monkeypatch.setattr(read_module, "MAX_XLSX_RATIO", 10_000)  # pass the ratio; fail the total
    monkeypatch.setattr(read_module, "MAX_XLSX_UNCOMPRESSED", 20 << 20)
    result = read_file(zip_bomb(tmp_path / "bomb.xlsx", 30), contract()["applicants"])
    assert result.reason == reasons.UNREADABLE
    assert result.detail == "zip bomb: the workbook would unpack to 31,457,288 bytes, at most 20,971,520"


def test_a_zip_with_too_many_members_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_workbook_reader: None
) -> None:
    monkeypatch.setattr(read_module, "MAX_XLSX_MEMBERS", 50)
    with zipfile.ZipFile(tmp_path / "many.xlsx", "w") as archive:
        for index in range(51):
            archive.writestr(f"m{index}.xml", "<x/>")
    result = read_file(tmp_path / "many.xlsx", contract()["applicants"])
    assert (result.reason, result.detail) == (reasons.UNREADABLE, "zip bomb: more than 50 members in the workbook")


def test_a_zip_bomb_that_lies_about_its_size_is_refused(tmp_path: Path, no_workbook_reader: None) -> None:
    """Sizes in the directory can lie; inflating in pieces stops one byte past the declared size."""
    path = tmp_path / "liar.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (20 << 20))
    data = bytearray(path.read_bytes())
    declared = (100_000).to_bytes(4, "little")
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 22 : local + 26] = declared
    data[central + 24 : central + 28] = declared
    path.write_bytes(bytes(data))
    result = read_file(path, contract()["applicants"])
    assert result.reason == reasons.UNREADABLE
    assert result.detail == (
        "zip bomb: member 'xl/worksheets/sheet1.xml' unpacks to more than the 100,000 bytes it declares"
    )


def test_a_sheet_spanning_too_many_cells_is_refused_not_a_crash(tmp_path: Path) -> None:
    """Two cells, A1 and XFD1048576: calamine would allocate the whole span and abort the process,
    so this runs in a child process: a regression is a failed test, not a dead test run."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["A1"] = "application_id"
    sheet["XFD1048576"] = "x"
    workbook.save(tmp_path / "sparse.xlsx")
    code = (
        "import sys; from pathlib import Path; from etl.contract import contract; from etl.read import read_file;"
        f"r = read_file(Path({str(tmp_path / 'sparse.xlsx')!r}), contract()['applicants']);"
        "print(r.reason); print(r.detail)"
    )
    child = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    reason, detail = child.stdout.splitlines()[:2]
    assert reason == reasons.UNREADABLE
    assert detail == (
        "'xl/worksheets/sheet1.xml' has cells up to row 1,048,576 and column 16,384: "
        "a table of more than 30,000,000 cells"
    )


def test_a_wide_but_legitimate_sheet_reads(tmp_path: Path) -> None:
    """Beyond the fast test's bounds (column BL) but within MAX_CELLS: scanned exactly, then read."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([*HEADER, *(f"c{i}" for i in range(95))])
    sheet.append([*ROW, *(str(i) for i in range(95))])
    workbook.save(tmp_path / "wide.xlsx")
    result = read_file(tmp_path / "wide.xlsx", contract()["applicants"])
    assert result.reason is None and result.frame is not None, result.detail
    assert json.loads(result.frame["_extra"][0])["c94"] == "94"


def test_an_xlsx_that_is_not_a_zip_is_unreadable(tmp_path: Path, no_workbook_reader: None) -> None:
    path = tmp_path / "noise.xlsx"
    path.write_bytes(os.urandom(4096))
    result = read_file(path, contract()["applicants"])
    assert result.reason == reasons.UNREADABLE
    assert result.detail.startswith("not a valid xlsx workbook (bad zip:")


def test_a_zip_that_is_not_a_workbook_is_unreadable(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "a.xlsx", "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    result = read_file(tmp_path / "a.xlsx", contract()["applicants"])
    assert result.reason == reasons.UNREADABLE
    assert result.detail.startswith("not a valid xlsx workbook")


# --- text files of odd shapes ------------------------------------------------------------------


def test_five_thousand_columns_read_with_the_unknown_ones_in_extra(tmp_path: Path) -> None:
    extra = [f"ستون {i}" for i in range(4995)]
    text = ",".join(HEADER + extra) + "\n" + ",".join(ROW + [str(i) for i in range(4995)]) + "\n"
    path = tmp_path / "wide.csv"
    path.write_text(text, encoding="utf-8")
    result = read_file(path, contract()["applicants"])
    assert result.reason is None and result.frame is not None, result.detail
    assert len(result.header) == 5000
    kept = json.loads(result.frame["_extra"][0])
    assert len(kept) == 4995 and kept["ستون 4994"] == "4994"
    assert result.frame["application_id"].tolist() == ["A1"]


def test_a_header_wider_than_excel_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "too_wide.csv"
    path.write_text(",".join(HEADER) + "," * 16_380 + "\n" + ",".join(ROW) + "\n", encoding="utf-8")
    result = read_file(path, contract()["applicants"])
    assert (result.reason, result.detail) == (
        reasons.UNREADABLE,
        "the header on line 1 has 16,385 columns, at most 16,384",
    )


def test_too_many_cells_is_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_module, "MAX_CELLS", 100)
    path = tmp_path / "long.csv"
    path.write_text(",".join(HEADER) + "\n" + (",".join(ROW) + "\n") * 21, encoding="utf-8")
    result = read_file(path, contract()["applicants"])
    assert (result.reason, result.detail) == (reasons.UNREADABLE, "21 data rows of 5 columns: more than 100 cells")


def test_a_cell_of_five_megabytes_reads(tmp_path: Path) -> None:
    huge = "ب" * (5 << 20)
    path = tmp_path / "huge.csv"
    path.write_text(",".join([*HEADER, "notes"]) + "\n" + ",".join([*ROW, f'"{huge}"']) + "\n", encoding="utf-8")
    result = read_file(path, contract()["applicants"])
    assert result.reason is None and result.frame is not None, result.detail
    assert json.loads(result.frame["_extra"][0])["notes"] == huge


def test_a_cell_beyond_the_limit_makes_the_file_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_module, "MAX_CELL_CHARS", 1 << 20)
    path = tmp_path / "huge.csv"
    rows = [",".join(HEADER), ",".join(ROW), ",".join([*ROW[:2], "x" * (2 << 20), *ROW[3:]])]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = read_file(path, contract()["applicants"])
    assert (result.reason, result.detail) == (
        reasons.UNREADABLE,
        "a cell longer than 1,048,576 characters in the record starting on line 3",
    )


# --- the whole pipeline on hostile files -------------------------------------------------------


def test_every_hostile_file_gets_a_receipt_and_is_files_left(hostile_settings: Settings) -> None:
    folder = hostile_settings.ingest_root / "IR-04" / "applicants"
    folder.mkdir(parents=True)
    zip_bomb(folder / "bomb.xlsx", 50)
    (folder / "noise.xlsx").write_bytes(os.urandom(3000))
    with zipfile.ZipFile(folder / "not a workbook.xlsx", "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    wide = ",".join(HEADER + [f"c{i}" for i in range(4995)]) + "\n"
    (folder / "wide.csv").write_text(wide + ",".join(ROW + ["v"] * 4995) + "\n", encoding="utf-8")
    huge = ",".join([*HEADER, "notes"]) + "\n" + ",".join(["A2", VALID_IDS[1], "ب" * (5 << 20), "x", ROW[4], "y"])
    (folder / "huge cell.csv").write_text(huge + "\n", encoding="utf-8")
    names = ["with space.csv", "ثبت‌نام استان.csv", "line\nbreak.csv", "a..b.csv", "و..csv"]
    for index, name in enumerate(names):
        row = [f"N{index}", VALID_IDS[index % 3], "علی", "رضایی", "1402/05/01"]
        (folder / name).write_text(",".join(HEADER) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    (folder / "random.csv").write_bytes(codecs.BOM_UTF16_LE + os.urandom(999))
    sent = sorted(p.relative_to(hostile_settings.ingest_root).as_posix() for p in left_in(hostile_settings.ingest_root))
    assert len(sent) == 11
    (folder / "..csv").write_text("still being written", encoding="utf-8")  # a dot name: left alone

    run_all(hostile_settings)

    got = receipts(hostile_settings.outbox_root)
    assert sorted(got) == sent
    assert left_in(hostile_settings.ingest_root) == [folder / "..csv"]
    assert len(files_left(hostile_settings.archive_root)) == len(sent)
    statuses = {Path(relative).name: (r["status"], r["file_reason"]) for relative, r in got.items()}
    for name in ("bomb.xlsx", "noise.xlsx", "not a workbook.xlsx"):
        assert statuses[name] == ("rejected", "unreadable"), name
    assert got["IR-04/applicants/bomb.xlsx"]["detail"].startswith("zip bomb:")
    for name in ["wide.csv", "huge cell.csv", *names]:
        assert statuses[name] == ("loaded", None), name
    for receipt in got.values():
        archived_as = Path(receipt["archived_as"])
        assert archived_as.parent.parent == hostile_settings.archive_root / "IR-04" / "applicants"
        assert archived_as.exists()


def test_links_inside_the_root_are_refused_and_never_followed(hostile_settings: Settings) -> None:
    root = hostile_settings.ingest_root
    mine = root / "IR-04" / "applicants"
    theirs = root / "IR-05" / "applicants"
    mine.mkdir(parents=True)
    theirs.mkdir(parents=True)
    (mine / "real.csv").write_text(",".join(HEADER) + "\n" + ",".join(ROW) + "\n", encoding="utf-8")
    other = ["B1", VALID_IDS[1], "سارا", "احمدی", "1402/05/02"]
    (theirs / "theirs.csv").write_text(",".join(HEADER) + "\n" + ",".join(other) + "\n", encoding="utf-8")
    (mine / "link.csv").symlink_to(mine / "real.csv")  # a link to a file inside the root
    (mine / "province 5").symlink_to(theirs, target_is_directory=True)  # into another province's folder
    (mine / "relative.csv").symlink_to("../../IR-05/applicants/theirs.csv")

    report = run(hostile_settings)
    assert report.failures == {}
    assert sorted((o.relative_path, o.status, o.file_reason) for o in report.outcomes) == [
        ("IR-04/applicants/link.csv", "rejected", "unsafe_path"),
        ("IR-04/applicants/province 5", "rejected", "unsafe_path"),
        ("IR-04/applicants/real.csv", "loaded", None),
        ("IR-04/applicants/relative.csv", "rejected", "unsafe_path"),
        ("IR-05/applicants/theirs.csv", "loaded", None),
    ]
    engine = create_warehouse_engine(hostile_settings.warehouse)
    try:
        with engine.connect() as connection:
            counts = dict(
                connection.execute(
                    sa.text(
                        "SELECT province_code, registrations FROM rpt_province_summary"
                        " WHERE province_code IN ('IR-04', 'IR-05')"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert counts == {"IR-04": 1, "IR-05": 1}  # each file once, from its own folder
    assert sorted(p.name for p in files_left(hostile_settings.archive_root) if p.is_symlink()) == sorted(
        f"{o.sha256}__{Path(o.relative_path).name}" for o in report.outcomes if o.file_reason == "unsafe_path"
    )
    assert (theirs / "theirs.csv").exists() is False  # archived from its own folder, not through the link
    assert len(receipts(hostile_settings.outbox_root)) == 5


def test_a_province_writing_rows_for_another_province_is_refused_under_the_sender(
    hostile_settings: Settings,
) -> None:
    folder = hostile_settings.ingest_root / "IR-04" / "applicants"
    folder.mkdir(parents=True)
    rows = [
        [*HEADER, "province"],
        ["A1", VALID_IDS[0], "علی", "رضایی", "1402/05/01", "IR-04"],
        ["A2", VALID_IDS[1], "سارا", "احمدی", "1402/05/02", "IR-05"],
        ["A3", VALID_IDS[2], "مریم", "نوری", "1402/05/03", "تهران"],
    ]
    (folder / "mixed.csv").write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    run_all(hostile_settings)
    receipt = receipts(hostile_settings.outbox_root)["IR-04/applicants/mixed.csv"]
    assert receipt["status"] == "loaded_with_rejections"
    assert receipt["rejected_by_reason"] == {"province_mismatch": 2}
    engine = create_warehouse_engine(hostile_settings.warehouse)
    try:
        with engine.connect() as connection:
            quarantine = connection.execute(
                sa.text(
                    'SELECT province_code, source, "rows", files FROM rpt_quarantine_summary'
                    " WHERE reason = 'province_mismatch'"
                )
            ).all()
            registrations = dict(
                connection.execute(sa.text("SELECT province_code, registrations FROM rpt_province_summary")).all()
            )
    finally:
        engine.dispose()
    assert [tuple(row) for row in quarantine] == [("IR-04", "applicants", 2, 0)]
    assert registrations["IR-04"] == 1
    assert registrations["IR-05"] == 0 and registrations["IR-23"] == 0
