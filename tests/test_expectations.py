"""The expectation suites are the row rules: they load whole, carry reason codes, and decide."""

import datetime as dt
import json
import subprocess
import sys

import pandas as pd
import pytest

from etl import reasons as rc
from etl.contract import SOURCES, contract, enum_lookup
from etl.normalise import normalise
from etl.validate import SuiteError, _validation_definition, load_suite_dict, validate, validate_many

ROW_REASONS = {
    rc.MISSING_REQUIRED,
    rc.INVALID_NATIONAL_ID,
    rc.INVALID_DATE,
    rc.FUTURE_DATE,
    rc.INVALID_AMOUNT,
    rc.INVALID_VALUE,
    rc.PROVINCE_MISMATCH,
    rc.INVALID_OPTIONAL_VALUE,
}

FRESH_INTERPRETER_COUNT = """
import json, sys
from etl.validate import _validation_definition, load_suite_dict
for source in sys.argv[1:]:
    loaded = len(_validation_definition(source).suite.expectations)
    print(json.dumps([source, loaded, len(load_suite_dict(source)["expectations"])]))
"""


def test_every_suite_loads_whole_in_a_fresh_interpreter():
    """GX drops expectations whose class was not imported; count them where nothing was imported before."""
    result = subprocess.run(
        [sys.executable, "-c", FRESH_INTERPRETER_COUNT, *SOURCES], capture_output=True, text=True, check=True
    )
    counts = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("[")]
    assert [c[0] for c in counts] == list(SOURCES)
    for source, loaded, stored in counts:
        assert loaded == stored >= 12, source


def test_a_suite_naming_an_unknown_expectation_is_refused(tmp_path, monkeypatch):
    import etl.validate as validate_module

    suite = load_suite_dict("training")
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_a_unicorn",
            "kwargs": {"column": "hours"},
            "meta": {"reason": "invalid_value"},
        }
    )
    (tmp_path / "training.json").write_text(json.dumps(suite), encoding="utf-8")
    monkeypatch.setattr(validate_module, "SUITES_DIR", tmp_path)
    fresh_gx_context = (validate_module._validation_definition, validate_module._context)
    for cached in fresh_gx_context:
        cached.cache_clear()
    try:
        with pytest.raises(SuiteError, match="dropped"):
            _validation_definition("training")
    finally:
        for cached in fresh_gx_context:  # later tests in this process get a context with the real suites
            cached.cache_clear()


@pytest.mark.parametrize("source", SOURCES)
def test_every_expectation_carries_a_known_reason_and_blanks_only_on_warning(source):
    for expectation in load_suite_dict(source)["expectations"]:
        assert expectation["meta"]["reason"] in ROW_REASONS
        assert (expectation["severity"] == "warning") == bool(expectation["meta"].get("blank"))
        assert (expectation["meta"]["reason"] == rc.INVALID_OPTIONAL_VALUE) == (expectation["severity"] == "warning")


@pytest.mark.parametrize("source", SOURCES)
def test_enumeration_value_sets_match_the_column_mapping(source):
    spec = contract()[source]
    for expectation in load_suite_dict(source)["expectations"]:
        if expectation["type"] != "expect_column_values_to_be_in_set":
            continue
        column = spec.column(expectation["kwargs"]["column"].removesuffix("__input"))
        assert sorted(expectation["kwargs"]["value_set"]) == sorted(enum_lookup(column.enum))


@pytest.mark.parametrize("source", SOURCES)
def test_every_required_column_is_checked_for_missing_values(source):
    spec = contract()[source]
    checked = {
        e["kwargs"]["column"].removesuffix("__input").removesuffix("__key")
        for e in load_suite_dict(source)["expectations"]
        if e["type"] == "expect_column_values_to_not_be_null"
    }
    required = {c.name for c in spec.columns if c.required and c.kind != "amount"}
    if any(c.kind == "amount" for c in spec.columns):
        required.add("amount_rial")
    assert checked == required


def _validate_loans(rows: list[dict]):
    frame = pd.DataFrame(rows, dtype="string")
    frame["_line"] = range(2, len(frame) + 2)
    source = contract()["loans"]
    return validate(normalise(frame, source, "IR-04", dt.date(2026, 1, 10)), source)


GOOD_LOAN = {
    "loan_id": "L1",
    "bank": "بانک ملت",
    "national_id": "0499370899",
    "loan_type": "انفرادی",
    "amount_rial": "100000000",
    "status": "approved",
    "approved_at": "1402/01/15",
    "disbursed_at": "1402/02/01",
}


@pytest.mark.parametrize(
    ("change", "reasons"),
    [
        ({}, None),
        ({"national_id": "0499370898"}, [rc.INVALID_NATIONAL_ID]),
        ({"national_id": ""}, [rc.MISSING_REQUIRED]),
        ({"loan_id": "\u200c "}, [rc.MISSING_REQUIRED]),  # nothing left of the key once compared
        ({"loan_type": "قرض"}, [rc.INVALID_VALUE]),
        ({"amount_rial": "0"}, [rc.INVALID_AMOUNT]),
        ({"amount_rial": "12.5"}, [rc.INVALID_AMOUNT]),
        ({"status": "نامشخص", "amount_rial": "-3"}, [rc.INVALID_VALUE, rc.INVALID_AMOUNT]),
        ({"province": "تهران"}, [rc.PROVINCE_MISMATCH]),
        ({"province": "آذربایجان غربی"}, None),
    ],
)
def test_row_reasons_come_from_the_suite(change, reasons):
    outcome = _validate_loans([{**GOOD_LOAN, **change}])
    assert outcome.rejected == ({0: reasons} if reasons else {})


