"""The matching stage's guard: a giant cluster is not published, and the run says so.

That planted duplicate identities reach the views, the flag and the clerk's
.rejected.csv is held to the generated truth in tests/test_pipeline.py.
"""

from __future__ import annotations

from etl.cli import main
from etl.sample import build_plan
from tests.test_pipeline import query


def test_a_cluster_over_the_bound_is_not_published_and_the_run_says_so(tmp_path, monkeypatch, capsys):
    warehouse = f"sqlite:///{tmp_path / 'w.sqlite'}"
    ingest = tmp_path / "in"
    build_plan(persons=60).write_batch(ingest, 1)
    arguments = [
        "run",
        "--quiet",
        "--ingest-root",
        str(ingest),
        "--archive-root",
        str(tmp_path / "archive"),
        "--outbox-root",
        str(tmp_path / "outbox"),
        "--warehouse",
        warehouse,
    ]
    assert main(arguments) == 0
    published = query(warehouse, "SELECT national_id_l, national_id_r FROM suspected_duplicate_pair")
    assert published

    monkeypatch.setenv("MASHAGHEL_MATCH_MAX_CLUSTER", "1")  # every pair is now a "giant" cluster
    assert main(arguments) == 1
    assert "largest cluster" in capsys.readouterr().err
    assert query(warehouse, "SELECT national_id_l, national_id_r FROM suspected_duplicate_pair") == published
    runs = query(warehouse, "SELECT published, detail FROM match_run ORDER BY match_run_id")
    assert [bool(r["published"]) for r in runs] == [True, False] and "largest cluster" in runs[1]["detail"]
    assert (tmp_path / "outbox" / "national" / "rpt_province_summary.csv").exists()
