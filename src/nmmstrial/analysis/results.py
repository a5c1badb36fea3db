"""The result of a paired or two-sample test, and the checks its two inputs share.

Both refuse missing values and values that are not numbers, and x and y all one
value (`data.numeric` on x then y). Paired tests also refuse unequal lengths and
fewer than 2 pairs; x or y alone may be constant (a fold change is 1 at baseline),
and what a test cannot use (all differences zero, no spread) it refuses itself.
Two-sample tests refuse fewer than 2 values in a group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..errors import InvalidValueError
from .data import numeric

CONF_LEVEL = 0.95
ALTERNATIVE = "two.sided"

Interval = tuple[float, float] | None


@dataclass(frozen=True, kw_only=True)
class TestResult:
    """One paired or two-sample test; fields that do not apply are None.

    `n` counts pairs (paired) or n_x + n_y (two samples); `estimate` is the mean
    difference x - y (t tests) or the Hodges-Lehmann estimate (rank tests), with
    its 95 % interval `ci`. `options` records mode, continuity, alternative and
    conf_level as asked; `method` says what was done.
    """

    __test__ = False  # not a pytest test class, whatever its name

    test: str
    method: str
    statistic: float
    df: float | None = None
    p: float
    n: int
    n_x: int | None = None
    n_y: int | None = None
    estimate: float | None = None
    ci: Interval = None
    hedges_g: float | None = None
    hedges_g_ci: Interval = None
    rank_biserial: float | None = None
    rank_biserial_ci: Interval = None
    hodges_lehmann: float | None = None
    options: dict

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes None, intervals 2-element lists (or None)."""
        out = {}
        for key, value in asdict(self).items():
            if key.endswith("ci") and value is not None:
                value = [plain(v) for v in value]
                value = None if any(v is None for v in value) else value
            elif key == "options":
                value = {k: plain(v) for k, v in value.items()}
            else:
                value = plain(value)
            out[key] = value
        return out


def plain(value):
    """A JSON-ready scalar: numpy numbers to Python ones, NaN to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def paired_values(x: Sequence, y: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """x and y as float arrays of equal length, at least 2 pairs, every value a number."""
    if len(x) != len(y):
        raise InvalidValueError(
            f"paired test: x has {len(x)} values and y {len(y)}; give one x and one y per pair"
        )
    if len(x) < 2:
        raise InvalidValueError(f"paired test: {len(x)} pair(s); at least 2 are needed")
    return _stacked(x, y, source="paired test (rows: x, then y)")


def two_sample_values(x: Sequence, y: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """x and y as float arrays, at least 2 values each, not all values equal."""
    sizes = {"x": len(x), "y": len(y)}
    small = [f"{k} has {v}" for k, v in sizes.items() if v < 2]
    if small:
        raise InvalidValueError(
            f"two-sample test: {', '.join(small)} value(s); each group needs at least 2"
        )
    return _stacked(x, y, source="two-sample test (rows: x, then y)")


def _stacked(x: Sequence, y: Sequence, *, source: str) -> tuple[np.ndarray, np.ndarray]:
    # One `numeric` check over x then y: a bad value is named by its row in that
    # order; only x and y all equal to one value is refused as constant.
    frame = pd.DataFrame({"value": [*x, *y]})
    values = numeric(frame, "value", source=source).to_numpy()
    return values[: len(x)], values[len(x) :]
