"""Relative expression: Livak 2^-ddCt and the efficiency-corrected (Pfaffl) ratio, standard curves.

Policies:

- Scale: each Cq is multiplied by log2 E (the vendor's EqCq), so dct/ddct are on
  the log2 scale and fold = 2^-ddct whatever E; with E = 2 this is Livak's 2^-ddCt,
  otherwise Pfaffl's E_t^dCt_t / E_r^dCt_r.
- Replicates are averaged (arithmetic mean of EqCq) per sample and gene. Several
  references are combined by the arithmetic mean of their mean EqCq, i.e. the
  geometric mean of their quantities.
- Error models: separate tubes, SD(dCt) = sqrt(SD_t^2 + SD_r^2), SE =
  sqrt(SD_t^2/n_t + SD_r^2/n_r), df = n_t + n_r - 2 (summed over references); same
  tube, dCt per well (`well` pairs target and reference), SD of those, SE = SD/sqrt(n),
  df = n - 1. The calibrator's own uncertainty is not added (as Livak and the vendor).
- Range: without a confidence level 2^-(ddct +/- SD) (Livak); with one,
  2^-(ddct +/- q SE), q the t quantile at 1 - (1 - level)/2 with the df above.
- Undetermined wells: `exclude` (default; a sample and gene with all replicates
  undetermined is refused), `censor=C` (set to C cycles), `fail` (refuse any).
- Non-template controls: a Cq less than `ntc_margin` cycles after the latest Cq of
  that gene among the samples used is refused; a later one is a warning.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import InvalidValueError
from .readers import QpcrExport

ASSUMED_E = 2.0
EFFICIENCY_GAP_PCT = 10.0


@dataclass(frozen=True)
class FoldResult:
    """Per sample and target: dct, ddct, fold and its range; per target the efficiency used."""

    results: pd.DataFrame
    efficiencies: dict
    warnings: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "results": records(self.results),
            "efficiencies": self.efficiencies,
            "warnings": list(self.warnings),
            "provenance": self.provenance,
        }


def records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: numpy scalars to Python ones, NaN to None."""
    out = []
    for row in frame.to_dict("records"):
        out.append({k: _plain(v) for k, v in row.items()})
    return out


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f" ({', '.join(map(str, choices))}){hint}"


def parse_undetermined(policy: str) -> tuple[str, float | None]:
    """`exclude`, `fail` or `censor=C` -> (mode, C)."""
    text = policy.strip().lower()
    if text in {"exclude", "fail"}:
        return text, None
    if text.startswith("censor"):
        _, _, value = text.partition("=")
        try:
            cycles = float(value) if value else 40.0
        except ValueError:
            cycles = math.nan
        if not math.isfinite(cycles) or cycles <= 0:
            raise InvalidValueError(f"--undetermined {policy!r}: write censor=40 (cycles > 0)")
        return "censor", cycles
    raise InvalidValueError(f"--undetermined {policy!r}: use exclude, censor=40 or fail")


def standard_curve(wells: pd.DataFrame, target: str, *, source: str = "") -> dict:
    """Least-squares line of Cq on log10(quantity) over the target's STANDARD wells.

    Undetermined standards are left out and counted. Returns target, slope,
    intercept, r2, efficiency E = 10^(-1/slope), efficiency_pct = 100 (E - 1),
    n (wells fitted), n_levels and n_undetermined.
    """
    prefix = f"{source}: " if source else ""
    if target not in set(wells["target"]):
        raise InvalidValueError(
            f"{prefix}target {target} is not in the file" + _suggest(target, _targets(wells))
        )
    std = wells[(wells["task"] == "STANDARD") & (wells["target"] == target)]
    if std.empty:
        raise InvalidValueError(f"{prefix}target {target} has no STANDARD wells for a curve")
    quantity = std["quantity"] if "quantity" in std else pd.Series(np.nan, index=std.index)
    bad = std[~(quantity > 0)]
    if not bad.empty:
        raise InvalidValueError(
            f"{prefix}standard well {bad['well_position'].iloc[0]} of target {target} has no "
            "positive quantity (Quantity column or a numeric sample name)"
        )
    used = std[~std["undetermined"]]
    x = np.log10(quantity[used.index].to_numpy(float))
    y = used["ct"].to_numpy(float)
    if len(np.unique(x)) < 2 or len(y) < 3:
        raise InvalidValueError(
            f"{prefix}target {target}: a standard curve needs at least 3 wells at 2 or more "
            f"quantities with a Cq ({len(y)} wells, {len(np.unique(x))} quantities)"
        )
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    r2 = 1 - np.sum(residual**2) / np.sum((y - y.mean()) ** 2)
    if slope >= 0:
        raise InvalidValueError(
            f"{prefix}target {target}: standard curve slope {slope:.3f} is not negative; "
            "check the Quantity column"
        )
    efficiency = 10 ** (-1 / slope)
    return {
        "target": target,
        "slope": float(slope),
        "intercept": float(intercept),
        "r2": float(r2),
        "efficiency": float(efficiency),
        "efficiency_pct": float(100 * (efficiency - 1)),
        "n": len(y),
        "n_levels": len(np.unique(x)),
        "n_undetermined": int(std["undetermined"].sum()),
    }