def test_an_invalid_or_future_optional_date_is_emptied_with_a_warning():
    outcome = _validate_loans(
        [{**GOOD_LOAN, "approved_at": "1404/12/30"}, {**GOOD_LOAN, "loan_id": "L2", "disbursed_at": "2099-01-01"}]
    )
    assert outcome.rejected == {}
    assert outcome.warnings_by_reason == {rc.INVALID_OPTIONAL_VALUE: 2}
    accepted = outcome.accepted.set_index("loan_id")
    assert pd.isna(accepted.loc["L1", "approved_at"]) and pd.isna(accepted.loc["L1", "approved_at_jalali_year"])
    assert pd.isna(accepted.loc["L2", "disbursed_at"]) and accepted.loc["L2", "approved_at"] == "2023-04-04"


def test_a_future_date_in_a_required_column_rejects_the_row():
    frame = pd.DataFrame(
        [
            {
                "application_id": "A1",
                "national_id": "0499370899",
                "first_name": "علی",
                "last_name": "رضایی",
                "registered_at": "1405/01/01",
            }
        ],
        dtype="string",
    )
    frame["_line"] = [2]
    source = contract()["applicants"]
    outcome = validate(normalise(frame, source, "IR-04", dt.date(2026, 3, 20)), source)
    assert outcome.rejected == {0: [rc.FUTURE_DATE]}
    outcome = validate(normalise(frame, source, "IR-04", dt.date(2026, 3, 21)), source)  # 1405/01/01 itself
    assert outcome.rejected == {}


def test_identical_duplicates_count_once_and_conflicting_ones_are_all_rejected():
    outcome = _validate_loans(
        [
            GOOD_LOAN,
            {**GOOD_LOAN, "loan_id": " l1", "bank": "بانك  ملت"},  # the same key, the same values
            {**GOOD_LOAN, "loan_id": "L2"},
            {**GOOD_LOAN, "loan_id": "L2", "amount_rial": "200000000"},
            {**GOOD_LOAN, "loan_id": "L2", "national_id": "123"},  # rejected for itself: no part in the conflict
        ]
    )
    assert outcome.rejected == {
        2: [rc.CONFLICTING_DUPLICATE],
        3: [rc.CONFLICTING_DUPLICATE],
        4: [rc.INVALID_NATIONAL_ID],
    }
    assert len(outcome.accepted) == 1


def _normalised_loans(rows: list[dict], first_label: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame(rows, dtype="string", index=range(first_label, first_label + len(rows)))
    frame["_line"] = range(2, len(frame) + 2)
    return normalise(frame, contract()["loans"], "IR-04", dt.date(2026, 1, 10))


def test_files_validated_in_one_batch_get_the_outcome_each_would_get_alone():
    """One run of the suite for many files; reasons land on the right file's rows, duplicates judged per file."""
    files = [
        _normalised_loans(
            [
                GOOD_LOAN,
                {**GOOD_LOAN, "loan_id": "L2", "national_id": "0499370898"},
                {**GOOD_LOAN, "loan_id": "L3", "approved_at": "1404/12/30"},
            ]
        ),
        _normalised_loans([]),
        # The same key as the first file's L1 with other values: a conflict only within one file.
        _normalised_loans(
            [
                {**GOOD_LOAN, "amount_rial": "-5"},
                {**GOOD_LOAN, "loan_id": "L9"},
                {**GOOD_LOAN, "loan_id": "L9", "amount_rial": "200000000"},
                {**GOOD_LOAN, "loan_id": "L4", "loan_type": "قرض"},
            ],
            first_label=7,
        ),
        _normalised_loans([{**GOOD_LOAN, "amount_rial": "300000000"}]),
    ]
    source = contract()["loans"]
    batched = validate_many(files, source)
    alone = [validate(frame, source) for frame in files]
    assert [b.rejected for b in batched] == [a.rejected for a in alone]
    assert batched[0].rejected == {1: [rc.INVALID_NATIONAL_ID]}
    assert batched[2].rejected == {
        7: [rc.INVALID_AMOUNT],
        8: [rc.CONFLICTING_DUPLICATE],
        9: [rc.CONFLICTING_DUPLICATE],
        10: [rc.INVALID_VALUE],
    }
    assert batched[3].rejected == {}
    for together, single in zip(batched, alone, strict=True):
        pd.testing.assert_frame_equal(together.accepted, single.accepted)
        assert together.warnings_by_reason == single.warnings_by_reason
    assert batched[0].warnings_by_reason == {rc.INVALID_OPTIONAL_VALUE: 1}
