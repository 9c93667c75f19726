"""Command line: ``python -m etl run|migrate|summary|report|export|rekey|sample``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from etl.config import DEFAULTS, env_name


def _add_warehouse(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse", help=f"SQLAlchemy URL; env {env_name('warehouse')}; default {DEFAULTS['warehouse']}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m etl", description="Mashaghel: provincial drops to the national home-business warehouse."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="read, validate and load every ready file, resolve people, publish")
    for option in ("ingest_root", "archive_root", "outbox_root"):
        run.add_argument(
            f"--{option.replace('_', '-')}",
            dest=option,
            type=Path,
            help=f"env {env_name(option)}; default {DEFAULTS[option]}",
        )
    _add_warehouse(run)
    run.add_argument(
        "--settle-seconds",
        dest="settle_seconds",
        type=float,
        help=f"leave files modified less than this long ago (0 = off); env "
        f"{env_name('settle_seconds')}; default {DEFAULTS['settle_seconds']}",
    )
    run.add_argument("--quiet", action="store_true", help="no per-file progress lines")
    run.add_argument("--timings", type=Path, help="write seconds per stage, rows and files as JSON here")

    migrate = commands.add_parser("migrate", help="create or upgrade the warehouse schema")
    _add_warehouse(migrate)

    summary = commands.add_parser("summary", help="print the national province summary")
    _add_warehouse(summary)

    report = commands.add_parser("report", help="write the national report (HTML, and PDF when Chromium is there)")
    _add_warehouse(report)
    report.add_argument("--out", type=Path, help="folder for index.html; default <outbox>/national/report")

    export = commands.add_parser("export", help="one province's own rows as an xlsx workbook, in Persian")
    _add_warehouse(export)
    export.add_argument("--province", required=True, help="province code, e.g. IR-04")
    export.add_argument("--to", dest="target", type=Path, required=True, help="the .xlsx file to write")

    rekey = commands.add_parser("rekey", help="recompute every person pseudonym with the configured key")
    _add_warehouse(rekey)

    sample = commands.add_parser("sample", help="write a generated provincial drop and its true answers")
    sample.add_argument("--ingest-root", dest="ingest_root", type=Path)
    sample.add_argument("--batch", type=int, choices=(1, 2), default=1)
    sample.add_argument("--seed", type=int, default=1404)
    sample.add_argument("--persons", type=int, default=400)
    sample.add_argument("--truth", type=Path, help="write the expected views after this batch as JSON")
    return parser


def _print_progress(done: int, total: int, outcome, seconds: float) -> None:
    rate = outcome.rows_read / seconds if seconds > 0 else 0.0
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(outcome.rejected_by_reason.items()))
    what = outcome.file_reason or reasons
    print(
        f"[{done:>{len(str(total))}}/{total}] {outcome.relative_path}: {outcome.status}"
        f" read {outcome.rows_read} loaded {outcome.rows_loaded} refused {outcome.rows_rejected}"
        f"{' (' + what + ')' if what else ''} {rate:,.0f} rows/s",
        file=sys.stderr,
        flush=True,
    )


def print_province_summary(rows: list[dict]) -> None:
    columns = (
        "persons",
        "registrations",
        "multi_registration_persons",
        "loans",
        "loan_amount_rial",
        "borrowers",
        "trained_persons",
        "loan_only_persons",
        "unregistered_borrowers",
        "suspected_duplicate_persons",
    )
    short = ("persons", "regs", "multi", "loans", "amount_rial", "borrowers", "trained", "loan_only", "unreg", "dup_id")
    print(f"{'province':<34}" + "".join(f"{h:>{18 if h == 'amount_rial' else 10}}" for h in short))
    totals = dict.fromkeys(columns, 0)
    for row in rows:
        label = f"{row['province_code']} {row['province_name_en']}"
        print(f"{label:<34}" + "".join(f"{row[c]:>{18 if c == 'loan_amount_rial' else 10},}" for c in columns))
        for c in columns:
            totals[c] += row[c]
    print(
        f"{'Iran (all provinces)':<34}"
        + "".join(f"{totals[c]:>{18 if c == 'loan_amount_rial' else 10},}" for c in columns)
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from etl.config import Settings

    if args.command == "sample":
        from etl.sample import build_plan, write_truth

        ingest_root = args.ingest_root or Settings.resolve().ingest_root
        plan = build_plan(seed=args.seed, persons=args.persons)
        written = plan.write_batch(ingest_root, args.batch)
        if args.truth:
            write_truth(plan.truth(after_batch=args.batch), args.truth)
        print(f"wrote {len(written)} files of batch {args.batch} under {ingest_root}")
        return 0

    from etl.export import ExportError
    from etl.pipeline import RunError
    from etl.pseudonym import PseudonymKeyError
    from etl.publish import PublishError
    from etl.warehouse import WarehouseUnavailable

    try:
        if args.command == "run":
            return _run(args)
        settings = Settings.resolve(warehouse=args.warehouse)
        from etl.warehouse import check_reachable, create_warehouse_engine, migrate

        engine = create_warehouse_engine(settings.warehouse)
        check_reachable(engine)
        migrate(engine)
        if args.command == "summary":
            from etl.publish import view_rows

            with engine.connect() as connection:
                print_province_summary(view_rows(connection, "rpt_province_summary"))
        elif args.command == "export":
            from etl.export import export_province

            counts = export_province(engine, args.province, args.target)
            print(f"{args.target}: " + ", ".join(f"{sheet} {rows:,}" for sheet, rows in counts.items()))
        elif args.command == "rekey":
            from etl.pseudonym import fingerprint, rekey

            key = settings.pseudonym_key_bytes()
            hashed = rekey(engine, key)
            print(f"{hashed:,} national IDs given new pseudonyms; the warehouse now uses key {fingerprint(key)}")
        elif args.command == "report":
            from etl.report import default_out_dir, write_report

            print(write_report(engine, args.out or default_out_dir(settings.outbox_root)))
        else:
            print(f"warehouse {engine.url.render_as_string(hide_password=True)} is at the latest schema")
        return 0
    except (RunError, WarehouseUnavailable, PublishError, ExportError, PseudonymKeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from etl.config import Settings
    from etl.pipeline import run

    settings = Settings.resolve(
        ingest_root=args.ingest_root,
        archive_root=args.archive_root,
        outbox_root=args.outbox_root,
        warehouse=args.warehouse,
        settle_seconds=args.settle_seconds,
    )
    report = run(settings, progress=None if args.quiet else _print_progress)
    if args.timings:
        from etl.timing import peak_rss_mb, peaks, totals, worker_peak_rss_mb

        args.timings.write_text(
            json.dumps(
                {
                    "stages": totals(),
                    "peak_rss_mb_after": peaks(),
                    "peak_rss_mb": peak_rss_mb(),
                    "peak_rss_mb_validation_worker": worker_peak_rss_mb(),
                    "rows_read": report.rows_read,
                    "rows_loaded": report.rows_loaded,
                    "files": len(report.outcomes),
                    "ingest_seconds": round(report.seconds, 3),  # read to load: stages that overlap
                }
            )
        )
    rate = report.rows_read / report.seconds if report.seconds else 0.0
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(report.statuses().items())) or "no files"
    print(
        f"{report.files_found} files ({statuses}); {report.rows_read:,} rows read, {report.rows_loaded:,} "
        f"loaded in {report.seconds:.1f} s ({rate:,.0f} rows/s); receipts in {settings.outbox_root}",
        file=sys.stderr,
    )
    if report.matching and not report.matching["published"]:
        print(f"error: {report.matching['detail']}", file=sys.stderr)
        return 1
    if report.failures:
        for relative_path, error in report.failures.items():
            print(f"error: {relative_path} failed and stays in the ingest folder: {error}", file=sys.stderr)
        return 1
    return 0
