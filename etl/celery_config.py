"""Celery settings for Mashaghel's workers: Airflow's defaults plus a preload.

Set ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=etl.celery_config.CELERY_CONFIG`` (the
compose file and the Celery test do).

Every mapped ``load_file`` task imports pandas and Great Expectations, 3-5 s of CPU a task on a 2-core
machine, times 84 files of the sample drop. The worker imports them once at start-up (Celery ``imports``),
before its pool forks, so every task process inherits them. Only the worker reads ``imports``.
"""

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

PRELOAD = ["great_expectations", "etl.orchestration", "etl.expectations"]
CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": [*DEFAULT_CELERY_CONFIG.get("imports", []), *PRELOAD]}
