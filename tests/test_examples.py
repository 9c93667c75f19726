"""The analysts' example queries in sql/examples run on both warehouses, on loaded data."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.config import Settings
from etl.pipeline import run
from etl.sample import build_plan
from etl.warehouse import SQL_DIR, create_warehouse_engine

EXAMPLES = sorted((SQL_DIR / "examples").glob("*.sql"))


def test_there_are_examples_and_the_docs_show_each_one():
    docs = (SQL_DIR.parent / "docs" / "warehouse.md").read_text(encoding="utf-8")
    assert len(EXAMPLES) >= 7
    for example in EXAMPLES:
        assert f"`sql/examples/{example.name}`" in docs, example.name


@pytest.fixture
def loaded_warehouse(tmp_path: Path, warehouse_url: str) -> str:
    settings = Settings(ingest_root=tmp_path / "in", archive_root=tmp_path / "archive",
                        outbox_root=tmp_path / "outbox", warehouse=warehouse_url, settle_seconds=0)
    build_plan(persons=60).write_batch(settings.ingest_root, 1)
    run(settings)
    return warehouse_url


def test_every_example_runs_and_returns_rows(loaded_warehouse):
    engine = create_warehouse_engine(loaded_warehouse)
    try:
        with engine.connect() as connection:
            for example in EXAMPLES:
                rows = connection.execute(sa.text(example.read_text(encoding="utf-8"))).all()
                assert rows, example.name
    finally:
        engine.dispose()
