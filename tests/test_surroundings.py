"""Faults of the surroundings: a warehouse that stops or restarts mid-run, an archive or outbox that
cannot be written. The file stays recoverable, the run fails clearly, and a retry ends as a run that
never failed.

The warehouse here is a PostgreSQL server the test starts itself (initdb and pg_ctl, on a free port,
in a temporary folder) and stops at will; the machine's shared server is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import etl.pipeline
from etl.cli import main
from etl.warehouse import create_warehouse_engine
from tests.conftest import IN_CI
from tests.reliability_kit import PSEUDONYM_KEY, SMALL_DROP, Roots, build_reference, differences, snapshot, write_drop

PG_BIN = Path(os.environ.get("MASHAGHEL_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnServer:
    """A throw-away PostgreSQL server in a temporary folder, on its own port, run as a non-root user."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mashaghel-pg-"))
        self.port = _free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: the server runs as the postgres user
            if shutil.which("runuser") is None:
                raise RuntimeError("running as root without runuser to start PostgreSQL as postgres")
            shutil.chown(self.folder, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._pg(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"
        )
        self.start()

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, program: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(PG_BIN / program), *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def database(self, name: str) -> str:
        admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return sa.make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnServer]:
    """Our own PostgreSQL server; skipped (failed under CI=true) when one cannot be started here."""
    if not (PG_BIN / "initdb").exists():
        problem = f"no PostgreSQL server programs in {PG_BIN} (set MASHAGHEL_PG_BIN)"
    else:
        try:
            server = OwnServer()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", b"") or b""
            problem = f"cannot start a PostgreSQL server of our own: {error} {detail.decode(errors='replace')}"
        else:
            try:
                yield server
            finally:
                server.remove()
            return
    if IN_CI:
        pytest.fail(f"CI=true but {problem}")
    pytest.skip(problem)


def _pending(url: str) -> list[tuple[str, bool]]:
    engine = create_warehouse_engine(url)
    try:
        with engine.connect() as connection:
            return [
                (path, archived is not None)
                for path, archived in connection.execute(
                    sa.text("SELECT relative_path, archived_at FROM ingest_file ORDER BY seen_seq")
                )
            ]
    finally:
        engine.dispose()


def test_a_warehouse_that_stops_or_restarts_mid_run_fails_the_run_and_a_retry_loads(
    own_postgres: OwnServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("MASHAGHEL_PSEUDONYM_KEY", PSEUDONYM_KEY)
    reference = build_reference(Roots(tmp_path / "reference", own_postgres.database("reference")), SMALL_DROP)
    roots = Roots(tmp_path / "trial", own_postgres.database("trial")).make()
    write_drop(roots.ingest, SMALL_DROP)

    # 1. The server restarts while the third file with rows is being loaded.
    real_upsert, real_move = etl.pipeline.upsert_records, etl.pipeline.move_to_archive
    loading: list[str] = []

    def upsert_then_restart(connection, source, records):
        loading.append(source.name)
        if len(loading) == 3:
            own_postgres.restart()
        return real_upsert(connection, source, records)

    monkeypatch.setattr(etl.pipeline, "upsert_records", upsert_then_restart)
    assert main(roots.cli_args()) == 2
    error = capsys.readouterr().err
    assert "the warehouse stopped answering while" in error and "the next one takes it again" in error
    interrupted = error.split("while ", 1)[1].split(" was being taken", 1)[0]
    assert (roots.ingest / interrupted).exists()  # it stays in the ingest folder
    assert interrupted not in [path for path, _ in _pending(roots.warehouse)]  # and nothing of it is committed

    # 2. The server stops, and stays down, just after a file was moved to the archive.
    monkeypatch.setattr(etl.pipeline, "upsert_records", real_upsert)
    moved: list[Path] = []

    def move_then_stop(source_path: Path, target: Path) -> None:
        real_move(source_path, target)
        if not moved:
            moved.append(target)
            own_postgres.stop()

    monkeypatch.setattr(etl.pipeline, "move_to_archive", move_then_stop)
    assert main(roots.cli_args()) == 2
    assert "the warehouse stopped answering" in capsys.readouterr().err
    own_postgres.start()
    assert moved and moved[0].exists()
    pending = [path for path, archived in _pending(roots.warehouse) if not archived]
    archived_as = moved[0].relative_to(roots.archive).parts  # province, source, day, <sha256>__<name>
    # In the archive, not yet marked archived: the next run finishes it (the files load in two lanes, so
    # the one moved first need not be the one interrupted before, and the other lane may leave one more).
    assert "/".join([*archived_as[:2], archived_as[-1].split("__", 1)[1]]) in pending

    # 3. The retry ends exactly as a run that never failed.
    monkeypatch.setattr(etl.pipeline, "move_to_archive", real_move)
    assert main(roots.cli_args()) == 0
    assert differences(reference.snapshot, snapshot(roots)) == []


def test_an_archive_or_outbox_that_cannot_be_written_loses_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("MASHAGHEL_PSEUDONYM_KEY", PSEUDONYM_KEY)
    reference = build_reference(Roots(tmp_path / "reference", f"sqlite:///{tmp_path / 'reference.sqlite'}"), SMALL_DROP)
    roots = Roots(tmp_path / "trial", f"sqlite:///{tmp_path / 'trial.sqlite'}").make()
    write_drop(roots.ingest, SMALL_DROP)
    # Where the receipts of IR-07 and the archived files of IR-02 go, a file is in the way (as a
    # read-only or full disk would be: an OSError on writing).
    blockers = [roots.outbox / "IR-07", roots.archive / "IR-02"]
    for blocker in blockers:
        blocker.write_text("in the way", encoding="utf-8")

    assert main(roots.cli_args()) == 1
    error = capsys.readouterr().err
    stuck = sorted(p for p in reference.drop if p.startswith(("IR-07/", "IR-02/")))
    for relative in stuck:
        assert f"error: {relative} failed and stays in the ingest folder" in error
    # Nothing is committed without its file being recoverable: still in the ingest folder, or archived.
    for relative, archived in _pending(roots.warehouse):
        assert archived or (roots.ingest / relative).exists(), relative
    assert sorted(p.relative_to(roots.ingest).as_posix() for p in roots.ingest.rglob("*.*")) == stuck

    for blocker in blockers:
        blocker.unlink()
    assert main(roots.cli_args()) == 0
    assert differences(reference.snapshot, snapshot(roots)) == []
