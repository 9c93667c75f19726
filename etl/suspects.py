"""The matching stage: suspected duplicate identities, stored for the views, after people are resolved.

Scores the pairs with a side the resolve recomputed and links again the refused
rows near them (etl/matching/incremental.py, with the trained model of
etl/match.py), then, in the same transaction, replaces those pairs in
``suspected_duplicate_pair`` (clusters drawn anew over all pairs) and those
links in ``suspected_id_typo``, sets ``person.suspected_duplicate``, records the
run's figures in ``match_run`` and ends the pending IDs. Then the
``.rejected.csv`` of every file whose likely national IDs changed is written
again with the likely ID beside the row, for the clerk.

When the largest cluster exceeds the configured bound, matching broke (one
giant cluster is not a thousand people sharing one identity): the run is
recorded with ``published`` false and the previously published matches stay.
The caller publishes everything else and then reports the failure (the command
line exits 1, the publish DAG's ``check_suspected_duplicates`` task fails).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.load import insert_frame, missing_as_none, rejected_rows_of_file
from etl.receipts import write_rejected_csv

if TYPE_CHECKING:
    from etl.match import MatchResult
    from etl.matching.incremental import Scored

log = logging.getLogger("mashaghel")

LIKELY_COLUMN = "likely_national_id"
# Recomputed national IDs scored at once. Each pass joins every block again, so fewer passes are faster;
# the memory of a full match is bounded by the key chunks (etl/matching/incremental.py: KEY_CHUNK_ROWS).
DEFAULT_IDS_PER_PASS = 500_000


def match_suspects(
    engine: Engine,
    threshold: float | None = None,
    max_cluster: int | None = None,
    ids_per_pass: int = DEFAULT_IDS_PER_PASS,
) -> dict:
    """Score the pairs and links with a recomputed side, store and flag them; returns the run's figures.

    ``threshold`` and ``max_cluster`` default to the model's (settings ``match_threshold``
    and ``match_max_cluster``, MASHAGHEL_MATCH_* or the Airflow Variables, override them).
    Everything is one transaction: the keys, the pairs, the links, the flags and the end of
    ``match_pending``. With nothing pending and no new refused row nothing is written.

    ``published`` is false (and ``detail`` says why) when the largest cluster is too large:
    then nothing but the ``match_run`` row was written, and the IDs stay pending.
    """
    from etl.match import DEFAULT_MAX_CLUSTER, DEFAULT_MODEL, DEFAULT_THRESHOLD, ClusterTooLarge, merge_changes
    from etl.matching.incremental import score_changes
    from etl.matching.model import load_model

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    max_cluster = DEFAULT_MAX_CLUSTER if max_cluster is None else max_cluster
    started = time.perf_counter()
    model = load_model(DEFAULT_MODEL)
    refusal: ClusterTooLarge | None = None
    try:
        with engine.begin() as connection:
            scored = score_changes(connection, model=model, threshold=threshold, ids_per_pass=ids_per_pass)
            if scored.changed_ids == 0 and len(scored.refused) == 0:
                # Nothing to score; but a run killed after a match committed and before it wrote the
                # rejected-row files left them without their likely IDs: written again from the stored links.
                rewrite_rejected_files(engine)
                return {
                    "published": True,
                    "detail": None,
                    "recomputed_ids": 0,
                    "comparisons": 0,
                    "threshold": threshold,
                    **_stored(connection),
                }
            result = merge_changes(
                scored,
                _kept_pairs(connection),
                threshold=threshold,
                max_cluster=max_cluster,
                model_path=DEFAULT_MODEL,
                started=started,
            )
            figures = _figures(result, scored, max_cluster)
            run_id = _record_run(connection, figures)
            files = _store(connection, result, run_id)
            figures.update(_stored(connection))
            connection.execute(
                sa.text(
                    "UPDATE match_run SET pairs = :pairs, refused_links = :refused_links WHERE match_run_id = :run"
                ),
                {**figures, "run": run_id},
            )
    except ClusterTooLarge as error:
        refusal = error
        figures = {
            **_figures(error.result, scored, max_cluster),
            "published": False,
            "detail": f"{refusal}; the matches published before stay in place",
        }
        with engine.begin() as connection:
            _record_run(connection, figures)
        log.error("suspected duplicates not published: %s", figures["detail"])
        return figures
    log.info("suspected duplicates: %s", json.dumps(figures, ensure_ascii=False))
    rewrite_rejected_files(engine, files)
    return figures


def _figures(result: MatchResult, scored: Scored, max_cluster: int) -> dict:
    return {
        **result.summary(),
        "max_cluster": max_cluster,
        "published": True,
        "detail": None,
        "recomputed_ids": scored.changed_ids,
        "passes": scored.passes,
        "refused_relinked": len(scored.refused),
    }


def _stored(connection: Connection) -> dict:
    """The pairs and links stored now."""
    return {
        "pairs": _count(connection, "SELECT COUNT(*) FROM suspected_duplicate_pair"),
        "refused_links": _count(connection, "SELECT COUNT(*) FROM suspected_id_typo"),
    }


def _count(connection: Connection, sql: str) -> int:
    return int(connection.exec_driver_sql(sql).scalar_one())


def _kept_pairs(connection: Connection) -> pd.DataFrame:
    """The stored pairs of two national IDs that were not recomputed (they keep their scores)."""
    return pd.read_sql_query(
        sa.text(
            "SELECT national_id_l, national_id_r, match_probability, match_weight, agreeing_fields AS agreeing,"
            " similar_fields AS similar, province_l, province_r, match_run_id FROM suspected_duplicate_pair"
            " WHERE national_id_l NOT IN (SELECT national_id FROM match_changed)"
            " AND national_id_r NOT IN (SELECT national_id FROM match_changed)"
        ),
        connection,
    )


def _winning_links(connection: Connection, links: pd.DataFrame) -> pd.DataFrame:
    """The links to write: every new link of a row linked against everyone (``relink``), and of the
    other rows only those that beat their stored link (higher weight; on a tie, the smaller ID)."""
    stored = pd.read_sql_query(
        sa.text(
            "SELECT r.unique_id AS refused_id, s.national_id AS stored_id, s.match_weight AS stored_weight"
            " FROM suspected_id_typo s JOIN match_refused r ON r.file_id = s.file_id AND r.line_number = s.line_number"
            " JOIN match_refused_todo t ON t.unique_id = r.unique_id WHERE t.relink = 0"
        ),
        connection,
    )
    if stored.empty:
        return links
    merged = links.merge(stored, on="refused_id", how="left")
    weight, stored_weight = merged["match_weight"].astype(float), merged["stored_weight"].astype(float)
    wins = (
        merged["stored_id"].isna()
        | (weight > stored_weight)
        | ((weight == stored_weight) & (merged["national_id"] < merged["stored_id"]))
    )
    return links[wins.to_numpy()]


def _store(connection: Connection, result: MatchResult, run_id: int) -> list[int]:
    """Store the pairs, the links of the refused rows linked again and the flags; end the pending IDs.

    Returns the files whose refused rows gained, lost or changed a likely person.
    """
    renamed = {"agreeing": "agreeing_fields", "similar": "similar_fields"}  # SIMILAR is an SQL keyword
    pairs = result.pairs.rename(columns=renamed)
    if "match_run_id" not in pairs.columns:
        pairs["match_run_id"] = None
    pairs["match_run_id"] = pairs["match_run_id"].fillna(run_id).astype("int64")
    _replace(
        connection,
        "suspected_duplicate_pair",
        pairs,
        (
            "national_id_l",
            "national_id_r",
            "match_probability",
            "match_weight",
            "agreeing_fields",
            "similar_fields",
            "province_l",
            "province_r",
            "cluster_id",
            "match_run_id",
        ),
    )
    links = _winning_links(connection, result.refused_links).rename(columns=renamed).assign(match_run_id=run_id)
    if len(links):  # a row whose new link is written loses its stored one
        connection.execute(
            sa.text("UPDATE match_refused_todo SET relink = 1 WHERE unique_id = :u"),
            [{"u": unique_id} for unique_id in links["refused_id"]],
        )
    relinked = (
        "EXISTS (SELECT 1 FROM match_refused r JOIN match_refused_todo t ON t.unique_id = r.unique_id"
        " WHERE t.relink = 1 AND r.file_id = suspected_id_typo.file_id"
        " AND r.line_number = suspected_id_typo.line_number)"
    )
    unlinked = connection.exec_driver_sql(f"SELECT DISTINCT file_id FROM suspected_id_typo WHERE {relinked}").scalars()
    files = {int(file_id) for file_id in unlinked}
    connection.exec_driver_sql(f"DELETE FROM suspected_id_typo WHERE {relinked}")
    files.update(int(file_id) for file_id in links["file_id"])
    insert_frame(
        connection,
        "suspected_id_typo",
        links[
            [
                "file_id",
                "line_number",
                "province_code",
                "source",
                "national_id_sent",
                "national_id",
                "match_probability",
                "match_weight",
                "agreeing_fields",
                "similar_fields",
                "id_fix",
                "match_run_id",
            ]
        ],
    )
    flagged = (
        "SELECT national_id_l FROM suspected_duplicate_pair UNION SELECT national_id_r FROM suspected_duplicate_pair"
    )
    connection.exec_driver_sql(
        f"UPDATE person SET suspected_duplicate = (national_id IN ({flagged}))"
        f" WHERE suspected_duplicate <> (national_id IN ({flagged}))"
    )
    connection.exec_driver_sql("DELETE FROM match_pending WHERE national_id IN (SELECT national_id FROM match_changed)")
    return sorted(files)


def _record_run(connection: Connection, figures: dict) -> int:
    values = {
        key: figures[key]
        for key in (
            "persons",
            "refused_rows",
            "comparisons",
            "refused_comparisons",
            "pairs",
            "refused_links",
            "largest_cluster",
            "threshold",
            "max_cluster",
            "model",
            "published",
            "seconds",
            "detail",
        )
    }
    values["run_at"] = dt.datetime.now(dt.UTC)
    columns = list(values)
    return int(
        connection.execute(
            sa.text(
                f"INSERT INTO match_run ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
                " RETURNING match_run_id"
            ),
            values,
        ).scalar_one()
    )


def _replace(connection: Connection, table: str, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """Make ``table`` hold exactly the rows of ``frame`` (a few thousand at most: plain inserts)."""
    connection.exec_driver_sql(f"DELETE FROM {table}")
    if frame.empty:
        return
    rows = missing_as_none(frame[list(columns)])
    connection.execute(
        sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
        [{key: _plain(value) for key, value in row.items()} for row in rows.to_dict("records")],
    )


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


def rewrite_rejected_files(engine: Engine, files: list[int] | None = None) -> int:
    """Write again the ``.rejected.csv`` of the given files (default: every file with a refused row that
    names a likely person), with a column ``likely_national_id``: the ID each row probably meant.

    Returns the files written.
    """
    chosen = "SELECT file_id FROM suspected_id_typo" if files is None else ", ".join(map(str, files)) or "NULL"
    with engine.connect() as connection:
        found = connection.execute(
            sa.text(
                "SELECT f.file_id, f.header, f.receipt_path FROM ingest_file AS f"
                f" WHERE f.file_id IN ({chosen}) AND f.archived_at IS NOT NULL"
            )
        ).all()
        likely = connection.execute(
            sa.text(f"SELECT file_id, line_number, national_id FROM suspected_id_typo WHERE file_id IN ({chosen})")
        ).all()
        refused = {file_id: rejected_rows_of_file(connection, file_id) for file_id, _, _ in found}
    by_row = {(file_id, line): national_id for file_id, line, national_id in likely}
    for file_id, header, receipt_path in found:
        path = Path(receipt_path.removesuffix(".receipt.json") + ".rejected.csv")
        write_rejected_csv(
            path,
            json.loads(header or "[]"),
            refused[file_id],
            extra={LIKELY_COLUMN: {line: by_row.get((file_id, line), "") for line, _, _ in refused[file_id]}},
        )
    return len(found)
