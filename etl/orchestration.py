"""The pipeline cut into the steps the Airflow DAGs run, one task each.

Every function takes plain values and returns JSON-safe dicts, so tasks can run
in separate processes or on Celery workers; each is idempotent. The command line
runs the same pipeline in one process (etl.pipeline.run).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections import Counter
from pathlib import Path

from etl import reasons as rc
from etl.claims import Claims
from etl.config import DEFAULTS, Settings, env_name
from etl.discover import discover, locate
from etl.pipeline import (
    _now,
    prepare,
    process_file,
    record_sightings,
    recover_archived,
    resolve_match_publish,
    take_file,
)
from etl.receipts import FileOutcome

AIRFLOW_WAREHOUSE_CONNECTION = "warehouse"
AIRFLOW_VARIABLES = {option: f"mashaghel_{option}" for option in DEFAULTS}


def settings_from_airflow(**overrides: object) -> Settings:
    """Settings for a task: the ``warehouse`` connection and ``mashaghel_*`` Variables, else MASHAGHEL_*.

    Only called inside tasks (it reads the Airflow metadata), never at DAG parse time.
    """
    from airflow.sdk import Connection, Variable

    given: dict[str, object | None] = {}
    for option, variable in AIRFLOW_VARIABLES.items():
        if option == "warehouse":
            continue
        value = overrides.get(option)
        if value is None and not os.environ.get(env_name(option)):
            value = Variable.get(variable, default=None)
        given[option] = value
    warehouse = overrides.get("warehouse")
    if warehouse is None and not os.environ.get(env_name("warehouse")):
        try:
            warehouse = warehouse_url_of(Connection.get(AIRFLOW_WAREHOUSE_CONNECTION))
        except Exception:  # no such connection: MASHAGHEL_WAREHOUSE or the default
            warehouse = None
    given["warehouse"] = warehouse
    return Settings.resolve(**given)


def warehouse_url_of(connection) -> str:
    """A SQLAlchemy URL for an Airflow connection (postgres or sqlite)."""
    if connection.conn_type == "sqlite":
        return f"sqlite:///{connection.host}"
    return connection.get_uri()


def find_ready_files(settings: Settings, province: str | None = None, limit: int = 1024) -> dict[str, list[str]]:
    """Migrate the warehouse, find every ready file and remember when it was first seen.

    Returns relative paths in the order first seen, at most ``limit`` (Airflow's
    ``max_map_length``; the rest are taken by the next run), split in two:
    ``first``, files that can load in parallel, and ``repeat``, files whose bytes
    an earlier file of this run in the same folder also has. Repeats are taken
    after the firsts, so that the file seen first is the one loaded and the later
    copy the ``duplicate_file``, however the parallel tasks are scheduled.
    """
    engine = prepare(settings)
    try:
        with Claims(engine, "find_ready_files", settings.claim_timeout) as claims:
            recover_archived(engine, settings, claims)  # files a stopped task moved but did not mark
        now = _now()
        files = discover(settings.ingest_root, settings.settle_seconds, now.timestamp())
        if province:
            files = [f for f in files if f.province_code == province]
        sightings = record_sightings(engine, files, now)
    finally:
        engine.dispose()
    places = {f.relative_path: (f.province_code, f.source, f.place_reason) for f in files}
    ready = sorted(sightings, key=lambda path: sightings[path].seen_seq)[:limit]
    first: list[str] = []
    repeat: list[str] = []
    identities: set[tuple[str, str, str]] = set()
    for path in ready:
        province_code, source, place_reason = places[path]
        identity = (province_code, source, sightings[path].sha256)
        (repeat if place_reason is None and identity in identities else first).append(path)
        identities.add(identity)
    return {"first": first, "repeat": repeat}


def load_one_file(settings: Settings, relative_path: str, run_id: str, dry_run: bool = False) -> dict:
    """Load (or, dry, only judge) one file; a file already taken by another run is reported gone."""
    from etl.pipeline import Sighting
    from etl.pseudonym import check_key
    from etl.warehouse import create_warehouse_engine

    dropped = locate(settings.ingest_root, relative_path)
    if dropped is None:
        return {"relative_path": relative_path, "status": "gone"}
    engine = create_warehouse_engine(settings.warehouse)
    try:
        # Hashed afresh: the sighting is that of the bytes there now.
        if not dry_run:
            check_key(engine, settings.pseudonym_key_bytes())  # every worker must hash with the same key
        sighting: Sighting | None = record_sightings(engine, [dropped], _now()).get(relative_path)
        if sighting is None:
            return {"relative_path": relative_path, "status": "gone"}
        if dry_run:
            outcome = process_file(engine, settings, dropped, sighting, run_id, dry_run=True)
        else:  # claimed first: a file another run holds is waited for, at most the claim timeout
            with Claims(engine, run_id, settings.claim_timeout) as claims:
                taken = take_file(engine, settings, claims, dropped, sighting, run_id, wait=settings.claim_timeout)
            if not isinstance(taken, FileOutcome):
                return {"relative_path": relative_path, "status": "gone"}
            outcome = taken
    finally:
        engine.dispose()
    return outcome_dict(outcome)


def outcome_dict(outcome: FileOutcome) -> dict:
    """A file's outcome as JSON-safe values."""
    values = dataclasses.asdict(outcome)
    values["received_on"] = outcome.received_on.isoformat()
    return values


