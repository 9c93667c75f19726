"""The two Splink models, how they are trained, saved, loaded and run on DuckDB.

- The persons model compares identity rows with different national IDs (dedupe): names,
  father's name, birth date, mobile, county and the edit distance of the two valid IDs.
- The refused-row model links rows refused for ``invalid_national_id`` to persons (link only):
  the same fields, and the edit distance between the ID as sent and the person's ID, which is
  where one mistyped digit or two swapped neighbours show.

Training (:func:`train`) is supervised by generated truth: u from random pairs (seeded), m from
the true pairs. Three choices sit on top of the estimates, each documented where it is made:
levels never seen get a floor instead of zero (:data:`M_FLOOR`); two different common given names
(``etl/models/given_names.txt``) are two names, whatever their spelling distance; and a shared
birth date or mobile counts as a duplicate's only with the same or a similar first name (with
another first name it is a twin's or a family phone), stored conditionally so that first-name
agreement is not counted twice. The prior is kept per record and scaled to each run's size
(:func:`with_prior`), since chance lookalikes grow with the number of people.

The model file holds both Splink settings with their trained m and u values, under a format
name and a version; :func:`load_model` refuses any other.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator
from splink.blocking_rule_library import CustomRule

from etl.matching import prepare

MODEL_FORMAT = "mashaghel-suspected-duplicates"
MODEL_VERSION = 1
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = MODELS_DIR / f"suspected_duplicates.v{MODEL_VERSION}.json"

RETAINED = ["national_id", "province_code"]
# DuckDB's share of a matching process. A national recompute measured 909 MB in all at 600MB and
# 1,278 MB at 1GB in the same time (400MB: no less memory, 10% slower), so that the ingest's 600 MB
# and a first national match stay under 1.5 GB in one process.
MEMORY_LIMIT = "600MB"
# The m of a level never seen among true pairs, and the u of one never seen among random pairs:
# strong evidence, not proof, and no division by zero.
M_FLOOR = 1e-6
U_FLOOR = 1e-6

for _name in ("splink", "splink.internals"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class ModelError(ValueError):
    """The model file is missing, of another format, or of another version."""


# --------------------------------------------------------------------------- settings


def _name(column: str, output: str, *, tf: bool, given: str | None = None) -> cl.CustomComparison:
    """Name keys; with ``given``, two different common given names are two names, not a typo."""
    levels = [cll.NullLevel(column), cll.ExactMatchLevel(column, term_frequency_adjustments=tf)]
    if given:
        # A decision, not an estimate: two different common given names are two people's names (a
        # typo that happens to make another common name, «حسین» -> «حسن», is given up).
        different = cll.CustomLevel(f"{given}_l = '1' AND {given}_r = '1'", "two different given names")
        levels.append(different.configure(m_probability=M_FLOOR, fix_m_probability=True))
    return cl.CustomComparison(
        output_column_name=output,
        comparison_levels=[
            *levels,
            cll.JaroWinklerLevel(column, 0.9),
            cll.JaroWinklerLevel(column, 0.8),
            cll.JaroWinklerLevel(column, 0.7),
            cll.ElseLevel(),
        ],
    )


SIMILAR_FIRST_LABEL = ", same or similar first name"
# The same first name, or one a typo away (two different common given names are not).
SAME_FIRST = (
    "(first_key_l = first_key_r OR (jaro_winkler_similarity(first_key_l, first_key_r) >= 0.8"
    " AND NOT (coalesce(first_given_l, '') = '1' AND coalesce(first_given_r, '') = '1')))"
)


def _birth() -> cl.CustomComparison:
    """Jalali birth dates; one shared with another first name is a twin's, not a duplicate's."""
    l, r = "birth_jalali_l", "birth_jalali_r"  # noqa: E741
    swapped = (
        f"substr({l}, 1, 4) = substr({r}, 1, 4) AND substr({l}, 6, 2) = substr({r}, 9, 2)"
        f" AND substr({l}, 9, 2) = substr({r}, 6, 2)"
    )
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_jalali"),
            cll.CustomLevel(f"{l} = {r} AND {SAME_FIRST}", "same date" + SIMILAR_FIRST_LABEL),
            cll.CustomLevel(f"{l} = {r}", "same date, another first name"),
            cll.CustomLevel(
                f"damerau_levenshtein({l}, {r}) <= 1 OR ({swapped})",
                "Jalali date one digit apart, or day and month swapped",
            ),
            cll.CustomLevel(f"substr({l}, 1, 4) = substr({r}, 1, 4)", "same Jalali year"),
            cll.ElseLevel(),
        ],
    )


def _mobile() -> cl.CustomComparison:
    """Mobiles; one shared with another first name is a family phone, not a duplicate's."""
    return cl.CustomComparison(
        output_column_name="mobile",
        comparison_levels=[
            cll.NullLevel("mobile"),
            cll.CustomLevel(f"mobile_l = mobile_r AND {SAME_FIRST}", "same mobile" + SIMILAR_FIRST_LABEL),
            cll.CustomLevel("mobile_l = mobile_r", "same mobile, another first name"),
            cll.DamerauLevenshteinLevel("mobile", 1),
            cll.ElseLevel(),
        ],
    )


