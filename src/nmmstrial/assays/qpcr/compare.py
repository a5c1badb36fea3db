"""The split-body comparison: each patient's real side against their own sham side.

Per patient and gene, dCt = mean Cq(gene) - mean Cq(references) in each arm (E = 2,
replicates averaged; several references by the mean of their mean Cq), ddCt =
dCt(real) - dCt(sham), or dCt(X) - dCt(Y) when the run is blinded, and fold = 2^-ddCt.
Across patients, per gene:

- Wilcoxon signed-rank test on ddCt (never on fold - 1, which ranks differently), as
  R's wilcox.test(exact = TRUE): exact without ties or zero differences, otherwise
  R's normal approximation with continuity correction (R cannot be exact then).
- Paired t test on ddCt, as t.test(paired = TRUE); its 95 % CI back-transformed:
  ci_low = 2^-upper, ci_high = 2^-lower, around geomean_fold = 2^-mean(ddCt).
- mean_fold +/- sem_fold, the arithmetic mean and SEM of the per-patient folds, as
  in the paper (kept for comparison; folds are skewed, so prefer the geometric mean).

Patients without both arms for a gene are left out of that gene and named in
`dropped`. Undetermined wells follow the same policy as `relative_expression`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...analysis import paired_t, wilcoxon_paired
from ...errors import InvalidValueError
from .expression import _apply_policy, _suggest, _undetermined_counts, parse_undetermined, records

ARM_PAIRS = ({"real", "sham"}, {"x", "y"})
COLUMNS = [
    "gene", "reference", "n", "mean_ddct", "sd_ddct", "geomean_fold", "ci_low", "ci_high",
    "wilcoxon_v", "wilcoxon_p", "wilcoxon_method", "t", "df", "t_p", "mean_fold", "sem_fold",
    "patients", "dropped",
]  # fmt: skip


@dataclass(frozen=True)
class CompareResult:
    """Per gene the tests and summaries (`genes`) and per patient the folds (`patients`)."""

    genes: pd.DataFrame
    patients: pd.DataFrame
    contrast: str
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "contrast": self.contrast,
            "genes": records(self.genes),
            "per_patient": records(self.patients),
            "provenance": self.provenance,
        }


def compare_arms(
    wells: pd.DataFrame,
    *,
    references: Sequence[str],
    gene_references: Mapping[str, Sequence[str]] | None = None,
    genes: Sequence[str] | None = None,
    patients: Sequence[str] | None = None,
    undetermined: str = "exclude",
    source: str = "<data>",
) -> CompareResult:
    """Compare arms within patients for every gene (see the module docstring).

    `wells` is a tidy frame with patient, arm, target, ct (NaN when undetermined)
    and undetermined, e.g. `read_qpcr_export(csv).wells`. `references` apply to every
    gene not in `gene_references` (gene -> its references, e.g. miRNAs -> U6);
    `genes` and `patients` restrict the analysis (a name not in the data is refused).
    Returns a CompareResult; `genes` columns: gene, reference, n, mean_ddct,
    sd_ddct, geomean_fold, ci_low, ci_high, wilcoxon_v, wilcoxon_p, wilcoxon_method,
    t, df, t_p, mean_fold, sem_fold, patients, dropped.
    """
    for column in ("patient", "arm", "target", "ct"):
        if column not in wells:
            raise InvalidValueError(
                f"{source}: no {column} column; compare needs patient, arm (real/sham or "
                "X/Y), target and ct"
            )
    mode, censor_at = parse_undetermined(undetermined)
    data = wells.copy()
    if "task" in data:
        data = data[data["task"] == "UNKNOWN"]
    data["arm"] = data["arm"].astype(str).str.strip()
    data["patient"] = data["patient"].astype(str).str.strip()
    if patients:
        known = list(dict.fromkeys(data["patient"]))
        for patient in patients:
            if patient not in known:
                raise InvalidValueError(
                    f"{source}: patient {patient} is not in the file; patients"
                    + _suggest(patient, known)
                )
        data = data[data["patient"].isin(patients)]
    x_arm, y_arm = _arms(data, source)
    gene_references = {g: list(r) for g, r in (gene_references or {}).items()}
    in_file = list(dict.fromkeys(data["target"]))
    all_refs = list(dict.fromkeys([*references, *(r for v in gene_references.values() for r in v)]))
    for name in [*all_refs, *gene_references, *(genes or [])]:
        if name not in in_file:
            raise InvalidValueError(
                f"{source}: gene {name} is not in the file; targets" + _suggest(name, in_file)
            )
    if genes is None:
        genes = [t for t in in_file if t not in all_refs]
    counts = _undetermined_counts(data.assign(sample=data["patient"] + " " + data["arm"]))
    data = _apply_policy(
        data.assign(sample=data["patient"] + " " + data["arm"]), mode, censor_at, source
    )
    means = data.groupby(["patient", "arm", "target"], sort=False)["ct"].mean()
    rows, per_patient = [], []
    for gene in genes:
        refs = gene_references.get(gene, list(references))
        if not refs:
            raise InvalidValueError(f"{source}: no reference gene for {gene}; give --reference")
        dct = {}
        for arm in (x_arm, y_arm):
            dct[arm] = _dct(means, arm, gene, refs)
        both = dct[x_arm].index.intersection(dct[y_arm].index)
        dropped = sorted(set(dct[x_arm].index).union(dct[y_arm].index) - set(both))
        dx, dy = dct[x_arm][both], dct[y_arm][both]
        ddct = dx - dy
        for patient in both:
            per_patient.append(
                {
                    "patient": patient,
                    "gene": gene,
                    f"dct_{x_arm}": float(dx[patient]),
                    f"dct_{y_arm}": float(dy[patient]),
                    "ddct": float(ddct[patient]),
                    "fold": 2 ** -float(ddct[patient]),
                }
            )
        rows.append(_summary(gene, refs, dx, dy, ddct, dropped, source))
    return CompareResult(
        genes=pd.DataFrame(rows, columns=COLUMNS),
        patients=pd.DataFrame(per_patient),
        contrast=f"{x_arm} - {y_arm}",
        provenance={
            "ddct": f"dCt({x_arm}) - dCt({y_arm}); dCt = mean Cq(gene) - mean Cq(reference)",
            "efficiency": "2 (2^-ddCt)",
            "wilcoxon": "signed rank on ddCt, as wilcox.test(exact = TRUE)",
            "t": "paired t on ddCt; CI back-transformed 2^-upper, 2^-lower",
            "as_in_paper": "mean_fold +/- sem_fold: arithmetic mean and SEM of 2^-ddCt",
            "undetermined": {"policy": undetermined, "counts": counts},
        },
    )


def _arms(data: pd.DataFrame, source: str) -> tuple[str, str]:
    levels = list(dict.fromkeys(data["arm"]))
    lowered = {a.lower() for a in levels}
    for pair in ARM_PAIRS:
        if lowered == pair:
            first, second = sorted(pair, key=lambda a: a not in {"real", "x"})
            by_lower = {a.lower(): a for a in levels}
            return by_lower[first], by_lower[second]
    raise InvalidValueError(
        f"{source}: arm has levels {', '.join(levels)}; use real and sham, or X and Y when blinded"
    )


def _dct(means: pd.Series, arm: str, gene: str, refs: list[str]) -> pd.Series:
    """Per patient: mean Cq of the gene minus the mean of the references' mean Cq."""
    table = means.xs(arm, level="arm").unstack("target")
    if gene not in table or any(r not in table for r in refs):
        return pd.Series(dtype=float)
    out = table[gene] - table[refs].mean(axis=1, skipna=False)
    return out.dropna()


