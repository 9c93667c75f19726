"""Crash, concurrency and comparison machinery shared by the reliability tests and scripts/reliability.py.

A *trial* drops the same files into fresh folders and a fresh warehouse, runs
``python -m etl run`` in subprocesses (killed with SIGKILL at named fault points or
after random delays, or several at once), lets a last run finish, and compares
everything with a run that was never interrupted: every warehouse table (without
the ids and times that legitimately differ), the reporting views, the archive, the
outbox with its receipts, and what is left in the ingest folder.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from etl.config import Settings
from etl.faults import POINTS
from etl.publish import REPORTING_VIEWS, view_rows
from etl.sample import DropPlan, build_plan
from etl.warehouse import create_warehouse_engine

REPO = Path(__file__).resolve().parents[1]
PSEUDONYM_KEY = "reliability-tests-0123456789abcdef0123456789abcdef"

# A small drop from the sample generator with every kind of outcome: loaded, refused rows, refused
# files, a copy of the same bytes, an empty file, later versions of keys, bytes resent to the right folder.
SMALL_DROP = (
    "IR-02/applicants/list_1401.csv",
    "IR-02/applicants/list_1401 - Copy.csv",
    "IR-10/loans/pilot_loans_1402.xlsx",
    "IR-06/training/courses_1401.csv",
    "IR-07/loans/breaches_1398.csv",
    "IR-01/applicants/ثبت نام_خطادار_1403.csv",
    "IR-18/training/export_1403.csv",
    "Tehran/applicants/tehran_list.csv",
    "IR-05/applicants/empty.csv",
    "IR-07/loans/اصلاحیه_1404.csv",
    "IR-23/applicants/tehran_list.csv",
)

# Columns that legitimately differ between two runs of the same files: ids, run ids and clock times.
VOLATILE = {
    "ingest_file": {"file_id", "run_id", "processed_at", "first_seen_at"},
    "ingest_sighting": {"first_seen_at"},
    "pseudonym_key": {"since"},
    "match_run": {"run_at", "seconds"},
    "match_refused": {"unique_id"},  # file_id:line_number, and file ids differ between runs
    # A run stopped after its resolve leaves the next one no person to recompute.
    "publish_run": {"run_id", "published_at", "persons_recomputed", "last_file_id"},
}
VOLATILE_EVERYWHERE = {"match_run_id", "publish_run_id"}  # ids of entries in a log of runs
# Logs with an entry per run (an interrupted run may have added one): only the latest entry is compared.
RUN_LOGS = {"match_run": "match_run_id", "publish_run": "publish_run_id"}
RECORD_TABLES = ("registration", "loan", "training_enrollment", "rejected_row", "rejected_row_reason")
# The keys of the record tables whose rows a later file replaces; refused rows belong to their file.
RECORD_KEYS = {
    "registration": ("province_code", "application_key"),
    "loan": ("bank_key", "loan_key"),
    "training_enrollment": ("province_code", "enrollment_key"),
}
PER_FILE_POINTS = ("after_read", "before_commit", "after_commit", "after_receipt", "after_archive")


@functools.cache
def sample_plan(persons: int = 0) -> DropPlan:
    return build_plan(persons=persons)


@dataclass(frozen=True)
class Roots:
    """The folders and the warehouse of one trial."""

    base: Path
    warehouse: str

    @property
    def ingest(self) -> Path:
        return self.base / "ingest"

    @property
    def archive(self) -> Path:
        return self.base / "archive"

    @property
    def outbox(self) -> Path:
        return self.base / "outbox"

    def make(self) -> Roots:
        for folder in (self.ingest, self.archive, self.outbox):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def settings(self, **overrides: object) -> Settings:
        """In-process settings equal to those of :meth:`command` (the same pseudonym key)."""
        os.environ["MASHAGHEL_PSEUDONYM_KEY"] = PSEUDONYM_KEY
        given: dict[str, object] = {
            "ingest_root": self.ingest,
            "archive_root": self.archive,
            "outbox_root": self.outbox,
            "warehouse": self.warehouse,
            "settle_seconds": 0,
        }
        return Settings.resolve(**{**given, **overrides})

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "etl",
            "run",
            "--ingest-root",
            str(self.ingest),
            "--archive-root",
            str(self.archive),
            "--outbox-root",
            str(self.outbox),
            "--warehouse",
            self.warehouse,
            "--settle-seconds",
            "0",
            "--quiet",
        ]

    def cli_args(self) -> list[str]:
        return self.command()[3:]


def write_drop(ingest: Path, relative_paths: Iterable[str], plan: DropPlan | None = None) -> list[Path]:
    """Write planned files (with their planned modification times) under the ingest root."""
    plan = plan or sample_plan()
    written = []
    for relative in relative_paths:
        planned = plan.file(relative)
        path = ingest.joinpath(*relative.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(plan.file_bytes(relative))
        os.utime(path, (planned.mtime, planned.mtime))
        written.append(path)
    return written


# --- running the command line ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stderr: str
    seconds: float

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def run_env(fault: str | None = None, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MASHAGHEL_FAULT_POINT"}
    env["MASHAGHEL_PSEUDONYM_KEY"] = PSEUDONYM_KEY
    env.update({f"MASHAGHEL_{name.upper()}": value for name, value in settings.items()})
    if fault:
        env["MASHAGHEL_FAULT_POINT"] = fault
    return env


def start_run(roots: Roots, fault: str | None = None, **settings: str) -> subprocess.Popen:
    return subprocess.Popen(
        roots.command(),
        cwd=REPO,
        env=run_env(fault, **settings),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(
    process: subprocess.Popen, started: float, kill_after: float | None = None, timeout: float = 300
) -> RunResult:
    """Wait for a run; SIGKILL it after ``kill_after`` seconds when it has not ended by then."""
    try:
        _, err = process.communicate(timeout=kill_after if kill_after is not None else timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate()
        if kill_after is None:
            raise AssertionError(f"a run did not end within {timeout} s") from None
    return RunResult(process.returncode, err or "", time.monotonic() - started)


def cli_run(roots: Roots, fault: str | None = None, kill_after: float | None = None, **settings: str) -> RunResult:
    """One ``python -m etl run``: to its end, killed at a fault point, or killed after a delay."""
    started = time.monotonic()
    return finish(start_run(roots, fault, **settings), started, kill_after)


def concurrent_runs(roots: Roots, runs: int = 2, **settings: str) -> list[RunResult]:
    """Several ``python -m etl run`` on the same folders and warehouse at once."""
    started = time.monotonic()
    processes = [start_run(roots, **settings) for _ in range(runs)]
    return [finish(process, started) for process in processes]


# --- what a trial left ---------------------------------------------------------------------------


def _table_names(connection: sa.Connection) -> list[str]:
    if connection.dialect.name == "postgresql":
        query = (
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            " AND table_schema = ANY (current_schemas(false))"
        )
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    return sorted(name for (name,) in connection.execute(sa.text(query)))


def _rows(connection: sa.Connection, table: str, files: dict[object, str], base: Path) -> list[str]:
    """A table's rows as sorted JSON: volatile columns left out, file ids as the file's path and hash."""
    rows = []
    query = f"SELECT * FROM {table}"
    if table in RUN_LOGS:
        query += f" WHERE {RUN_LOGS[table]} = (SELECT MAX({RUN_LOGS[table]}) FROM {table})"
    for row in connection.execute(sa.text(query)).mappings():
        values: dict[str, object] = {}
        for column, value in row.items():
            if column in VOLATILE.get(table, ()) or column in VOLATILE_EVERYWHERE:
                continue
            if column == "archived_at":
                value = value is not None
            elif column == "file_id":
                value = files.get(value, f"unknown file {value}")
            elif isinstance(value, str):
                value = value.replace(str(base), "<base>")
            values[column] = value
        rows.append(json.dumps(values, sort_keys=True, default=str, ensure_ascii=False))
    return sorted(rows)


def _files(connection: sa.Connection) -> dict[object, str]:
    return {
        file_id: f"{path}|{sha}"
        for file_id, path, sha in connection.execute(sa.text("SELECT file_id, relative_path, sha256 FROM ingest_file"))
    }


def tree(folder: Path, base: Path) -> dict[str, object]:
    """Files under a folder: receipts as their JSON, links as their target, other files as their SHA-256."""
    found: dict[str, object] = {}
    if not folder.exists():
        return found
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[relative] = "link to " + os.readlink(path)
        elif path.is_file():
            data = path.read_bytes()
            if path.name.endswith(".receipt.json"):
                found[relative] = json.loads(data.decode("utf-8").replace(str(base), "<base>"))
            else:
                found[relative] = hashlib.sha256(data).hexdigest()
    return found


@dataclass
class Snapshot:
    """Everything a run leaves: warehouse tables and views, and the ingest, archive and outbox folders."""

    tables: dict[str, list[str]]
    views: dict[str, list[str]]
    ingest: dict[str, object]
    archive: dict[str, object]
    outbox: dict[str, object]


def snapshot(roots: Roots) -> Snapshot:
    engine = create_warehouse_engine(roots.warehouse)
    try:
        with engine.connect() as connection:
            files = _files(connection)
            tables = {table: _rows(connection, table, files, roots.base) for table in _table_names(connection)}
            views = {
                view: sorted(
                    json.dumps(row, sort_keys=True, default=str, ensure_ascii=False)
                    for row in view_rows(connection, view)
                )
                for view in REPORTING_VIEWS
            }
    finally:
        engine.dispose()
    return Snapshot(
        tables, views, tree(roots.ingest, roots.base), tree(roots.archive, roots.base), tree(roots.outbox, roots.base)
    )


def record_state(roots: Roots) -> tuple[frozenset[str], dict[str, list[str]]]:
    """(paths in the manifest, rows of the record and refused-row tables) as committed now."""
    engine = create_warehouse_engine(roots.warehouse)
    try:
        with engine.connect() as connection:
            if "ingest_file" not in _table_names(connection):
                return frozenset(), {table: [] for table in RECORD_TABLES}
            files = _files(connection)
            paths = frozenset(key.rsplit("|", 1)[0] for key in files.values())
            return paths, {table: _rows(connection, table, files, roots.base) for table in RECORD_TABLES}
    finally:
        engine.dispose()


def differences(expected: Snapshot, got: Snapshot, limit: int = 3) -> list[str]:
    """What differs between two snapshots, a few lines per table, view or folder."""
    found = []
    for part in ("tables", "views"):
        want, have = getattr(expected, part), getattr(got, part)
        for name in sorted(set(want) | set(have)):
            missing = sorted(set(want.get(name, [])) - set(have.get(name, [])))
            extra = sorted(set(have.get(name, [])) - set(want.get(name, [])))
            if missing or extra or len(want.get(name, [])) != len(have.get(name, [])):
                found.append(
                    f"{part[:-1]} {name}: {len(want.get(name, []))} rows expected, "
                    f"{len(have.get(name, []))} found; missing {missing[:limit]}; extra {extra[:limit]}"
                )
    for part in ("ingest", "archive", "outbox"):
        want, have = getattr(expected, part), getattr(got, part)
        for name in sorted(set(want) | set(have)):
            if want.get(name) != have.get(name):
                found.append(f"{part}/{name}: expected {str(want.get(name))[:300]}, found {str(have.get(name))[:300]}")
                if len(found) > 40:
                    return found
    return found


def files_lost(expected: Snapshot, got: Snapshot) -> int:
    """Files archived by the uninterrupted run that are not in this trial's archive."""
    return len(set(expected.archive) - set(got.archive))


