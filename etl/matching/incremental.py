"""An incremental match: keys kept in the warehouse, and only the pairs with a recomputed side scored.

The comparison and blocking keys of every identity row live in ``match_identity`` and those of
every row refused only for ``invalid_national_id`` in ``match_refused``. A match run:

1. takes the national IDs the resolve recomputed (``match_pending``) and numbers them into passes
   of at most ``ids_per_pass`` IDs (temporary table ``match_changed``);
2. recomputes the keys of those IDs' identity rows (one query, read in chunks) and keys the
   refused rows that have none yet;
3. reads, in one scan of the key table, the recomputed rows and every row sharing a blocking key
   with one of them or with a refused row to link again; DuckDB counts the rows of each such key
   (a key shared by more than the cap blocks nobody, as in a full run) and scores, pass after pass,
   the pairs whose smaller pass number is that pass: each pair with a recomputed side once, no
   pair of two untouched rows, and never more than one pass's pairs in memory;
4. links again the refused rows that are new or were linked to a recomputed person, against every
   person in their blocks; a refused row that only shares a block with a recomputed person is scored
   against the recomputed persons alone, and its stored link stays unless one of them scores higher.

Scores use the warehouse's whole figures, not the part read: the prior from the number of
identity rows, and the term frequencies of first and last names over all rows (registered in
Splink instead of those of its input). A pair with a recomputed side thus gets the score a full
run would give it now; a pair of two untouched IDs keeps the score of the run that last computed
it (``match_run_id``), which differs from a fresh computation only by the drift of the prior and
the name frequencies as the warehouse grows. A change of the model or its settings recomputes
everyone (etl/resolve.py: ``rules_fingerprint``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from sqlalchemy.engine import Connection

from etl.load import insert_frame, missing_as_none
from etl.matching import model as models
from etl.matching import prepare
from etl.matching.inputs import copy_csv, identity_chunks, query_chunks, query_frame, refused_rows
from etl.warehouse import indexes_built_after, rewrites_most

WORK_MEM = "256MB"  # PostgreSQL's memory per sort or hash in the matching transaction (default 4MB)
BROAD_SHARE = 0.25  # beyond this share of identity rows recomputed, every key row is read (the broad path)
# ... and beyond this many recomputed IDs: the neighbourhood read's hashed subqueries stay well inside
# PostgreSQL's hash_mem (docs/decisions.md), where a subquery too big would be scanned once per row.
NEAR_MAX_IDS = 1_000_000
OTHER_PASS = 1_000_000_000  # the pass number of a row that was not recomputed: after every pass
# Rows of keys read at once into pandas (the key refresh) or into a Parquet file (SQLite's reads): what
# bounds the memory of a full match, whatever the passes' size (a full match of the national drop peaked
# at 2,077 MB when the refresh read 400,000 rows at a time, and at 925 MB in chunks of 150,000).
KEY_CHUNK_ROWS = 150_000
# The key tables (and the recomputed rows' keys) are analysed again when more than this share of their
# rows was replaced (PostgreSQL's autovacuum analyses beyond 10% too); a daily increment's few rows leave
# the statistics as they were, and its 0.3 s of ANALYZE are saved (the planner sizes an unanalysed
# temporary table by its pages, which is enough for the hashed subqueries that read it).
ANALYSE_SHARE = 0.1
# Where an increment's persons are scored (DuckDB, which releases the GIL) while this thread links the refused rows.
_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score-persons")
ID_BLOCKS = {key: sql for key, sql in prepare.REFUSED_BLOCKS.items() if key not in prepare.PERSON_BLOCKS}
IDENTITY_BLOCKS = {**prepare.PERSON_BLOCKS, **ID_BLOCKS}  # every blocking key an identity row keeps
IDENTITY_COLUMNS = [*prepare.KEY_COLUMNS, *IDENTITY_BLOCKS]
NEAR_COLUMNS = [*prepare.KEY_COLUMNS, "match_pass"]  # the near rows (``_near_sql``): keys, blocks derived
REFUSED_COLUMNS = ["file_id", "line_number", "source", *prepare.KEY_COLUMNS, *prepare.REFUSED_BLOCKS]
NAME_COLUMNS = ("first_key", "last_key")  # the comparisons with term-frequency adjustments
# Cap of each refused-row block on the persons' side: the persons model's where it shares the key.
PERSON_CAPS = {
    key: prepare.BLOCK_CAP if key in prepare.PERSON_BLOCKS else prepare.REFUSED_BLOCK_CAP
    for key in prepare.REFUSED_BLOCKS
}


@dataclass
class Scored:
    """What an incremental match scored: identity-row pairs at or above the threshold and refused-row
    links, with the rows they were scored on."""

    pairs: pd.DataFrame
    links: pd.DataFrame
    refused: pd.DataFrame  # the refused rows linked again (their keys and where they come from)
    changed_ids: int
    passes: int
    identity_rows: int
    comparisons: int = 0
    refused_comparisons: int = 0


def _temporary(connection: Connection, name: str, columns: str) -> None:
    """A fresh temporary table for this transaction."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{name}")
        connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({columns}) ON COMMIT DROP")
    else:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{name}")
        connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({columns})")


