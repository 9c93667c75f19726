"""Shared fixtures: warehouses on SQLite and on a throw-away PostgreSQL database."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]

# Airflow reads its configuration when first imported: a throw-away home and SQLite metadata per
# test process, the project's DAG folder, and no deadline alerts (they break dag.test() in 3.3).
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="mashaghel-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ["MASHAGHEL_DISABLE_DEADLINES"] = "1"
os.environ["MASHAGHEL_RETRY_DELAY_SECONDS"] = "0.2"

POSTGRES_ADMIN_URL = os.environ.get("MASHAGHEL_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_answers() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:
        return f"no PostgreSQL server answers at {POSTGRES_ADMIN_URL}: {type(error).__name__}"


def require_postgres() -> None:
    """Skip with the reason when no server answers; in CI (CI=true) fail instead."""
    problem = _postgres_answers()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)


def create_postgres_database() -> str:
    """A new, empty database on the local server; returns its URL."""
    name = f"mashaghel_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = sa.make_url(url).database
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path) -> Iterator[str]:
    """The same test on the embedded SQLite warehouse and on a throw-away PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
        return
    require_postgres()
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="module")
def dagbag():
    """The project's DAG folder, parsed (no metadata database needed)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh SQLite metadata database for dag.test(), once per test process."""
    from airflow.utils import db

    db.resetdb()


ANALYST_LOGIN = "mashaghel_test_analyst"


def analyst_url(url: str) -> str:
    """The URL of ``url``'s database for a login role that is a member of mashaghel_analyst (trust auth)."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(
            "DO $$ BEGIN"
            f" CREATE ROLE {ANALYST_LOGIN} LOGIN IN ROLE mashaghel_analyst;"
            " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    admin.dispose()
    return sa.make_url(url).set(username=ANALYST_LOGIN, password=None).render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def _pseudonym_key_left_as_found() -> Iterator[None]:
    """A test that sets MASHAGHEL_PSEUDONYM_KEY (the reliability kit's settings do) leaves the environment
    as it found it: a key left behind would meet a warehouse of a later test made with another key."""
    before = os.environ.get("MASHAGHEL_PSEUDONYM_KEY")
    yield
    if before is None:
        os.environ.pop("MASHAGHEL_PSEUDONYM_KEY", None)
    else:
        os.environ["MASHAGHEL_PSEUDONYM_KEY"] = before