def rows_counted_twice(expected: Snapshot, got: Snapshot) -> int:
    """Rows beyond the uninterrupted run's: in the record tables, and rows of files recorded twice."""
    extra = sum(max(0, len(got.tables.get(t, [])) - len(expected.tables.get(t, []))) for t in RECORD_TABLES)
    loaded: dict[tuple[str, str], list[int]] = {}
    for row in map(json.loads, got.tables.get("ingest_file", [])):
        loaded.setdefault((row["relative_path"], row["sha256"]), []).append(row["rows_loaded"] + row["rows_rejected"])
    return extra + sum(sum(counts) - max(counts) for counts in loaded.values())


# --- the run that was never interrupted --------------------------------------------------------------


@dataclass
class Reference:
    """An uninterrupted run of a drop: what it left, the order it took the files, its records after each."""

    drop: tuple[str, ...]
    snapshot: Snapshot
    order: list[str]
    prefixes: list[dict[str, list[str]]]
    seconds: float

    @property
    def rows(self) -> int:
        return sum(receipt["rows_read"] for receipt in self.snapshot.outbox.values() if isinstance(receipt, dict))


def build_reference(roots: Roots, drop: Iterable[str]) -> Reference:
    """Run the drop once, in this process, never interrupted, noting the records after each file."""
    from etl.pipeline import run

    drop = tuple(drop)
    write_drop(roots.make().ingest, drop)
    order: list[str] = []
    prefixes = [{table: [] for table in RECORD_TABLES}]

    def after_each(_done: int, _total: int, outcome, _seconds: float) -> None:
        order.append(outcome.relative_path)
        prefixes.append(record_state(roots)[1])

    started = time.monotonic()
    # One lane: each file's records are read right after it commits, with nothing else committed since.
    report = run(roots.settings(load_lanes=1), progress=after_each)
    assert not report.failures, report.failures
    return Reference(drop, snapshot(roots), order, prefixes, time.monotonic() - started)


