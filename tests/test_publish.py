"""Publish refuses numbers that do not add up, and checks the rows it exports."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from etl.publish import REPORTING_VIEWS, PublishError, broken_promises, publish, read_checked_views
from etl.warehouse import create_warehouse_engine, migrate


@pytest.fixture
def engine(warehouse_url):
    engine = create_warehouse_engine(warehouse_url)
    migrate(engine)
    yield engine
    engine.dispose()


def test_an_empty_warehouse_adds_up(engine, tmp_path):
    views = publish(engine, tmp_path)
    assert set(views) == set(REPORTING_VIEWS)
    assert len(views["rpt_province_summary"]) == 31
    assert all(row["persons"] == 0 and row["loans"] == 0 for row in views["rpt_province_summary"])
    assert (tmp_path / "national" / "rpt_province_summary.csv").exists()


def test_a_pair_without_flagged_persons_is_not_published(engine, tmp_path):
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO suspected_duplicate_pair (national_id_l, national_id_r, match_probability, match_weight,"
                " agreeing_fields, similar_fields, cluster_id, match_run_id)"
                " VALUES ('0013542419', '0067749828', 0.99, 12.0, 'name', '', '0013542419', 1)"
            )
        )
    with pytest.raises(PublishError, match="every person in a suspected pair is flagged, and only they: 0 != 2"):
        publish(engine, tmp_path)
    assert not (tmp_path / "national").exists()
    with engine.connect() as connection, pytest.raises(PublishError):
        read_checked_views(connection, ("rpt_quarantine_summary",))


def test_each_promise_compares_the_view_sums_with_the_warehouse():
    figures = {
        "persons": 3,
        "live_loans": 2,
        "live_loan_amount": 500,
        "dated_live_loans": 1,
        "registrations": 4,
        "flagged_persons": 0,
        "paired_persons": 0,
        "provinces": 2,
    }
    summary = [
        {"persons": 2, "loans": 1, "loan_amount_rial": 300, "registrations": 4, "suspected_duplicate_persons": 0},
        {"persons": 1, "loans": 1, "loan_amount_rial": 200, "registrations": 0, "suspected_duplicate_persons": 0},
    ]
    views = {"rpt_province_summary": summary, "rpt_monthly_loans": [{"loans": 1}]}
    assert broken_promises(figures, views) == []
    summary[1]["loan_amount_rial"] = None
    views["rpt_monthly_loans"].append({"loans": 1})
    assert broken_promises(figures, views) == [
        "province loan amounts add up to all live loan amounts: 500 != 300",
        "monthly loans add up to all dated live loans: 1 != 2",
    ]
    assert broken_promises({**figures, "provinces": 31}, {**views, "rpt_monthly_loans": [{"loans": 1}]}) == [
        "province loan amounts add up to all live loan amounts: 500 != 300",
        "the province summary has the 31 provinces: 31 != 2",
    ]
