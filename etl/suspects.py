"""The matching stage: suspected duplicate identities, stored for the views, after people are resolved.

Reads the identity rows and the rows refused only for ``invalid_national_id``
(set-based SQL), scores them with the trained model (etl/match.py), and, in one
transaction, replaces the pairs (``suspected_duplicate_pair``) and the likely
persons of refused rows (``suspected_id_typo``), sets ``person.suspected_duplicate``
and records the run's figures in ``match_run``. Then the ``.rejected.csv`` of
every file with such a row is written again with the likely national ID beside
the row, for the clerk.

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
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.load import rejected_rows_of_file
from etl.receipts import write_rejected_csv

log = logging.getLogger("mashaghel")

LIKELY_COLUMN = "likely_national_id"


def match_suspects(engine: Engine, threshold: float | None = None, max_cluster: int | None = None) -> dict:
    """Score, store and flag suspected duplicates; returns the run's figures.

    ``threshold`` and ``max_cluster`` default to the model's (settings ``match_threshold``
    and ``match_max_cluster``, MASHAGHEL_MATCH_* or the Airflow Variables, override them).

    ``published`` is false (and ``detail`` says why) when the largest cluster is too large:
    then nothing but the ``match_run`` row was written.
    """
    from etl.match import (
        DEFAULT_MAX_CLUSTER,
        DEFAULT_THRESHOLD,
        ClusterTooLarge,
        find_suspected_duplicates,
        read_match_inputs,
    )

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    max_cluster = DEFAULT_MAX_CLUSTER if max_cluster is None else max_cluster
    persons, refused = read_match_inputs(engine)
    refusal: ClusterTooLarge | None = None
    try:
        result = find_suspected_duplicates(persons, refused, threshold=threshold, max_cluster=max_cluster)
    except ClusterTooLarge as error:
        result, refusal = error.result, error
    figures = {**result.summary(), "max_cluster": max_cluster, "published": refusal is None,
               "detail": f"{refusal}; the matches published before stay in place" if refusal else None}
    with engine.begin() as connection:
        run_id = _record_run(connection, figures)
        if refusal is None:
            renamed = {"agreeing": "agreeing_fields", "similar": "similar_fields"}  # SIMILAR is an SQL keyword
            _replace(connection, "suspected_duplicate_pair",
                     result.pairs.rename(columns=renamed).assign(match_run_id=run_id),
                     ("national_id_l", "national_id_r", "match_probability", "match_weight", "agreeing_fields",
                      "similar_fields", "province_l", "province_r", "cluster_id", "match_run_id"))
            _replace(connection, "suspected_id_typo",
                     result.refused_links.rename(columns=renamed).assign(match_run_id=run_id),
                     ("file_id", "line_number", "province_code", "source", "national_id_sent", "national_id",
                      "match_probability", "match_weight", "agreeing_fields", "similar_fields", "id_fix",
                      "match_run_id"))
            connection.exec_driver_sql(
                "UPDATE person SET suspected_duplicate = national_id IN ("
                "SELECT national_id_l FROM suspected_duplicate_pair"
                " UNION SELECT national_id_r FROM suspected_duplicate_pair)"
            )
    if refusal is not None:
        log.error("suspected duplicates not published: %s", figures["detail"])
        return figures
    log.info("suspected duplicates: %s", json.dumps(figures, ensure_ascii=False))
    rewrite_rejected_files(engine)
    return figures


def _record_run(connection: Connection, figures: dict) -> int:
    values = {key: figures[key] for key in (
        "persons", "refused_rows", "comparisons", "refused_comparisons", "pairs", "refused_links",
        "largest_cluster", "threshold", "max_cluster", "model", "published", "seconds", "detail")}
    values["run_at"] = dt.datetime.now(dt.UTC)
    columns = list(values)
    return int(connection.execute(sa.text(
        f"INSERT INTO match_run ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
        " RETURNING match_run_id"), values).scalar_one())


def _replace(connection: Connection, table: str, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """Make ``table`` hold exactly the rows of ``frame`` (a few thousand at most: plain inserts)."""
    connection.exec_driver_sql(f"DELETE FROM {table}")
    if frame.empty:
        return
    rows = frame[list(columns)].astype(object).where(frame[list(columns)].notna(), None)
    connection.execute(
        sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
        [{key: _plain(value) for key, value in row.items()} for row in rows.to_dict("records")],
    )


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


def rewrite_rejected_files(engine: Engine) -> int:
    """Write again the ``.rejected.csv`` of every file with a refused row that names a likely person.

    The file gains a column ``likely_national_id``: the ID the row probably meant.
    Returns the files written.
    """
    with engine.connect() as connection:
        files = connection.execute(sa.text(
            "SELECT f.file_id, f.header, f.receipt_path FROM ingest_file AS f"
            " WHERE f.file_id IN (SELECT file_id FROM suspected_id_typo) AND f.archived_at IS NOT NULL"
        )).all()
        likely = connection.execute(sa.text(
            "SELECT file_id, line_number, national_id FROM suspected_id_typo")).all()
        refused = {file_id: rejected_rows_of_file(connection, file_id) for file_id, _, _ in files}
    by_row = {(file_id, line): national_id for file_id, line, national_id in likely}
    for file_id, header, receipt_path in files:
        path = Path(receipt_path.removesuffix(".receipt.json") + ".rejected.csv")
        write_rejected_csv(path, json.loads(header or "[]"), refused[file_id],
                           extra={LIKELY_COLUMN: {line: by_row.get((file_id, line), "")
                                                  for line, _, _ in refused[file_id]}})
    return len(files)
