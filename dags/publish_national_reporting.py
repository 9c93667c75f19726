"""
### Publish national reporting

Runs when `ingest_provincial_drops` has loaded files (the `mashaghel_ingested`
asset), and by hand. Recomputes every person, their home province and flags
(`multi_registration`, `loan_only`, `unregistered_borrower`) from all loaded
records in one transaction; matches suspected duplicate identities (the same
person behind two national IDs, `suspected_duplicate`); checks that the reporting views add up and exports
them to `<outbox>/national/`; builds the GX Data Docs of the rules
(`<outbox>/national/rules/index.html`); writes the national report
(`<outbox>/national/report/index.html`, and `report.pdf` when Chromium is installed).
Emits the `mashaghel_published` asset.

* **Reads / writes**: the warehouse (`warehouse` connection or `MASHAGHEL_WAREHOUSE`)
  and the outbox. Idempotent: rerun it any time; it always recomputes from all data.
* **Deadline**: an alert fires when a run has not finished 30 minutes after it was
  queued. Set `MASHAGHEL_DISABLE_DEADLINES=1` to switch it off; it is off by itself
  under `airflow dags test` and in Airflow's unit-test mode, where Airflow 3.3 cannot
  run a DAG with a deadline.
"""

from __future__ import annotations

import datetime as dt
import os
import sys

from airflow.sdk import Asset, AsyncCallback, DeadlineAlert, DeadlineReference, dag, task

INGESTED = Asset(name="mashaghel_ingested", uri="mashaghel://warehouse/ingested")
PUBLISHED = Asset(name="mashaghel_published", uri="mashaghel://warehouse/published")


def _deadlines_wanted() -> bool:
    """Deadline alerts break `dag.test()` in Airflow 3.3 (apache/airflow#73428): off in tests.

    Off when MASHAGHEL_DISABLE_DEADLINES is set, in Airflow's unit-test mode, and
    under `airflow dags test`.
    """
    if os.environ.get("MASHAGHEL_DISABLE_DEADLINES"):
        return False
    if os.environ.get("AIRFLOW__CORE__UNIT_TEST_MODE", "").lower() in ("true", "1"):
        return False
    return sys.argv[1:3] != ["dags", "test"]


DEADLINE = (
    None
    if not _deadlines_wanted()
    else DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=dt.timedelta(minutes=30),
        callback=AsyncCallback("etl.alerts.on_publish_deadline", kwargs={"dag_id": "publish_national_reporting"}),
    )
)


PUBLISH_DOC = """Recomputes every person (home province, `multi_registration`, `loan_only`,
`unregistered_borrower`) from all loaded records in one transaction, matches suspected duplicate
identities (`rpt_suspected_duplicates`, the `suspected_duplicate` flag), checks that the reporting
views add up, and exports them to `<outbox>/national/`. Idempotent: rerun it any time."""
MATCHING_DOC = """Fails, without retrying, when the matching stage refused to publish its matches because
its largest cluster was over the bound (`MASHAGHEL_MATCH_MAX_CLUSTER` or the Variable
`mashaghel_match_max_cluster`): a giant cluster means matching broke. Everything else was published; the
previous matches stay. See the `match_run` table."""
RULES_DOC = """Builds the Great Expectations Data Docs of the row rules (the suites in `expectations/`)
into `<outbox>/national/rules/`, and emits the `mashaghel_published` asset."""
REPORT_DOC = """Writes the national report from the reporting views: `<outbox>/national/report/index.html`
(Persian, right to left, charts and font inside the folder) and `report.pdf` beside it when Chromium is
installed. Idempotent: each run replaces the previous report."""


@dag(
    dag_id="publish_national_reporting",
    schedule=[INGESTED],
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["mashaghel", "publish"],
    doc_md=__doc__,
    deadline=DEADLINE,
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=float(os.environ.get("MASHAGHEL_RETRY_DELAY_SECONDS", "30"))),
        "retry_exponential_backoff": 2.0,
    },
)
def publish_national_reporting():
    @task(doc_md=PUBLISH_DOC)
    def resolve_people_and_publish() -> dict:
        from etl.orchestration import resolve_and_publish, settings_from_airflow

        totals = resolve_and_publish(settings_from_airflow())
        print(f"published: {totals}")
        return totals

    @task(doc_md=RULES_DOC, outlets=[PUBLISHED])
    def build_rules_docs(totals: dict) -> str:
        from etl.orchestration import build_data_docs, settings_from_airflow

        index = build_data_docs(settings_from_airflow().outbox_root / "national" / "rules")
        print(f"Data Docs of the rules: {index}; national totals: {totals}")
        return index

    @task(doc_md=REPORT_DOC)
    def write_national_report(totals: dict) -> str:
        from etl.orchestration import settings_from_airflow
        from etl.report import default_out_dir, write_report
        from etl.warehouse import create_warehouse_engine

        settings = settings_from_airflow()
        engine = create_warehouse_engine(settings.warehouse)
        try:
            index = write_report(engine, default_out_dir(settings.outbox_root))
        finally:
            engine.dispose()
        print(f"national report: {index}; national totals: {totals}")
        return str(index)

    @task(doc_md=MATCHING_DOC)
    def check_suspected_duplicates(totals: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        matching = totals["matching"]
        print(f"suspected duplicates: {matching}")
        if not matching["published"]:
            raise AirflowFailException(matching["detail"])  # retrying would find the same giant cluster
        return matching

    totals = resolve_people_and_publish()
    build_rules_docs(totals)
    write_national_report(totals)
    check_suspected_duplicates(totals)


publish_national_reporting()
