"""One run over the ingest root: discover, read, normalise, validate, load, resolve, publish.

Each file is one transaction (manifest row, records, refused rows). Only after the
commit is the file archived and receipted, and the manifest row marked archived;
a run that dies in between is finished by the next one from the manifest.
Concurrent runs claim each file in the warehouse first (etl/claims.py), so no
file is decided twice; a file claimed by a run that died is taken over.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl import reasons as rc
from etl.claims import PUBLISH, Claim, ClaimLost, Claims, confirm, file_claim_key, lock_table
from etl.config import Settings
from etl.contract import Source, contract
from etl.dates import tehran_today
from etl.discover import DroppedFile, discover, file_sha256, still_being_written
from etl.faults import fault_point
from etl.load import TABLES, insert_manifest, insert_rejected, records_frame, rejected_rows_of_file, upsert_records
from etl.normalise import normalise
from etl.pseudonym import check_key as check_pseudonym_key
from etl.read import UnreadableFile, read_file
from etl.receipts import (
    FileOutcome,
    archive_path,
    move_to_archive,
    receipt_document,
    receipt_path,
    rejected_csv_path,
    write_receipt,
    write_rejected_csv,
)
from etl.timing import stage
from etl.validate import Duplicates, ValidationOutcome, fingerprints, validate_many
from etl.validate_worker import SuiteWorker
from etl.warehouse import WarehouseUnavailable, check_reachable, create_warehouse_engine, migrate

log = logging.getLogger("mashaghel")


class RunError(RuntimeError):
    """The run itself could not proceed (roots missing, warehouse unreachable)."""


@dataclass(frozen=True)
class Sighting:
    """When the pipeline first saw a file: the order ("later") and the day (future dates)."""

    sha256: str
    seen_seq: int
    first_seen_at: dt.datetime


@dataclass
class RunReport:
    """What one run did."""

    run_id: str
    files_found: int = 0
    outcomes: list[FileOutcome] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    held_elsewhere: list[str] = field(default_factory=list)
    seconds: float = 0.0
    published: Published | None = None  # what resolve, match and publish did (None: not run)

    @property
    def matching(self) -> dict:
        """The matching stage's figures (etl/suspects.py); empty when it did not run."""
        return self.published.matching if self.published else {}

    @property
    def rows_read(self) -> int:
        return sum(o.rows_read for o in self.outcomes)

    @property
    def rows_loaded(self) -> int:
        return sum(o.rows_loaded for o in self.outcomes)

    def statuses(self) -> Counter:
        return Counter(o.status for o in self.outcomes)

    def refused_by_reason(self) -> Counter:
        total: Counter = Counter()
        for outcome in self.outcomes:
            total.update(outcome.rejected_by_reason)
            if outcome.status == rc.STATUS_REJECTED and outcome.file_reason:
                total[outcome.file_reason] += 1
        return total


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def record_sightings(engine: Engine, files: list[DroppedFile], now: dt.datetime) -> dict[str, Sighting]:
    """Hash each ready file and remember when it was first seen; returns sightings by relative path.

    A file whose size or time changed since discovery is still being written and left out.
    """
    hashed = {f.relative_path: file_sha256(f) for f in files if not still_being_written(f)}
    with engine.begin() as connection:
        lock_table(connection, "ingest_sighting")  # concurrent runs number their sightings one after the other
        next_seq = (
            int(connection.execute(sa.text("SELECT COALESCE(MAX(seen_seq), 0) FROM ingest_sighting")).scalar_one()) + 1
        )
        sightings: dict[str, Sighting] = {}
        for dropped in files:
            sha = hashed.get(dropped.relative_path)
            if sha is None:
                continue
            known = connection.execute(
                sa.text("SELECT seen_seq, first_seen_at FROM ingest_sighting WHERE relative_path = :p AND sha256 = :s"),
                {"p": dropped.relative_path, "s": sha},
            ).first()
            sighting = Sighting(sha, int(known[0]), _aware(known[1])) if known else None
            if sighting is None:
                sighting = Sighting(sha, next_seq, now)
                next_seq += 1
                connection.execute(
                    sa.text(
                        "INSERT INTO ingest_sighting (relative_path, sha256, seen_seq, first_seen_at)"
                        " VALUES (:p, :s, :q, :t)"
                    ),
                    {"p": dropped.relative_path, "s": sha, "q": sighting.seen_seq, "t": now},
                )
            sightings[dropped.relative_path] = sighting
    return sightings


