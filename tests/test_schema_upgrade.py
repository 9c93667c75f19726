"""Schema changes keep the data: a warehouse loaded by the previous release (the code of the commit
before the head migration was added, taken from git), upgraded to head by this one, keeps every row,
and its views equal the truth, then and after loading more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from etl.pipeline import run
from etl.warehouse import REPO_ROOT, SQL_DIR, create_warehouse_engine, current_revision, migrate
from tests.reliability_kit import Roots, sample_plan
from tests.test_pipeline import assert_matches_truth

# Filled by the head migration itself, by design: every national ID waits for its matches.
FILLED_BY_UPGRADE = {"match_pending"}


def previous_revision() -> str:
    """The revision just before head (whatever head is when the test runs)."""
    config = Config()
    config.set_main_option("script_location", str(SQL_DIR / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    previous = ScriptDirectory.from_config(config).get_revision(head).down_revision
    assert isinstance(previous, str), f"head {head} has no single previous revision"
    return previous


def previous_release(target: Path) -> Path:
    """The tree of the commit before the one that added the head migration, unpacked under ``target``."""
    config = Config()
    config.set_main_option("script_location", str(SQL_DIR / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    head_file = ScriptDirectory.from_config(config).get_revision(head).path

    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, check=True).stdout

    added = git("log", "--diff-filter=A", "--format=%H", "--", os.path.relpath(head_file, REPO_ROOT)).split()
    assert added, f"the head migration {head_file} is not committed: commit it to test the upgrade"
    with tarfile.open(fileobj=BytesIO(git("archive", "--format=tar", f"{added[-1].decode()}^"))) as archive:
        archive.extractall(target, filter="data")
    return target


def every_row(engine: sa.Engine, columns: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Every row of every table, sorted; all columns, or only the given ones of each table."""
    inspector = sa.inspect(engine)
    with engine.connect() as connection:
        names = (
            connection.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
                    " AND table_schema = ANY (current_schemas(false))"
                )
            )
            .scalars()
            .all()
            if engine.dialect.name == "postgresql"
            else inspector.get_table_names()
        )
        found = {}
        for name in names:
            if name == "alembic_version":
                continue
            rows = connection.execute(sa.text(f"SELECT * FROM {name}")).mappings().all()
            keep = (columns or {}).get(name) or list(rows[0].keys() if rows else [])
            found[name] = sorted(
                json.dumps({c: row[c] for c in keep}, default=str, sort_keys=True, ensure_ascii=False) for row in rows
            )
        return found


def columns_of(rows: dict[str, list[str]]) -> dict[str, list[str]]:
    return {table: list(json.loads(values[0])) for table, values in rows.items() if values}


def test_a_warehouse_loaded_by_the_previous_schema_keeps_every_row(tmp_path: Path, warehouse_url: str) -> None:
    """Loaded by the previous release; upgraded; every row kept; the views equal the truth, and go on
    doing so."""
    roots = Roots(tmp_path, warehouse_url).make()
    settings = roots.settings()
    plan = sample_plan()
    plan.write_batch(roots.ingest, 1)
    previous = previous_revision()
    engine = create_warehouse_engine(warehouse_url)
    try:
        code = previous_release(tmp_path / "previous-release")
        loaded = subprocess.run(
            [sys.executable, "-m", "etl", *roots.cli_args()],
            cwd=code,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(code)},
        )
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        assert current_revision(engine) == previous
        before = every_row(engine)
        assert sum(len(before[t]) for t in ("registration", "loan", "training_enrollment", "rejected_row")) > 150

        migrate(engine)
        assert current_revision(engine) != previous
        after = every_row(engine, columns_of(before))  # the columns a migration adds are new, not changes
        for table, rows in before.items():
            assert after[table] == rows, f"{table} changed in the upgrade"
        assert all(rows == [] for table, rows in after.items() if table not in before.keys() | FILLED_BY_UPGRADE)
    finally:
        engine.dispose()
    # The first run after the upgrade, with nothing new to load, recomputes what the new revision derives.
    assert run(settings).files_found == 0
    assert_matches_truth(settings, plan.truth(after_batch=1))

    # The upgraded warehouse goes on: batch 2 on top gives the truth after both batches.
    plan.write_batch(roots.ingest, 2)
    report = run(settings)
    assert report.failures == {}
    assert_matches_truth(settings, plan.truth(after_batch=2))