def _analyse(connection: Connection, table: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ANALYZE {table}")


def _count(connection: Connection, sql: str) -> int:
    return int(connection.exec_driver_sql(sql).scalar_one())


def number_changed(connection: Connection, ids_per_pass: int) -> int:
    """Put the pending national IDs, each once and numbered into passes, in ``match_changed``;
    returns the number of passes."""
    _temporary(connection, "match_changed", "national_id VARCHAR(10) PRIMARY KEY, match_pass INTEGER NOT NULL")
    connection.exec_driver_sql(
        "INSERT INTO match_changed (national_id, match_pass)"
        f" SELECT national_id, (ROW_NUMBER() OVER (ORDER BY national_id) - 1) / {int(ids_per_pass)}"
        " FROM (SELECT DISTINCT national_id FROM match_pending) AS pending"
    )
    _analyse(connection, "match_changed")
    return _count(connection, "SELECT COALESCE(MAX(match_pass) + 1, 0) FROM match_changed")


def refresh_keys(connection: Connection, chunk_rows: int, changed_ids: int) -> int:
    """Replace the keys of the ``changed_ids`` recomputed IDs' identity rows (read ``chunk_rows`` at a
    time), copy their blocking keys into ``match_changed_rows`` and key the new refused rows (listed in
    ``match_refused_new``); returns the number of identity rows.

    When most of the key table is replaced (a national first run, a change of rules), its indexes are
    built again after the rows are written rather than maintained row by row."""
    chosen = "national_id IN (SELECT national_id FROM match_changed)"
    before = _count(connection, "SELECT COUNT(*) FROM match_identity")
    # The recomputed rows' blocking keys, read by every neighbourhood query that follows.
    columns = ", ".join(f"{key} TEXT" for key in IDENTITY_BLOCKS)
    _temporary(connection, "match_changed_rows", f"national_id VARCHAR(10) NOT NULL, {columns}")
    replaced = 0
    with indexes_built_after(connection, "match_identity") if rewrites_most(changed_ids, before) else nullcontext():
        deleted = connection.exec_driver_sql(f"DELETE FROM match_identity WHERE {chosen}").rowcount
        for identity in identity_chunks(connection, only=chosen, rows=chunk_rows):
            keys = prepare.with_blocking_keys(prepare.persons_keys(identity), IDENTITY_BLOCKS)
            insert_frame(connection, "match_identity", keys[IDENTITY_COLUMNS])
            insert_frame(connection, "match_changed_rows", keys[["national_id", *IDENTITY_BLOCKS]])
            replaced += len(keys)
    total = before - deleted + replaced
    if replaced > ANALYSE_SHARE * total:
        _analyse(connection, "match_identity")
        _analyse(connection, "match_changed_rows")
    refused = refused_rows(
        connection,
        only=(
            "NOT EXISTS (SELECT 1 FROM match_refused m WHERE m.file_id = rr.file_id AND m.line_number = rr.line_number)"
        ),
    )
    _temporary(connection, "match_refused_new", "unique_id TEXT PRIMARY KEY")
    if len(refused):
        keys = prepare.with_blocking_keys(prepare.refused_keys(refused), prepare.REFUSED_BLOCKS)
        keys = keys.assign(
            file_id=refused["file_id"].to_numpy(),
            line_number=refused["line_number"].to_numpy(),
            source=refused["source"].to_numpy(),
        )
        insert_frame(connection, "match_refused", keys[REFUSED_COLUMNS])
        insert_frame(connection, "match_refused_new", keys[["unique_id"]])
        if len(keys) > ANALYSE_SHARE * _count(connection, "SELECT COUNT(*) FROM match_refused"):
            _analyse(connection, "match_refused")
    return total


def to_duckdb(
    connection: Connection,
    con: duckdb.DuckDBPyConnection,
    name: str,
    sql: str,
    columns: list[str],
    chunk_rows: int = KEY_CHUNK_ROWS,
) -> int:
    """Copy the query's rows into DuckDB table ``name`` (text, markers as integers); returns the rows."""
    with staged_rows(connection, sql, columns, chunk_rows) as source:
        select = prepare.typed(columns)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {select} FROM {source} ORDER BY unique_id")
    return _rows(con, name)


@contextmanager
def staged_rows(
    connection: Connection, sql: str, columns: list[str], chunk_rows: int = KEY_CHUNK_ROWS
) -> Iterator[str]:
    """The query's rows in a temporary file, as a DuckDB table expression that any DuckDB connection
    can read (all text; read it once per connection that needs the rows, the warehouse only once).

    On PostgreSQL the rows go through COPY into a CSV file, so they are never Python objects. On SQLite
    they go ``chunk_rows`` at a time into Parquet files.
    """
    with tempfile.TemporaryDirectory(prefix="mashaghel-near-") as folder:
        if connection.dialect.name == "postgresql":
            path = Path(folder) / "rows.csv"
            with path.open("wb") as buffer:
                copy_csv(connection, sql, buffer)
            yield (
                f"read_csv({_literal(path)}, header = true, all_varchar = true, nullstr = '\\N', quote = '\"',"
                " escape = '\"')"
            )
            return
        scratch = duckdb.connect()  # one Parquet file per chunk: nothing gathers the rows in memory
        try:
            casts = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in columns)
            files = []
            for number, chunk in enumerate(query_chunks(connection, sql, chunk_rows)):
                files.append(Path(folder) / f"rows-{number}.parquet")
                scratch.register("chunk", missing_as_none(chunk))
                scratch.execute(f"COPY (SELECT {casts} FROM chunk) TO {_literal(files[-1])} (FORMAT parquet)")
                scratch.unregister("chunk")
            if not files:
                files.append(Path(folder) / "rows-none.parquet")
                nothing = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in columns)
                scratch.execute(f"COPY (SELECT {nothing} WHERE false) TO {_literal(files[-1])} (FORMAT parquet)")
        finally:
            scratch.close()
        yield f"read_parquet([{', '.join(_literal(path) for path in files)}])"


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _rows(con: duckdb.DuckDBPyConnection, name: str) -> int:
    return int(con.execute(f"SELECT COUNT(*) FROM {name}").fetchall()[0][0])


