"""The analysts' example queries in sql/examples run on both warehouses, on loaded data."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.config import Settings
from etl.pipeline import run
from etl.sample import build_plan
from etl.warehouse import SQL_DIR, create_warehouse_engine
from tests.conftest import analyst_url

EXAMPLES = sorted((SQL_DIR / "examples").glob("*.sql"))


def test_there_are_examples_and_the_docs_show_each_one_as_it_is():
    docs = (SQL_DIR.parent / "docs" / "warehouse.md").read_text(encoding="utf-8")
    assert len(EXAMPLES) >= 7
    for example in EXAMPLES:
        marker = f"`sql/examples/{example.name}`"
        assert marker in docs, example.name
        shown = docs[docs.index("```sql\n", docs.index(marker)) + 7 :]
        assert shown[: shown.index("```")].strip() == example.read_text(encoding="utf-8").strip(), example.name


@pytest.fixture
def loaded_warehouse(tmp_path: Path, warehouse_url: str) -> str:
    settings = Settings(
        ingest_root=tmp_path / "in",
        archive_root=tmp_path / "archive",
        outbox_root=tmp_path / "outbox",
        warehouse=warehouse_url,
        settle_seconds=0,
    )
    build_plan(persons=60).write_batch(settings.ingest_root, 1)
    run(settings)
    return warehouse_url


def _results(url: str) -> dict[str, list]:
    engine = create_warehouse_engine(url)
    try:
        with engine.connect() as connection:
            return {
                example.name: connection.execute(sa.text(example.read_text(encoding="utf-8"))).all()
                for example in EXAMPLES
            }
    finally:
        engine.dispose()


def test_every_example_runs_and_returns_rows(loaded_warehouse):
    results = _results(loaded_warehouse)
    for example in EXAMPLES:
        assert results[example.name], example.name
    if loaded_warehouse.startswith("postgresql"):
        # Analysts run them as mashaghel_analyst, on the reporting layer: the same answers.
        assert _results(analyst_url(loaded_warehouse)) == results
