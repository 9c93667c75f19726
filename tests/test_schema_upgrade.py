"""Schema changes keep the data: a warehouse loaded under the revision before head, upgraded to head,
keeps every row, and its views equal the truth, then and after loading more.

The load under the previous revision uses today's load steps; a head revision that adds something
those steps write would need the previous release's code to load instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from etl.discover import discover
from etl.pipeline import _now, process_file, record_sightings, run
from etl.warehouse import SQL_DIR, create_warehouse_engine, current_revision, migrate
from tests.reliability_kit import Roots, sample_plan
from tests.test_pipeline import assert_matches_truth


def previous_revision() -> str:
    """The revision just before head (whatever head is when the test runs)."""
    config = Config()
    config.set_main_option("script_location", str(SQL_DIR / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    previous = ScriptDirectory.from_config(config).get_revision(head).down_revision
    assert isinstance(previous, str), f"head {head} has no single previous revision"
    return previous


def every_row(engine: sa.Engine, columns: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Every row of every table, sorted; all columns, or only the given ones of each table."""
    inspector = sa.inspect(engine)
    with engine.connect() as connection:
        names = (connection.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            " AND table_schema = ANY (current_schemas(false))")).scalars().all()
            if engine.dialect.name == "postgresql" else inspector.get_table_names())
        found = {}
        for name in names:
            if name == "alembic_version":
                continue
            rows = connection.execute(sa.text(f"SELECT * FROM {name}")).mappings().all()
            keep = (columns or {}).get(name) or list(rows[0].keys() if rows else [])
            found[name] = sorted(json.dumps({c: row[c] for c in keep}, default=str, sort_keys=True,
                                            ensure_ascii=False) for row in rows)
        return found


def columns_of(rows: dict[str, list[str]]) -> dict[str, list[str]]:
    return {table: list(json.loads(values[0])) for table, values in rows.items() if values}


def test_a_warehouse_loaded_by_the_previous_schema_keeps_every_row(tmp_path: Path, warehouse_url: str) -> None:
    """Loaded under the previous revision by the pipeline's load steps (people are derived, recomputed
    by every run); upgraded; every row kept; the views equal the truth, and go on doing so."""
    roots = Roots(tmp_path, warehouse_url).make()
    settings = roots.settings()
    plan = sample_plan()
    plan.write_batch(roots.ingest, 1)
    previous = previous_revision()
    engine = create_warehouse_engine(warehouse_url)
    try:
        migrate(engine, previous)
        assert current_revision(engine) == previous
        now = _now()
        files = discover(roots.ingest, 0, now.timestamp())
        sightings = record_sightings(engine, files, now)
        for dropped in sorted(files, key=lambda f: sightings[f.relative_path].seen_seq):
            process_file(engine, settings, dropped, sightings[dropped.relative_path], "before-upgrade")
        before = every_row(engine)
        assert sum(len(before[t]) for t in ("registration", "loan", "training_enrollment", "rejected_row")) > 150

        migrate(engine)
        assert current_revision(engine) != previous
        after = every_row(engine, columns_of(before))  # the columns a migration adds are new, not changes
        for table, rows in before.items():
            assert after[table] == rows, f"{table} changed in the upgrade"
        assert all(rows == [] for table, rows in after.items() if table not in before)
    finally:
        engine.dispose()
    # People and what is derived from them are recomputed by every run: one with nothing new to load.
    assert run(settings).files_found == 0
    assert_matches_truth(settings, plan.truth(after_batch=1))

    # The upgraded warehouse goes on: batch 2 on top gives the truth after both batches.
    plan.write_batch(roots.ingest, 2)
    report = run(settings)
    assert report.failures == {}
    assert_matches_truth(settings, plan.truth(after_batch=2))
