"""Split-body analysis of fibre size and type: densities, per-patient summaries, tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd

from ...analysis import mixed_model, paired_t
from ...errors import InvalidValueError, NmmstrialError
from .fibre_types import TYPES
from .measures import MIN_FIBRES, _plain

FIBRE_TABLE_COLUMNS = ("patient", "side", "arm", "fibre", "diameter_um")
ARM_LEVELS = ("sham", "real")
COMPARISON_COLUMNS = (
    "type", "mixed_estimate", "mixed_se", "mixed_df", "mixed_p",
    "means_estimate", "means_df", "means_p", "n_fibres", "n_patients",
)  # fmt: skip
CODED_ARMS = ("X", "Y")
"""Blinded arm codes: a table may name its arms X / Y instead (contrast X - Y)."""


def read_fibre_table(fp: IO[str], *, source: str = "fibres") -> pd.DataFrame:
    """A per-fibre table: patient, side, arm, fibre, diameter_um[, type], one row a fibre.

    `arm` (real or sham) says which treatment the side had: it is in the study database's
    allocation, which this reader does not consult. A blinded table codes the arms X / Y
    instead (not mixed with real / sham). `type` is slow, fast, hybrid or none;
    without it every fibre is analysed as one type, "all".
    """
    try:
        table = pd.read_csv(fp, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InvalidValueError(f"{source}: cannot read as CSV: {error}") from error
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in FIBRE_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise InvalidValueError(
            f"{source}: missing column(s) {', '.join(missing)}; a fibre table has "
            f"{', '.join(FIBRE_TABLE_COLUMNS)}[, type]"
        )
    if table.empty:
        raise InvalidValueError(f"{source}: no rows")
    out = table.copy()
    for column in ("patient", "side", "arm", "fibre"):
        blank = out[column].isna() | (out[column].str.strip() == "")
        if blank.any():
            row = int(np.flatnonzero(blank)[0])
            raise InvalidValueError(f"{source}, row {row + 1}, field {column}: empty")
        out[column] = out[column].str.strip()
    coded = out["arm"].str.upper().isin(CODED_ARMS)
    out["arm"] = (
        out["arm"].where(~coded, out["arm"].str.upper()).where(coded, out["arm"].str.lower())
    )
    bad = ~out["arm"].isin((*ARM_LEVELS, *CODED_ARMS))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(
            f"{source}, row {row + 1}, field arm: {out['arm'].iloc[row]!r} is not real or sham "
            "(or, blinded, X or Y)"
        )
    if coded.any() and not coded.all():
        raise InvalidValueError(f"{source}: field arm mixes real / sham with the codes X / Y")
    diameter = pd.to_numeric(out["diameter_um"], errors="coerce")
    bad = diameter.isna() | (diameter <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(
            f"{source}, row {row + 1}, field diameter_um: {table['diameter_um'].iloc[row]!r} "
            "is not a positive number"
        )
    out["diameter_um"] = diameter.astype(float)
    if "type" in out.columns:
        out["type"] = out["type"].fillna("none").str.strip().str.lower()
        bad = ~out["type"].isin(TYPES)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidValueError(
                f"{source}, row {row + 1}, field type: {out['type'].iloc[row]!r} is not one of "
                f"{', '.join(TYPES)}"
            )
    else:
        out["type"] = "all"
    mixed = out.groupby(["patient", "side"])["arm"].nunique()
    if (mixed > 1).any():
        patient, side = mixed[mixed > 1].index[0]
        raise InvalidValueError(f"{source}: patient {patient}, side {side} has both arms")
    return out


def bw_nrd0(x: Sequence[float]) -> float:
    """R's bw.nrd0: 0.9 min(sd, IQR / 1.34) n^-1/5 (Silverman's rule of thumb), with
    R's fallbacks when the spread is 0."""
    v = np.asarray(x, dtype=float)
    if len(v) < 2:
        raise InvalidValueError("bandwidth: need at least 2 values")
    sd = float(np.std(v, ddof=1))
    q75, q25 = np.quantile(v, [0.75, 0.25])
    lo = min(sd, (q75 - q25) / 1.34)
    if lo <= 0:
        lo = sd or abs(float(v[0])) or 1.0
    return 0.9 * lo * len(v) ** -0.2


def density(x: Sequence[float], bw: float, *, n: int = 512, cut: float = 3.0) -> pd.DataFrame:
    """Gaussian kernel density on R's default grid (from min - cut bw to max + cut bw,
    `n` points), computed exactly rather than by R's binned FFT. Columns x, density."""
    v = np.asarray(x, dtype=float)
    grid = np.linspace(v.min() - cut * bw, v.max() + cut * bw, n)
    z = (grid[:, None] - v[None, :]) / bw
    dens = np.exp(-0.5 * z * z).sum(axis=1) / (len(v) * bw * math.sqrt(2 * math.pi))
    return pd.DataFrame({"x": grid, "density": dens})


