"""``make reliability``: the reliability trials at larger counts than the test suite.

- kill and rerun: ``python -m etl run`` killed with SIGKILL at every fault point and after random
  delays, in chains, then a run to the end, compared with a run never interrupted;
- concurrency: several runs at once on the same drop, compared with the same;
- hostile files: the hypothesis strategies of tests/test_hostile_files.py, through the reader
  and through the whole pipeline, with fresh random examples;

on SQLite and, when the PostgreSQL server of the tests answers, on throw-away databases there.
Prints trials, files, rows, files lost, rows counted twice and crashes as a table and a JSON line;
exits 1 unless files lost, rows counted twice, crashes and mismatches are all 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import conftest  # noqa: E402  (sets up the test environment: Airflow home, PostgreSQL helpers)
from tests import reliability_kit as kit  # noqa: E402


def hostile_files(examples: int, pipeline_examples: int, base: Path) -> kit.Tally:
    """The hostile-file strategies with fresh random examples: the reader, then the whole pipeline."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from etl.contract import SOURCES, contract
    from etl.discover import province_codes
    from etl.pipeline import run
    from etl.read import read_file
    from tests import test_hostile_files as hostile

    tally = kit.Tally()
    counted = {"files": 0, "rows": 0}

    def note(result):
        counted["rows"] += 0 if result.frame is None else len(result.frame)
        return result

    def read_and_check(data: bytes, name: str) -> None:
        counted["files"] += 1
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            for source in SOURCES:
                hostile.check_shape(note(read_file(path, contract()[source])), data)

    def ragged_rows(rows: list[list[str]], encoding: str) -> None:
        counted["files"] += 1
        with tempfile.TemporaryDirectory() as folder:
            counted["rows"] += len(hostile.check_ragged(Path(folder), rows, hostile.ragged_file(rows, encoding)))

    warehouse = f"sqlite:///{base / 'hostile.sqlite'}"
    numbers = iter(range(10**9))
    provinces = sorted(province_codes())

    def through_the_pipeline(rows: list[list[str]], encoding: str) -> None:
        data = hostile.ragged_file(rows, encoding)
        counted["files"] += 1
        with tempfile.TemporaryDirectory() as folder:
            malformed = hostile.check_ragged(Path(folder), rows, data)
            roots = kit.Roots(Path(folder) / "run", warehouse).make()
            number = next(numbers)  # a fresh province and name each time: never the same file twice
            relative = f"{provinces[number % len(provinces)]}/applicants/ragged-{number}.csv"
            (roots.ingest / relative).parent.mkdir(parents=True)
            (roots.ingest / relative).write_bytes(data)
            report = run(roots.settings())
            assert report.failures == {}, report.failures
            outbox = kit.tree(roots.outbox, roots.base)
            receipt = next(v for k, v in outbox.items() if k.endswith(".receipt.json"))
            if receipt["status"] != "duplicate_file":
                assert receipt["rows_read"] == len(malformed)
                assert receipt["rejected_by_reason"].get("malformed_row", 0) == sum(malformed)
            counted["rows"] += receipt["rows_read"]
            assert hostile.left_in(roots.ingest) == []
            assert len(hostile.left_in(roots.archive)) == 1

    quiet = {"deadline": None, "database": None, "suppress_health_check": list(HealthCheck)}
    tests = [
        ("reader", settings(max_examples=examples, **quiet)(given(
            data=st.one_of(hostile.random_bytes, hostile.random_text), name=st.sampled_from(hostile.NAMES))(
            read_and_check))),
        ("ragged rows", settings(max_examples=examples, **quiet)(given(
            rows=hostile.RAGGED_ROWS, encoding=hostile.TEXT_ENCODINGS)(ragged_rows))),
        ("pipeline", settings(max_examples=pipeline_examples, **quiet)(given(
            rows=hostile.RAGGED_ROWS, encoding=hostile.TEXT_ENCODINGS)(through_the_pipeline))),
    ]
    for label, test in tests:
        tally.trials += 1
        try:
            test()
        except Exception as error:  # a falsifying example: the reader or the pipeline broke a promise
            tally.crashes += 1
            inner = getattr(error, "exceptions", ())
            causes = "".join("".join(traceback.format_exception(cause)[-4:]) for cause in inner)
            tally.problems.append(f"hostile files, {label}: {type(error).__name__}: {error}\n{causes}")
    tally.files, tally.rows = counted["files"], counted["rows"]
    return tally


COLUMNS = ("trials", "kills", "runs", "files", "rows", "files_lost", "rows_counted_twice", "crashes", "mismatches")


def print_table(sections: dict[str, kit.Tally], total: kit.Tally) -> None:
    headers = ("", *(c.replace("_", " ") for c in COLUMNS))
    widths = [max(26, *(len(s) for s in sections)), *(max(len(h), 8) for h in headers[1:])]
    print("  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))))
    for label, tally in [*sections.items(), ("total", total)]:
        cells = [label, *(f"{getattr(tally, c):,}" for c in COLUMNS)]
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=60, help="SIGKILLs per warehouse (default 60)")
    parser.add_argument("--concurrent", type=int, default=6, help="concurrency trials per warehouse (default 6)")
    parser.add_argument("--at-once", type=int, default=3, help="runs at once in a concurrency trial (default 3)")
    parser.add_argument("--examples", type=int, default=1000, help="hypothesis examples for the reader (default 1000)")
    parser.add_argument("--pipeline-examples", type=int, default=300,
                        help="hypothesis examples through the whole pipeline (default 300)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="warehouses, comma-separated; '' for none")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--verbose", action="store_true", help="a line per trial")
    args = parser.parse_args(argv)

    sections: dict[str, kit.Tally] = {}
    notes = []
    started = time.monotonic()
    log = print if args.verbose else None
    with tempfile.TemporaryDirectory(prefix="mashaghel-reliability-") as folder:
        base = Path(folder)
        for backend in filter(None, args.backends.split(",")):
            if backend not in ("sqlite", "postgresql"):
                parser.error(f"unknown backend {backend!r}: sqlite, postgresql")
            if backend == "postgresql" and (problem := conftest._postgres_answers()):
                notes.append(f"postgresql skipped: {problem}")
                continue
            fresh = kit.FreshRoots(backend, base / backend)
            with fresh(0) as roots:
                reference = kit.build_reference(roots, kit.SMALL_DROP)
            sections[f"kill and rerun, {backend}"] = kit.kill_trials(reference, fresh, args.kills, args.seed, log)
            sections[f"{args.at_once} runs at once, {backend}"] = kit.concurrent_trials(
                reference, fresh, args.concurrent, args.at_once, log)
        sections["hostile files"] = hostile_files(args.examples, args.pipeline_examples, base)

    total = kit.Tally()
    for tally in sections.values():
        total.add(tally)
    print()
    print_table(sections, total)
    for note in notes:
        print(note)
    for problem in total.problems:
        print(problem, file=sys.stderr)
    figures = {column: getattr(total, column) for column in COLUMNS}
    print(json.dumps({**figures, "seconds": round(time.monotonic() - started), "seed": args.seed,
                      "sections": {label: {c: getattr(t, c) for c in COLUMNS} for label, t in sections.items()}}))
    return 0 if (total.files_lost, total.rows_counted_twice, total.crashes, total.mismatches) == (0, 0, 0, 0) else 1


if __name__ == "__main__":
    sys.exit(main())
