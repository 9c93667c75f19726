"""Concurrent runs never load a file twice, never deadlock, never lose a row: claims in the warehouse
(etl/claims.py), on SQLite and PostgreSQL.

``make reliability`` (scripts/reliability.py) runs three at once, many more times.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.claims import ClaimLost, Claims, file_claim_key, this_process, warehouse_now
from etl.discover import discover
from etl.pipeline import Sighting, ingest, prepare, process_file
from tests.conftest import require_postgres
from tests.reliability_kit import FreshRoots, Roots, concurrent_runs, sample_plan, snapshot, write_drop
from tests.test_pipeline import assert_matches_truth, files_left, receipts


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_roots(request, tmp_path: Path) -> FreshRoots:
    if request.param == "postgresql":
        require_postgres()
    return FreshRoots(request.param, tmp_path)


def test_two_concurrent_runs_load_every_file_once(fresh_roots: FreshRoots) -> None:
    """Two command lines at once on a whole sample batch end with exactly the truth."""
    plan = sample_plan()
    with fresh_roots(1) as roots:
        written = plan.write_batch(roots.make().ingest, 1)
        results = concurrent_runs(roots, runs=2)
        assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
        truth = plan.truth(after_batch=1)
        settings = roots.settings()
        assert_matches_truth(settings, truth)
        got = receipts(roots.outbox)
        assert set(got) == set(truth["files"])
        for relative, expected in truth["files"].items():
            assert {key: got[relative][key] for key in expected} == expected, relative
        assert files_left(roots.ingest) == []
        assert len(files_left(roots.archive)) == len(written)  # each file archived once
        state = snapshot(roots)
        manifest = [json.loads(row)["relative_path"] for row in state.tables["ingest_file"]]
        assert sorted(manifest) == sorted(set(manifest)) and len(manifest) == len(written)  # no file twice
        assert state.tables["file_claim"] == []


def _claim_row(engine: sa.Engine, key: str, holder: str, path: str, beat_ago: float) -> None:
    with engine.begin() as connection:
        now = warehouse_now(connection)
        connection.execute(
            sa.text(
                "INSERT INTO file_claim (claim_key, relative_path, run_id, holder, token, claimed_at, heartbeat_at)"
                " VALUES (:k, :p, 'other-run', :h, 'their-token', :t, :t)"
            ),
            {"k": key, "p": path, "h": holder, "t": now - beat_ago},
        )


def _beat(engine: sa.Engine, stop: threading.Event) -> None:
    """Keep the other run's claim alive, as its heartbeat would."""
    while not stop.wait(0.1):
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE file_claim SET heartbeat_at = :t WHERE token = 'their-token'"),
                {"t": warehouse_now(connection)},
            )


def test_a_stale_claim_is_taken_over_and_a_live_one_is_not(tmp_path: Path, warehouse_url: str) -> None:
    roots = Roots(tmp_path, warehouse_url).make()
    relative = "IR-07/loans/breaches_1398.csv"
    write_drop(roots.ingest, [relative])
    settings = roots.settings(claim_timeout=1.0)
    engine = prepare(settings)
    try:
        dropped = discover(roots.ingest, 0, time.time())[0]
        sha = hashlib.sha256(dropped.path.read_bytes()).hexdigest()
        key = file_claim_key("IR-07", "loans", sha, relative, None)
        # Claimed by a run on another machine that keeps its claim alive: left alone, past the timeout.
        _claim_row(engine, key, "elsewhere|pid:[1]|42:7|abc", relative, beat_ago=0)
        stop = threading.Event()
        beating = threading.Thread(target=_beat, args=(engine, stop))
        beating.start()
        try:
            report = ingest(engine, settings)
        finally:
            stop.set()
            beating.join()
        assert report.outcomes == [] and report.held_elsewhere == [relative]
        assert report.seconds >= 1.0  # it waited for the claim, at most the timeout
        assert [p.name for p in files_left(roots.ingest)] == ["breaches_1398.csv"]
        # The other run stopped refreshing it (it died): taken over once the timeout has passed.
        time.sleep(1.2)
        report = ingest(engine, settings)
        assert [(o.relative_path, o.status) for o in report.outcomes] == [(relative, "loaded")]
        assert files_left(roots.ingest) == []
        # A claim of a process of this machine that no longer exists is taken over at once.
        write_drop(roots.ingest, ["IR-02/applicants/list_1401.csv"])
        again = discover(roots.ingest, 0, time.time())[0]
        sha = hashlib.sha256(again.path.read_bytes()).hexdigest()
        dead = this_process().rsplit("|", 1)[0]
        _claim_row(
            engine,
            file_claim_key("IR-02", "applicants", sha, again.relative_path, None),
            f"{dead}|999999999:1|gone",
            again.relative_path,
            beat_ago=0,
        )
        report = ingest(engine, roots.settings(claim_timeout=30))  # taken at once, not after 30 s
        assert report.seconds < 30
        assert [o.status for o in report.outcomes] == ["loaded"]
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT COUNT(*) FROM file_claim")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_run_whose_claim_was_taken_over_commits_nothing(tmp_path: Path) -> None:
    roots = Roots(tmp_path, f"sqlite:///{tmp_path / 'warehouse.sqlite'}").make()
    relative = "IR-07/applicants/list_1398.csv"
    write_drop(roots.ingest, [relative])
    settings = roots.settings(claim_timeout=600)
    engine = prepare(settings)
    try:
        dropped = discover(roots.ingest, 0, time.time())[0]
        sha = hashlib.sha256(dropped.path.read_bytes()).hexdigest()
        with Claims(engine, "slow-run", 600) as claims:
            claim = claims.try_claim(file_claim_key("IR-07", "applicants", sha, relative, None), relative)
            assert claim is not None
            with engine.begin() as connection:  # another run took the claim, taking this one for dead
                connection.execute(sa.text("UPDATE file_claim SET token = 'thief'"))
            sighting = Sighting(sha, 1, dt.datetime.now(dt.UTC))
            with pytest.raises(ClaimLost):
                process_file(engine, settings, dropped, sighting, "slow-run", claim=claim)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT COUNT(*) FROM ingest_file")).scalar_one() == 0
            assert connection.execute(sa.text("SELECT COUNT(*) FROM registration")).scalar_one() == 0
        assert dropped.path.exists()
    finally:
        engine.dispose()
