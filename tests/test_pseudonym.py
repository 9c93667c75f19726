"""Person pseudonyms: a keyed hash that is stable, key-dependent, and filled in for older rows."""

from __future__ import annotations

import stat

import pytest
import sqlalchemy as sa

from etl.config import Settings
from etl.pipeline import run
from etl.pseudonym import PseudonymKeyError, check_key, fingerprint, key_bytes, pseudonym, pseudonym_series
from etl.resolve import resolve_people
from etl.sample import build_plan
from etl.warehouse import create_warehouse_engine

KEY = b"0123456789abcdef0123456789abcdef"


def test_a_pseudonym_is_stable_depends_on_the_key_and_hides_the_id():
    first = pseudonym(KEY, "0012345679")
    assert first == pseudonym(KEY, "0012345679")
    assert first != pseudonym(KEY, "0012345680")
    assert first != pseudonym(b"another key of thirty-two bytes!", "0012345679")
    assert first.startswith("p-") and len(first) == 22 and "0012345679" not in first


def test_the_column_version_hashes_each_id_once_and_keeps_missing_values():
    import pandas as pd

    values = pd.Series(["0012345679", None, "0012345679", "0084575948"])
    result = pseudonym_series(KEY, values)
    assert result[0] == result[2] == pseudonym(KEY, "0012345679")
    assert pd.isna(result[1]) and result[3] == pseudonym(KEY, "0084575948")


def test_a_key_file_is_made_once_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "secrets" / "pseudonym.key"
    key = key_bytes("", path)
    assert key == key_bytes(None, path) and len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_bytes("x" * 40, path) == b"x" * 40  # a configured key wins over the file
    with pytest.raises(PseudonymKeyError, match="at least 32"):
        key_bytes("short", path)


def test_older_rows_get_their_pseudonyms_and_the_warehouse_knows_its_key_by_fingerprint(tmp_path, warehouse_url):
    settings = Settings(
        ingest_root=tmp_path / "in",
        archive_root=tmp_path / "archive",
        outbox_root=tmp_path / "outbox",
        warehouse=warehouse_url,
        pseudonym_key=KEY.decode(),
    )
    build_plan(persons=30).write_batch(settings.ingest_root, 1)
    assert not run(settings).failures
    engine = create_warehouse_engine(settings.warehouse)
    with engine.begin() as connection:  # as rows loaded before pseudonyms existed
        for table in ("registration", "loan", "training_enrollment", "person"):
            connection.execute(sa.text(f"UPDATE {table} SET person_pseudonym = NULL"))
    resolve_people(engine, KEY)
    with engine.connect() as connection:
        pairs = connection.execute(
            sa.text(
                "SELECT national_id, person_pseudonym FROM registration UNION ALL"
                " SELECT national_id, person_pseudonym FROM loan UNION ALL"
                " SELECT national_id, person_pseudonym FROM training_enrollment UNION ALL"
                " SELECT national_id, person_pseudonym FROM person"
            )
        ).all()
    assert len(pairs) > 50
    assert all(value == pseudonym(KEY, national_id) for national_id, value in pairs)

    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT fingerprint FROM pseudonym_key")).scalars().all()
    assert stored == [fingerprint(KEY)] and KEY.decode() not in stored[0]
    check_key(engine, KEY)  # the same key again is fine
    with pytest.raises(PseudonymKeyError, match="not the one this warehouse uses"):
        check_key(engine, b"another key of thirty-two bytes!")
    engine.dispose()
