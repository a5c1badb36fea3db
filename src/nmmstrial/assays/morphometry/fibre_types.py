"""Fibre typing from per-fibre myosin intensities: Otsu or given thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ...errors import InvalidValueError

TYPES = ("slow", "fast", "hybrid", "none")


def otsu_threshold(values: Sequence[float]) -> float:
    """Otsu's threshold on the values themselves (no histogram binning): the split of
    the sorted values that maximises the between-class variance, placed midway
    between the two values it separates, so a fibre is never on the threshold."""
    v = np.sort(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    if len(v) < 2 or v[0] == v[-1]:
        raise InvalidValueError(
            "Otsu threshold: the per-fibre means need at least 2 distinct values; "
            "give --threshold NAME=V"
        )
    n = len(v)
    k = np.arange(1, n)
    cum = np.cumsum(v)[:-1]
    w0, w1 = k / n, (n - k) / n
    m0, m1 = cum / k, (v.sum() - cum) / (n - k)
    between = w0 * w1 * (m0 - m1) ** 2
    between[v[1:] == v[:-1]] = -1  # a split must fall between distinct values
    best = int(np.argmax(between))
    return float((v[best] + v[best + 1]) / 2)


def type_fibres(
    means: pd.DataFrame,
    *,
    included: np.ndarray | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> tuple[list[str], dict[str, float], str]:
    """Fibre types from per-fibre mean intensities (columns slow and/or fast).

    A fibre is positive for a channel when its mean exceeds the threshold: given, or
    Otsu on the included fibres' means. With only a slow channel, a fibre that is not
    slow is fast. With both: slow, fast, hybrid (positive in both) or none (neither).
    Returns the types, the thresholds used and "given", "otsu" or "given+otsu".
    """
    given = dict(thresholds or {})
    unknown = [name for name in given if name not in means.columns]
    if unknown:
        raise InvalidValueError(
            f"--threshold {', '.join(unknown)}: no such channel; channels given: "
            f"{', '.join(means.columns)}"
        )
    if "slow" not in means.columns and "fast" not in means.columns:
        raise InvalidValueError("fibre typing needs a slow or fast channel")
    keep = np.ones(len(means), bool) if included is None else np.asarray(included, bool)
    used, methods = {}, set()
    positive = {}
    for role in means.columns:
        if role in given:
            used[role] = float(given[role])
            methods.add("given")
        else:
            used[role] = otsu_threshold(means[role].to_numpy()[keep])
            methods.add("otsu")
        positive[role] = means[role].to_numpy() > used[role]
    slow = positive.get("slow")
    fast = positive.get("fast")
    if fast is None:
        types = np.where(slow, "slow", "fast")
    elif slow is None:
        types = np.where(fast, "fast", "slow")
    else:
        types = np.select([slow & fast, slow, fast], ["hybrid", "slow", "fast"], "none")
    method = "+".join(m for m in ("given", "otsu") if m in methods)
    return [str(t) for t in types], used, method