def _targets(wells: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(wells["target"]))


def relative_expression(
    export: QpcrExport,
    *,
    references: Sequence[str],
    calibrator: str,
    targets: Sequence[str] | None = None,
    efficiencies: Mapping[str, float] | None = None,
    use_standard_curve: bool = False,
    error: str = "separate",
    confidence: float | None = None,
    undetermined: str = "exclude",
    ntc_margin: float = 5.0,
) -> FoldResult:
    """Fold change of each target in each sample relative to the calibrator sample.

    See the module docstring for the scale, error models, ranges and policies.
    Returns a FoldResult whose `results` has one row per sample and target:
    sample, target, n, n_reference, ct_mean, ct_sd, reference_ct_mean, dct, dct_sd,
    dct_se, ddct, fold, fold_low, fold_high, quantile, df, level, undetermined.

    Example:
        >>> from nmmstrial.assays.qpcr import parse_qpcr_text
        >>> text = "sample,target,replicate,ct\\n" + "\\n".join(
        ...     f"{s},{t},{r},{ct}" for s, t, cts in [
        ...         ("sham", "MYOD1", [27.1, 27.3]), ("sham", "GAPDH", [20.0, 20.2]),
        ...         ("real", "MYOD1", [26.1, 26.3]), ("real", "GAPDH", [20.1, 20.1])]
        ...     for r, ct in enumerate(cts, 1))
        >>> out = relative_expression(
        ...     parse_qpcr_text(text), references=["GAPDH"], calibrator="sham")
        >>> out.results[["sample", "ddct", "fold"]].round(3).values.tolist()
        [['sham', 0.0, 1.0], ['real', -1.0, 2.0]]
    """
    source = export.source or "<export>"
    wells = export.wells
    mode, censor_at = parse_undetermined(undetermined)
    if error not in {"separate", "same"}:
        raise InvalidValueError(f"error model {error!r}: use separate or same")
    if confidence is not None and not 0 < confidence < 1:
        raise InvalidValueError(f"--confidence {confidence}: give a level between 0 and 1")
    if ntc_margin < 0:
        raise InvalidValueError(f"--ntc-margin {ntc_margin}: give 0 or more cycles")
    references = list(dict.fromkeys(references))
    if not references:
        raise InvalidValueError(f"{source}: name at least one reference gene")
    in_file = _targets(wells)
    for ref in references:
        if ref not in in_file:
            raise InvalidValueError(
                f"{source}: reference gene {ref} is not in the file (no wells at all); targets"
                + _suggest(ref, in_file)
            )
    unknown = wells[wells["task"] == "UNKNOWN"]
    samples = list(dict.fromkeys(unknown["sample"]))
    if calibrator not in samples:
        raise InvalidValueError(
            f"{source}: calibrator {calibrator} is not a sample in the file; samples"
            + _suggest(calibrator, samples)
        )
    genes = _genes(unknown, references, targets, in_file, source)
    used = unknown[unknown["target"].isin([*genes, *references])].copy()
    counts = _undetermined_counts(used)
    used = _apply_policy(used, mode, censor_at, source)
    warnings: list[str] = []
    for sample in samples:
        have = set(used.loc[used["sample"] == sample, "target"])
        if not have & set(genes):
            continue
        for ref in references:
            if ref not in have:
                raise InvalidValueError(
                    f"{source}: reference gene {ref} has no wells for sample {sample}"
                )
    warnings += _check_ntc(wells, used, [*genes, *references], ntc_margin, source)
    eff = _efficiencies(
        wells, genes, references, efficiencies, use_standard_curve, source, warnings
    )
    rows = []
    for gene in genes:
        gene_rows = []
        for sample in samples:
            cell = used[(used["sample"] == sample) & (used["target"] == gene)]
            if cell.empty:
                continue
            row = _delta(used, sample, gene, references, eff, error, source)
            row["undetermined"] = sum(counts.get(sample, {}).get(t, 0) for t in [gene, *references])
            gene_rows.append(row)
        calib = [r for r in gene_rows if r["sample"] == calibrator]
        if not calib:
            raise InvalidValueError(
                f"{source}: calibrator {calibrator} has no wells for target {gene}"
            )
        for row in gene_rows:
            row["ddct"] = row["dct"] - calib[0]["dct"]
            rows.append(_fold(row, confidence))
    columns = [
        "sample", "target", "n", "n_reference", "ct_mean", "ct_sd", "reference_ct_mean",
        "dct", "dct_sd", "dct_se", "ddct", "fold", "fold_low", "fold_high",
        "quantile", "df", "level", "undetermined",
    ]  # fmt: skip
    provenance = {
        "calibrator": calibrator,
        "references": references,
        "error_model": (
            "separate tubes: SD = sqrt(SD_t^2 + SD_r^2)"
            if error == "separate"
            else "same tube: SD of per-well dCt (target and reference paired by well)"
        ),
        "replicates": "arithmetic mean of Cq x log2(E) per sample and gene; references "
        "combined by the mean of their means (geometric mean of quantities)",
        "range": (
            "2^-(ddct +/- SD)"
            if confidence is None
            else f"2^-(ddct +/- q SE), q = t quantile at {1 - (1 - confidence) / 2:g}"
        ),
        "undetermined": {"policy": undetermined, "counts": counts},
        "ntc_margin": ntc_margin,
    }
    return FoldResult(
        results=pd.DataFrame(rows, columns=columns),
        efficiencies=eff,
        warnings=warnings,
        provenance=provenance,
    )


