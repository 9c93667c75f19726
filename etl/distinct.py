"""Apply a per-value function to a whole column, once per distinct value.

Provincial columns repeat themselves (names, dates, banks, enumerations), so
parsing each distinct value once and mapping the results back is the fast way
to work on whole columns without a Python loop over rows. Columns whose values
are mostly unique (national IDs, mobiles, record IDs) mostly arrive already in
their canonical form: ``already`` names that form, and such values skip the
function (a regular-expression match costs a fraction of a parse).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pandas as pd


@lru_cache(maxsize=64)
def _pattern(already: str) -> re.Pattern:
    return re.compile(already)


def map_distinct(
    values: pd.Series, func: Callable[[str], object], dtype: str | None = None, already: str | None = None
) -> pd.Series:
    """``func`` of every non-missing value, computed once per distinct value; missing stays missing.

    Distinct values that fully match the regular expression ``already`` are their own result.
    """
    codes, uniques = pd.factorize(values)
    distinct = np.asarray(uniques, dtype=object)
    if already is None:
        computed = [func(value) for value in distinct]
    else:
        canonical = _pattern(already).fullmatch
        computed = [value if canonical(value) else func(value) for value in distinct]
    # One result per distinct value, then None for the missing ones (code -1 takes the last element).
    results = np.array([*computed, None], dtype=object)
    mapped = pd.Series(results[codes], index=values.index, dtype=object)  # None stays None, not NaN
    return mapped.astype(dtype) if dtype else mapped


def passes_distinct(values: pd.Series, check: Callable[[str], bool], already: str | None = None) -> pd.Series:
    """Boolean Series: ``check`` of every value (missing is False), once per distinct value.

    Distinct values that fully match ``already`` pass without being checked.
    """
    if already is not None:
        canonical = _pattern(already).fullmatch
        plain_check = check

        def check(value: str) -> bool:
            return bool(canonical(value)) or plain_check(value)

    return map_distinct(values, check).fillna(False).astype(bool)
