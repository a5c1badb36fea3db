"""Checking and shaping the data every statistic starts from.

One place for the refusals all tests share: a missing column, a non-numeric or
constant outcome, too few subjects, and subjects missing a within-subject cell
(an error naming the subject and the cell, or, with `listwise`, the subject is
dropped and named in the result: never a silent drop).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidValueError


def require_columns(data: pd.DataFrame, columns: Sequence[str], *, source: str = "data") -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise InvalidValueError(
            f"{source}: no column {', '.join(map(repr, missing))}; "
            f"columns: {', '.join(map(str, data.columns))}"
        )


def numeric(data: pd.DataFrame, column: str, *, source: str = "data") -> pd.Series:
    """`data[column]` as float; a value that is not a number is an error naming its row."""
    values = pd.to_numeric(data[column], errors="coerce")
    bad = values.isna() & data[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InvalidValueError(
            f"{source}, row {row + 1}, column {column}: {data[column].iloc[row]!r} is not a number"
        )
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InvalidValueError(f"{source}, row {row + 1}, column {column}: missing value")
    if values.empty:
        raise InvalidValueError(f"{source}, column {column}: no values (nothing entered yet)")
    if values.nunique() < 2:
        raise InvalidValueError(
            f"{source}, column {column}: every value is {values.iloc[0]:g}; "
            "a constant outcome cannot be tested"
        )
    return values.astype(float)


def levels(series: pd.Series, given: Sequence[str] | None = None, *, name: str = "") -> list:
    """Factor levels: as given (all must occur), else sorted as R sorts them."""
    present = list(pd.unique(series.dropna()))
    if given is None:
        return sorted(present, key=lambda v: (str(type(v)), v))
    given = list(given)
    unknown = [g for g in given if g not in [str(p) for p in present]]
    if unknown:
        raise InvalidValueError(
            f"--levels {name}: {', '.join(unknown)} not found; levels in the data: "
            f"{', '.join(map(str, sorted(map(str, present))))}"
        )
    missing = [p for p in present if str(p) not in given]
    if missing:
        raise InvalidValueError(
            f"--levels {name}: the data also have {', '.join(map(str, missing))}; list every level"
        )
    by_text = {str(p): p for p in present}
    return [by_text[g] for g in given]


def complete_subjects(
    data: pd.DataFrame,
    dv: str,
    subject: str,
    within: Sequence[str],
    between: Sequence[str] = (),
    *,
    listwise: bool = False,
    source: str = "data",
) -> tuple[pd.DataFrame, list]:
    """One value per subject and within cell, every subject in every cell.

    Returns (data restricted to complete subjects, excluded subjects). A subject
    missing a cell is an error naming it, unless `listwise`; a repeated cell is
    always an error (aggregate first: which mean is meant is the user's choice).
    """
    require_columns(data, [dv, subject, *within, *between], source=source)
    frame = data.loc[:, [subject, *between, *within]].copy()
    frame[dv] = numeric(data, dv, source=source)
    for column in [subject, *within, *between]:
        if frame[column].isna().any():
            row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise InvalidValueError(f"{source}, row {row + 1}, column {column}: missing value")
    keys = [subject, *within]
    repeated = frame.duplicated(keys, keep=False)
    if repeated.any():
        first = frame.loc[repeated, keys].iloc[0]
        cell = ", ".join(f"{k}={first[k]}" for k in keys)
        raise InvalidValueError(
            f"{source}: more than one {dv} for {cell}; give one value per subject and cell"
        )
    for factor in between:
        per_subject = frame.groupby(subject)[factor].nunique()
        if (per_subject > 1).any():
            who = per_subject.index[per_subject > 1][0]
            raise InvalidValueError(
                f"{source}: subject {who} has more than one level of between factor {factor}"
            )
    cells = pd.MultiIndex.from_product([levels(frame[w]) for w in within], names=within)
    excluded = []
    for who, rows in frame.groupby(subject, sort=True):
        have = pd.MultiIndex.from_frame(rows[list(within)]) if within else cells
        absent = cells.difference(have)
        if len(absent):
            if not listwise:
                cell = ", ".join(f"{w}={v}" for w, v in zip(within, absent[0], strict=True))
                raise InvalidValueError(
                    f"{source}: subject {who} has no {dv} for {cell}; "
                    "complete it, or drop incomplete subjects with --listwise"
                )
            excluded.append(who)
    kept = frame[~frame[subject].isin(excluded)].reset_index(drop=True)
    n = kept[subject].nunique()
    if n < 2:
        raise InvalidValueError(f"{source}: {n} complete subject(s); at least 2 are needed")
    return kept, excluded