def _genes(unknown, references, targets, in_file, source) -> list[str]:
    if targets:
        for gene in targets:
            if gene not in in_file:
                raise InvalidValueError(
                    f"{source}: target {gene} is not in the file; targets" + _suggest(gene, in_file)
                )
        return list(dict.fromkeys(targets))
    genes = [t for t in dict.fromkeys(unknown["target"]) if t not in references]
    if not genes:
        raise InvalidValueError(
            f"{source}: no target genes besides the references {', '.join(references)}"
        )
    return genes


def _undetermined_counts(used: pd.DataFrame) -> dict:
    counts: dict = {}
    for (sample, target), n in used.groupby(["sample", "target"], sort=False)["undetermined"]:
        if n.sum():
            counts.setdefault(sample, {})[target] = int(n.sum())
    return counts


def _apply_policy(used, mode, censor_at, source) -> pd.DataFrame:
    bad = used[used["undetermined"]]
    if mode == "fail" and not bad.empty:
        first = bad.iloc[0]
        raise InvalidValueError(
            f"{source}: well {first['well_position']} (sample {first['sample']}, target "
            f"{first['target']}) is undetermined and --undetermined is fail; "
            f"{len(bad)} undetermined well(s) in all"
        )
    if mode == "censor":
        used.loc[used["undetermined"], "ct"] = censor_at
        return used
    for (sample, target), cell in used.groupby(["sample", "target"], sort=False):
        if cell["undetermined"].all():
            raise InvalidValueError(
                f"{source}: all {len(cell)} replicate(s) of sample {sample}, target {target} "
                f"are undetermined (wells {', '.join(map(str, cell['well_position']))}); "
                "use --undetermined censor=40 or rerun the sample"
            )
    return used[~used["undetermined"]]


def _check_ntc(wells, used, genes, margin, source) -> list[str]:
    warnings = []
    ntc = wells[(wells["task"] == "NTC") & wells["target"].isin(genes) & ~wells["undetermined"]]
    for _, well in ntc.iterrows():
        sample_ct = used.loc[used["target"] == well["target"], "ct"]
        latest = float(sample_ct.max())
        gap = well["ct"] - latest
        text = (
            f"{source}: non-template control well {well['well_position']} (target "
            f"{well['target']}) amplified at Cq {well['ct']:.2f}, {gap:.2f} cycles after the "
            f"latest sample Cq {latest:.2f}"
        )
        if gap < margin:
            raise InvalidValueError(
                f"{text}, less than the margin of {margin:g}; check for contamination"
            )
        warnings.append(text)
    return warnings


