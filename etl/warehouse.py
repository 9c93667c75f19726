"""The warehouse: connecting, migrating and seeding reference data, on SQLite or PostgreSQL."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from etl.access import PERSONAL_SCHEMA, SEARCH_PATH, apply_access_rules

REPO_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = REPO_ROOT / "sql"
REFERENCE_DIR = SQL_DIR / "reference"


class WarehouseUnavailable(RuntimeError):
    """The warehouse could not be reached or prepared."""


def normalise_url(url: str) -> sa.URL:
    """A SQLAlchemy URL; plain ``postgresql://`` and ``postgres://`` use psycopg 3."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_warehouse_engine(url: str) -> Engine:
    """An engine for the warehouse; SQLite files get their folder, WAL and foreign keys."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # Unqualified names find the personal tables first, then the reporting layer (etl/access.py).
    # No JIT compilation: the pipeline's statements are many and short next to what PostgreSQL
    # spends compiling them (a daily increment's person.sql: 1.5 of its 3.6 s, docs/performance.md).
    options = f"-c search_path={SEARCH_PATH.replace(' ', '')} -c jit=off"
    return sa.create_engine(parsed, pool_pre_ping=True, connect_args={"options": options})


def check_reachable(engine: Engine) -> None:
    """Raise WarehouseUnavailable with a clear message when the warehouse does not answer."""
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        target = engine.url.render_as_string(hide_password=True)
        raise WarehouseUnavailable(f"warehouse {target} is unreachable: {error.__cause__ or error}") from error


MIGRATION_LOCK = 72_360_001  # advisory lock taken by every migration on PostgreSQL


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic and refresh the reference tables, in one transaction.

    On PostgreSQL concurrent runs wait for each other here (an advisory lock), and
    whenever the revision changed the access rules and the data dictionary's
    comments are applied again, so objects of every revision get the same owner,
    grants and descriptions.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", str(SQL_DIR / "migrations"))
    with engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        else:  # one transaction (pysqlite would commit each DDL statement), concurrent runs queue here
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
        if postgres and before != after and _has_schema(connection, PERSONAL_SCHEMA):
            from etl.dictionary import apply_comments

            apply_access_rules(connection)
            apply_comments(connection)
        seed_reference(connection)


def _has_schema(connection: sa.Connection, name: str) -> bool:
    return bool(connection.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :n"), {"n": name}).first())


def current_revision(engine: Engine) -> str | None:
    """The schema revision the warehouse is at, or None when it has none."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _read_csv(name: str) -> list[dict[str, str]]:
    with (REFERENCE_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def seed_reference(connection: sa.Connection) -> None:
    """Make ref_province and ref_loan_cap equal to the CSVs in sql/reference."""
    provinces = _read_csv("provinces.csv")
    caps = _read_csv("loan_caps.csv")
    connection.execute(sa.text("DELETE FROM ref_province"))
    connection.execute(
        sa.text(
            "INSERT INTO ref_province (province_code, sci_code, name_fa, name_en, center_fa, center_en)"
            " VALUES (:iso_code, :sci_code, :name_fa, :name_en, :center_fa, :center_en)"
        ),
        provinces,
    )
    connection.execute(sa.text("DELETE FROM ref_loan_cap"))
    connection.execute(
        sa.text(
            "INSERT INTO ref_loan_cap (jalali_year, loan_type, cap_rial, source)"
            " VALUES (:jalali_year, :loan_type, :cap_rial, :source)"
        ),
        [{**cap, "jalali_year": int(cap["jalali_year"]), "cap_rial": int(cap["cap_rial"])} for cap in caps],
    )


def province_rows() -> list[dict[str, str]]:
    """The 31 provinces of sql/reference/provinces.csv."""
    return _read_csv("provinces.csv")


# A statement that writes at least this many rows, and at least this share of the table's rows,
# writes into the bare table and builds its indexes afterwards (indexes_built_after).
REBUILD_ROWS = 100_000
REBUILD_SHARE = 0.5


def rewrites_most(rows: int, table_rows: int | Callable[[], int]) -> bool:
    """Whether writing ``rows`` into a table of ``table_rows`` is worth building its indexes afresh
    (``table_rows`` may be a function that counts them: called only when ``rows`` is many)."""
    if rows < REBUILD_ROWS:
        return False
    return rows >= REBUILD_SHARE * (table_rows() if callable(table_rows) else table_rows)


@contextmanager
def indexes_built_after(connection: Connection, table: str) -> Iterator[None]:
    """On PostgreSQL, drop ``table``'s indexes and primary key for the block and build them again after it:
    most of a table is written faster into a bare table and then sorted once per index. Until the
    transaction ends the table is held exclusively (readers wait rather than see the old rows)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    found = connection.execute(
        sa.text(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid), k.conname, pg_get_constraintdef(k.oid)"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid"
            " WHERE i.indrelid = CAST(:table AS regclass) ORDER BY k.conname NULLS LAST, c.relname"
        ),
        {"table": table},
    ).all()
    for index, _definition, constraint, _constraint_definition in found:
        if constraint:
            connection.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
        else:
            connection.exec_driver_sql(f'DROP INDEX "{index}"')
    yield
    for _index, definition, constraint, constraint_definition in found:
        if constraint:
            connection.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {constraint_definition}')
        else:
            connection.exec_driver_sql(definition)


def empty_queue(connection: Connection, table: str) -> None:
    """Remove every row of a work queue whose writers this transaction has locked out (``lock_table``).

    On PostgreSQL a TRUNCATE, which frees the table's pages at commit: a DELETE leaves every row
    behind as a dead tuple until autovacuum comes by, and each later read of the queue scans them
    (71 MB after a national load, read by every increment until then). SQLite deletes.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"TRUNCATE {table}")
    else:
        connection.exec_driver_sql(f"DELETE FROM {table}")