def _frequencies(connection: Connection) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Term frequencies of the names over all identity rows (persons model), and over identity and
    refused rows together (refused-row model): as Splink computes them over its whole input."""
    persons, both = {}, {}
    for column in NAME_COLUMNS:
        counts = {}
        for table in ("match_identity", "match_refused"):
            rows = connection.exec_driver_sql(
                f"SELECT {column}, COUNT(*) FROM {table} WHERE {column} IS NOT NULL GROUP BY {column}"
            ).all()
            counts[table] = pd.Series({value: n for value, n in rows}, dtype="float64")
        own = counts["match_identity"]
        joint = own.add(counts["match_refused"], fill_value=0)
        persons[column] = pd.DataFrame({column: own.index, f"tf_{column}": (own / max(own.sum(), 1)).to_numpy()})
        both[column] = pd.DataFrame({column: joint.index, f"tf_{column}": (joint / max(joint.sum(), 1)).to_numpy()})
    return persons, both


def _open_blocks(connection: Connection, chosen_rows: str, table: str, caps: dict[str, int], prefix: str) -> None:
    """Add to ``match_ok`` the blocking keys of the chosen rows shared by at most the cap of rows of ``table``."""
    for key, cap in caps.items():
        connection.exec_driver_sql(
            f"INSERT INTO match_ok (block, block_key) SELECT '{prefix}{key}', {key} FROM {table}"
            f" WHERE {key} IN (SELECT {key} FROM ({chosen_rows}) AS chosen) GROUP BY {key} HAVING COUNT(*) <= {cap}"
        )


def _refused_to_link(connection: Connection) -> pd.DataFrame:
    """The refused rows to link again, their blocking keys capped among the refused rows (open keys
    also in ``match_ok`` as ``refused:<key>``).

    ``relink`` is 1 on a refused row to be scored against every person in its blocks (a new row, or
    one linked to a recomputed person) and on a recomputed person; a pair is scored when one side
    has it. The other refused rows share a block with a recomputed person: only that can change.
    """
    _temporary(connection, "match_refused_todo", "unique_id TEXT PRIMARY KEY, relink INTEGER NOT NULL")
    sharing = "".join(
        f" UNION ALL SELECT r.unique_id, 0 FROM match_refused r WHERE r.{key} IN (SELECT {key} FROM match_changed_rows)"
        for key in prepare.REFUSED_BLOCKS
    )
    connection.exec_driver_sql(
        "INSERT INTO match_refused_todo (unique_id, relink) SELECT unique_id, MAX(relink) FROM ("
        " SELECT unique_id, 1 AS relink FROM match_refused_new"
        " UNION ALL SELECT r.unique_id, 1 FROM match_refused r JOIN suspected_id_typo t"
        " ON t.file_id = r.file_id AND t.line_number = r.line_number"
        f" JOIN match_changed c ON c.national_id = t.national_id{sharing}) AS todo GROUP BY unique_id"
    )
    _analyse(connection, "match_refused_todo")
    _temporary(
        connection, "match_ok", "block VARCHAR(40) NOT NULL, block_key TEXT NOT NULL, PRIMARY KEY (block, block_key)"
    )
    todo = "SELECT r.* FROM match_refused r JOIN match_refused_todo t ON t.unique_id = r.unique_id"
    _open_blocks(
        connection, todo, "match_refused", dict.fromkeys(prepare.REFUSED_BLOCKS, prepare.REFUSED_BLOCK_CAP), "refused:"
    )
    _analyse(connection, "match_ok")
    blocks = list(prepare.REFUSED_BLOCKS)
    return query_frame(
        connection,
        (
            f"SELECT {', '.join(f'r.{c}' for c in ['file_id', 'line_number', 'source', *prepare.KEY_COLUMNS])}, "
            + ", ".join(f"ok_{key}.block_key AS {key}" for key in blocks)
            + ", t.relink FROM match_refused r JOIN match_refused_todo t ON t.unique_id = r.unique_id"
            + "".join(
                f" LEFT JOIN match_ok AS ok_{key} ON ok_{key}.block = 'refused:{key}' AND ok_{key}.block_key = r.{key}"
                for key in blocks
            )
            + " ORDER BY r.unique_id"
        ),
    )


def _near_sql(persons: bool, refused: bool) -> str:
    """The identity rows that may take part in a scored pair: with ``persons``, the recomputed rows and
    every row sharing a blocking key with one; with ``refused``, every row sharing an open key with a
    refused row to link again (``refused:<key>`` in ``match_ok``).

    Every row that holds such a key is read, so the rows sharing it are counted exactly in DuckDB
    (:func:`_capped_persons`, :func:`_capped_refused_persons`), which also derives the blocking keys
    again rather than reading them. One scan of the key table, with a hashed subquery per key (small
    next to ``WORK_MEM``: the keys of at most ``NEAR_MAX_IDS`` recomputed IDs, or of the refused rows),
    instead of one scan to count each block and another to read the rows.
    """
    shares = []
    if persons:
        shares += ["c.national_id IS NOT NULL"]
        shares += [f"m.{key} IN (SELECT {key} FROM match_changed_rows)" for key in prepare.PERSON_BLOCKS]
    if refused:
        opened = "SELECT block_key FROM match_ok WHERE block = 'refused:{key}'"
        shares += [f"m.{key} IN ({opened.format(key=key)})" for key in prepare.REFUSED_BLOCKS]
    columns = ", ".join(f"m.{c}" for c in prepare.KEY_COLUMNS)
    return (
        f"SELECT {columns}, COALESCE(c.match_pass, {OTHER_PASS}) AS match_pass"
        " FROM match_identity m LEFT JOIN match_changed c ON c.national_id = m.national_id"
        f" WHERE {' OR '.join(shares)}"
    )


def _read_near(con: duckdb.DuckDBPyConnection, source: str, blocks: dict[str, str]) -> None:
    """DuckDB table ``near``: the near rows with their blocking keys ``blocks``, derived as when they were
    stored (:func:`etl.matching.prepare.with_blocking_keys`)."""
    derived = ", ".join(f"{sql} AS {key}" for key, sql in blocks.items())
    con.execute(
        f"CREATE OR REPLACE TABLE near AS SELECT *, {derived} FROM (SELECT {prepare.typed(NEAR_COLUMNS)} FROM {source})"
    )


def _open_in_near(key: str, condition: str) -> str:
    """A join to the keys of ``near`` that meet ``condition`` (over the rows sharing the key): ``o_<key>``."""
    return (
        f" LEFT JOIN (SELECT {key} FROM near WHERE {key} IS NOT NULL GROUP BY {key} HAVING {condition})"
        f" AS o_{key} ON o_{key}.{key} = near.{key}"
    )


def _capped_persons(con: duckdb.DuckDBPyConnection, source: str) -> int:
    """DuckDB table ``persons`` from the near rows: the recomputed rows and the rows sharing an open
    block with one (a key of a recomputed row that at most ``BLOCK_CAP`` rows share); returns its rows."""
    _read_near(con, source, prepare.PERSON_BLOCKS)
    blocks = list(prepare.PERSON_BLOCKS)
    opens = "".join(
        _open_in_near(key, f"COUNT(*) <= {prepare.BLOCK_CAP} AND bool_or(match_pass < {OTHER_PASS})") for key in blocks
    )
    con.execute(
        f"CREATE OR REPLACE TABLE persons AS SELECT {', '.join(f'near.{c}' for c in prepare.KEY_COLUMNS)}, "
        + ", ".join(f"o_{key}.{key} AS {key}" for key in blocks)
        + f", near.match_pass FROM near{opens}"
        + f" WHERE near.match_pass < {OTHER_PASS} OR "
        + " OR ".join(f"o_{key}.{key} IS NOT NULL" for key in blocks)
        + " ORDER BY near.unique_id"
    )
    con.execute("DROP TABLE near")
    return _rows(con, "persons")


def _capped_refused_persons(con: duckdb.DuckDBPyConnection, source: str) -> int:
    """DuckDB table ``persons`` from the near rows, to link the refused rows (table ``refused``) against.

    A key is open on the persons' side when it is open among the refused rows and at most the cap of
    identity rows share it; a person is read when it shares an open key with a refused row, and is
    recomputed (``relink`` 1) or shares an open key with a refused row to link against everyone.
    """
    _read_near(con, source, prepare.REFUSED_BLOCKS)
    blocks = list(prepare.REFUSED_BLOCKS)
    opens = "".join(
        _open_in_near(key, f"COUNT(*) <= {PERSON_CAPS[key]} AND {key} IN (SELECT {key} FROM refused)") for key in blocks
    )
    everyone = " OR ".join(
        f"o_{key}.{key} IN (SELECT {key} FROM refused WHERE relink = 1 AND {key} IS NOT NULL)" for key in blocks
    )
    con.execute(
        f"CREATE OR REPLACE TABLE persons AS SELECT {', '.join(f'near.{c}' for c in prepare.KEY_COLUMNS)}, "
        + ", ".join(f"o_{key}.{key} AS {key}" for key in blocks)
        + f", CASE WHEN near.match_pass < {OTHER_PASS} THEN 1 ELSE 0 END AS relink FROM near{opens}"
        + " WHERE ("
        + " OR ".join(f"o_{key}.{key} IS NOT NULL" for key in blocks)
        + f") AND (near.match_pass < {OTHER_PASS} OR {everyone}) ORDER BY near.unique_id"
    )
    con.execute("DROP TABLE near")
    return _rows(con, "persons")


def _load_broad_persons(connection: Connection, con: duckdb.DuckDBPyConnection, chunk_rows: int) -> int:
    """DuckDB table ``persons`` when many rows were recomputed: every row is copied and the blocks are
    counted in DuckDB, which is cheaper than finding the blocks of the recomputed rows in the warehouse;
    the rows that share no block with a recomputed one are scored in no pass. Returns its rows."""
    columns = [*prepare.KEY_COLUMNS, *prepare.PERSON_BLOCKS, "match_pass"]
    to_duckdb(
        connection,
        con,
        "persons_uncapped",
        (
            f"SELECT {', '.join(f'm.{c}' for c in columns[:-1])}, COALESCE(c.match_pass, {OTHER_PASS}) AS match_pass"
            " FROM match_identity m LEFT JOIN match_changed c ON c.national_id = m.national_id"
        ),
        columns,
        chunk_rows,
    )
    con.execute(
        f"CREATE OR REPLACE TABLE persons AS SELECT {', '.join(prepare.KEY_COLUMNS)},"
        f" {prepare.capped_keys(prepare.PERSON_BLOCKS, prepare.BLOCK_CAP)}, match_pass"
        " FROM persons_uncapped ORDER BY unique_id"
    )
    con.execute("DROP TABLE persons_uncapped")
    return _rows(con, "persons")


def _score_passes(
    con: duckdb.DuckDBPyConnection,
    settings: dict,
    frequencies: dict[str, pd.DataFrame],
    passes: int,
    threshold: float,
) -> tuple[list[pd.DataFrame], int]:
    """Score the pairs of table ``persons``, pass after pass: (pairs at or above the threshold, pairs scored)."""
    scored_pairs, comparisons = [], 0
    for current in range(passes):
        linker = models.linker(con, models.in_pass(settings, current), "persons")
        models.use_frequencies(linker, frequencies)
        scored, count = models.predict(linker, con, threshold)
        scored_pairs.append(scored)
        comparisons += count
    return scored_pairs, comparisons


def _score_near_persons(
    con: duckdb.DuckDBPyConnection,
    near: str,
    settings: dict,
    frequencies: dict[str, pd.DataFrame],
    passes: int,
    threshold: float,
) -> tuple[list[pd.DataFrame], int]:
    """Table ``persons`` from the near rows (``near``: a DuckDB table expression), then its pairs
    scored pass after pass (see _score_passes)."""
    if _capped_persons(con, near) < 2:
        return [], 0
    return _score_passes(con, settings, frequencies, passes, threshold)


def _score_refused(
    refused: pd.DataFrame,
    near: str | None,
    model: dict,
    total: int,
    frequencies: dict[str, pd.DataFrame],
    threshold: float,
    threads: int | None,
) -> tuple[pd.DataFrame, int]:
    """(links at or above the threshold, links scored) of the refused rows to link again, against the
    persons of the near rows (``near``: a DuckDB table expression)."""
    links, comparisons = pd.DataFrame(), 0
    if not len(refused) or near is None:
        return links, comparisons
    settings = models.with_prior(model["refused_model"], models.refused_prior(model, total))
    con = models.connection(threads)
    try:
        prepare.load_blocked(con, "refused", refused, [*prepare.KEY_COLUMNS, *prepare.REFUSED_BLOCKS, "relink"])
        if _capped_refused_persons(con, near):
            settings = models.restricted(settings, "l.relink = 1 OR r.relink = 1")
            linker = models.linker(con, settings, "refused", "persons")
            models.use_frequencies(linker, frequencies)
            links, comparisons = models.predict(linker, con, threshold)
    finally:
        con.close()
    return links, comparisons


def score_changes(
    connection: Connection, *, model: dict, threshold: float, ids_per_pass: int, threads: int | None = None
) -> Scored:
    """Refresh the keys of what changed and score every pair and link with a recomputed side.

    Leaves ``match_changed`` and ``match_refused_todo`` (the refused rows linked again) for the
    caller's transaction.
    """
    if connection.dialect.name == "postgresql":  # sorts and hashes of a national recompute stay in memory
        connection.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
    passes = number_changed(connection, ids_per_pass)
    changed_ids = _count(connection, "SELECT COUNT(*) FROM match_changed")
    total = refresh_keys(connection, KEY_CHUNK_ROWS, changed_ids)
    if not changed_ids and not _count(connection, "SELECT COUNT(*) FROM match_refused_new"):
        return Scored(
            pairs=pd.DataFrame(),
            links=pd.DataFrame(),
            refused=pd.DataFrame(),
            changed_ids=0,
            passes=0,
            identity_rows=total,
        )
    person_tf, joint_tf = _frequencies(connection)
    refused = _refused_to_link(connection)
    scored_pairs, comparisons = [], 0
    broad = changed_ids > min(BROAD_SHARE * total, NEAR_MAX_IDS)
    scores_persons = total >= 2 and changed_ids > 0
    person_scoring: Future | None = None
    con = None
    with ExitStack() as stack:
        near = None
        near_persons = scores_persons and not broad  # the broad path reads every key row itself
        if near_persons or len(refused):  # one read of the warehouse for both
            sql = _near_sql(persons=near_persons, refused=len(refused) > 0)
            near = stack.enter_context(staged_rows(connection, sql, NEAR_COLUMNS, KEY_CHUNK_ROWS))
        try:
            if scores_persons:
                con = models.connection(threads)
                settings = models.with_prior(model["persons_model"], models.person_prior(model, total))
                if not broad:  # one DuckDB reads and scores the persons while the refused rows are linked in another
                    person_scoring = _BACKGROUND.submit(
                        _score_near_persons, con, near, settings, person_tf, passes, threshold
                    )
                elif _load_broad_persons(connection, con, KEY_CHUNK_ROWS) >= 2:
                    # DuckDB has the memory to itself: closed before the refused rows are linked
                    scored_pairs, comparisons = _score_passes(con, settings, person_tf, passes, threshold)
            if person_scoring is None and con is not None:
                con.close()
                con = None
            links, refused_comparisons = _score_refused(refused, near, model, total, joint_tf, threshold, threads)
            if person_scoring is not None:
                scored_pairs, comparisons = person_scoring.result()
        finally:
            if person_scoring is not None:
                wait([person_scoring])  # the connection is closed only once nothing runs on it
            if con is not None:
                con.close()
    nonempty = [frame for frame in scored_pairs if len(frame)]
    return Scored(
        pairs=pd.concat(nonempty, ignore_index=True) if nonempty else pd.DataFrame(),
        links=links,
        refused=refused,
        changed_ids=changed_ids,
        passes=passes,
        identity_rows=total,
        comparisons=comparisons,
        refused_comparisons=refused_comparisons,
    )