def _efficiencies(wells, genes, references, given, use_curve, source, warnings) -> dict:
    given = dict(given or {})
    all_genes = [*genes, *references]
    for name in given:
        if name not in all_genes:
            raise InvalidValueError(
                f"{source}: --efficiency names {name}, not a target or reference here"
                + _suggest(name, all_genes)
            )
    out = {}
    for gene in all_genes:
        if gene in given:
            e = float(given[gene])
            if not 1 < e <= 2.5:
                raise InvalidValueError(
                    f"--efficiency {gene}={e:g}: give the amplification factor E between 1 "
                    "and 2 (1.95 for 95 %)"
                )
            out[gene] = _efficiency(e, "given")
        elif use_curve:
            curve = standard_curve(wells, gene, source=source)
            out[gene] = _efficiency(curve["efficiency"], "standard curve") | {
                "slope": curve["slope"],
                "intercept": curve["intercept"],
                "r2": curve["r2"],
            }
        else:
            out[gene] = _efficiency(ASSUMED_E, "assumed (2^-ddCt)")
    if not given and not use_curve:
        warnings += _efficiency_gaps(wells, genes, references, source)
    return out


def _efficiency(e: float, source: str) -> dict:
    return {"efficiency": e, "efficiency_pct": 100 * (e - 1), "source": source}


def _efficiency_gaps(wells, genes, references, source) -> list[str]:
    """Livak assumes equal efficiencies: warn when the file's own curves say otherwise."""
    curves = {}
    for gene in [*genes, *references]:
        try:
            curves[gene] = standard_curve(wells, gene, source=source)["efficiency_pct"]
        except InvalidValueError:
            continue  # no usable standards for this gene: nothing to compare
    out = []
    for gene in genes:
        for ref in references:
            if gene in curves and ref in curves and abs(curves[gene] - curves[ref]) > 10:
                out.append(
                    f"{source}: efficiencies of {gene} ({curves[gene]:.1f} %) and {ref} "
                    f"({curves[ref]:.1f} %) differ by more than {EFFICIENCY_GAP_PCT:g} %; "
                    "2^-ddCt assumes them equal: use --standard-curve or --efficiency"
                )
    return out


def _delta(used, sample, gene, references, eff, error, source) -> dict:
    here = used[used["sample"] == sample]

    def eq(target: str) -> pd.DataFrame:
        cell = here[here["target"] == target]
        return cell.assign(eq=cell["ct"] * math.log2(eff[target]["efficiency"]))

    target = eq(gene)
    refs = [eq(ref) for ref in references]
    row = {
        "sample": sample,
        "target": gene,
        "ct_mean": float(target["ct"].mean()),
        "ct_sd": _sd(target["ct"]),
        "reference_ct_mean": float(np.mean([r["ct"].mean() for r in refs])),
    }
    if error == "separate":
        k = len(refs)
        mean_r = float(np.mean([r["eq"].mean() for r in refs]))
        sd_t, n_t = _sd(target["eq"]), len(target)
        sds = [_sd(r["eq"]) for r in refs]
        ns = [len(r) for r in refs]
        row |= {
            "n": n_t,
            "n_reference": int(sum(ns)),
            "dct": float(target["eq"].mean()) - mean_r,
            "dct_sd": math.sqrt(sd_t**2 + sum(s**2 for s in sds) / k**2),
            "dct_se": math.sqrt(
                sd_t**2 / n_t + sum(s**2 / n for s, n in zip(sds, ns, strict=True)) / k**2
            ),
            "_df": (n_t - 1) + sum(n - 1 for n in ns),
        }
        return row
    by_well = target.groupby("well")["eq"].mean().rename("t").to_frame()
    for i, ref in enumerate(refs):
        by_well = by_well.join(ref.groupby("well")["eq"].mean().rename(f"r{i}"), how="inner")
    if by_well.empty:
        raise InvalidValueError(
            f"{source}: --error same: sample {sample} has no well with both {gene} and "
            f"{', '.join(references)}; use --error separate for singleplex plates"
        )
    d = by_well["t"] - by_well[[f"r{i}" for i in range(len(refs))]].mean(axis=1)
    n = len(d)
    sd = _sd(d)
    row |= {
        "n": n,
        "n_reference": n,
        "dct": float(d.mean()),
        "dct_sd": sd,
        "dct_se": sd / math.sqrt(n),
        "_df": n - 1,
    }
    return row


def _sd(values: pd.Series) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def _fold(row: dict, confidence: float | None) -> dict:
    df = row.pop("_df")
    ddct = row["ddct"]
    if confidence is None:
        half, quantile, level, df_out = row["dct_sd"], math.nan, math.nan, math.nan
    else:
        quantile = float(stats.t.ppf(1 - (1 - confidence) / 2, df)) if df > 0 else math.nan
        half, level, df_out = quantile * row["dct_se"], confidence, df
    row |= {
        "fold": 2 ** (-ddct),
        "fold_low": 2 ** (-(ddct + half)),
        "fold_high": 2 ** (-(ddct - half)),
        "quantile": quantile,
        "df": df_out,
        "level": level,
    }
    return row