def _summary(gene, refs, dx, dy, ddct, dropped, source) -> dict:
    n = len(ddct)
    row = {
        "gene": gene,
        "reference": ", ".join(refs),
        "n": n,
        "mean_ddct": float(ddct.mean()) if n else math.nan,
        "sd_ddct": float(ddct.std(ddof=1)) if n > 1 else math.nan,
        "patients": ", ".join(map(str, ddct.index)),
        "dropped": ", ".join(map(str, dropped)),
    }
    folds = 2 ** (-ddct.to_numpy(float))
    row["geomean_fold"] = 2 ** -row["mean_ddct"] if n else math.nan
    row["mean_fold"] = float(folds.mean()) if n else math.nan
    row["sem_fold"] = float(folds.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    if n < 2:
        raise InvalidValueError(
            f"{source}: gene {gene}: {n} patient(s) with both arms; the tests need 2 or more"
        )
    t = paired_t(dx.to_numpy(float), dy.to_numpy(float))
    abs_d = np.abs(ddct.to_numpy(float))
    exact = len(np.unique(abs_d)) == n and not np.any(abs_d == 0)
    w = wilcoxon_paired(dx.to_numpy(float), dy.to_numpy(float), mode="exact" if exact else None)
    row |= {
        "ci_low": 2 ** -t.ci[1],
        "ci_high": 2 ** -t.ci[0],
        "t": t.statistic,
        "df": t.df,
        "t_p": t.p,
        "wilcoxon_v": w.statistic,
        "wilcoxon_p": w.p,
        "wilcoxon_method": w.method,
    }
    return row
