# Environment for a local Airflow on the embedded warehouse: `. scripts/airflow-env.sh`.
# Used by `make airflow` and `make demo`; everything lives under ./data.
here="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export PATH="$here/.venv/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$here/data/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$here/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:${AIRFLOW__API__PORT}/execution/"
export MASHAGHEL_INGEST_ROOT="${MASHAGHEL_INGEST_ROOT:-$here/data/ingest}"
export MASHAGHEL_ARCHIVE_ROOT="${MASHAGHEL_ARCHIVE_ROOT:-$here/data/archive}"
export MASHAGHEL_OUTBOX_ROOT="${MASHAGHEL_OUTBOX_ROOT:-$here/data/outbox}"
export MASHAGHEL_WAREHOUSE="${MASHAGHEL_WAREHOUSE:-sqlite:///$here/data/warehouse.sqlite}"
export MASHAGHEL_SETTLE_SECONDS="${MASHAGHEL_SETTLE_SECONDS:-0}"
mkdir -p "$AIRFLOW_HOME" "$MASHAGHEL_INGEST_ROOT" "$MASHAGHEL_ARCHIVE_ROOT" "$MASHAGHEL_OUTBOX_ROOT"
[ -f "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ] || echo '{"admin": "admin"}' > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