def _aware(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass
class PreparedFile:
    """A file read and normalised, waiting for its batch to be validated and then loaded."""

    dropped: DroppedFile
    sighting: Sighting
    source: Source
    outcome: FileOutcome
    manifest: dict
    identity: str
    frame: pd.DataFrame | None  # the rows as read, with _line, _raw, _extra and _malformed
    normalised: pd.DataFrame | None  # the well-formed rows, normalised
    claim: Claim | None = None
    chunks: Callable[[], Iterator[pd.DataFrame]] | None = None  # instead of frame, for a file too big to hold
    header_line: int = 0

    @property
    def rows(self) -> int:
        return 0 if self.frame is None else len(self.frame)


def prepare_file(
    engine: Engine,
    settings: Settings,
    dropped: DroppedFile,
    sighting: Sighting,
    run_id: str,
    dry_run: bool = False,
    claim: Claim | None = None,
) -> PreparedFile | FileOutcome:
    """Decide a file up to validation: its outcome when that is already known, else its normalised rows.

    A file that loads no rows (misplaced, resent, unreadable, empty) is recorded and
    receipted here; so is a file a stopped run loaded but did not archive.
    """
    with engine.connect() as connection:
        pending = connection.execute(
            sa.text("SELECT file_id FROM ingest_file WHERE relative_path = :p AND sha256 = :s AND archived_at IS NULL"),
            {"p": dropped.relative_path, "s": sighting.sha256},
        ).scalar()
    if pending is not None and not dry_run:
        return finish_file(engine, settings, int(pending), dropped)

    outcome = FileOutcome(
        relative_path=dropped.relative_path,
        file_name=dropped.name,
        province_code=dropped.province_code,
        source=dropped.source,
        sha256=sighting.sha256,
        status=rc.STATUS_REJECTED,
        received_on=tehran_today(sighting.first_seen_at),
    )
    manifest = _manifest(settings, dropped, sighting, outcome, run_id)
    if dropped.place_reason:
        outcome.file_reason = dropped.place_reason
        return _record_without_rows(
            engine, settings, dropped, outcome, manifest, identity=None, dry_run=dry_run, claim=claim
        )

    identity = f"{dropped.province_code}|{dropped.source}|{sighting.sha256}"
    if _identity_taken(engine, identity):
        outcome.status, outcome.file_reason = rc.STATUS_DUPLICATE, rc.DUPLICATE_FILE
        return _record_without_rows(
            engine, settings, dropped, outcome, manifest, identity=None, dry_run=dry_run, claim=claim
        )

    source = contract()[dropped.source]
    with stage("read"):
        result = read_file(dropped.path, source, chunk_rows=settings.batch_rows, stream_rows=settings.stream_rows)
    fault_point("after_read")
    manifest.update(
        encoding=result.encoding,
        delimiter=result.delimiter,
        header=json.dumps(result.header, ensure_ascii=False),
        detail=result.detail,
    )
    outcome.detail = result.detail
    if result.reason:
        outcome.file_reason = result.reason
        return _record_without_rows(
            engine, settings, dropped, outcome, manifest, identity=identity, dry_run=dry_run, claim=claim
        )
    if result.streamed:
        return PreparedFile(
            dropped=dropped,
            sighting=sighting,
            source=source,
            outcome=outcome,
            manifest=manifest,
            identity=identity,
            frame=None,
            normalised=None,
            claim=claim,
            chunks=result.chunks,
            header_line=result.header_line,
        )
    if result.empty or result.frame is None or result.frame.empty:
        outcome.status = rc.STATUS_EMPTY
        return _record_without_rows(
            engine, settings, dropped, outcome, manifest, identity=None, dry_run=dry_run, claim=claim
        )

    frame = result.frame
    return PreparedFile(
        dropped=dropped,
        sighting=sighting,
        source=source,
        outcome=outcome,
        manifest=manifest,
        identity=identity,
        frame=frame,
        normalised=_normalised(frame, source, dropped, outcome),
        claim=claim,
    )


def _normalised(frame: pd.DataFrame, source: Source, dropped: DroppedFile, outcome: FileOutcome) -> pd.DataFrame:
    """The well-formed rows of a file (or chunk), normalised."""
    with stage("normalise"):
        return normalise(
            frame.loc[~frame["_malformed"].astype(bool)], source, dropped.province_code, outcome.received_on
        )


def validate_prepared(batch: list[PreparedFile]) -> list[ValidationOutcome]:
    """Validate the rows of files of one source in one pass of the suite; one outcome per file, in order."""
    sources = {prepared.source.name for prepared in batch}
    if len(sources) > 1:
        raise ValueError(f"one source per validation batch, not {sorted(sources)}")
    if not batch:
        return []
    with stage("validate"):
        return validate_many([prepared.normalised for prepared in batch], batch[0].source)


def load_prepared(
    engine: Engine,
    settings: Settings,
    prepared: PreparedFile,
    validated: ValidationOutcome,
    run_id: str,
    dry_run: bool = False,
) -> FileOutcome:
    """Load a validated file in one transaction (manifest, records, refused rows), then receipt and archive it."""
    outcome, frame = prepared.outcome, prepared.frame
    rejected = _refused_rows(frame, validated)
    _tally(outcome, frame, rejected, validated)
    prepared.manifest.update(_counts(outcome), identity=prepared.identity)
    if dry_run:
        return outcome
    try:
        with stage("load"), _file_transaction(engine, prepared.claim) as connection:
            file_id = insert_manifest(connection, prepared.manifest)
            _load_rows(connection, settings, prepared, file_id, frame, validated, rejected)
            fault_point("before_commit")
    except sa.exc.IntegrityError as error:
        return _loaded_by_another(engine, settings, prepared, run_id, error)
    fault_point("after_commit")
    return finish_file(engine, settings, file_id, prepared.dropped)


def load_streamed(
    engine: Engine, settings: Settings, prepared: PreparedFile, run_id: str, dry_run: bool = False
) -> FileOutcome:
    """Load a file too big to hold, chunk by chunk, in one transaction; then receipt and archive it.

    A first pass over the file keeps only fingerprints of the rows that pass the row
    rules, enough to decide the duplicate-key rule for the whole file; the second
    validates and loads each chunk. A parse error found on the way (a broken quote
    near the end) rolls everything back and refuses the file as unreadable.
    """
    outcome, source = prepared.outcome, prepared.source

    def normalised_chunks() -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        for frame in prepared.chunks():
            yield frame, _normalised(frame, source, prepared.dropped, outcome)

    def each_chunk(connection: Connection | None, file_id: int | None, duplicates: Duplicates) -> None:
        outcome.rows_read = outcome.rows_rejected = outcome.rows_loaded = 0
        outcome.rejected_by_reason, outcome.warnings_by_reason = {}, {}
        chunks = 0
        for frame, normalised in normalised_chunks():
            with stage("validate"):
                [validated] = validate_many([normalised], source, duplicates)
            rejected = _refused_rows(frame, validated)
            _tally(outcome, frame, rejected, validated, add=True)
            chunks += 1
            if connection is not None:
                with stage("load"):
                    _load_rows(connection, settings, prepared, file_id, frame, validated, rejected)
        malformed = outcome.rejected_by_reason.get(rc.MALFORMED_ROW, 0)
        outcome.detail = (
            f"{outcome.rows_read} data rows, header on line {prepared.header_line},"
            f" read in {chunks} chunks of at most {settings.stream_rows:,} rows"
            + (f", {malformed} malformed" if malformed else "")
        )

    try:
        prints = []
        for _frame, normalised in normalised_chunks():
            with stage("validate"):
                prints.append(fingerprints([normalised], source))
        duplicates = Duplicates.decide(pd.concat(prints))
        del prints
        if dry_run:
            each_chunk(None, None, duplicates)
            return outcome
        with _file_transaction(engine, prepared.claim) as connection:
            file_id = insert_manifest(connection, {**prepared.manifest, "identity": prepared.identity})
            each_chunk(connection, file_id, duplicates)
            connection.execute(
                sa.text(
                    "UPDATE ingest_file SET status = :status, rows_read = :rows_read, rows_loaded = :rows_loaded,"
                    " rows_rejected = :rows_rejected, rejected_by_reason = :rejected_by_reason,"
                    " warnings_by_reason = :warnings_by_reason, detail = :detail WHERE file_id = :file_id"
                ),
                {**_counts(outcome), "detail": outcome.detail, "file_id": file_id},
            )
            fault_point("before_commit")
    except UnreadableFile as error:
        outcome.file_reason, outcome.detail = rc.UNREADABLE, str(error)
        outcome.status = rc.STATUS_REJECTED
        outcome.rows_read = outcome.rows_rejected = outcome.rows_loaded = 0
        outcome.rejected_by_reason, outcome.warnings_by_reason = {}, {}
        return _record_without_rows(
            engine,
            settings,
            prepared.dropped,
            outcome,
            prepared.manifest,
            identity=prepared.identity,
            dry_run=dry_run,
            claim=prepared.claim,
        )
    except sa.exc.IntegrityError as error:
        return _loaded_by_another(engine, settings, prepared, run_id, error)
    fault_point("after_commit")
    return finish_file(engine, settings, file_id, prepared.dropped)


def _refused_rows(frame: pd.DataFrame, validated: ValidationOutcome) -> pd.DataFrame:
    """The refused rows of a file (or chunk): line, reasons and the row as sent, by line."""
    malformed = frame["_malformed"].astype(bool)
    reasons = pd.Series(
        {**{label: [rc.MALFORMED_ROW] for label in frame.index[malformed]}, **validated.rejected}, dtype=object
    )
    return pd.DataFrame(
        {"line_number": frame.loc[reasons.index, "_line"], "reasons": reasons, "raw": frame.loc[reasons.index, "_raw"]}
    ).sort_values("line_number")


def _tally(
    outcome: FileOutcome, frame: pd.DataFrame, rejected: pd.DataFrame, validated: ValidationOutcome, add: bool = False
) -> None:
    """Count a file's (or, with ``add``, one more chunk's) rows into its outcome."""
    refused = Counter(r for row in rejected["reasons"] for r in row)
    warned = Counter(validated.warnings_by_reason)
    if add:
        refused.update(outcome.rejected_by_reason)
        warned.update(outcome.warnings_by_reason)
    outcome.rows_read = len(frame) + (outcome.rows_read if add else 0)
    outcome.rows_rejected = len(rejected) + (outcome.rows_rejected if add else 0)
    outcome.rows_loaded = outcome.rows_read - outcome.rows_rejected
    outcome.rejected_by_reason = dict(refused)
    outcome.warnings_by_reason = dict(warned)
    outcome.status = rc.STATUS_LOADED_WITH_REJECTIONS if outcome.rows_rejected else rc.STATUS_LOADED


def _load_rows(
    connection: Connection,
    settings: Settings,
    prepared: PreparedFile,
    file_id: int,
    frame: pd.DataFrame,
    validated: ValidationOutcome,
    rejected: pd.DataFrame,
) -> None:
    """Upsert a file's (or chunk's) accepted rows and keep its refused rows, on the file's transaction."""
    source = prepared.source
    records = records_frame(
        validated.accepted,
        source,
        prepared.dropped.province_code,
        file_id,
        prepared.sighting.seen_seq,
        frame["_extra"],
        settings.pseudonym_key_bytes(),
    )
    # In key order: concurrent runs upserting the same keys lock them in one order, never deadlock.
    upsert_records(connection, source, records.sort_values(list(TABLES[source.name].key), kind="stable"))
    insert_rejected(connection, file_id, rejected)


def _loaded_by_another(
    engine: Engine, settings: Settings, prepared: PreparedFile, run_id: str, error: sa.exc.IntegrityError
) -> FileOutcome:
    """After ``error`` broke a file's transaction: when another run, or an earlier copy in this run, loaded
    the same bytes first, record the file as a duplicate; else raise the error again."""
    if not _identity_taken(engine, prepared.identity):
        raise error
    outcome = _reset_as_duplicate(prepared.outcome)
    return _record_without_rows(
        engine,
        settings,
        prepared.dropped,
        outcome,
        _manifest(settings, prepared.dropped, prepared.sighting, outcome, run_id),
        identity=None,
        claim=prepared.claim,
    )


def process_file(
    engine: Engine,
    settings: Settings,
    dropped: DroppedFile,
    sighting: Sighting,
    run_id: str,
    dry_run: bool = False,
    claim: Claim | None = None,
) -> FileOutcome:
    """Decide, load and receipt one file; idempotent (a rerun finds the manifest row).

    A dry run decides and validates the file but writes, moves and receipts nothing.
    With a claim (see take_file), the file's transaction commits only while the claim is this run's.
    """
    prepared = prepare_file(engine, settings, dropped, sighting, run_id, dry_run=dry_run, claim=claim)
    if isinstance(prepared, FileOutcome):
        return prepared
    if prepared.chunks is not None:
        return load_streamed(engine, settings, prepared, run_id, dry_run=dry_run)
    [validated] = validate_prepared([prepared])
    return load_prepared(engine, settings, prepared, validated, run_id, dry_run=dry_run)


@contextmanager
def _file_transaction(engine: Engine, claim: Claim | None) -> Iterator[Connection]:
    """A file's transaction; with a claim, it checks last, just before the commit, that the claim is still
    this run's (checked first, it would lock the claim's row, and so its heartbeat, for the whole transaction)."""
    with engine.begin() as connection:
        yield connection
        if claim is not None:
            confirm(connection, claim)


def _identity_taken(engine: Engine, identity: str) -> bool:
    with engine.connect() as connection:
        return (
            connection.execute(sa.text("SELECT 1 FROM ingest_file WHERE identity = :i"), {"i": identity}).scalar()
            is not None
        )


def _reset_as_duplicate(outcome: FileOutcome) -> FileOutcome:
    return FileOutcome(
        relative_path=outcome.relative_path,
        file_name=outcome.file_name,
        province_code=outcome.province_code,
        source=outcome.source,
        sha256=outcome.sha256,
        status=rc.STATUS_DUPLICATE,
        file_reason=rc.DUPLICATE_FILE,
        received_on=outcome.received_on,
    )


def _counts(outcome: FileOutcome) -> dict:
    return {
        "status": outcome.status,
        "file_reason": outcome.file_reason,
        "rows_read": outcome.rows_read,
        "rows_loaded": outcome.rows_loaded,
        "rows_rejected": outcome.rows_rejected,
        "rejected_by_reason": json.dumps(dict(sorted(outcome.rejected_by_reason.items()))),
        "warnings_by_reason": json.dumps(dict(sorted(outcome.warnings_by_reason.items()))),
    }


def _manifest(settings: Settings, dropped: DroppedFile, sighting: Sighting, outcome: FileOutcome, run_id: str) -> dict:
    return {
        "seen_seq": sighting.seen_seq,
        "province_code": dropped.province_code,
        "source": dropped.source,
        "file_name": dropped.name,
        "relative_path": dropped.relative_path,
        "sha256": sighting.sha256,
        "identity": None,
        "size_bytes": dropped.size,
        "first_seen_at": sighting.first_seen_at,
        "received_on": outcome.received_on,
        "detail": outcome.detail,
        "encoding": None,
        "delimiter": None,
        "header": None,
        "archive_path": str(archive_path(settings.archive_root, outcome)),
        "receipt_path": str(receipt_path(settings.outbox_root, outcome)),
        "run_id": run_id,
        "processed_at": _now(),
        **_counts(outcome),
    }


def _record_without_rows(
    engine: Engine,
    settings: Settings,
    dropped: DroppedFile,
    outcome: FileOutcome,
    manifest: dict,
    identity: str | None,
    dry_run: bool = False,
    claim: Claim | None = None,
) -> FileOutcome:
    """A file that loads no rows: its manifest row alone, then archive and receipt."""
    if dry_run:
        return outcome
    manifest.update(_counts(outcome), identity=identity, detail=outcome.detail)
    try:
        with _file_transaction(engine, claim) as connection:
            file_id = insert_manifest(connection, manifest)
    except sa.exc.IntegrityError:
        if identity is None or not _identity_taken(engine, identity):
            raise
        outcome = _reset_as_duplicate(outcome)
        manifest.update(_counts(outcome), identity=None)
        with _file_transaction(engine, claim) as connection:
            file_id = insert_manifest(connection, manifest)
    fault_point("after_commit")
    return finish_file(engine, settings, file_id, dropped)


def finish_file(engine: Engine, settings: Settings, file_id: int, dropped: DroppedFile | None) -> FileOutcome:
    """Write the receipt (and refused rows), move the file to the archive, mark it archived.

    Without ``dropped`` the file is already in the archive (see recover_archived).
    """
    with engine.connect() as connection:
        row = (
            connection.execute(sa.text("SELECT * FROM ingest_file WHERE file_id = :f"), {"f": file_id}).mappings().one()
        )
        rejected_rows = rejected_rows_of_file(connection, file_id) if row["rows_rejected"] else []
    received_on = row["received_on"]
    outcome = FileOutcome(
        relative_path=row["relative_path"],
        file_name=row["file_name"],
        province_code=row["province_code"],
        source=row["source"],
        sha256=row["sha256"],
        status=row["status"],
        received_on=received_on if isinstance(received_on, dt.date) else dt.date.fromisoformat(received_on),
        rows_read=row["rows_read"],
        rows_loaded=row["rows_loaded"],
        rows_rejected=row["rows_rejected"],
        rejected_by_reason=json.loads(row["rejected_by_reason"]),
        warnings_by_reason=json.loads(row["warnings_by_reason"]),
        file_reason=row["file_reason"],
        detail=row["detail"] or "",
    )
    duplicate_of = None
    if outcome.status == rc.STATUS_DUPLICATE:
        with engine.connect() as connection:
            duplicate_of = (
                connection.execute(
                    sa.text("SELECT relative_path, status, received_on FROM ingest_file WHERE identity = :i"),
                    {"i": f"{outcome.province_code}|{outcome.source}|{outcome.sha256}"},
                )
                .mappings()
                .first()
            )
    archived_to = archive_path(settings.archive_root, outcome)
    rejected_csv = None
    if rejected_rows:
        rejected_csv = rejected_csv_path(settings.outbox_root, outcome)
        write_rejected_csv(rejected_csv, json.loads(row["header"] or "[]"), rejected_rows)
    document = receipt_document(outcome, archived_to, rejected_csv)
    if duplicate_of:
        document["duplicate_of"] = {key: str(value) for key, value in duplicate_of.items()}
    write_receipt(receipt_path(settings.outbox_root, outcome), document)
    fault_point("after_receipt")
    if dropped is not None:
        move_to_archive(dropped.path, archived_to)
    fault_point("after_archive")
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE ingest_file SET archived_at = :t WHERE file_id = :f"), {"t": _now(), "f": file_id}
        )
    return outcome


