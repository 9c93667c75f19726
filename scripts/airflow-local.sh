#!/usr/bin/env bash
# `make airflow`: Airflow standalone on this machine (SQLite metadata, the project's DAGs,
# the embedded warehouse and the demo folders under ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/airflow-env.sh
airflow db migrate > "$AIRFLOW_HOME/migrate.log" 2>&1
python -m etl migrate > /dev/null
cat <<MSG
Airflow UI:   http://localhost:${AIRFLOW__API__PORT}   login: admin / admin
Drop files:   $MASHAGHEL_INGEST_ROOT/<IR-xx>/<applicants|loans|training>/
              (for a sample: .venv/bin/python -m etl sample --ingest-root $MASHAGHEL_INGEST_ROOT)
Receipts:     $MASHAGHEL_OUTBOX_ROOT      Warehouse: $MASHAGHEL_WAREHOUSE
Stop with Ctrl-C.
MSG
exec airflow standalone
