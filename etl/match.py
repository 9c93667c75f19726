"""Suspected duplicate identities: one human being behind different national IDs.

Runs after people are resolved. Identity rows (a national ID with the names, father's name,
birth date, mobile and county of its registrations) are paired when they share a cheap blocking
key: last name with birth date; first and father's name with birth date; mobile; the three
names with the Jalali birth year, or with its month and day. A key shared by more than 50 rows
blocks nobody (etl.matching.prepare), so comparisons grow near-linearly. Each pair is scored by
a Splink model (Fellegi-Sunter on DuckDB) over Persian-aware keys (etl.persian.name_key), and
``match_probability`` is the model's probability that the two rows are one person: the default
threshold 0.5 reports pairs more likely than not. Rows refused only for ``invalid_national_id``
are linked to the person they most likely belong to, with the fix in words (``id_fix``), so the
clerk can correct the ID. Accepted pairs form clusters; the largest is watched, and one larger
than ``max_cluster`` raises :class:`ClusterTooLarge`: a giant cluster means matching broke, not
that many people share one identity. rapidfuzz spells out which fields agree and how an ID
differs; the scoring itself is Splink's.

The model is ``etl/models/suspected_duplicates.v1.json`` (etl/models/README.md);
``python -m etl.match train`` retrains it on generated truth (:mod:`etl.sample_people`).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz.distance import JaroWinkler, Levenshtein
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from etl.matching import model as models
from etl.matching import prepare
from etl.matching.incremental import Scored
from etl.matching.inputs import read_match_inputs

DEFAULT_THRESHOLD = 0.5  # more likely than not one person
DEFAULT_MAX_CLUSTER = 8  # national IDs in one cluster; the generated data never exceeds 4
DEFAULT_MODEL = models.DEFAULT_MODEL

PAIR_COLUMNS = [
    "national_id_l", "national_id_r", "match_probability", "match_weight", "agreeing", "similar",
    "province_l", "province_r", "cluster_id",
]  # fmt: skip
LINK_COLUMNS = [
    "refused_id", "file_id", "line_number", "province_code", "source", "national_id_sent",
    "national_id", "match_probability", "match_weight", "agreeing", "similar", "id_fix",
]  # fmt: skip
CLUSTER_COLUMNS = ["national_id", "cluster_id", "cluster_size"]

# (field a clerk knows, key column compared)
_EXPLAINED = (
    ("first_name", "first_key"),
    ("last_name", "last_key"),
    ("father_name", "father_key"),
    ("birth_date", "birth_jalali"),
    ("mobile", "mobile"),
    ("county", "county_key"),
)

__all__ = [
    "DEFAULT_MAX_CLUSTER", "DEFAULT_MODEL", "DEFAULT_THRESHOLD", "ClusterTooLarge", "MatchError", "MatchResult",
    "find_suspected_duplicates", "read_match_inputs", "train_model",
]  # fmt: skip


class MatchError(RuntimeError):
    """Matching could not give a result fit to publish."""


@dataclass
class MatchResult:
    """What matching found.

    - ``pairs``: :data:`PAIR_COLUMNS`, one row per pair of national IDs scored at or above the
      threshold (``national_id_l`` < ``national_id_r``; the best-scoring pair of their identity
      rows). ``agreeing`` and ``similar`` list the fields that are equal, or close (a typo, a
      slipped date digit), e.g. ``"first_name, last_name, birth_date"``.
    - ``refused_links``: :data:`LINK_COLUMNS`, each refused row with its most likely person
      (only when at or above the threshold); ``id_fix`` says how the ID as sent differs.
    - ``clusters``: :data:`CLUSTER_COLUMNS` for every national ID (a singleton is its own cluster;
      ``cluster_id`` is the smallest national ID of the cluster).
    """

    pairs: pd.DataFrame
    refused_links: pd.DataFrame
    clusters: pd.DataFrame
    comparisons: int
    refused_comparisons: int
    largest_cluster: int
    threshold: float
    max_cluster: int
    model: str
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """The figures to log or record with a run."""
        return {
            "persons": self.counts.get("national_ids", 0),
            "identity_rows": self.counts.get("identity_rows", 0),
            "refused_rows": self.counts.get("refused_rows", 0),
            "comparisons": self.comparisons,
            "refused_comparisons": self.refused_comparisons,
            "pairs": len(self.pairs),
            "refused_links": len(self.refused_links),
            "largest_cluster": self.largest_cluster,
            "threshold": self.threshold,
            "model": self.model,
            "seconds": round(self.seconds, 3),
        }


class ClusterTooLarge(MatchError):
    """The largest cluster exceeds ``max_cluster``: the matches must not be published."""

    def __init__(self, result: MatchResult) -> None:
        self.result = result
        super().__init__(
            f"largest cluster of suspected duplicates has {result.largest_cluster} national IDs,"
            f" more than the {result.max_cluster} allowed: matching is not fit to publish"
        )


# --------------------------------------------------------------------------- explanations


def _close(field_name: str, a: str, b: str) -> bool:
    if field_name in ("birth_date", "mobile"):
        swapped = field_name == "birth_date" and a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7]
        return swapped or Levenshtein.distance(a, b) <= 1
    if field_name == "county":
        return False
    return JaroWinkler.similarity(a, b) >= 0.8


def explain(scored: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(agreeing fields, similar fields) of each scored pair, as comma-separated text."""
    agreeing: list[list[str]] = [[] for _ in range(len(scored))]
    similar: list[list[str]] = [[] for _ in range(len(scored))]
    for name, key in _EXPLAINED:
        left, right = scored[f"{key}_l"].tolist(), scored[f"{key}_r"].tolist()
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            if not isinstance(a, str) or not isinstance(b, str):
                continue
            if a == b:
                agreeing[i].append(name)
            elif _close(name, a, b):
                similar[i].append(name)
    return [", ".join(a) for a in agreeing], [", ".join(s) for s in similar]


