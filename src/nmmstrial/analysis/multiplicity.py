"""Multiplicity adjustment of a family of p values, as R's `p.adjust`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidValueError

METHODS = ("bonferroni", "holm", "hochberg", "bh")


def adjust_p(p: Sequence[float], method: str) -> np.ndarray:
    """Adjusted p values of one family, exactly as R's `p.adjust(p, method)`.

    `method` is "bonferroni", "holm", "hochberg" or "bh" (Benjamini-Hochberg; any
    letter case, so R's "BH" too).
    Missing p values (NaN or None) stay NaN and do not count in the family size
    n, as in R; adjusted values are capped at 1.

    Example:
        >>> adjust_p([0.01, 0.04, 0.03], "holm").round(4).tolist()
        [0.03, 0.06, 0.06]
    """
    if str(method).lower() not in METHODS:
        raise InvalidValueError(
            f"p adjustment {method!r} is not known; use one of {', '.join(METHODS)}"
        )
    method = method.lower()
    values = np.array([np.nan if v is None else v for v in p], dtype=float)
    present = ~np.isnan(values)
    if ((values[present] < 0) | (values[present] > 1)).any():
        bad = values[present][(values[present] < 0) | (values[present] > 1)][0]
        raise InvalidValueError(f"p adjustment: {bad:g} is not a p value (0 to 1)")
    out = values.copy()
    kept = values[present]
    n = len(kept)
    if n <= 1:
        return out
    if method == "bonferroni":
        adjusted = np.minimum(1.0, n * kept)
    elif method == "holm":
        order = np.argsort(kept, kind="stable")
        steps = n - np.arange(n)  # n, n-1, ..., 1 from the smallest p up
        adjusted = np.empty(n)
        adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps * kept[order]))
    else:
        order = np.argsort(-kept, kind="stable")  # largest p first
        rank = n - np.arange(n)  # its rank among the n, from n down to 1
        factor = np.arange(1, n + 1) if method == "hochberg" else n / rank
        adjusted = np.empty(n)
        adjusted[order] = np.minimum(1.0, np.minimum.accumulate(factor * kept[order]))
    out[present] = adjusted
    return out