def records_left_by(reference: Reference, committed: frozenset[str]) -> dict[str, list[str]]:
    """The records that the ``committed`` files leave, in whatever order they committed: the rows each
    file wrote in the uninterrupted run (where it was the latest file when it committed), and of a key
    only the row of the file seen last (the version rule, ``file_seq``)."""
    kept: dict[str, dict[object, tuple[int, str]]] = {table: {} for table in RECORD_TABLES}
    for index, path in enumerate(reference.order):
        if path not in committed:
            continue
        for table in RECORD_TABLES:
            for row in reference.prefixes[index + 1][table]:
                values = json.loads(row)
                if values["file_id"].rsplit("|", 1)[0] != path:
                    continue
                key = tuple(values[column] for column in RECORD_KEYS[table]) if table in RECORD_KEYS else row
                seq = int(values.get("file_seq") or 0)
                if key not in kept[table] or kept[table][key][0] < seq:
                    kept[table][key] = (seq, row)
    return {table: sorted(row for _, row in rows.values()) for table, rows in kept.items()}


def check_after_kill(roots: Roots, reference: Reference) -> list[str]:
    """What a killed run left: every committed file whole, nothing of the others, no file lost.

    Files load in lanes, each lane in the order first seen, so the committed files need not be the
    first few of one order: what they leave is computed from the uninterrupted run's (records_left_by).
    """
    problems = []
    paths, records = record_state(roots)
    unknown = sorted(paths - frozenset(reference.order))
    if unknown:
        problems.append(f"the manifest holds files the uninterrupted run did not take: {unknown}")
    else:
        expected = records_left_by(reference, paths)
        if records != expected:
            table = next(t for t in RECORD_TABLES if records[t] != expected[t])
            problems.append(
                f"after {len(paths)} committed files, {table} differs from what those files wrote in the"
                f" uninterrupted run: a partial file is visible ({len(records[table])} rows,"
                f" {len(expected[table])} expected)"
            )
    left = [p for p in roots.ingest.rglob("*") if p.is_file() or p.is_symlink()]
    archived = [p for p in roots.archive.rglob("*") if p.is_file() or p.is_symlink()]
    if len(left) + len(archived) != len(reference.drop):
        problems.append(
            f"{len(reference.drop)} files dropped, {len(left)} in the ingest folder and {len(archived)} in the archive"
        )
    return problems