def id_fix(sent: str | None, national_id: str) -> str:
    """How the ID as sent (digits) differs from ``national_id``, in words a clerk can act on."""
    if not sent:
        return "national ID missing"
    if len(sent) in (8, 9) and Levenshtein.distance(sent.zfill(10), national_id) < Levenshtein.distance(
        sent, national_id
    ):
        sent = sent.zfill(10)  # leading zeros dropped by a spreadsheet, then a slip
    if len(sent) == len(national_id):
        wrong = [i for i, (a, b) in enumerate(zip(sent, national_id, strict=True)) if a != b]
        i = wrong[0] if len(wrong) == 2 and wrong[1] == wrong[0] + 1 else None
        if i is not None and sent[i] == national_id[i + 1] and sent[i + 1] == national_id[i]:
            return f"digits {i + 1} and {i + 2} swapped"
        if not wrong:
            return "no digit differs"
        if len(wrong) <= 2:
            return "; ".join(f"digit {i + 1}: {sent[i]} -> {national_id[i]}" for i in wrong)
    ops = Levenshtein.editops(sent, national_id)
    if len(ops) == 1 and ops[0].tag == "insert":
        return f"digit {national_id[ops[0].dest_pos]} missing at {ops[0].dest_pos + 1}"
    if len(ops) == 1 and ops[0].tag == "delete":
        return f"extra digit {sent[ops[0].src_pos]} at {ops[0].src_pos + 1}"
    return f"another national ID ({len(ops)} digits differ)"


# --------------------------------------------------------------------------- pairs, links, clusters