@dataclass(frozen=True)
class SplitBody:
    """Fibre size and type by arm, within patients (the paper's Figure 4d and tests).

    `sections`: patient, side, arm, n_fibres, countable. `densities`: type, arm, n,
    bandwidth (rule in `bandwidth_rule`); `curves` the matching x / density grids.
    `patients`: patient, type (and "all"), arm, n, mean, median. `pct_fast`: patient, real, sham.
    `pct_fast_test`: paired t (real - sham). `models`: per type, the mixed model
    diameter ~ arm with (1 | patient) + (1 | patient:side); `means_tests`: per type,
    the paired t on per-patient means (real - sham) beside it.
    """

    sections: pd.DataFrame
    densities: pd.DataFrame
    curves: dict[tuple[str, str], pd.DataFrame]
    patients: pd.DataFrame
    pct_fast: pd.DataFrame
    pct_fast_test: Any
    models: dict[str, Any]
    means_tests: dict[str, Any]
    min_fibres: int
    bandwidth_rule: str = "bw.nrd0"
    notes: tuple[str, ...] = ()
    arms: tuple[str, str] = ("real", "sham")

    @property
    def contrast(self) -> str:
        """The difference every estimate is of, e.g. `real - sham` or `X - Y`."""
        return f"{self.arms[0]} - {self.arms[1]}"

    def comparison(self) -> pd.DataFrame:
        """One row per type: the mixed model's real - sham beside the means' paired t."""
        rows = []
        for kind, model in self.models.items():
            arm = model.fixed[model.fixed["term"] == f"arm{self.arms[0]}"].iloc[0]
            t = self.means_tests.get(kind)
            rows.append(
                {
                    "type": kind,
                    "mixed_estimate": arm["estimate"],
                    "mixed_se": arm["se"],
                    "mixed_df": arm["df"],
                    "mixed_p": arm["p"],
                    "means_estimate": t.estimate if t else math.nan,
                    "means_df": t.df if t else math.nan,
                    "means_p": t.p if t else math.nan,
                    "n_fibres": model.n_obs,
                    "n_patients": model.n_groups.get("patient"),
                }
            )
        return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tables as lists of rows, each model's and test's own to_dict()."""

        def rows(frame: pd.DataFrame) -> list[dict]:
            return [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]

        return {
            "contrast": self.contrast,
            "bandwidth_rule": self.bandwidth_rule,
            "min_fibres": self.min_fibres,
            # Coded arms leave the side out: side and code together key the codes.
            "sections": rows(
                self.sections.drop(columns="side")
                if set(self.arms) == set(CODED_ARMS)
                else self.sections
            ),
            "densities": rows(self.densities),
            "patients": rows(self.patients),
            "pct_fast": rows(self.pct_fast),
            "pct_fast_test": self.pct_fast_test.to_dict() if self.pct_fast_test else None,
            "comparison": rows(self.comparison()),
            "models": {k: m.to_dict() for k, m in self.models.items()},
            "means_tests": {k: t.to_dict() for k, t in self.means_tests.items()},
            "notes": list(self.notes),
        }


def split_body(
    fibres: pd.DataFrame,
    *,
    min_fibres: int = MIN_FIBRES,
    source: str = "fibres",
    arms: tuple[str, str] | None = None,
) -> SplitBody:
    """The split-body analysis of a fibre table from `read_fibre_table`.

    Sections (patient x side) with fewer than `min_fibres` fibres are listed and left
    out of everything. Per type (slow and fast; hybrids and untyped fibres are counted
    in % fast's denominator never, and modelled never), the fibre-level model
    `diameter_um ~ arm` with patient and side-within-patient random intercepts
    (REML, Satterthwaite df, as lmerTest) estimates real - sham; beside it the paired
    t on per-patient mean diameters, which does not count each fibre as a patient.
    % fast = fast / (fast + slow) per section, compared by paired t (real - sham).

    `arms` (first, second) names the arms and the contrast first - second: by default
    ("real", "sham"), or ("X", "Y") when the table's arms are the blinded codes.
    """
    if arms is None:
        arms = CODED_ARMS if set(fibres["arm"].dropna()) <= set(CODED_ARMS) else ("real", "sham")
    arms = (str(arms[0]), str(arms[1]))
    unknown = set(fibres["arm"].dropna()) - set(arms)
    if unknown:
        raise InvalidValueError(
            f"{source}: arm {sorted(unknown)[0]!r} is not {arms[0]} or {arms[1]}"
        )
    levels = (arms[1], arms[0])
    sections = (
        fibres.groupby(["patient", "side", "arm"], sort=True)
        .size()
        .rename("n_fibres")
        .reset_index()
    )
    sections["countable"] = sections["n_fibres"] >= min_fibres
    notes = []
    short = sections[~sections["countable"]]
    coded = set(arms) == set(CODED_ARMS)
    for row in short.itertuples():
        # A coded arm beside its side would key the codes to sides: say the arm only.
        where = f"arm {row.arm}" if coded else f"side {row.side} ({row.arm})"
        notes.append(
            f"patient {row.patient}, {where}: {row.n_fibres} fibres, "
            f"below the minimum of {min_fibres}; left out"
        )
    keep = sections.loc[sections["countable"], ["patient", "side"]]
    data = fibres.merge(keep, on=["patient", "side"], how="inner")
    if data.empty:
        raise InvalidValueError(
            f"{source}: no section has {min_fibres} or more fibres; nothing to compare"
        )
    kinds = [k for k in ("slow", "fast", "all") if k in set(data["type"])]
    densities, curves = [], {}
    for kind in kinds:
        for arm in levels:
            x = data.loc[(data["type"] == kind) & (data["arm"] == arm), "diameter_um"]
            if len(x) < 2:
                continue
            bw = bw_nrd0(x)
            densities.append({"type": kind, "arm": arm, "n": len(x), "bandwidth": bw})
            curves[(kind, arm)] = density(x, bw)
    by_type = data if kinds == ["all"] else pd.concat([data, data.assign(type="all")])
    patients = (
        by_type.groupby(["patient", "type", "arm"], sort=True)["diameter_um"]
        .agg(n="size", mean="mean", median="median")
        .reset_index()
    )
    pct_fast, pct_test = _pct_fast(data, notes, arms)
    models, means_tests = {}, {}
    for kind in kinds:
        subset = data[data["type"] == kind]
        if subset["arm"].nunique() < 2:
            notes.append(f"{kind} fibres: one arm only; no model")
            continue
        try:
            models[kind] = mixed_model(
                subset,
                "diameter_um ~ arm",
                "patient/side",
                levels={"arm": list(levels)},
                source=f"{source}, {kind} fibres",
            )
        except NmmstrialError as error:  # e.g. one patient: no patient variance to fit
            notes.append(f"{kind} fibres: no mixed model: {error}")
        wide = subset.groupby(["patient", "arm"])["diameter_um"].mean().unstack("arm")
        wide = wide.dropna()
        if len(wide) >= 2:
            means_tests[kind] = paired_t(wide[arms[0]].to_numpy(), wide[arms[1]].to_numpy())
        else:
            notes.append(f"{kind} fibres: fewer than 2 patients with both arms; no paired t")
    return SplitBody(
        sections=sections,
        densities=pd.DataFrame(densities, columns=["type", "arm", "n", "bandwidth"]),
        curves=curves,
        patients=patients,
        pct_fast=pct_fast,
        pct_fast_test=pct_test,
        models=models,
        means_tests=means_tests,
        min_fibres=min_fibres,
        notes=tuple(notes),
        arms=arms,
    )


def density_figure(result: SplitBody):
    """Figure 4d: fibre-size densities, one panel per fibre type, real and sham overlaid,
    the bandwidth rule and values in the legend. A matplotlib Figure (no pyplot state)."""
    from matplotlib.figure import Figure

    kinds = list(dict.fromkeys(kind for kind, _ in result.curves))
    figure = Figure(figsize=(4 * max(len(kinds), 1), 3.2), layout="constrained")
    axes = figure.subplots(1, max(len(kinds), 1), squeeze=False)[0]
    first, second = result.arms
    styles = {first: {"color": "#c0392b"}, second: {"color": "#7f8c8d", "linestyle": "--"}}
    for ax, kind in zip(axes, kinds, strict=False):
        for arm in (second, first):
            curve = result.curves.get((kind, arm))
            if curve is None:
                continue
            row = result.densities[
                (result.densities["type"] == kind) & (result.densities["arm"] == arm)
            ].iloc[0]
            label = f"{arm} (n = {row['n']}, bw = {row['bandwidth']:.2f})"
            ax.plot(curve["x"], curve["density"], label=label, **styles[arm])
        ax.set_title(f"{kind} fibres")
        ax.set_xlabel("fibre diameter (um)")
        ax.set_ylabel("density")
        ax.legend(title=f"KDE, {result.bandwidth_rule}", fontsize="small")
    return figure


def _pct_fast(
    data: pd.DataFrame, notes: list[str], arms: tuple[str, str]
) -> tuple[pd.DataFrame, Any]:
    typed = data[data["type"].isin(["slow", "fast"])]
    if typed.empty:
        return pd.DataFrame(columns=["patient", *arms]), None
    counts = typed.groupby(["patient", "arm"])["type"].apply(lambda t: 100 * (t == "fast").mean())
    wide = counts.unstack("arm").reindex(columns=list(arms)).reset_index()
    wide.columns.name = None
    both = wide.dropna()
    if len(both) < 2:
        notes.append("% fast: fewer than 2 patients with both arms; no paired t")
        return wide, None
    return wide, paired_t(both[arms[0]].to_numpy(), both[arms[1]].to_numpy())
