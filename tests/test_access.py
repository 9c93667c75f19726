"""Who may read what on PostgreSQL: the analyst role reads the reporting layer and nothing else.

Everything here logs in as a member of ``mashaghel_analyst`` on a warehouse that the
pipeline loaded, and proves what the role can read, what it is refused, and that it
can write nothing. Also: a fresh and an upgraded warehouse end with the same
access rules, comments carry the data dictionary, and the pseudonym key never
reaches the warehouse.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.config import Settings
from etl.dictionary import documented_objects
from etl.pipeline import run
from etl.pseudonym import PseudonymKeyError, fingerprint, pseudonym, rekey
from etl.sample import build_plan
from etl.warehouse import create_warehouse_engine, migrate
from tests.conftest import analyst_url, create_postgres_database, drop_postgres_database, require_postgres

pytestmark = pytest.mark.postgres

KEY = "k" * 16 + "0123456789abcdef0123456789abcdef"
PERSONAL_COLUMNS = {
    "national_id",
    "first_name",
    "last_name",
    "father_name",
    "mobile",
    "birth_date",
    "raw",
    "extra",
    "birth_date_jalali_month",
}


@dataclass(frozen=True)
class Loaded:
    owner_url: str
    analyst_url: str
    settings: Settings


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Iterator[Loaded]:
    require_postgres()
    url = create_postgres_database()
    root = tmp_path_factory.mktemp("access")
    settings = Settings(
        ingest_root=root / "in",
        archive_root=root / "archive",
        outbox_root=root / "outbox",
        warehouse=url,
        pseudonym_key=KEY,
    )
    build_plan(persons=60).write_batch(settings.ingest_root, 1)
    report = run(settings)
    assert not report.failures
    try:
        yield Loaded(url, analyst_url(url), settings)
    finally:
        drop_postgres_database(url)


def _relations(url: str, schema: str) -> list[str]:
    engine = create_warehouse_engine(url)
    with engine.connect() as connection:
        names = (
            connection.execute(
                sa.text(
                    "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = :s AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY 1"
                ),
                {"s": schema},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    return list(names)


def _refused(url: str, statement: str) -> str:
    """Run ``statement`` in its own transaction; return the error class name (fails if it ran)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            try:
                connection.exec_driver_sql(statement)
            except sa.exc.DBAPIError as error:
                return type(error.orig).__name__
            finally:
                connection.rollback()
        raise AssertionError(f"the analyst could run: {statement}")
    finally:
        engine.dispose()


def test_the_analyst_reads_every_reporting_object_and_the_same_figures(loaded):
    reporting = _relations(loaded.owner_url, "reporting")
    assert {
        "rpt_province_summary",
        "rpt_monthly_loans",
        "rpt_quarantine_summary",
        "rpt_loan_cap_breaches",
        "registration",
        "loan",
        "training_enrollment",
        "person",
        "ref_province",
        "ref_loan_cap",
        "ingest_file",
        "rejected_row_reason",
    } <= set(reporting)
    owner = create_warehouse_engine(loaded.owner_url)
    analyst = sa.create_engine(loaded.analyst_url)
    with owner.connect() as as_owner, analyst.connect() as as_analyst:
        for name in reporting:
            rows = as_analyst.execute(sa.text(f"SELECT COUNT(*) FROM reporting.{name}")).scalar_one()
            assert rows == as_owner.execute(sa.text(f"SELECT COUNT(*) FROM reporting.{name}")).scalar_one()
        for view in ("rpt_province_summary", "rpt_monthly_loans", "rpt_quarantine_summary"):
            query = sa.text(f"SELECT * FROM {view} ORDER BY 1, 2, 3")  # unqualified, as analysts write it
            assert as_analyst.execute(query).all() == as_owner.execute(query).all()
        # The pseudonymised views hold the same records as the tables behind them.
        assert (
            as_analyst.execute(sa.text("SELECT COUNT(*), SUM(amount_rial) FROM loan")).one()
            == as_owner.execute(sa.text("SELECT COUNT(*), SUM(amount_rial) FROM personal.loan")).one()
        )
        persons = as_analyst.execute(sa.text("SELECT COUNT(DISTINCT person_pseudonym) FROM person")).scalar_one()
        assert persons == as_owner.execute(sa.text("SELECT COUNT(*) FROM person")).scalar_one() > 0
        assert as_analyst.execute(sa.text("SELECT COUNT(*) FROM person WHERE person_pseudonym IS NULL")).scalar() == 0
    owner.dispose()
    analyst.dispose()


