"""The key table's indexes, dropped while most of it is rewritten, come back as they were."""

from __future__ import annotations

import pytest

from etl.warehouse import create_warehouse_engine, indexes_built_after, migrate
from tests.conftest import create_postgres_database, drop_postgres_database, require_postgres

INDEXES = (
    "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisprimary FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = CAST('match_identity' AS regclass) ORDER BY 1"
)


@pytest.mark.postgres
def test_indexes_and_primary_key_are_built_again():
    """PostgreSQL only: on SQLite the indexes are kept and maintained."""
    require_postgres()
    url = create_postgres_database()
    engine = create_warehouse_engine(url)
    try:
        migrate(engine)
        with engine.begin() as connection:
            before = connection.exec_driver_sql(INDEXES).all()
            with indexes_built_after(connection, "match_identity"):
                assert connection.exec_driver_sql(INDEXES).all() == []
                connection.exec_driver_sql(
                    "INSERT INTO match_identity (unique_id, national_id) VALUES ('r-1', '0013542419')"
                )
            after = connection.exec_driver_sql(INDEXES).all()
        assert before and after == before
        assert any(primary for _name, _definition, primary in after)
    finally:
        engine.dispose()
        drop_postgres_database(url)
