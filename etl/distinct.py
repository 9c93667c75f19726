"""Apply a per-value function to a whole column, once per distinct value.

Provincial columns repeat themselves (names, dates, banks, enumerations), so
parsing each distinct value once and mapping the results back is the fast way
to work on whole columns without a Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def map_distinct(values: pd.Series, func: Callable[[str], object], dtype: str | None = None) -> pd.Series:
    """``func`` of every non-missing value, computed once per distinct value; missing stays missing."""
    codes, uniques = pd.factorize(values)
    # One result per distinct value, then None for the missing ones (code -1 takes the last element).
    results = np.array([*(func(value) for value in np.asarray(uniques, dtype=object)), None], dtype=object)
    mapped = pd.Series(results[codes], index=values.index)
    return mapped.astype(dtype) if dtype else mapped


def passes_distinct(values: pd.Series, check: Callable[[str], bool]) -> pd.Series:
    """Boolean Series: ``check`` of every value (missing is False), once per distinct value."""
    return map_distinct(values, check).fillna(False).astype(bool)