ProgressCallback = Callable[[int, int, FileOutcome, float], None]


def prepare(settings: Settings) -> Engine:
    """Check the roots, reach the warehouse and bring its schema up to date."""
    if not settings.ingest_root.is_dir():
        raise RunError(f"ingest root {settings.ingest_root} does not exist or is not a folder")
    for root in (settings.archive_root, settings.outbox_root):
        if root.exists() and not root.is_dir():
            raise RunError(f"{root} exists and is not a folder")
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise RunError(f"{root} is not writable: no file is loaded until it is")
    engine = create_warehouse_engine(settings.warehouse)
    check_reachable(engine)
    migrate(engine)
    check_pseudonym_key(engine, settings.pseudonym_key_bytes())
    return engine


HELD, GONE = "held", "gone"


def _claim_key(dropped: DroppedFile, sighting: Sighting) -> str:
    return file_claim_key(
        dropped.province_code, dropped.source, sighting.sha256, dropped.relative_path, dropped.place_reason
    )


def take_file(
    engine: Engine,
    settings: Settings,
    claims: Claims,
    dropped: DroppedFile,
    sighting: Sighting,
    run_id: str,
    wait: float = 0.0,
) -> FileOutcome | str:
    """Claim a file (waiting up to ``wait`` seconds), decide, load and receipt it, release the claim.

    Returns HELD when a live run holds the claim, GONE when the file went or changed
    meanwhile (another run took it, or it is being written again).
    """
    claim = claims.wait_for(_claim_key(dropped, sighting), dropped.relative_path, seconds=wait)
    if claim is None:
        return HELD
    try:
        if still_being_written(dropped):
            return GONE
        return process_file(engine, settings, dropped, sighting, run_id, claim=claim)
    finally:
        claims.release(claim)