def _common() -> list[cl.CustomComparison]:
    return [
        _name("first_key", "first_name", tf=True, given="first_given"),
        _name("last_key", "last_name", tf=True),
        _name("father_key", "father_name", tf=False, given="father_given"),
        _birth(),
        _mobile(),
        cl.CustomComparison(
            output_column_name="county",
            comparison_levels=[cll.NullLevel("county_key"), cll.ExactMatchLevel("county_key"), cll.ElseLevel()],
        ),
    ]


def person_settings() -> SettingsCreator:
    """Dedupe identity rows: pairs with different national IDs sharing a capped blocking key."""
    other_id = "l.national_id <> r.national_id"
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            *_common(),
            cl.CustomComparison(
                output_column_name="national_id",
                comparison_levels=[
                    cll.NullLevel("national_id"),
                    cll.CustomLevel(
                        "damerau_levenshtein(national_id_l, national_id_r) <= 2", "two valid IDs two slips apart"
                    ),
                    cll.ElseLevel(),
                ],
            ),
        ],
        blocking_rules_to_generate_predictions=[
            CustomRule(f"l.{key} = r.{key} AND {other_id}") for key in prepare.PERSON_BLOCKS
        ],
        additional_columns_to_retain=RETAINED,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=True,
    )


def refused_settings() -> SettingsCreator:
    """Link refused rows to identity rows: blocked on ID fragments and on last name with birth date."""
    distance = "least(damerau_levenshtein(id_digits_l, id_digits_r), damerau_levenshtein(id_padded_l, id_padded_r))"
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=[
            *_common(),
            cl.CustomComparison(
                output_column_name="national_id",
                comparison_levels=[
                    cll.NullLevel("id_digits"),
                    cll.CustomLevel(f"{distance} <= 1", "one digit mistyped, dropped, added, or two swapped"),
                    cll.CustomLevel(f"{distance} <= 2", "two slips"),
                    cll.ElseLevel(),
                ],
            ),
        ],
        blocking_rules_to_generate_predictions=[CustomRule(f"l.{key} = r.{key}") for key in prepare.REFUSED_BLOCKS],
        additional_columns_to_retain=RETAINED,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=True,
    )


# --------------------------------------------------------------------------- running Splink


_CONNECTIONS = itertools.count()