def _id_pairs(scored: pd.DataFrame) -> pd.DataFrame:
    """Scored identity-row pairs as national-ID pairs, the best-scoring per pair of IDs."""
    if scored.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    agreeing, similar = explain(scored)
    swap = (scored["national_id_l"] > scored["national_id_r"]).to_numpy()

    def side(left: str, right: str) -> tuple[np.ndarray, np.ndarray]:
        a, b = scored[left].to_numpy(dtype=object), scored[right].to_numpy(dtype=object)
        return np.where(swap, b, a), np.where(swap, a, b)

    nid_l, nid_r = side("national_id_l", "national_id_r")
    prov_l, prov_r = side("province_code_l", "province_code_r")
    pairs = pd.DataFrame(
        {
            "national_id_l": nid_l,
            "national_id_r": nid_r,
            "match_probability": scored["match_probability"].to_numpy(dtype=float),
            "match_weight": scored["match_weight"].to_numpy(dtype=float),
            "agreeing": agreeing,
            "similar": similar,
            "province_l": prov_l,
            "province_r": prov_r,
        }
    )
    pairs = pairs.sort_values(
        ["national_id_l", "national_id_r", "match_weight", "agreeing"], ascending=[True, True, False, True]
    )
    return pairs.drop_duplicates(["national_id_l", "national_id_r"]).reset_index(drop=True)


def _links(scored: pd.DataFrame, refused: pd.DataFrame, prepared: pd.DataFrame) -> pd.DataFrame:
    """The best-scoring person of each refused row."""
    if scored.empty:
        return pd.DataFrame(columns=LINK_COLUMNS)
    flip = (scored["source_dataset_l"] != "refused").to_numpy()
    frame = pd.DataFrame(index=scored.index)
    for column in ("unique_id", "national_id", *(key for _, key in _EXPLAINED)):
        a, b = scored[f"{column}_l"].to_numpy(dtype=object), scored[f"{column}_r"].to_numpy(dtype=object)
        frame[f"{column}_l"], frame[f"{column}_r"] = np.where(flip, b, a), np.where(flip, a, b)
    frame["match_probability"] = scored["match_probability"].to_numpy(dtype=float)
    frame["match_weight"] = scored["match_weight"].to_numpy(dtype=float)
    frame = frame.sort_values(
        ["unique_id_l", "match_weight", "national_id_r"], ascending=[True, False, True]
    ).drop_duplicates("unique_id_l")
    agreeing, similar = explain(frame)
    sent = prepared.set_index("unique_id")["id_digits"]
    rows = refused.assign(unique_id=prepared["unique_id"].to_numpy()).set_index("unique_id")
    ids = frame["unique_id_l"].to_numpy(dtype=object)
    digits = sent.reindex(ids).to_numpy(dtype=object)
    nids = frame["national_id_r"].to_numpy(dtype=object)

    def original(column: str) -> np.ndarray:
        if column not in rows.columns:
            return np.full(len(ids), None, dtype=object)
        return rows[column].reindex(ids).to_numpy(dtype=object)

    links = pd.DataFrame(
        {
            "refused_id": ids,
            "file_id": original("file_id"),
            "line_number": original("line_number"),
            "province_code": original("province_code"),
            "source": original("source"),
            "national_id_sent": original("national_id"),
            "national_id": nids,
            "match_probability": frame["match_probability"].to_numpy(),
            "match_weight": frame["match_weight"].to_numpy(),
            "agreeing": agreeing,
            "similar": similar,
            "id_fix": [id_fix(d if isinstance(d, str) else None, n) for d, n in zip(digits, nids, strict=True)],
        }
    )
    return links.sort_values("refused_id").reset_index(drop=True)


def _clusters(national_ids: pd.Series, pairs: pd.DataFrame) -> pd.DataFrame:
    """Connected components of the accepted pairs, over every national ID (in order of appearance)."""
    ids = pd.unique(national_ids.dropna().to_numpy(dtype=object))
    frame = pd.DataFrame({"national_id": ids, "cluster_id": ids.copy(), "cluster_size": np.ones(len(ids), dtype=int)})
    if pairs.empty:
        return frame
    codes, members = pd.factorize(np.concatenate([pairs["national_id_l"], pairs["national_id_r"]]))
    half = len(pairs)
    graph = coo_matrix((np.ones(half), (codes[:half], codes[half:])), shape=(len(members), len(members)))
    _, labels = connected_components(graph, directed=False)
    found = pd.DataFrame({"national_id": np.asarray(members, dtype=object), "label": labels})
    found["cluster_id"] = found.groupby("label")["national_id"].transform("min")
    found["cluster_size"] = found.groupby("label")["national_id"].transform("size")
    found = found.set_index("national_id")
    inside = frame["national_id"].isin(found.index).to_numpy()
    chosen = frame.loc[inside, "national_id"]
    frame.loc[inside, "cluster_id"] = found["cluster_id"].reindex(chosen).to_numpy()
    frame.loc[inside, "cluster_size"] = found["cluster_size"].reindex(chosen).to_numpy()
    return frame