def recover_archived(engine: Engine, settings: Settings, claims: Claims) -> list[FileOutcome]:
    """Finish the files a stopped run moved to the archive but did not mark archived: receipt, mark.

    A file whose manifest row is not marked archived and that is still in the ingest
    folder is finished when its turn comes (process_file finds the row).
    """
    with engine.connect() as connection:
        rows = (
            connection.execute(
                sa.text(
                    "SELECT file_id, province_code, source, sha256, relative_path, file_reason, archive_path"
                    " FROM ingest_file WHERE archived_at IS NULL ORDER BY seen_seq"
                )
            )
            .mappings()
            .all()
        )
    finished = []
    for row in rows:
        if not os.path.lexists(row["archive_path"]) or os.path.lexists(settings.ingest_root / row["relative_path"]):
            continue
        place_reason = row["file_reason"] if row["file_reason"] in rc.PLACE_REASONS else None
        claim = claims.try_claim(
            file_claim_key(row["province_code"], row["source"], row["sha256"], row["relative_path"], place_reason),
            row["relative_path"],
        )
        if claim is None:
            continue  # a live run is finishing it
        try:
            with engine.connect() as connection:
                still = connection.execute(
                    sa.text("SELECT 1 FROM ingest_file WHERE file_id = :f AND archived_at IS NULL"),
                    {"f": row["file_id"]},
                ).first()
            if still:
                finished.append(finish_file(engine, settings, int(row["file_id"]), None))
                log.warning("%s: finished the archiving a stopped run began", row["relative_path"])
        finally:
            claims.release(claim)
    return finished


