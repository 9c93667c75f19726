# Mashaghel's Airflow image: the official Python base, the project and its locked dependencies.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    MASHAGHEL_HOME=/opt/mashaghel \
    PATH=/opt/mashaghel/.venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 --gid 0 airflow

WORKDIR /opt/mashaghel
COPY requirements.lock pyproject.toml README.md ./
RUN python -m venv .venv \
    && .venv/bin/pip install --no-cache-dir uv==0.13.8 \
    && .venv/bin/uv pip sync --compile-bytecode --python .venv/bin/python requirements.lock
COPY etl ./etl
COPY sql ./sql
COPY expectations ./expectations
COPY dags ./dags
RUN .venv/bin/uv pip install --python .venv/bin/python --no-deps -e . \
    && mkdir -p /opt/airflow /data/ingest /data/archive /data/outbox \
    && chown -R airflow:0 /opt/airflow /data

USER airflow
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["version"]