def test_the_analyst_sees_no_personal_column_anywhere(loaded):
    analyst = sa.create_engine(loaded.analyst_url)
    with analyst.connect() as connection:
        visible = connection.execute(
            sa.text(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        ).all()
        readable_personal = (
            connection.execute(
                sa.text(
                    "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'personal' AND c.relkind IN ('r', 'v')"
                    " AND has_table_privilege(c.oid, 'SELECT')"
                )
            )
            .scalars()
            .all()
        )
    analyst.dispose()
    assert visible, "the analyst sees no columns at all"
    assert {schema for schema, _, _ in visible} == {"reporting"}
    assert [row for row in visible if row[2] in PERSONAL_COLUMNS] == []
    assert readable_personal == []


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM personal.registration",
        "SELECT * FROM personal.loan",
        "SELECT * FROM personal.training_enrollment",
        "SELECT * FROM personal.person",
        "SELECT * FROM personal.rejected_row",
        "SELECT * FROM personal.rpt_loan_cap_breaches",
        "SELECT * FROM personal.pseudonym_key",
        "SELECT * FROM public.alembic_version",
    ],
)
def test_the_analyst_is_refused_personal_data(loaded, statement):
    assert _refused(loaded.analyst_url, statement) == "InsufficientPrivilege"


def test_unqualified_personal_columns_do_not_exist_for_the_analyst(loaded):
    assert _refused(loaded.analyst_url, "SELECT national_id FROM loan") == "UndefinedColumn"
    assert _refused(loaded.analyst_url, "SELECT mobile FROM registration") == "UndefinedColumn"
    assert _refused(loaded.analyst_url, "SELECT raw FROM rejected_row") == "UndefinedTable"


def _write_statements(schema: str, name: str) -> list[str]:
    return [
        f"INSERT INTO {schema}.{name} SELECT * FROM {schema}.{name} LIMIT 1",
        f"UPDATE {schema}.{name} SET {_first_column(schema, name)} = {_first_column(schema, name)}",
        f"DELETE FROM {schema}.{name}",
        f"TRUNCATE {schema}.{name}",
        f"ALTER TABLE {schema}.{name} RENAME TO renamed",
        f"DROP VIEW IF EXISTS {schema}.{name}" if name.startswith("rpt_") else f"DROP TABLE {schema}.{name}",
    ]


_FIRST_COLUMNS: dict[tuple[str, str], str] = {}


def _first_column(schema: str, name: str) -> str:
    return _FIRST_COLUMNS[(schema, name)]


def test_the_analyst_can_write_nothing(loaded):
    owner = create_warehouse_engine(loaded.owner_url)
    with owner.connect() as connection:
        objects = connection.execute(
            sa.text(
                "SELECT table_schema, table_name, MIN(column_name) FROM information_schema.columns"
                " WHERE table_schema IN ('personal', 'reporting') GROUP BY 1, 2"
            )
        ).all()
    owner.dispose()
    _FIRST_COLUMNS.update({(schema, name): column for schema, name, column in objects})
    attempts = [statement for schema, name, _ in objects for statement in _write_statements(schema, name)]
    attempts += [
        "CREATE TABLE reporting.mine (a int)",
        "CREATE TABLE personal.mine (a int)",
        "CREATE TABLE public.mine (a int)",
        "CREATE TEMPORARY TABLE mine (a int)",
        "CREATE VIEW reporting.mine AS SELECT 1 AS a",
        "CREATE SCHEMA mine",
        "COMMENT ON TABLE reporting.ref_province IS 'mine'",
        "SELECT setval(pg_get_serial_sequence('reporting.ingest_file', 'file_id'), 1)",
    ]
    assert len(attempts) > 80
    allowed = [statement for statement in attempts if _refused_or_none(loaded.analyst_url, statement) is None]
    assert allowed == []


def _refused_or_none(url: str, statement: str) -> str | None:
    try:
        return _refused(url, statement)
    except AssertionError:
        return None


def test_default_privileges_cover_tables_the_pipeline_makes_later(loaded):
    owner = create_warehouse_engine(loaded.owner_url)
    analyst = sa.create_engine(loaded.analyst_url)
    try:
        with owner.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE reporting.later_table (a int)")
            connection.exec_driver_sql("INSERT INTO reporting.later_table VALUES (1)")
            connection.exec_driver_sql("CREATE TABLE personal.later_secret (a int)")
        with analyst.connect() as connection:
            assert connection.execute(sa.text("SELECT a FROM reporting.later_table")).scalar_one() == 1
        assert _refused(loaded.analyst_url, "SELECT * FROM personal.later_secret") == "InsufficientPrivilege"
        assert _refused(loaded.analyst_url, "INSERT INTO reporting.later_table VALUES (2)") == "InsufficientPrivilege"
    finally:
        with owner.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS reporting.later_table, personal.later_secret")
        owner.dispose()
        analyst.dispose()


