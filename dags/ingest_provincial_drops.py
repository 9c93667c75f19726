"""
### Ingest provincial drops

Every 10 minutes: finds the files provinces dropped under the ingest root
(`<root>/<IR-xx>/<applicants|loans|training>/`), then loads **each file in its own
mapped task** and one transaction: manifest row, upserted records and refused
rows. The file is then archived and a receipt (Persian and English) and its
refused rows are written to the outbox. A bad file refuses only itself; a file
whose task fails unexpectedly stays in the ingest folder and is retried with
exponential backoff.

* **Reads**: the ingest root (`mashaghel_ingest_root` Variable or `MASHAGHEL_INGEST_ROOT`).
* **Writes**: the warehouse (`warehouse` connection or `MASHAGHEL_WAREHOUSE`), the
  archive and the outbox; emits the `mashaghel_ingested` asset with the run's totals,
  which starts `publish_national_reporting`.
* **Rerun one file**: clear its mapped `load_file` task (the map index is the file's
  path); loading is idempotent. **Whole run**: trigger the DAG; files already
  loaded are duplicates and change nothing.
* **Params**: `province` limits a manual run to one province folder; `dry_run`
  judges files without loading, moving or receipting anything.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Asset, DeltaTriggerTimetable, Param, TriggerRule, dag, get_current_context, task

INGESTED = Asset(name="mashaghel_ingested", uri="mashaghel://warehouse/ingested")
RETRY_DELAY = dt.timedelta(seconds=float(os.environ.get("MASHAGHEL_RETRY_DELAY_SECONDS", "30")))


def _on_load_failure(context) -> None:
    """Name the file and the province whose load failed for good."""
    from etl.alerts import on_file_task_failure

    on_file_task_failure(context)


FIND_DOC = """Brings the warehouse schema up to date, lists the ready files under the ingest root
(in the order first seen, at most `max_map_length`; the rest wait for the next run) and records
when each was first seen. Copies of the same bytes as an earlier file of this run go to XCom
`repeat`. Safe to rerun."""
LOAD_DOC = """One file (the map index is its path): read, normalise, validate, and load in one transaction
(manifest row, records, refused rows); then archive it and write its receipt and `.rejected.csv`.
**Rerun**: clear this task; a file already loaded is recognised from the manifest."""
REPEATS_DOC = """Copies of files loaded by `load_file` in this run, taken after them so that the file seen
first is the one loaded and the copy is receipted as `duplicate_file`."""
CHECK_DOC = """Fails the run, after the totals were recorded and the asset emitted, when a file's task
failed for good, so the run shows red and names the files left in the ingest folder."""
TOTALS_DOC = """Logs the run's totals (files by status, rows loaded, rows refused by reason) and emits the
`mashaghel_ingested` asset with them, which starts `publish_national_reporting`. Skipped when
no file was taken, or on a dry run."""


@dag(
    dag_id="ingest_provincial_drops",
    schedule=DeltaTriggerTimetable(dt.timedelta(minutes=10)),
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["mashaghel", "ingest"],
    doc_md=__doc__,
    params={
        "province": Param(None, type=["null", "string"], description="only this province folder, e.g. IR-04"),
        "dry_run": Param(False, type="boolean", description="validate without loading, moving or receipting"),
    },
    default_args={
        "owner": "data-engineering",
        "retries": 3,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=10),
    },
)
def ingest_provincial_drops():
    @task(retries=2, doc_md=FIND_DOC)
    def find_ready_files() -> list[str]:
        from airflow.configuration import conf

        from etl.orchestration import find_ready_files as find
        from etl.orchestration import settings_from_airflow

        context = get_current_context()
        paths = find(
            settings_from_airflow(),
            province=context["params"]["province"] or None,
            limit=conf.getint("core", "max_map_length"),
        )
        print(f"{len(paths['first'])} ready files, {len(paths['repeat'])} repeated copies")
        context["ti"].xcom_push(key="repeat", value=paths["repeat"])
        return paths["first"]

    @task(
        doc_md=LOAD_DOC,
        map_index_template="{{ task.op_kwargs['relative_path'] }}",
        on_failure_callback=_on_load_failure,
    )
    def load_file(relative_path: str) -> dict:
        from etl.orchestration import describe, load_one_file, settings_from_airflow

        context = get_current_context()
        outcome = load_one_file(
            settings_from_airflow(), relative_path, run_id=context["run_id"], dry_run=context["params"]["dry_run"]
        )
        print(describe(outcome))
        return outcome

    @task(doc_md=REPEATS_DOC, trigger_rule=TriggerRule.ALL_DONE, on_failure_callback=_on_load_failure)
    def load_repeated_copies() -> list[dict]:
        from etl.orchestration import describe, load_one_file, settings_from_airflow

        context = get_current_context()
        outcomes = []
        for relative_path in context["ti"].xcom_pull(task_ids="find_ready_files", key="repeat") or []:
            outcome = load_one_file(
                settings_from_airflow(), relative_path, run_id=context["run_id"], dry_run=context["params"]["dry_run"]
            )
            print(describe(outcome))
            outcomes.append(outcome)
        return outcomes

    @task(doc_md=TOTALS_DOC, trigger_rule=TriggerRule.ALL_DONE, outlets=[INGESTED])
    def record_run_totals(outcomes, repeated_outcomes) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from etl.orchestration import run_totals

        context = get_current_context()
        totals = run_totals([o for o in [*outcomes, *(repeated_outcomes or [])] if o])
        print(f"run totals: {totals}")
        if totals["files"] == 0 or context["params"]["dry_run"]:
            raise AirflowSkipException("nothing loaded: nothing to publish")
        context["outlet_events"][INGESTED].extra = totals
        return totals

    @task(doc_md=CHECK_DOC, trigger_rule=TriggerRule.ALL_DONE)
    def fail_if_a_file_failed(outcomes, repeated_outcomes) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        context = get_current_context()
        found = (context["ti"].xcom_pull(task_ids="find_ready_files") or []) + (
            context["ti"].xcom_pull(task_ids="find_ready_files", key="repeat") or []
        )
        done = {o["relative_path"] for o in [*(outcomes or []), *(repeated_outcomes or [])] if o}
        failed = [path for path in found if path not in done]
        if failed:
            raise AirflowFailException(f"{len(failed)} file(s) failed and stay in the ingest folder: {failed}")

    ready = find_ready_files()
    loaded = load_file.expand(relative_path=ready)
    repeated = load_repeated_copies()
    ready >> loaded >> repeated
    totals = record_run_totals(loaded, repeated)
    totals >> fail_if_a_file_failed(loaded, repeated)


ingest_provincial_drops()