# --------------------------------------------------------------------------- the stage


def find_suspected_duplicates(
    persons: pd.DataFrame,
    refused: pd.DataFrame | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    max_cluster: int = DEFAULT_MAX_CLUSTER,
    model_path: Path | str = DEFAULT_MODEL,
    threads: int | None = None,
) -> MatchResult:
    """Pairs of national IDs that are likely one person, and the likely person of refused rows:
    everyone scored at once, in memory (the warehouse's matching stage scores only what changed,
    with the same model: etl/matching/incremental.py).

    Args:
        persons: identity rows: ``national_id``, ``first_name``, ``last_name`` and, when known,
            ``father_name``, ``birth_date`` (date or ISO text), ``mobile``, ``county``,
            ``province_code``; optional unique ``record_id`` (several rows may share a national ID
            when its registrations name different people, as with a borrowed ID).
        refused: rows refused only for ``invalid_national_id``: ``national_id`` as sent, the same
            personal columns, and ``refused_id`` or ``file_id`` and ``line_number``; ``source``
            and ``province_code`` are carried to the result.
        threshold: the match probability at or above which a pair or link is reported.
        max_cluster: the largest cluster of national IDs that may be published.
        model_path: the model file.
        threads: DuckDB threads (default: all cores).

    Raises:
        ClusterTooLarge: the largest cluster has more than ``max_cluster`` national IDs (the
            result is on the exception).
    """
    started = time.perf_counter()
    model = models.load_model(model_path)
    keys = prepare.persons_keys(persons)
    refused = refused if refused is not None else pd.DataFrame(columns=["refused_id", "national_id"])
    refused_keys = prepare.refused_keys(refused)
    n = len(keys)
    pairs, links = pd.DataFrame(columns=PAIR_COLUMNS), pd.DataFrame(columns=LINK_COLUMNS)
    comparisons = refused_comparisons = 0
    if n:
        con = models.connection(threads)
        try:
            prepare.load_table(con, "persons", keys, persons=True)
            if n >= 2:
                settings = models.with_prior(model["persons_model"], models.person_prior(model, n))
                scored, comparisons = models.predict(models.linker(con, settings, "persons"), con, threshold)
                pairs = _id_pairs(scored)
            if len(refused_keys):
                prepare.load_table(con, "refused", refused_keys, persons=False)
                settings = models.with_prior(model["refused_model"], models.refused_prior(model, n))
                scored, refused_comparisons = models.predict(
                    models.linker(con, settings, "refused", "persons"), con, threshold
                )
                links = _links(scored, refused.reset_index(drop=True), refused_keys)
        finally:
            con.close()
    clusters = _clusters(keys["national_id"], pairs)
    pairs["cluster_id"] = pairs["national_id_l"].map(clusters.set_index("national_id")["cluster_id"])
    result = MatchResult(
        pairs=pairs[PAIR_COLUMNS],
        refused_links=links[LINK_COLUMNS],
        clusters=clusters,
        comparisons=comparisons,
        refused_comparisons=refused_comparisons,
        largest_cluster=int(clusters["cluster_size"].max()) if len(clusters) else 0,
        threshold=threshold,
        max_cluster=max_cluster,
        model=f"{Path(model_path).name}",
        seconds=time.perf_counter() - started,
        counts={"identity_rows": n, "national_ids": len(clusters), "refused_rows": len(refused_keys)},
    )
    if result.largest_cluster > max_cluster:
        raise ClusterTooLarge(result)
    return result


