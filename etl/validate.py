"""Validate normalised rows with the Great Expectations suites in ``expectations/``.

Every expectation carries its reason code in ``meta.reason``. A failing critical
expectation rejects the row with that reason; a failing warning expectation
empties the columns named in ``meta.blank`` and counts a warning. Then, among the
rows that passed, the same key twice with different values rejects all of them
(``conflicting_duplicate``); identical rows count once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from etl.contract import Source
from etl.reasons import CONFLICTING_DUPLICATE
from etl.warehouse import REPO_ROOT

SUITES_DIR = REPO_ROOT / "expectations"


class SuiteError(RuntimeError):
    """An expectation suite could not be loaded or did not run; never pass silently."""


FileFailures = list[tuple[dict, pd.Index]]  # one file's failed expectations: (meta, failing index labels)


@dataclass
class ValidationOutcome:
    """Rows to load, and the reasons of the rows refused (by index label)."""

    accepted: pd.DataFrame
    rejected: dict[object, list[str]]
    warnings_by_reason: Counter = field(default_factory=Counter)


def suite_path(source_name: str) -> Path:
    return SUITES_DIR / f"{source_name}.json"


def load_suite_dict(source_name: str) -> dict:
    """The suite as stored in expectations/<source>.json."""
    return json.loads(suite_path(source_name).read_text(encoding="utf-8"))


@cache
def _context():
    """One ephemeral GX context per process (nothing written to disk but Data Docs)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import etl.expectations  # noqa: F401  (registers the custom expectations before any suite loads)

    for noisy in ("great_expectations", "great_expectations._docs_decorators"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@cache
def _validation_definition(source_name: str):
    """This source's suite, ready to run on a DataFrame; built once per process."""
    import great_expectations as gx

    context = _context()
    stored = load_suite_dict(source_name)
    suite = context.suites.add(gx.ExpectationSuite(**stored))
    if len(suite.expectations) != len(stored["expectations"]):
        raise SuiteError(
            f"suite {source_name}: {len(stored['expectations'])} expectations stored, "
            f"{len(suite.expectations)} loaded (an unknown expectation type was dropped)"
        )
    batch = (
        context.data_sources.add_pandas(f"{source_name}_rows")
        .add_dataframe_asset(source_name)
        .add_batch_definition_whole_dataframe("file")
    )
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{source_name}_rows", data=batch, suite=suite)
    )


def run_suite(source_name: str, frame: pd.DataFrame) -> list[tuple[dict, list]]:
    """Run the suite; (meta and severity, failing index labels) for every expectation."""
    definition = _validation_definition(source_name)
    result = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "COMPLETE", "partial_unexpected_count": 0},
    )
    outcomes = []
    for item in result.results:
        info = item.exception_info or {}
        raised = info.get("raised_exception") if isinstance(info, dict) else False
        if raised or any(isinstance(v, dict) and v.get("raised_exception") for v in info.values()):
            raise SuiteError(f"{source_name}: expectation {item.expectation_config.type} failed to run: {info}")
        config = item.expectation_config
        severity = getattr(config.severity, "value", config.severity)
        failing = [] if item.success else list(item.result.get("unexpected_index_list") or [])
        outcomes.append(({**config.meta, "severity": severity}, failing))
    return outcomes


@dataclass(frozen=True)
class Duplicates:
    """The duplicate-key rule decided over a whole file, for a file validated in chunks.

    ``conflicting``: labels of rows whose key has rows with other values (all refused);
    ``superseded``: labels of identical rows followed by another copy (counted once, the last).
    """

    conflicting: frozenset
    superseded: frozenset

    @classmethod
    def decide(cls, prints: pd.DataFrame) -> Duplicates:
        """From the fingerprints of every row of a file that passed the row rules (see fingerprints)."""
        repeated = prints.loc[prints.duplicated(["key_a", "key_b"], keep=False)]
        distinct = repeated.drop_duplicates().groupby(["key_a", "key_b"]).size()
        clash = distinct[distinct > 1].index
        keys = pd.MultiIndex.from_frame(repeated[["key_a", "key_b"]])
        conflicting = repeated.index[keys.isin(clash)]
        rest = repeated.drop(index=conflicting)
        superseded = rest.index[rest.duplicated(["key_a", "key_b"], keep="last")]
        return cls(conflicting=frozenset(conflicting), superseded=frozenset(superseded))


