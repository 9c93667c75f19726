"""docker-compose.yml holds together: one environment and secret for every Airflow component."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "celery worker", "triggerer"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def airflow_services(compose: dict) -> dict[str, dict]:
    return {name: spec for name, spec in compose["services"].items() if name.startswith("airflow-")}


def test_every_component_of_the_official_topology_is_there(compose):
    commands = {spec["command"] for spec in airflow_services(compose).values() if isinstance(spec["command"], str)}
    assert commands >= AIRFLOW_COMMANDS
    assert {"postgres", "warehouse", "redis", "airflow-init"} <= set(compose["services"])


def test_every_airflow_service_shares_one_environment_and_secret(compose):
    services = airflow_services(compose)
    reference = services["airflow-scheduler"]["environment"]
    assert reference["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert reference["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # One pseudonym key for every worker, required (no silent per-container key file).
    assert reference["MASHAGHEL_PSEUDONYM_KEY"].startswith("${MASHAGHEL_PSEUDONYM_KEY:?")
    for name, spec in services.items():
        environment = spec["environment"]
        for key, value in reference.items():
            assert environment.get(key) == value, f"{name}: {key}"


def test_the_folders_the_dags_read_are_mounted_in_every_airflow_service(compose):
    for name, spec in airflow_services(compose).items():
        targets = {volume.rsplit(":", 1)[1] for volume in spec["volumes"]}
        for option in ("MASHAGHEL_INGEST_ROOT", "MASHAGHEL_ARCHIVE_ROOT", "MASHAGHEL_OUTBOX_ROOT"):
            assert spec["environment"][option] in targets, f"{name}: {option}"


def test_the_warehouse_connection_points_at_the_warehouse_service(compose):
    url = compose["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_WAREHOUSE"]
    assert url.startswith("postgresql://") and "@warehouse:5432/" in url
    assert compose["services"]["warehouse"]["image"].startswith("postgres:")


def test_the_image_installs_the_project_from_its_lock():
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY requirements.lock" in dockerfile and "uv pip sync" in dockerfile
    assert "--no-deps -e ." in dockerfile
    for folder in ("etl", "sql", "expectations", "dags"):
        assert f"COPY {folder} " in dockerfile