def merge_changes(
    scored: Scored,
    kept: pd.DataFrame,
    *,
    threshold: float,
    max_cluster: int,
    model_path: Path | str,
    started: float,
) -> MatchResult:
    """The pairs after an incremental match: the ``kept`` pairs of two untouched national IDs and the
    pairs just scored, clustered anew; the links of the refused rows linked again.

    Raises:
        ClusterTooLarge: as :func:`find_suspected_duplicates`.
    """
    fresh = _id_pairs(scored.pairs) if len(scored.pairs) else pd.DataFrame(columns=PAIR_COLUMNS)
    pairs = pd.concat([frame for frame in (kept, fresh) if len(frame)] or [fresh], ignore_index=True)
    ids = pd.concat([pairs["national_id_l"], pairs["national_id_r"]], ignore_index=True)
    clusters = _clusters(ids, pairs)
    pairs["cluster_id"] = pairs["national_id_l"].map(clusters.set_index("national_id")["cluster_id"])
    links = (
        _links(scored.links, scored.refused, scored.refused)
        if len(scored.links)
        else pd.DataFrame(columns=LINK_COLUMNS)
    )
    largest = int(clusters["cluster_size"].max()) if len(clusters) else int(scored.identity_rows > 0)
    result = MatchResult(
        pairs=pairs,
        refused_links=links[LINK_COLUMNS],
        clusters=clusters,
        comparisons=scored.comparisons,
        refused_comparisons=scored.refused_comparisons,
        largest_cluster=largest,
        threshold=threshold,
        max_cluster=max_cluster,
        model=Path(model_path).name,
        seconds=time.perf_counter() - started,
        counts={
            "identity_rows": scored.identity_rows,
            "national_ids": scored.changed_ids,
            "refused_rows": len(scored.refused),
        },
    )
    if result.largest_cluster > max_cluster:
        raise ClusterTooLarge(result)
    return result


# --------------------------------------------------------------------------- training


def train_model(
    out: Path | str = DEFAULT_MODEL, *, persons: int = 200_000, seed: int = 1404, threads: int | None = None
) -> dict:
    """Train both models on generated truth (:func:`etl.sample_people.generate_people`) and write
    the model file; returns the model. Same arguments, same file."""
    from etl.sample_people import generate_people

    people = generate_people(persons, seed)
    keys = prepare.persons_keys(people.persons)
    refused_keys = prepare.refused_keys(people.refused)
    rows = people.persons[["record_id", "individual", "national_id"]]
    same = rows.merge(rows, on="individual", suffixes=("_l", "_r"))
    same = same[same["national_id_l"] != same["national_id_r"]]
    same = same[same["record_id_l"] < same["record_id_r"]]
    person_pairs = same.rename(columns={"record_id_l": "unique_id_l", "record_id_r": "unique_id_r"})
    known = people.refused.dropna(subset=["true_record_id"])
    refused_pairs = pd.DataFrame({"unique_id_l": known["refused_id"], "unique_id_r": known["true_record_id"]})
    model = models.train(keys, refused_keys, person_pairs, refused_pairs, seed=seed, threads=threads)
    model["trained_on"] = {"generator": "etl.sample_people", "persons": persons, "seed": seed}
    models.save_model(model, Path(out))
    return model


def main(argv: list[str] | None = None) -> int:
    """Command line: ``train`` the model, or ``evaluate`` it on generated truth."""
    parser = argparse.ArgumentParser(prog="python -m etl.match", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train the model on generated truth and write the model file")
    train.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    train.add_argument("--persons", type=int, default=200_000)
    train.add_argument("--seed", type=int, default=1404)
    evaluate = commands.add_parser("evaluate", help="precision and recall on generated truth")
    evaluate.add_argument("--persons", type=int, default=20_000)
    evaluate.add_argument("--seed", type=int, default=7)
    evaluate.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    evaluate.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    if args.command == "train":
        model = train_model(args.out, persons=args.persons, seed=args.seed)
        print(f"model written to {args.out} (trained on {model['trained_on']})")
        return 0
    from etl.sample_people import evaluate as score

    print(score(args.persons, args.seed, threshold=args.threshold, model_path=args.model))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
