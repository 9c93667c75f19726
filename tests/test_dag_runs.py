"""Both DAGs run the real pipeline on the sample drop with dag.test(), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest


@pytest.fixture
def drop(tmp_path, warehouse_url, monkeypatch):
    from etl.sample import build_plan

    roots = {name: tmp_path / name for name in ("ingest", "archive", "outbox")}
    for name, root in roots.items():
        monkeypatch.setenv(f"MASHAGHEL_{name.upper()}_ROOT", str(root))
    monkeypatch.setenv("MASHAGHEL_WAREHOUSE", warehouse_url)
    monkeypatch.setenv("MASHAGHEL_SETTLE_SECONDS", "0")
    plan = build_plan(persons=30)
    plan.write_batch(roots["ingest"], 1)
    return plan, roots, warehouse_url


def test_both_dags_load_the_sample_drop_to_the_true_views(dagbag, airflow_db, drop):
    from etl.config import Settings
    from tests.test_pipeline import assert_matches_truth, receipts

    plan, roots, url = drop
    assert dagbag.dags["ingest_provincial_drops"].test().state == "success"
    assert dagbag.dags["publish_national_reporting"].test().state == "success"
    truth = plan.truth(after_batch=1)
    settings = Settings(
        ingest_root=roots["ingest"], archive_root=roots["archive"], outbox_root=roots["outbox"], warehouse=url
    )
    assert_matches_truth(settings, truth)
    got = receipts(roots["outbox"])
    for relative, expected in truth["files"].items():
        assert {key: got[relative][key] for key in expected} == expected, relative
    assert (roots["outbox"] / "national" / "rules" / "index.html").exists()