def _warehouse_gone(error: BaseException) -> bool:
    """The warehouse stopped answering (not: this transaction lost a deadlock or serialisation race)."""
    if getattr(getattr(error, "orig", None), "sqlstate", None) in ("40001", "40P01"):
        return False
    return isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated
    )


def ingest(
    engine: Engine, settings: Settings, run_id: str | None = None, progress: ProgressCallback | None = None
) -> RunReport:
    """Read, normalise, validate and load every ready file, one transaction per file.

    Files are read and normalised one by one and validated in batches (one run of the suite per
    source and batch; with ``settings.validate_in_worker`` in a second process), then loaded by the
    loader thread while the next batch is read, each in its own transaction; at most
    ``settings.batch_rows`` rows are held in all (see _Batches). Files claimed by another live run
    are left to it; they are looked at again after the others, for at most the
    claim timeout, and left for the next run after that.
    """
    report = RunReport(run_id=run_id or uuid.uuid4().hex[:12])
    started = time.monotonic()
    now = _now()
    with Claims(engine, report.run_id, settings.claim_timeout) as claims:
        recover_archived(engine, settings, claims)
        files = discover(settings.ingest_root, settings.settle_seconds, now.timestamp())
        sightings = record_sightings(engine, files, now)
        fault_point("after_sightings")
        ready = sorted(
            (f for f in files if f.relative_path in sightings), key=lambda f: sightings[f.relative_path].seen_seq
        )
        report.files_found = len(ready)
        batches = _Batches(engine, settings, claims, report, len(ready), progress)
        try:
            held = batches.take_all(ready, sightings)
            deadline = time.monotonic() + settings.claim_timeout
            while held and time.monotonic() < deadline:
                time.sleep(0.25)
                held = batches.take_all(held, sightings)
        finally:
            batches.close()
        report.held_elsewhere = [dropped.relative_path for dropped in held]
        for relative_path in report.held_elsewhere:
            log.warning("%s: still claimed by another run, which takes it", relative_path)
    report.seconds = time.monotonic() - started
    return report


