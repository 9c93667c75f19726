"""Custom Great Expectations expectations for the contract's value rules.

Each wraps the very function the normaliser uses, so what the suite accepts is
exactly what can be loaded. Import this module before loading a suite: GX drops
expectations whose class it does not know, silently (see etl.validate).
"""

from __future__ import annotations

import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from etl.dates import is_date_series
from etl.distinct import passes_distinct
from etl.national_id import valid_national_id_series
from etl.normalise import CANONICAL_MOBILE, clean_mobile, non_negative_number, rial_amount


class ColumnValuesValidIranianNationalId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_iranian_national_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return valid_national_id_series(column)


class ExpectColumnValuesToBeValidIranianNationalId(ColumnMapExpectation):
    """Expect ten digits with a correct national-ID check digit, not one digit repeated."""

    map_metric = "column_values.valid_iranian_national_id"
    success_keys = ("mostly",)


class ColumnValuesContractDate(ColumnMapMetricProvider):
    condition_metric_name = "column_values.contract_date"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return is_date_series(column)


class ExpectColumnValuesToBeContractDates(ColumnMapExpectation):
    """Expect YYYY/MM/DD, YYYY-MM-DD or YYYY.MM.DD: Jalali years 1300-1499, Gregorian 1900-2100."""

    map_metric = "column_values.contract_date"
    success_keys = ("mostly",)


class ColumnValuesIranianMobile(ColumnMapMetricProvider):
    condition_metric_name = "column_values.iranian_mobile"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return passes_distinct(column, lambda value: clean_mobile(value) is not None, already=CANONICAL_MOBILE)


class ExpectColumnValuesToBeIranianMobiles(ColumnMapExpectation):
    """Expect 09XXXXXXXXX, +989…, 00989…, 989… or 9… (ten digits)."""

    map_metric = "column_values.iranian_mobile"
    success_keys = ("mostly",)


class ColumnValuesPositiveWholeRial(ColumnMapMetricProvider):
    condition_metric_name = "column_values.positive_whole_rial"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return passes_distinct(column, lambda value: rial_amount(value) is not None)


class ExpectColumnValuesToBePositiveWholeRial(ColumnMapExpectation):
    """Expect a positive whole number of rial (toman already converted by the normaliser)."""

    map_metric = "column_values.positive_whole_rial"
    success_keys = ("mostly",)


class ColumnValuesNonNegativeNumber(ColumnMapMetricProvider):
    condition_metric_name = "column_values.non_negative_number"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return passes_distinct(column, lambda value: non_negative_number(value) is not None)


class ExpectColumnValuesToBeNonNegativeNumbers(ColumnMapExpectation):
    """Expect a number that is zero or more."""

    map_metric = "column_values.non_negative_number"
    success_keys = ("mostly",)


CUSTOM_EXPECTATIONS = (
    ExpectColumnValuesToBeValidIranianNationalId,
    ExpectColumnValuesToBeContractDates,
    ExpectColumnValuesToBeIranianMobiles,
    ExpectColumnValuesToBePositiveWholeRial,
    ExpectColumnValuesToBeNonNegativeNumbers,
)