def describe(outcome: dict) -> str:
    """One log line saying what happened to a file."""
    if outcome["status"] == "gone":
        return f"{outcome['relative_path']}: gone (taken by another run or still being written)"
    refused = ", ".join(f"{k} {v}" for k, v in sorted(outcome["rejected_by_reason"].items()))
    reason = outcome.get("file_reason") or refused
    return (
        f"{outcome['relative_path']} [{outcome['province_code'] or '_'}/{outcome['source'] or '_'}]: "
        f"{outcome['status']}, read {outcome['rows_read']}, loaded {outcome['rows_loaded']}, "
        f"refused {outcome['rows_rejected']}" + (f" ({reason})" if reason else "")
    )


def run_totals(outcomes: list[dict]) -> dict:
    """Totals of one ingest run: files by status, rows, rows refused by reason, files refused by reason."""
    taken = [o for o in outcomes if o and o.get("status") != "gone"]
    rows_refused: Counter = Counter()
    files_refused: Counter = Counter()
    for outcome in taken:
        rows_refused.update(outcome["rejected_by_reason"])
        if outcome["status"] == rc.STATUS_REJECTED:
            files_refused[outcome["file_reason"]] += 1
    return {
        "files": len(taken),
        "files_by_status": dict(Counter(o["status"] for o in taken)),
        "rows_read": sum(o["rows_read"] for o in taken),
        "rows_loaded": sum(o["rows_loaded"] for o in taken),
        "rows_refused": sum(o["rows_rejected"] for o in taken),
        "rows_refused_by_reason": dict(rows_refused),
        "files_refused_by_reason": dict(files_refused),
    }


def resolve_and_publish(settings: Settings) -> dict:
    """Recompute people, match suspected duplicates, check and export the views; returns national totals."""
    from etl.warehouse import create_warehouse_engine

    engine = create_warehouse_engine(settings.warehouse)
    try:  # one resolve and publish at a time, the command line's included
        published = resolve_match_publish(engine, settings, "publish")
    finally:
        engine.dispose()
    summary = published.views["rpt_province_summary"]
    return {
        "persons": published.persons,
        "persons_recomputed": published.recomputed,
        "registrations": sum(r["registrations"] for r in summary),
        "live_loans": sum(r["loans"] for r in summary),
        "loan_amount_rial": sum(r["loan_amount_rial"] for r in summary),
        "loan_only_persons": sum(r["loan_only_persons"] for r in summary),
        "suspected_duplicate_persons": sum(r["suspected_duplicate_persons"] for r in summary),
        "matching": published.matching,
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def build_data_docs(target: Path) -> str:
    """GX Data Docs of the expectation suites (the rules the pipeline enforces) under ``target``."""
    from etl.validate import data_docs

    return data_docs(target)
