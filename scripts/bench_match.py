"""Benchmark of suspected-duplicate matching on generated people (default one million).

    .venv/bin/python scripts/bench_match.py [--persons 1000000] [--seed 7] [--threshold 0.9]

Prints a table and one JSON line: generation and matching time, comparisons scored, largest
cluster, precision and recall of pairs and of refused-row links, and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from etl.match import DEFAULT_MAX_CLUSTER, DEFAULT_MODEL, DEFAULT_THRESHOLD, find_suspected_duplicates
from etl.sample_people import generate_people, score
from etl.timing import peak_rss_mb as peak_rss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--max-cluster", type=int, default=DEFAULT_MAX_CLUSTER)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    people = generate_people(args.persons, args.seed)
    generated = time.perf_counter() - started
    result = find_suspected_duplicates(
        people.persons,
        people.refused,
        threshold=args.threshold,
        max_cluster=args.max_cluster,
        model_path=args.model,
        threads=args.threads,
    )
    quality = score(result, people)
    peak_rss_mb = peak_rss()
    figures = {
        "identity_rows": len(people.persons),
        "national_ids": result.counts["national_ids"],
        "refused_rows": len(people.refused),
        "generate_seconds": round(generated, 1),
        "match_seconds": round(result.seconds, 1),
        "comparisons": result.comparisons,
        "refused_comparisons": result.refused_comparisons,
        "comparisons_per_row": round(result.comparisons / len(people.persons), 3),
        "pairs": len(result.pairs),
        "true_pairs": quality["true_pairs"],
        "precision": round(quality["precision"], 4),
        "recall": round(quality["recall"], 4),
        "near_misses_paired": quality["near_misses_paired"],
        "refused_links": len(result.refused_links),
        "link_precision": round(quality["link_precision"], 4),
        "link_recall": round(quality["link_recall"], 4),
        "largest_cluster": result.largest_cluster,
        "threshold": args.threshold,
        "peak_rss_mb": round(peak_rss_mb),
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