def _access_snapshot(url: str) -> dict:
    """Schemas, objects, owners, privileges, default privileges, settings and comments of a warehouse."""
    engine = create_warehouse_engine(url)
    with engine.connect() as connection:

        def rows(query: str) -> list:
            return [tuple(map(str, row)) for row in connection.exec_driver_sql(query).all()]

        snapshot = {
            "schemas": rows(
                "SELECT nspname, pg_get_userbyid(nspowner), nspacl FROM pg_namespace"
                " WHERE nspname IN ('personal', 'reporting', 'public') ORDER BY 1"
            ),
            "objects": rows(
                "SELECT n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner), c.relacl,"
                " obj_description(c.oid, 'pg_class') FROM pg_class AS c"
                " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                " WHERE n.nspname IN ('personal', 'reporting', 'public') ORDER BY 1, 2"
            ),
            "columns": rows(
                "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),"
                " col_description(c.oid, a.attnum) FROM pg_attribute AS a"
                " JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                " WHERE n.nspname IN ('personal', 'reporting') AND a.attnum > 0 AND NOT a.attisdropped"
                " ORDER BY 1, 2, 3"
            ),
            "default_privileges": rows(
                "SELECT pg_get_userbyid(defaclrole) = current_user OR"
                " pg_get_userbyid(defaclrole) = 'mashaghel_owner', n.nspname,"
                " defaclobjtype, defaclacl FROM pg_default_acl AS d"
                " JOIN pg_namespace AS n ON n.oid = d.defaclnamespace ORDER BY 1, 2, 3"
            ),
            "settings": rows(
                "SELECT unnest(setconfig) FROM pg_db_role_setting AS s JOIN pg_database AS d"
                " ON d.oid = s.setdatabase WHERE d.datname = current_database() ORDER BY 1"
            ),
            "database": rows("SELECT datacl FROM pg_database WHERE datname = current_database()"),
        }
    engine.dispose()
    name = sa.make_url(url).database
    snapshot["database"] = [tuple(value.replace(name, "<db>") for value in row) for row in snapshot["database"]]
    return snapshot


def test_a_fresh_and_an_upgraded_warehouse_end_the_same():
    require_postgres()
    fresh, upgraded = create_postgres_database(), create_postgres_database()
    try:
        migrate(create_warehouse_engine(fresh))
        engine = create_warehouse_engine(upgraded)
        migrate(engine, "0001")
        migrate(engine)
        engine.dispose()
        first, second = _access_snapshot(fresh), _access_snapshot(upgraded)
        assert first["objects"], "nothing to compare"
        assert any("mashaghel_analyst" in str(row) for row in first["objects"])
        assert first == second
    finally:
        drop_postgres_database(fresh)
        drop_postgres_database(upgraded)


def test_comments_carry_the_data_dictionary(loaded):
    docs = documented_objects()
    engine = create_warehouse_engine(loaded.owner_url)
    with engine.connect() as connection:
        comments = connection.execute(
            sa.text(
                "SELECT n.nspname, c.relname, a.attname, col_description(c.oid, a.attnum),"
                " obj_description(c.oid, 'pg_class') FROM pg_attribute AS a"
                " JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                " WHERE n.nspname IN ('personal', 'reporting') AND c.relkind IN ('r', 'v')"
                " AND a.attnum > 0 AND NOT a.attisdropped"
            )
        ).all()
    engine.dispose()
    checked = 0
    for schema, relation, column, comment, table_comment in comments:
        if schema == "reporting":
            assert comment, f"reporting.{relation}.{column} has no description"
        if relation in docs and column in docs[relation].columns:
            assert comment == docs[relation].columns[column], f"{schema}.{relation}.{column}"
            assert table_comment == docs[relation].description
            checked += 1
    assert checked > 150
    assert docs["registration"].columns["national_id"].startswith("کد ملی")


def test_the_pseudonym_key_never_reaches_the_warehouse(loaded):
    url = sa.make_url(loaded.owner_url)
    dump = subprocess.run(
        ["pg_dump", "-h", url.host, "-p", str(url.port or 5432), "-U", url.username, url.database],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "COPY personal.person" in dump and len(dump) > 10_000
    key = KEY.encode()
    assert KEY not in dump and key.hex() not in dump
    assert fingerprint(key) in dump  # only its fingerprint
    engine = create_warehouse_engine(loaded.owner_url)
    with engine.connect() as connection:
        pairs = connection.execute(
            sa.text(
                "SELECT national_id, person_pseudonym FROM registration UNION"
                " SELECT national_id, person_pseudonym FROM loan UNION"
                " SELECT national_id, person_pseudonym FROM training_enrollment UNION"
                " SELECT national_id, person_pseudonym FROM person"
            )
        ).all()
    engine.dispose()
    assert len({nid for nid, _ in pairs}) == len(pairs) == len({p for _, p in pairs})  # one each way
    assert all(p == pseudonym(key, nid) for nid, p in pairs)


def test_another_key_is_refused_and_rekey_replaces_every_pseudonym(loaded, tmp_path: Path):
    other_key = "another-key-of-at-least-thirty-two-characters"
    other = Settings(**{**loaded.settings.__dict__, "pseudonym_key": other_key})
    with pytest.raises(PseudonymKeyError, match="rekey"):
        run(other)
    engine = create_warehouse_engine(loaded.owner_url)
    try:
        rekey(engine, other_key.encode())
        with engine.connect() as connection:
            pairs = connection.execute(
                sa.text(
                    "SELECT national_id, person_pseudonym FROM loan UNION"
                    " SELECT national_id, person_pseudonym FROM person"
                )
            ).all()
        assert pairs and all(p == pseudonym(other_key.encode(), nid) for nid, p in pairs)
        assert not run(other).failures  # the new key is now the warehouse's
    finally:
        rekey(engine, KEY.encode())
        engine.dispose()