def validate(frame: pd.DataFrame, source: Source) -> ValidationOutcome:
    """Apply the suite and the duplicate-key rule to one file's normalised rows."""
    return validate_many([frame], source)[0]


def validate_many(
    frames: list[pd.DataFrame],
    source: Source,
    duplicates: Duplicates | None = None,
    failures: list[FileFailures] | None = None,
) -> list[ValidationOutcome]:
    """Validate several files' rows of one source with one run of the suite; one outcome per file.

    The suite's fixed cost (GX plans every expectation anew on each run) is paid
    once for the batch; its row-wise rules judge each row alone, and the
    duplicate-key rule is applied within each file, as for a file validated alone
    (or as decided for the whole file with ``duplicates``, when a file comes in chunks).
    ``failures``: the suite's verdicts on these frames when already known (SuiteWorker).
    """
    outcomes = []
    if failures is None:
        failures = _suite_failures(frames, source)
    for frame, failing in zip(frames, failures, strict=True):
        if frame.empty:
            outcomes.append(ValidationOutcome(accepted=frame, rejected={}))
            continue
        reasons, passed, warnings = _row_rules(frame, failing)
        if duplicates is None:
            accepted, conflicting = _resolve_duplicate_keys(passed, source)
        else:
            conflicting = [label for label in passed.index if label in duplicates.conflicting]
            accepted = passed.drop(
                index=[
                    label for label in passed.index if label in duplicates.conflicting or label in duplicates.superseded
                ]
            )
        for label in conflicting:
            reasons[label] = [CONFLICTING_DUPLICATE]
            for labels in warnings.values():
                labels.discard(label)
        outcomes.append(
            ValidationOutcome(
                accepted=accepted,
                rejected=reasons,
                warnings_by_reason=Counter({reason: len(labels) for reason, labels in warnings.items() if labels}),
            )
        )
    return outcomes


def fingerprints(frames: list[pd.DataFrame], source: Source) -> pd.DataFrame:
    """Key and value fingerprints (128-bit key, 64-bit values) of the rows that pass the row rules.

    The first pass over a file read in chunks: enough to decide the duplicate-key rule
    for the whole file (Duplicates.decide) without keeping its rows.
    """
    keys = key_columns(source)
    values = list(dict.fromkeys(keys + canonical_columns(source)))
    found = []
    for frame, failing in zip(frames, _suite_failures(frames, source), strict=True):
        if frame.empty:
            continue
        _reasons, passed, _warnings = _row_rules(frame, failing)
        as_text = passed[values].astype("string").fillna("\x00")
        found.append(
            pd.DataFrame(
                {
                    "key_a": pd.util.hash_pandas_object(as_text[keys], index=False).to_numpy(),
                    "key_b": pd.util.hash_pandas_object(
                        as_text[keys], index=False, hash_key="mashaghel-keys-b"
                    ).to_numpy(),
                    "value": pd.util.hash_pandas_object(as_text, index=False).to_numpy(),
                },
                index=passed.index,
            )
        )
    return pd.concat(found) if found else pd.DataFrame(columns=["key_a", "key_b", "value"])


def suite_columns(source_name: str) -> list[str]:
    """The columns the suite reads: its expectations' column arguments."""
    names: list[str] = []
    for expectation in load_suite_dict(source_name)["expectations"]:
        for argument, value in expectation["kwargs"].items():
            if argument.startswith("column"):
                names.extend(value if isinstance(value, list) else [value])
    return list(dict.fromkeys(names))


def suite_input(frames: list[pd.DataFrame], source: Source) -> pd.DataFrame:
    """The frames' rows one after the other (positions 0..n-1), with the columns the suite reads only."""
    columns = suite_columns(source.name)
    present = [frame[columns] for frame in frames if not frame.empty]
    if not present:
        return pd.DataFrame(columns=columns)
    return pd.concat(present, ignore_index=True)


def failing_positions(source_name: str, rows: pd.DataFrame) -> list[tuple[dict, np.ndarray]]:
    """Run the suite on ``rows`` (see suite_input); (meta and severity, sorted failing positions)
    of every expectation that some row failed."""
    if rows.empty:
        return []
    return [
        (meta, np.sort(np.asarray(failing, dtype=np.int64)))
        for meta, failing in run_suite(source_name, rows)
        if failing
    ]