def connection(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection (``threads``: at most that many) that spills to a temporary
    directory beyond :data:`MEMORY_LIMIT` instead of growing (by default DuckDB takes up to 80% of
    the machine's memory)."""
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    # A directory of this connection's own: two spilling into one would share file names.
    spill = Path(tempfile.gettempdir()) / f"mashaghel-duckdb-{os.getpid()}-{next(_CONNECTIONS)}"
    con.execute("SET temp_directory = ?", [str(spill)])
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def linker(con: duckdb.DuckDBPyConnection, settings: SettingsCreator | dict[str, Any], *tables: str) -> Linker:
    """A Splink linker over DuckDB tables (one: dedupe; two: link only, aliased by table name)."""
    settings = copy.deepcopy(settings) if isinstance(settings, dict) else settings
    return Linker(
        list(tables) if len(tables) > 1 else tables[0],
        settings,
        DuckDBAPI(connection=con),
        set_up_basic_logging=False,
        input_table_aliases=list(tables) if len(tables) > 1 else None,
    )


def predict(model: Linker, con: duckdb.DuckDBPyConnection, threshold: float) -> tuple[pd.DataFrame, int]:
    """(pairs scored at or above ``threshold``, number of pairs scored)."""
    scored = model.inference.predict()
    try:
        table = scored.physical_name
        total = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        above = con.execute(
            f"SELECT * FROM {table} WHERE match_probability >= ? ORDER BY unique_id_l, unique_id_r", [threshold]
        ).df()
    finally:
        scored.drop_table_from_database_and_remove_from_cache()
    return above, total


# --------------------------------------------------------------------------- training and the file


def _floor(settings: dict[str, Any]) -> dict[str, Any]:
    settings.pop("linker_uid", None)  # random per linker: the same training gives the same file
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            if (level.get("m_probability") or 0) < M_FLOOR:
                level["m_probability"] = M_FLOOR
            if not level.get("u_probability"):
                level["u_probability"] = U_FLOOR
    return settings


def _condition_on_first_name(settings: dict[str, Any]) -> dict[str, Any]:
    """Store levels "X, same or similar first name" as probabilities of X given that first names
    agree, so that the agreement already scored by the first-name comparison is not counted twice.

    (Levels "X, another first name" keep their joint probabilities: for a duplicate they almost
    never occur, and that is the twins' signature the model must see.)
    """
    first = next(c for c in settings["comparisons"] if c["output_column_name"] == "first_name")
    agree = [
        level
        for level in first["comparison_levels"]
        if not level.get("is_null_level") and level.get("label_for_charts") != "two different given names"
    ][:3]  # exact, Jaro-Winkler >= 0.9 and >= 0.8: what SAME_FIRST accepts
    m_agree = sum(level["m_probability"] for level in agree)
    u_agree = sum(level["u_probability"] for level in agree)
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if str(level.get("label_for_charts", "")).endswith(SIMILAR_FIRST_LABEL):
                level["m_probability"] = min(1.0, level["m_probability"] / m_agree)
                level["u_probability"] = min(1.0, level["u_probability"] / u_agree)
    return settings


def _labels(con: duckdb.DuckDBPyConnection, name: str, pairs: pd.DataFrame, link: bool) -> str:
    """A table of true pairs (``unique_id_l``, ``unique_id_r``; refused on the left when ``link``)."""
    labels = pairs[["unique_id_l", "unique_id_r"]].astype(str)
    if link:
        labels = labels.assign(source_dataset_l="refused", source_dataset_r="persons")
        labels = labels[["source_dataset_l", "unique_id_l", "source_dataset_r", "unique_id_r"]]
    con.register(f"{name}_view", labels)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_view")
    con.unregister(f"{name}_view")
    return name


def train(
    persons: pd.DataFrame,
    refused: pd.DataFrame,
    person_pairs: pd.DataFrame,
    refused_pairs: pd.DataFrame,
    *,
    seed: int,
    u_pairs: float = 5e6,
    threads: int | None = None,
) -> dict[str, Any]:
    """Both models, trained on key frames (:mod:`etl.matching.prepare`) with known truth.

    ``person_pairs`` are true pairs of identity rows and ``refused_pairs`` true (refused row,
    identity row) links, both as ``unique_id_l``, ``unique_id_r``. u comes from random pairs
    (seeded), m from the true pairs (a level never seen among them gets :data:`M_FLOOR`), and the
    prior is kept per record (true pairs per identity row, true links per refused row) so that it
    can be scaled to the size of each run.
    """
    con = connection(threads)
    prepare.load_table(con, "persons", persons, persons=True)
    prepare.load_table(con, "refused", refused, persons=False)
    people = linker(con, person_settings(), "persons")
    people.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    people.training.estimate_m_from_pairwise_labels(_labels(con, "person_labels", person_pairs, link=False))
    links = linker(con, refused_settings(), "refused", "persons")
    links.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    links.training.estimate_m_from_pairwise_labels(_labels(con, "refused_labels", refused_pairs, link=True))
    model = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "pairs_per_person": len(person_pairs) / len(persons),
        "links_per_refused_row": len(refused_pairs) / len(refused),
        "persons_model": _condition_on_first_name(_floor(people.misc.save_model_to_json())),
        "refused_model": _condition_on_first_name(_floor(links.misc.save_model_to_json())),
    }
    con.close()
    return model


def with_prior(settings: dict[str, Any], probability: float) -> dict[str, Any]:
    """A copy of Splink settings with the prior probability that two random rows match."""
    out = copy.deepcopy(settings)
    out["probability_two_random_records_match"] = min(max(probability, 1e-12), 0.5)
    return out


def person_prior(model: dict, identity_rows: int) -> float:
    """The prior that two identity rows are one person, for a warehouse of ``identity_rows`` rows."""
    return 2 * model["pairs_per_person"] / max(identity_rows - 1, 1)


def refused_prior(model: dict, identity_rows: int) -> float:
    """The prior that a refused row belongs to a given identity row."""
    return model["links_per_refused_row"] / max(identity_rows, 1)


def restricted(settings: dict[str, Any], condition: str) -> dict[str, Any]:
    """A copy of Splink settings whose blocking rules also require ``condition`` (SQL over ``l`` and ``r``)."""
    out = copy.deepcopy(settings)
    for rule in out["blocking_rules_to_generate_predictions"]:
        rule["blocking_rule"] = f"({rule['blocking_rule']}) AND ({condition})"
    return out


def in_pass(settings: dict[str, Any], current: int) -> dict[str, Any]:
    """A copy of Splink settings that scores only the pairs whose smaller ``match_pass`` is ``current``.

    An incremental match gives each recomputed row the number of the pass it belongs to and every
    other row a larger one, so that each pair with a recomputed side is scored in exactly one pass.
    """
    return restricted(settings, f"least(l.match_pass, r.match_pass) = {int(current)}")


def use_frequencies(model: Linker, frequencies: dict[str, pd.DataFrame]) -> None:
    """Make the linker use these term frequencies (column -> frame of the value and ``tf_<column>``)
    instead of computing them from its input, which is only a part of the warehouse."""
    for column, frame in frequencies.items():
        model.table_management.register_term_frequency_lookup(frame, column, overwrite=True)


def save_model(model: dict[str, Any], path: Path) -> None:
    """Write the model as indented JSON with sorted keys (stable diffs between retrainings)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(model, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def load_model(path: Path | str = DEFAULT_MODEL) -> dict[str, Any]:
    """The model file, checked for format and version."""
    try:
        model = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ModelError(f"no model file at {path}: train one with `python -m etl.match train`") from error
    if model.get("format") != MODEL_FORMAT or model.get("version") != MODEL_VERSION:
        raise ModelError(
            f"{path} is {model.get('format')} v{model.get('version')}, expected {MODEL_FORMAT} v{MODEL_VERSION}"
        )
    return model