def _lanes(batch: list[PreparedFile], lanes: int) -> list[list[PreparedFile]]:
    """A batch's files dealt into lanes, each in the order first seen; copies of the same bytes share a
    lane, so the first seen of them commits first and the others are its duplicates."""
    dealt: list[list[PreparedFile]] = [[] for _ in range(lanes)]
    for prepared in batch:
        dealt[zlib.crc32(prepared.identity.encode()) % lanes].append(prepared)
    return dealt


class _Batches:
    """Takes files for one ingest run: claim, prepare, validate per source in batches, load each file.

    A full batch goes to be validated (to the suite worker, with ``settings.validate_in_worker``, else
    here and now) and then to the loader thread, which loads its files while this thread reads and
    normalises the next batch: the warehouse's share of loading (most of it on PostgreSQL) runs beside
    Python's share of reading. On PostgreSQL the loader deals a batch into ``settings.load_lanes``
    lanes loaded at once (see _lanes), each in the order its files were first seen. At most two
    batches are in flight beside the one being prepared, so each batch is a third of ``batch_rows``
    and the rows held stay within it.
    """

    IN_FLIGHT = 2  # batches sent to be validated and loaded, not yet loaded

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        claims: Claims,
        report: RunReport,
        total: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.engine, self.settings, self.claims, self.report = engine, settings, claims, report
        self.total, self.progress = total, progress
        self.waiting: dict[str, list[PreparedFile]] = {}  # by source
        self.spent: dict[str, float] = {}  # seconds spent on each waiting file so far
        self.worker: SuiteWorker | None = None
        self.loader: ThreadPoolExecutor | None = None
        self.in_flight: deque[Future] = deque()
        self.stopping = threading.Event()  # set when the run stops: the loader takes no further file
        self.reporting = threading.Lock()  # outcomes come from this thread and from the loader
        # PostgreSQL loads files in lanes at once (a backend each); SQLite has one writer at a time.
        self.lanes = settings.load_lanes if engine.dialect.name == "postgresql" else 1
        self.lane_pool = ThreadPoolExecutor(max_workers=max(self.lanes - 1, 1), thread_name_prefix="mashaghel-lane")

    def take_all(self, candidates: list[DroppedFile], sightings: dict[str, Sighting]) -> list[DroppedFile]:
        """Take every candidate this run can claim; returns those another live run holds."""
        held = []
        for dropped in candidates:
            claim = self.claims.wait_for(
                _claim_key(dropped, sightings[dropped.relative_path]), dropped.relative_path, seconds=0.0
            )
            if claim is None:
                held.append(dropped)
                continue
            self._prepare(dropped, sightings[dropped.relative_path], claim)
        self._flush()
        return held

    def close(self) -> None:
        """Let the batch being loaded finish (the files after it stay in the ingest folder), then stop
        the loader and the suite worker. A failure of the loader is raised by ``_flush``; here, where
        the run is already stopping, it is only logged."""
        self.stopping.set()
        while self.in_flight:
            try:
                self.in_flight.popleft().result()
            except BaseException as error:  # the run is stopping for another reason
                log.warning("loading stopped: %s", error)
        if self.loader is not None:
            self.loader.shutdown(wait=True)
            self.loader = None
        self.lane_pool.shutdown(wait=True)
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    def _prepare(self, dropped: DroppedFile, sighting: Sighting, claim: Claim) -> None:
        began = time.monotonic()
        prepared: PreparedFile | FileOutcome | None = None
        try:
            if still_being_written(dropped):
                return
            prepared = self._guarded(
                dropped,
                lambda: prepare_file(self.engine, self.settings, dropped, sighting, self.report.run_id, claim=claim),
            )
        finally:
            if not isinstance(prepared, PreparedFile):
                self.claims.release(claim)
        if isinstance(prepared, FileOutcome):
            self._done(prepared, time.monotonic() - began)
        elif prepared is not None and prepared.chunks is not None:  # too big to batch: on its own, now
            try:
                self._flush()  # the files seen before it commit before it
                outcome = self._guarded(
                    dropped, lambda: load_streamed(self.engine, self.settings, prepared, self.report.run_id)
                )
            finally:
                self.claims.release(claim)
            if outcome is not None:
                self._done(outcome, time.monotonic() - began)
        elif prepared is not None:
            if self.settings.validate_in_worker and self.worker is None:
                self.worker = SuiteWorker.start()
            self.waiting.setdefault(prepared.source.name, []).append(prepared)
            self.spent[prepared.dropped.relative_path] = time.monotonic() - began
            # One budget for the rows held, whatever their source: it bounds the run's memory.
            # A batch is being read while at most IN_FLIGHT more are validated and loaded.
            limit = self.settings.batch_rows // (self.IN_FLIGHT + 1)
            if sum(p.rows for waiting in self.waiting.values() for p in waiting) >= limit:
                self._flush(last=False)

    def _flush(self, last: bool = True) -> None:
        """Send the waiting files to be validated (each source's together) and then loaded, each in its
        own transaction, each lane in the order first seen (one lane: the order a run of one file at a
        time would commit them); ``last`` also waits until every file sent is loaded.

        Raises what stopped the loading of a batch sent before (a failed validation, a warehouse gone).
        """
        batch = sorted(
            (prepared for waiting in self.waiting.values() for prepared in waiting),
            key=lambda prepared: prepared.sighting.seen_seq,
        )
        sources = list(self.waiting.values())
        self.waiting = {}
        if batch:
            try:
                verdicts = self._validation(sources)
                self._wait_in_flight(self.IN_FLIGHT - 1)
            except BaseException:
                self._release(batch)
                raise
            if self.loader is None:
                self.loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mashaghel-load")
            self.in_flight.append(self.loader.submit(self._load_batch, batch, verdicts))
        if last:
            self._wait_in_flight(0)

    def _validation(self, sources: list[list[PreparedFile]]) -> Callable[[], dict[int, ValidationOutcome]]:
        """Start validating each source's files (in the worker; without one, validate them now); the
        returned function gives the verdicts, by ``id`` of the prepared file, once they are ready."""
        if self.worker is None:
            verdicts = {
                id(prepared): outcome
                for waiting in sources
                for prepared, outcome in zip(waiting, validate_prepared(waiting), strict=True)
            }
            return lambda: verdicts
        worker = self.worker
        pending = [(waiting, worker.submit([p.normalised for p in waiting], waiting[0].source)) for waiting in sources]
        return lambda: {
            id(prepared): outcome
            for waiting, validation in pending
            for prepared, outcome in zip(waiting, validation.outcomes(), strict=True)
        }

    def _wait_in_flight(self, keep: int) -> None:
        """Wait until at most ``keep`` batches are still being loaded; raises what stopped one."""
        while len(self.in_flight) > keep:
            self.in_flight.popleft().result()

    def _load_batch(self, batch: list[PreparedFile], validate: Callable[[], dict[int, ValidationOutcome]]) -> None:
        """(In the loader thread.) Wait for a batch's verdicts, then load its files in the loading lanes."""
        began = time.monotonic()
        try:
            validated = validate()
        except BaseException:
            self._release(batch)  # the files stay in the ingest folder
            raise
        share = (time.monotonic() - began) / len(batch)
        lanes = [lane for lane in _lanes(batch, self.lanes) if lane]
        others = [self.lane_pool.submit(self._load_lane, lane, validated, share) for lane in lanes[1:]]
        try:
            self._load_lane(lanes[0], validated, share)  # a batch sent has at least one file
        finally:
            wait(others)
        for other in others:
            other.result()

    def _load_lane(self, lane: list[PreparedFile], validated: dict[int, ValidationOutcome], share: float) -> None:
        """Load a lane's files one by one, in the order first seen, each in its own transaction."""
        try:
            while lane and not self.stopping.is_set():
                prepared = lane.pop(0)
                began = time.monotonic()
                try:
                    outcome = self._guarded(
                        prepared.dropped,
                        lambda p=prepared: load_prepared(
                            self.engine, self.settings, p, validated[id(p)], self.report.run_id
                        ),
                    )
                finally:
                    self.claims.release(prepared.claim)
                if outcome is not None:
                    spent = self.spent.pop(prepared.dropped.relative_path, 0.0)
                    self._done(outcome, spent + share + time.monotonic() - began)
        finally:
            self._release(lane)  # the run stopped: the files stay in the ingest folder

    def _release(self, batch: list[PreparedFile]) -> None:
        for prepared in batch:
            self.claims.release(prepared.claim)

    def _done(self, outcome: FileOutcome, seconds: float) -> None:
        with self.reporting:
            self.report.outcomes.append(outcome)
            if self.progress:
                self.progress(len(self.report.outcomes), self.total, outcome, seconds)

    def _guarded(self, dropped: DroppedFile, step: Callable[[], FileOutcome | PreparedFile]):
        """One file's step; a failure is reported and leaves the file in the ingest folder for the next run."""
        try:
            return step()
        except ClaimLost as error:
            log.warning("%s: %s; that run finishes it", dropped.relative_path, error)
        except (OSError, sa.exc.SQLAlchemyError, ValueError) as error:
            # The file's transaction rolled back; it stays in the ingest folder for the next run.
            log.exception("%s failed: %s", dropped.relative_path, error)
            self.report.failures[dropped.relative_path] = f"{type(error).__name__}: {error}"
            if _warehouse_gone(error):  # stop the run rather than fail every file
                raise WarehouseUnavailable(
                    f"the warehouse stopped answering while {dropped.relative_path} was being taken;"
                    f" the run stopped and the next one takes it again: {error.orig or error}"
                ) from error
        return None