def split_failures(frames: list[pd.DataFrame], failing: list[tuple[dict, np.ndarray]]) -> list[FileFailures]:
    """Per frame, (meta, failing index labels) of each failed expectation, from positions in suite_input."""
    present = [position for position, frame in enumerate(frames) if not frame.empty]
    by_file: list[FileFailures] = [[] for _ in frames]
    owner = np.repeat(np.arange(len(present)), [len(frames[p]) for p in present])
    start = np.concatenate([[0], np.cumsum([len(frames[p]) for p in present])]).astype(np.int64)
    for meta, positions in failing:
        for slot in np.unique(owner[positions]):
            mine = positions[owner[positions] == slot] - start[slot]
            position = present[slot]
            by_file[position].append((meta, frames[position].index[mine]))
    return by_file


def _suite_failures(frames: list[pd.DataFrame], source: Source) -> list[FileFailures]:
    """One run of the suite over all the frames, in this process; per frame, its failures (split_failures)."""
    return split_failures(frames, failing_positions(source.name, suite_input(frames, source)))


def _row_rules(
    frame: pd.DataFrame, failing_expectations: FileFailures
) -> tuple[dict[object, list[str]], pd.DataFrame, dict[str, set]]:
    """(reasons of refused rows, rows that passed with warning columns emptied, warned labels by reason)."""
    reasons: dict[object, list[str]] = {}
    blanks: list[tuple[str, list[str], pd.Index]] = []
    for meta, failing in failing_expectations:
        if meta["severity"] == "critical":
            for label in failing:
                row_reasons = reasons.setdefault(label, [])
                if meta["reason"] not in row_reasons:
                    row_reasons.append(meta["reason"])
        else:
            blanks.append((meta["reason"], meta.get("blank", []), failing))

    passed = frame.drop(index=list(reasons))
    warnings: dict[str, set] = {}
    for reason, columns, failing in blanks:
        labels = passed.index.intersection(failing)
        if len(labels):
            passed.loc[labels, columns] = pd.NA
            warnings.setdefault(reason, set()).update(labels)
    return reasons, passed, warnings


def key_columns(source: Source) -> list[str]:
    """The normalised key columns of a source (compared the way headers are)."""
    return [f"{name}__key" for name in source.key]


def canonical_columns(source: Source) -> list[str]:
    """The columns that decide whether two rows are identical (keys compared like headers)."""
    names = [
        f"{c.name}__key" if c.kind == "key" else c.name for c in source.columns if c.kind not in ("amount", "province")
    ]
    if any(c.kind == "amount" for c in source.columns):
        names.append("amount_rial")
    return names


def _resolve_duplicate_keys(frame: pd.DataFrame, source: Source) -> tuple[pd.DataFrame, list]:
    """Keep one of identical rows sharing a key; reject every row of a key whose rows differ."""
    keys = key_columns(source)
    repeated = frame.duplicated(keys, keep=False)
    if not repeated.any():
        return frame, []
    group = frame.loc[repeated]
    values = group[list(dict.fromkeys(keys + canonical_columns(source)))].astype("string").fillna("\x00")
    distinct = values.drop_duplicates().groupby(keys, dropna=False).size()
    conflicting_keys = distinct[distinct > 1].index
    key_index = pd.MultiIndex.from_frame(values[keys]) if len(keys) > 1 else pd.Index(values[keys[0]])
    conflicting = group.index[key_index.isin(conflicting_keys)].tolist()
    accepted = frame.drop(index=conflicting)
    accepted = accepted.loc[~accepted.duplicated(keys, keep="last")]
    return accepted, conflicting


def data_docs(target: Path) -> str:
    """Build GX Data Docs of every suite into ``target``; returns the index page's path.

    Analysts and clerks' supervisors read there exactly the rules the pipeline
    enforces, with each expectation's reason code in its meta.
    """
    from etl.contract import SOURCES

    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    context = _context()
    for source in SOURCES:
        _validation_definition(source)
    site = "rules_" + hashlib.sha1(str(target).encode()).hexdigest()[:12]  # one site per target folder
    if site not in (context.get_site_names() or []):
        context.add_data_docs_site(
            site_name=site,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(target)},
            },
        )
    context.build_data_docs(site_names=[site])
    return str(target / "index.html")
