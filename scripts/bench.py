"""`make bench`: the pipeline on a national drop, per stage, against PostgreSQL and SQLite.

Prints per warehouse a table and one JSON line: rows per second of each stage
(read, normalise, validate, load, resolve, publish) and end to end, the peak
resident memory of the pipeline process, the load stage as a ratio to a raw
COPY of the same rows into an empty table of the same shape (executemany INSERT
on SQLite), then a daily increment (31 provinces x 3 sources x --daily rows) on
the loaded warehouse and a rerun with nothing new.

Each pipeline run is a separate process (`python -m etl run`), so its peak
memory is its own. The figures are for comparing within one run: the machine
is shared and noisy, ratios hold where absolute seconds do not.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("MASHAGHEL_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
KEY = "bench-pseudonym-key-0123456789abcdef"
TABLES = ("registration", "loan", "training_enrollment")


def _pipeline(ingest: Path, work: Path, warehouse: str) -> dict:
    """One `python -m etl run` in its own process; its stage seconds, rows and peak memory."""
    env = {**os.environ, "MASHAGHEL_PSEUDONYM_KEY": KEY}
    command = [sys.executable, "-m", "etl", "run", "--quiet", "--timings", str(work / "timings.json"),
               "--ingest-root", str(ingest),
               "--archive-root", str(work / "archive"), "--outbox-root", str(work / "outbox"),
               "--warehouse", warehouse]
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        sys.exit(f"the pipeline failed ({finished.returncode}):\n{finished.stderr[-3000:]}")
    timings = json.loads((work / "timings.json").read_text())
    # The child's own peak (etl/timing.py: peak_rss_mb): RUSAGE_CHILDREN would report this process's
    # peak, which a child inherits across fork and exec, and the largest of all children so far.
    return {"seconds": seconds, "stages": timings["stages"], "peaks": timings["peak_rss_mb_after"],
            "rows_read": timings["rows_read"], "ingest_seconds": timings["ingest_seconds"],
            "rows_loaded": timings["rows_loaded"], "files": timings["files"],
            "peak_rss_mb": timings["peak_rss_mb"],
            "peak_rss_mb_validation_worker": timings.get("peak_rss_mb_validation_worker", 0.0),
            "summary": finished.stderr.strip()[-300:]}


def _raw_copy_rate(warehouse: str, indexed: bool = False) -> tuple[int, float]:
    """Rows and seconds to COPY every loaded record into empty tables of the same columns
    (``indexed``: also the same indexes and constraints; PostgreSQL only)."""
    from etl.warehouse import create_warehouse_engine

    engine = create_warehouse_engine(warehouse)
    rows, seconds = 0, 0.0
    including = "ALL" if indexed else "DEFAULTS"
    with engine.begin() as connection:
        for table in TABLES:
            probe = f"copy_probe_{table}"
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {probe} (LIKE {table} INCLUDING {including})")
                cursor = connection.connection.driver_connection.cursor()
                buffer = io.BytesIO()
                with cursor.copy(f"COPY {table} TO STDOUT WITH (FORMAT csv)") as copy:
                    for block in copy:
                        buffer.write(block)
                started = time.perf_counter()
                with cursor.copy(f"COPY {probe} FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(buffer.getvalue())
                seconds += time.perf_counter() - started
                rows += connection.exec_driver_sql(f"SELECT COUNT(*) FROM {probe}").scalar_one()
            else:
                connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {probe} AS SELECT * FROM {table} WHERE 0")
                data = connection.exec_driver_sql(f"SELECT * FROM {table}").all()
                if not data:
                    continue
                marks = ", ".join("?" for _ in data[0])
                started = time.perf_counter()
                connection.exec_driver_sql(f"INSERT INTO {probe} VALUES ({marks})", [tuple(r) for r in data])
                seconds += time.perf_counter() - started
                rows += len(data)
        connection.rollback()
    engine.dispose()
    return rows, seconds


def _fresh_warehouse(kind: str, work: Path) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{work / 'warehouse.sqlite'}", lambda: None
    name = f"mashaghel_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), drop


def bench_warehouse(kind: str, drop: Path, daily: Path, work: Path) -> dict:
    """The national drop, the raw COPY, the daily increment and an empty rerun on one warehouse."""
    work.mkdir(parents=True)
    warehouse, dispose = _fresh_warehouse(kind, work)
    try:
        ingest = work / "ingest"
        shutil.copytree(drop, ingest)
        national = _pipeline(ingest, work, warehouse)
        copy_rows, copy_seconds = _raw_copy_rate(warehouse)
        indexed_rows, indexed_seconds = _raw_copy_rate(warehouse, indexed=True) if kind == "postgresql" else (0, 0)
        shutil.copytree(daily, ingest, dirs_exist_ok=True)
        increment = _pipeline(ingest, work, warehouse)
        rerun = _pipeline(ingest, work, warehouse)
    finally:
        dispose()
    stages = national["stages"]
    rows = national["rows_read"]
    load_rate = national["rows_loaded"] / stages["load"] if stages.get("load") else 0.0
    copy_rate = copy_rows / copy_seconds if copy_seconds else 0.0
    return {
        "warehouse": kind,
        "rows": rows,
        "files": national["files"],
        "seconds": round(national["seconds"], 1),
        "rows_per_second": round(rows / national["seconds"]),
        "stage_seconds": stages,
        "ingest_seconds": national["ingest_seconds"],
        "ingest_rows_per_second": round(rows / national["ingest_seconds"]),
        "stage_rows_per_second": {name: round(rows / value) if value else None for name, value in stages.items()},
        "peak_rss_mb": national["peak_rss_mb"],
        "peak_rss_mb_validation_worker": national["peak_rss_mb_validation_worker"],
        "peak_rss_mb_after_stage": national["peaks"],
        "load_rows_per_second": round(load_rate),
        "raw_copy_rows_per_second": round(copy_rate),
        "load_to_copy_ratio": round(load_rate / copy_rate, 2) if copy_rate else None,
        "raw_copy_indexed_rows_per_second": round(indexed_rows / indexed_seconds) if indexed_seconds else None,
        "daily_increment_rows": increment["rows_read"],
        "daily_increment_seconds": round(increment["seconds"], 2),
        "daily_increment_stage_seconds": increment["stages"],
        "daily_increment_peak_rss_mb": increment["peak_rss_mb"],
        "rerun_nothing_new_seconds": round(rerun["seconds"], 2),
    }


def bench_big_file(kind: str, big: Path, work: Path) -> dict:
    """One file too big to hold (read, validated and loaded in chunks), alone into a fresh warehouse."""
    work.mkdir(parents=True)
    warehouse, dispose = _fresh_warehouse(kind, work)
    try:
        ingest = work / "ingest"
        shutil.copytree(big, ingest)
        size = sum(path.stat().st_size for path in ingest.rglob("*") if path.is_file())
        loaded = _pipeline(ingest, work, warehouse)
    finally:
        dispose()
    return {"warehouse": kind, "rows": loaded["rows_read"], "rows_loaded": loaded["rows_loaded"],
            "file_mb": round(size / 2**20, 1), "seconds": round(loaded["seconds"], 1),
            "rows_per_second": round(loaded["rows_read"] / loaded["seconds"]),
            "stage_seconds": loaded["stages"], "peak_rss_mb": loaded["peak_rss_mb"],
            "peak_rss_mb_after_stage": loaded["peaks"]}


def _print_table(result: dict) -> None:
    print(f"\n== {result['warehouse']}: {result['rows']:,} rows in {result['files']} files, "
          f"{result['seconds']} s end to end = {result['rows_per_second']:,} rows/s; "
          f"peak memory {result['peak_rss_mb']} MB (the suite worker's: {result['peak_rss_mb_validation_worker']} MB)")
    print(f"{'stage':<12}{'seconds':>10}{'rows/s':>14}{'peak MB after':>16}")
    for name, seconds in result["stage_seconds"].items():
        rate = result["stage_rows_per_second"][name]
        peak = result["peak_rss_mb_after_stage"].get(name, "-")
        print(f"{name:<12}{seconds:>10.2f}{(f'{rate:,}' if rate else '-'):>14}{peak:>16}")
    print(f"ingest (read, normalise, validate and load, which overlap): {result['ingest_seconds']:.2f} s = "
          f"{result['ingest_rows_per_second']:,} rows/s")
    print(f"load {result['load_rows_per_second']:,} rows/s vs raw copy {result['raw_copy_rows_per_second']:,} "
          f"rows/s: ratio {result['load_to_copy_ratio']}"
          + (f" (raw copy into a table with the same indexes: {result['raw_copy_indexed_rows_per_second']:,} rows/s)"
             if result["raw_copy_indexed_rows_per_second"] else ""))
    print(f"daily increment: {result['daily_increment_rows']:,} rows in {result['daily_increment_seconds']} s; "
          f"rerun with nothing new: {result['rerun_nothing_new_seconds']} s")
    stages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in result["daily_increment_stage_seconds"].items())
    print(f"daily increment stages (s): {stages}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applicants", type=int, default=1_000_000)
    parser.add_argument("--loans", type=int, default=300_000)
    parser.add_argument("--training", type=int, default=600_000)
    parser.add_argument("--daily", type=int, default=1_000, help="rows per province and source in the increment")
    parser.add_argument("--big-file", type=int, default=2_000_000,
                        help="rows of one applicants file loaded alone, on the first warehouse (0: none)")
    parser.add_argument("--warehouses", default="postgresql,sqlite")
    parser.add_argument("--seed", type=int, default=1404)
    args = parser.parse_args(argv)

    from etl.sample_national import write_national_drop

    root = Path(tempfile.mkdtemp(prefix="mashaghel-bench-"))
    try:
        started = time.perf_counter()
        drop = write_national_drop(root / "drop", args.applicants, args.loans, args.training, seed=args.seed)
        daily = write_national_drop(root / "daily", 31 * args.daily, 31 * args.daily, 31 * args.daily,
                                    seed=args.seed + 1, tag="daily", rows_per_file=args.daily * 2, first_id=1)
        print(f"generated {drop.total_rows:,} rows in {sum(drop.files.values())} files "
              f"({drop.formats}) and an increment of {daily.total_rows:,} rows "
              f"in {time.perf_counter() - started:.0f} s; cpus {os.cpu_count()}", flush=True)
        for kind in args.warehouses.split(",") if drop.total_rows else ():
            result = bench_warehouse(kind, root / "drop", root / "daily", root / kind)
            _print_table(result)
            print(json.dumps({"bench": "national", **result}, ensure_ascii=False), flush=True)
        if args.big_file:
            write_national_drop(root / "big", args.big_file, 0, 0, seed=args.seed + 2, tag="big",
                                rows_per_file=args.big_file, provinces=1)
            kind = args.warehouses.split(",")[0]
            result = bench_big_file(kind, root / "big", root / f"big-{kind}")
            print(f"\n== one file of {result['rows']:,} rows ({result['file_mb']} MB) on {kind}: "
                  f"{result['seconds']} s = {result['rows_per_second']:,} rows/s; "
                  f"peak memory {result['peak_rss_mb']} MB; after each stage {result['peak_rss_mb_after_stage']}")
            print(json.dumps({"bench": "big_file", **result}, ensure_ascii=False), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