# --- tallies ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Figures of a series of trials."""

    trials: int = 0
    kills: int = 0
    runs: int = 0
    files: int = 0
    rows: int = 0
    files_lost: int = 0
    rows_counted_twice: int = 0
    crashes: int = 0
    mismatches: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> Tally:
        for name in (
            "trials",
            "kills",
            "runs",
            "files",
            "rows",
            "files_lost",
            "rows_counted_twice",
            "crashes",
            "mismatches",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.extend(other.problems)
        return self

    def settle(self, reference: Reference, roots: Roots, label: str) -> None:
        """Compare a finished trial with the uninterrupted run and count what differs."""
        got = snapshot(roots)
        self.trials += 1
        self.files += len(reference.drop)
        self.rows += reference.rows
        self.files_lost += files_lost(reference.snapshot, got)
        self.rows_counted_twice += rows_counted_twice(reference.snapshot, got)
        different = differences(reference.snapshot, got)
        if different:
            self.mismatches += 1
            self.problems.append(f"{label}: differs from the uninterrupted run:\n  " + "\n  ".join(different))

    def crashed(self, result: RunResult, label: str) -> None:
        self.crashes += 1
        self.problems.append(f"{label}: exit code {result.returncode}\n{result.stderr[-3000:]}")


# --- the trials --------------------------------------------------------------------------------------

RootsFactory = Callable[[int], contextlib.AbstractContextManager[Roots]]


def _next_kill(rng: random.Random, kills: int, roots: Roots, run_seconds: float) -> tuple[str | None, float | None]:
    """A fault point (each point first, in turn) or, about a third of the time, a random delay."""
    kind = POINTS[kills] if kills < len(POINTS) else rng.choice([*POINTS, *["delay"] * 4])
    remaining = sum(1 for p in roots.ingest.rglob("*") if p.is_file() or p.is_symlink())
    if kind in PER_FILE_POINTS and remaining == 0:
        kind = rng.choice(("after_sightings", "during_resolve", "during_publish"))
    if kind == "delay":
        return None, rng.uniform(0.2, run_seconds)
    if kind in PER_FILE_POINTS:
        return f"{kind}:{rng.randint(1, remaining)}", None
    return f"{kind}:{rng.randint(1, len(REPORTING_VIEWS) - 1) if kind == 'during_publish' else 1}", None


def kill_trials(
    reference: Reference,
    fresh_roots: RootsFactory,
    kills: int,
    seed: int = 1404,
    log: Callable[[str], None] | None = None,
) -> Tally:
    """Kill ``python -m etl run`` at least ``kills`` times, in chains of one to four kills per trial, then
    let a last run finish each trial and compare it with the uninterrupted run (which loaded in one
    lane: every run here loads in the default lanes, so the trials also show that the order in which
    the lanes commit changes nothing)."""
    rng = random.Random(seed)
    tally = Tally()
    run_seconds = reference.seconds + 1.5  # the command line's start-up
    trial = 0
    while tally.kills < kills:
        trial += 1
        with fresh_roots(trial) as roots:
            write_drop(roots.make().ingest, reference.drop)
            kills_here = []
            for _ in range(rng.randint(1, 4)):
                fault, delay = _next_kill(rng, tally.kills, roots, run_seconds)
                result = cli_run(roots, fault=fault, kill_after=delay)
                tally.runs += 1
                what = fault or f"after {delay:.2f} s"
                if log:
                    log(f"  {what}: exit {result.returncode} in {result.seconds:.1f} s")
                if not result.killed:
                    if result.returncode != 0:
                        tally.crashed(result, f"trial {trial}, run meant to be killed {what}")
                    continue
                tally.kills += 1
                kills_here.append(what)
                for problem in check_after_kill(roots, reference):
                    tally.problems.append(f"trial {trial}, killed {what}: {problem}")
                    tally.mismatches += 1
            result = cli_run(roots)
            tally.runs += 1
            label = f"trial {trial} (killed {', '.join(kills_here) or 'never'})"
            if result.returncode != 0:
                tally.crashed(result, f"{label}, the run after")
            tally.settle(reference, roots, label)
            if log:
                log(f"{label}: {'ok' if not tally.problems else 'PROBLEM'}")
    return tally


def concurrent_trials(
    reference: Reference,
    fresh_roots: RootsFactory,
    trials: int,
    runs: int = 2,
    log: Callable[[str], None] | None = None,
) -> Tally:
    """``runs`` runs at once on the same drop, ``trials`` times; each compared with the uninterrupted run."""
    tally = Tally()
    for trial in range(1, trials + 1):
        with fresh_roots(trial) as roots:
            write_drop(roots.make().ingest, reference.drop)
            for number, result in enumerate(concurrent_runs(roots, runs), start=1):
                tally.runs += 1
                if result.returncode != 0:
                    tally.crashed(result, f"concurrent trial {trial}, run {number}")
            tally.settle(reference, roots, f"concurrent trial {trial}")
            if log:
                log(f"concurrent trial {trial}: {'ok' if not tally.problems else 'PROBLEM'}")
    return tally


class FreshRoots:
    """Fresh folders and a fresh warehouse (a throw-away PostgreSQL database) for each trial."""

    def __init__(self, backend: str, base: Path) -> None:
        self.backend, self.base, self.numbers = backend, base, itertools.count()

    @contextlib.contextmanager
    def __call__(self, _trial: int = 0) -> Iterator[Roots]:
        folder = self.base / f"trial-{next(self.numbers)}"  # never the folder of an earlier trial
        if self.backend == "sqlite":
            yield Roots(folder, f"sqlite:///{folder / 'warehouse.sqlite'}")
            return
        from tests.conftest import create_postgres_database, drop_postgres_database

        url = create_postgres_database()
        try:
            yield Roots(folder, url)
        finally:
            drop_postgres_database(url)


@contextlib.contextmanager
def sqlite_roots(base: Path) -> Iterator[Roots]:
    """Folders under ``base`` and a SQLite warehouse beside them."""
    yield Roots(base, f"sqlite:///{base / 'warehouse.sqlite'}")