@dataclass
class Published:
    """What a resolve, match and publish did; ``skipped`` when nothing had changed since the last publish."""

    persons: int = 0
    recomputed: int = 0
    matching: dict = field(default_factory=dict)
    views: dict[str, list[dict]] = field(default_factory=dict)
    skipped: bool = False


def _warehouse_mark(connection: Connection) -> tuple[int, int]:
    """(files recorded, largest file_id): changes whenever a file is recorded, whatever the commit order."""
    files, last = connection.execute(sa.text("SELECT COUNT(*), COALESCE(MAX(file_id), 0) FROM ingest_file")).one()
    return int(files), int(last)


def _last_publish(engine: Engine) -> sa.Row | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT files, last_file_id, rules FROM publish_run ORDER BY publish_run_id DESC LIMIT 1")
        ).first()


def nothing_new(engine: Engine, outbox_root: Path, rules: str, last: sa.Row | None) -> bool:
    """True when the last publish (``last``) saw every file recorded since, under the same rules, no
    person and no match is pending (a match refused for a giant cluster leaves its IDs pending) and its
    exports are still in the outbox: publishing again would change nothing."""
    from etl.publish import REPORTING_VIEWS, export_path

    if not all(export_path(outbox_root, view).is_file() for view in REPORTING_VIEWS):
        return False
    with engine.connect() as connection:
        pending = (
            connection.execute(sa.text("SELECT 1 FROM person_pending LIMIT 1")).first()
            or connection.execute(sa.text("SELECT 1 FROM match_pending LIMIT 1")).first()
        )
        return (
            last is not None
            and (last.files, last.last_file_id) == _warehouse_mark(connection)
            and last.rules == rules
            and pending is None
        )


def resolve_match_publish(engine: Engine, settings: Settings, run_id: str, only_if_new: bool = False) -> Published:
    """Recompute people, match suspected duplicates and publish, one run at a time (the publish claim).

    With ``only_if_new`` nothing is done when nothing changed since the last publish
    (see nothing_new): a run that found no new file costs no more than its discovery.
    """
    from etl.publish import publish
    from etl.resolve import resolve_people, rules_fingerprint
    from etl.suspects import match_suspects

    rules = rules_fingerprint(settings.match_threshold, settings.match_max_cluster)
    with Claims(engine, run_id, settings.claim_timeout) as claims:
        claims.wait_for(PUBLISH)  # so the last run to publish sees every file loaded before it
        last = _last_publish(engine)
        if only_if_new and nothing_new(engine, settings.outbox_root, rules, last):
            log.info("nothing new since the last publish: people, matches and reports are as they were")
            return Published(skipped=True)
        with engine.connect() as connection:
            files, last_file_id = _warehouse_mark(connection)  # before resolving: later files publish again
        with stage("resolve"):
            resolved = resolve_people(
                engine, settings.pseudonym_key_bytes(), everyone=last is not None and last.rules != rules
            )
        with stage("match"):
            matching = match_suspects(engine, settings.match_threshold, settings.match_max_cluster)
        with stage("publish"):
            views = publish(engine, settings.outbox_root)
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO publish_run (run_id, published_at, files, last_file_id, rules, persons,"
                    " persons_recomputed) VALUES (:r, :t, :f, :l, :rules, :p, :c)"
                ),
                {
                    "r": run_id,
                    "t": _now(),
                    "f": files,
                    "l": last_file_id,
                    "rules": rules,
                    "p": resolved.persons,
                    "c": resolved.recomputed,
                },
            )
    return Published(persons=resolved.persons, recomputed=resolved.recomputed, matching=matching, views=views)


def run(settings: Settings, progress: ProgressCallback | None = None) -> RunReport:
    """The whole pipeline once: ingest every ready file, resolve people, match suspected duplicates, publish."""
    engine = prepare(settings)
    try:
        report = ingest(engine, settings, progress=progress)
        report.published = resolve_match_publish(engine, settings, report.run_id, only_if_new=True)
        return report
    except sa.exc.DBAPIError as error:
        if not _warehouse_gone(error):
            raise
        raise WarehouseUnavailable(f"the warehouse stopped answering: {error.orig or error}") from error
    finally:
        engine.dispose()
