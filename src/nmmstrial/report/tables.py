"""The report's numbers as tidy frames: Table 1, the patient flow, outcomes by arm, adverse events.

Pure functions of a `Study`: frames in, frames out, nothing formatted. Arms are
`real` / `sham` here; coding them X / Y for a blinded audience is the page's job
(`arm_labels`). Every summary is descriptive: no tests, no p-values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..assays.qpcr import CompareResult, compare_arms
from ..errors import InvalidValueError, NmmstrialError
from ..protocol import Protocol, paper_targets
from ..study import Study, arm_codes, with_arm
from ..tidy import ARMS

# Table 1's per-patient rows: patients column -> (label, unit, key in targets.yaml).
PATIENT_CHARACTERISTICS: tuple[tuple[str, str, str, str], ...] = (
    ("age", "Age", "years", "age_years"),
    ("disease_duration_months", "Disease duration", "months", "disease_duration_months"),
    ("alsfrs_r", "ALSFRS-R total", "points (0-48)", "alsfrs_r_total"),
    ("fvc_pct", "Forced vital capacity", "% predicted", "fvc_pct"),
)
# Table 1's per-side rows: measure -> (label, key in targets.yaml).
SIDE_CHARACTERISTICS: tuple[tuple[str, str, str], ...] = (
    ("mrc_sum", "MRC upper-limb sum (8 muscles)", "mrc_upper_limb_sum"),
    ("mrc_fcr", "MRC flexor carpi radialis", "mrc_fcr"),
    ("dynamometer_kg", "Handgrip dynamometer", "dynamometer_kg"),
    ("cmap_apb_mv", "CMAP amplitude, abductor pollicis brevis", "cmap_apb_mv"),
    ("cmap_fcr_mv", "CMAP amplitude, flexor carpi radialis", "cmap_fcr_mv"),
)
TABLE1_COLUMNS = (
    "characteristic",
    "unit",
    "arm",
    "n",
    "mean",
    "sd",
    "paper_n",
    "paper_mean",
    "paper_sd",
)
# The clinical visits the paper reports (baseline, 1 and 2 weeks, 30 days after).
CLINICAL_VISITS = ("T0", "T1", "T2", "T3")
SUMMARY_COLUMNS = ("measure", "arm", "time", "n", "mean", "sd", "sem")
FLOW_COLUMNS = ("stage", "label", "patients", "arms")
ASSAYS = (
    ("ephys", "oocyte voltage clamp"),
    ("qpcr", "qPCR"),
    ("histology", "histology"),
    ("morphometry", "morphometry"),
)
AE_COLUMNS = ("term", "severity", "related_to", "relatedness", "arm", "events", "patients")


def measure_label(protocol: Protocol, measure: str) -> str:
    """A measure's short display name: Table 1's wording, else the protocol's label."""
    short = {name: label for name, label, _ in SIDE_CHARACTERISTICS}
    return short.get(measure) or protocol.measure(measure).label


def plural(count: int, noun: str) -> str:
    """`1 patient`, `2 patients`: counts read as words in tables and figures."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def arm_labels(study: Study) -> dict[str, str]:
    """How the page names the arms: real / sham, or the sealed X / Y codes when
    `meta["blinded"]` is true (the page never prints which code is which).

    A simulated study is unblinded by construction; a blinded audience sees codes only.
    """
    if study.meta.get("blinded"):
        return arm_codes(study.allocation)
    return dict(zip(ARMS, ARMS, strict=True))


def display_arms(labels: dict[str, str]) -> tuple[str, str]:
    """The arms in the order the page shows them: by their label, so real before sham,
    and X before Y whichever is real (an order that followed real / sham would tell)."""
    return tuple(sorted(ARMS, key=lambda arm: labels[arm]))


def _describe(values: pd.Series) -> tuple[int, float, float]:
    """n, mean and sample SD (ddof 1) of the non-missing values; NaN where undefined."""
    values = pd.to_numeric(values, errors="coerce").astype("float64").dropna()
    n = len(values)
    mean = float(values.mean()) if n else np.nan
    sd = float(values.std(ddof=1)) if n > 1 else np.nan
    return n, mean, sd


def side_observations(study: Study) -> pd.DataFrame:
    """Per-side observations with their `arm` (real / sham); per-patient rows dropped."""
    obs = study.observations
    obs = obs.loc[obs["side"].notna()]
    return with_arm(obs, study.allocation)


def table1(study: Study) -> pd.DataFrame:
    """Baseline (T0) characteristics, beside the paper's Table 1.

    Per-patient rows (arm `all`) come from `study.patients`, counted over every patient
    in it; sex rows are counts in `n` with no mean. Per-side rows come from the T0
    observations, one row per arm. `n` counts non-missing values, `sd` is the sample SD
    (NaN below two values). Paper columns are NaN where the paper reports nothing.

    Returns columns: characteristic, unit, arm, n, mean, sd, paper_n, paper_mean, paper_sd.
    """
    targets = paper_targets()
    baseline, design = targets["baseline_T0"], targets["design"]
    paper_n = design["patients_randomized"]
    patients = study.patients

    def row(label, unit, arm, stats, paper, n_paper=paper_n):
        n, mean, sd = stats
        return {
            "characteristic": label,
            "unit": unit,
            "arm": arm,
            "n": n,
            "mean": mean,
            "sd": sd,
            "paper_n": n_paper,
            "paper_mean": (paper or {}).get("mean", np.nan),
            "paper_sd": (paper or {}).get("sd", np.nan),
        }

    rows = []
    for column, label, unit, key in PATIENT_CHARACTERISTICS:
        rows.append(row(label, unit, "all", _describe(patients[column]), baseline[key]))
        if column == "age":  # sex right after age, as in the paper
            for sex in ("male", "female"):
                count = int((patients["sex"] == sex).sum())
                stats = (count, np.nan, np.nan)
                rows.append(row(f"Sex: {sex}", "patients", "all", stats, None, design["sex"][sex]))

    obs = side_observations(study)
    obs = obs.loc[obs["time"] == "T0"]
    measures = {m.name: m for m in study.protocol.measures}
    for measure, label, key in SIDE_CHARACTERISTICS:
        if measure not in measures:
            continue
        for arm in display_arms(arm_labels(study)):
            values = obs.loc[(obs["measure"] == measure) & (obs["arm"] == arm), "value"]
            paper = baseline.get(key, {}).get(arm)
            rows.append(row(label, measures[measure].unit, arm, _describe(values), paper))

    frame = pd.DataFrame(rows, columns=list(TABLE1_COLUMNS))
    return frame.astype({"n": "int64", "paper_n": "int64"})


def summary_by_arm(study: Study, measures: Iterable[str], times: Iterable[str]) -> pd.DataFrame:
    """Mean, SD and SEM of per-side measures by arm and visit.

    One row for every measure x arm x time asked for, in that order, even when no value
    exists (n = 0, statistics NaN), so that tables and plots keep their shape.
    SEM = SD / sqrt(n), NaN below two values.

    Returns columns: measure, arm, time, n, mean, sd, sem.
    """
    measures, times = list(measures), list(times)
    for name in measures:
        try:
            measure = study.protocol.measure(name)
        except KeyError:
            known = ", ".join(m.name for m in study.protocol.measures if m.per == "side")
            raise InvalidValueError(
                f"summary_by_arm: {name!r} is not a measure of this protocol; "
                f"per-side measures: {known}"
            ) from None
        if measure.per != "side":
            raise InvalidValueError(
                f"summary_by_arm: {name!r} is measured once per patient, so it has no arm"
            )
    obs = side_observations(study)
    rows = []
    for name in measures:
        for arm in ARMS:
            for time in times:
                mask = (obs["measure"] == name) & (obs["arm"] == arm) & (obs["time"] == time)
                n, mean, sd = _describe(obs.loc[mask, "value"])
                sem = sd / np.sqrt(n) if n > 1 else np.nan
                rows.append((name, arm, time, n, mean, sd, sem))
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return frame.astype({"n": "int64"})


def flow(study: Study) -> pd.DataFrame:
    """The patient flow (CONSORT for within-person trials): patients and arms at each stage.

    Each randomized patient contributes one real and one sham arm; labels name the arms
    as `arm_labels` does, so a blinded flow says which side got X (the stages
    `allocated_real_{side}` then count the X arm's sides, whichever code is real).
    Treated means every session of the protocol completed. Assessed at a visit means the
    visit is `done` and at least one observation exists; its arms are the sides with a
    per-side observation.
    Biopsy and assay arms are the distinct (patient, side) pairs in `study.biopsies`.

    Returns columns: stage (a stable key), label, patients, arms.
    """
    patients, allocation = study.patients, study.allocation
    # List entries not yet given to a patient are not randomized patients.
    allocation = allocation.loc[allocation["patient"].notna()]
    labels = arm_labels(study)
    # The allocated rows name the arm shown first (real; X when blinded, whichever code
    # is real): naming the real arm's code there would tell it.
    first = display_arms(labels)[0]
    swap = {"left": "right", "right": "left"}
    first_side = allocation["real_side"] if first == "real" else allocation["real_side"].map(swap)
    rows: list[tuple[str, str, int, int]] = []

    def add(stage: str, label: str, ids: Iterable[str], arms: int | None = None) -> None:
        ids = set(ids)
        rows.append((stage, label, len(ids), 2 * len(ids) if arms is None else arms))

    add("randomized", "Randomized", allocation["patient"])
    for side in ("left", "right"):
        ids = allocation.loc[first_side == side, "patient"]
        add(f"allocated_real_{side}", f"Allocated: {labels[first]} on the {side}", ids)

    sessions = study.sessions
    done_sessions = sessions.loc[sessions["completed"].fillna(False).astype(bool)]
    per_patient = done_sessions.groupby("patient")["session"].nunique()
    treated = per_patient.index[per_patient >= study.protocol.stimulation.sessions]
    add("treated", "Treated: all sessions completed", treated)

    visits, obs = study.visits, study.observations
    for time in CLINICAL_VISITS:
        done = set(visits.loc[(visits["time"] == time) & (visits["status"] == "done"), "patient"])
        at_time = obs.loc[(obs["time"] == time) & obs["patient"].isin(done)]
        sides = at_time.loc[at_time["side"].notna(), ["patient", "side"]].drop_duplicates()
        add(f"assessed_{time}", f"Assessed at {time}", at_time["patient"], len(sides))

    add("withdrawn", "Withdrawn", patients.loc[patients["status"] == "withdrawn", "patient"])

    biopsies = study.biopsies
    biopsied = patients.loc[patients["biopsy"] == "done", "patient"]
    samples = biopsies.loc[biopsies["patient"].isin(biopsied), ["patient", "side"]]
    add("biopsied", "Biopsied (both arms)", biopsied, len(samples.drop_duplicates()))
    add(
        "biopsy_refused", "Refused biopsy", patients.loc[patients["biopsy"] == "refused", "patient"]
    )
    for flag, label in ASSAYS:
        used = biopsies.loc[biopsies[flag].fillna(False).astype(bool), ["patient", "side"]]
        add(f"assay_{flag}", f"Assay: {label}", used["patient"], len(used.drop_duplicates()))

    frame = pd.DataFrame(rows, columns=list(FLOW_COLUMNS))
    return frame.astype({"patients": "int64", "arms": "int64"})


def flow_so_far(study: Study, sessions: pd.DataFrame | None = None) -> pd.DataFrame:
    """The patient flow of a study in progress, in patients per stage only: nothing in it
    depends on the allocation (no arm, no side), so every role may see it.

    Stages: enrolled, randomized (a sequence number), stimulation started (a session
    logged), treated (every session of the protocol completed), each protocol visit
    recorded as done (the screening visit BV: enrolment), withdrawn, biopsied and
    refused biopsy. `sessions` (columns patient, session, completed) stands for
    `study.sessions` when given, for readers that keep only those columns. Plain sets,
    not pandas: the web dashboard computes it after every save.

    Returns columns: stage, label, patients.
    """
    sessions = study.sessions if sessions is None else sessions
    stim = study.protocol.stimulation

    def column(frame: pd.DataFrame, name: str) -> list:
        return frame[name].astype(object).where(frame[name].notna(), None).tolist()

    patients = study.patients
    ids = column(patients, "patient")
    per = {name: column(patients, name) for name in ("sequence", "enrolled_on", "status", "biopsy")}
    completed: dict[str, set] = {}
    for patient, number, done in zip(
        column(sessions, "patient"),
        column(sessions, "session"),
        column(sessions, "completed"),
        strict=True,
    ):
        if done:
            completed.setdefault(patient, set()).add(number)
    recorded = {
        (patient, time)
        for patient, time, status in zip(
            column(study.visits, "patient"),
            column(study.visits, "time"),
            column(study.visits, "status"),
            strict=True,
        )
        if status == "done"
    }

    def where(name: str, test) -> set:
        return {p for p, value in zip(ids, per[name], strict=True) if test(value)}

    rows = [
        ("enrolled", "Enrolled", set(ids)),
        ("randomized", "Randomized", where("sequence", lambda v: v is not None)),
        ("stimulation_started", "Stimulation started", set(column(sessions, "patient"))),
        (
            "treated",
            f"Treated: all {stim.sessions} sessions completed",
            {p for p, numbers in completed.items() if len(numbers) >= stim.sessions},
        ),
    ]
    enrolled = where("enrolled_on", lambda v: v is not None)
    for visit in study.protocol.visits:
        done = {p for p, time in recorded if time == visit.code}
        if visit.code == "BV":  # enrolment is the screening visit (conduct.visits)
            done |= enrolled
        rows.append((f"visit_{visit.code}", f"Visit {visit.code} done", done))
    rows += [
        ("withdrawn", "Withdrawn", where("status", lambda v: v == "withdrawn")),
        ("biopsied", "Biopsied", where("biopsy", lambda v: v == "done")),
        ("biopsy_refused", "Refused biopsy", where("biopsy", lambda v: v == "refused")),
    ]
    frame = pd.DataFrame(
        [(stage, label, len(found - {None})) for stage, label, found in rows],
        columns=["stage", "label", "patients"],
    )
    return frame.astype({"patients": "int64"})


def adverse_event_counts(study: Study) -> pd.DataFrame:
    """Adverse events counted by term, severity, relatedness and arm.

    A local event (with a side) belongs to that side's arm; a systemic one to `all`.
    Zero rows when none were reported.

    Returns columns: term, severity, related_to, relatedness, arm, events, patients.
    """
    events = study.adverse_events
    if events.empty:
        return pd.DataFrame(columns=list(AE_COLUMNS)).astype(
            {"events": "int64", "patients": "int64"}
        )
    events = with_arm(events, study.allocation)
    events = events.assign(arm=events["arm"].fillna("all"))
    keys = ["term", "severity", "related_to", "relatedness", "arm"]
    counts = (
        events.groupby(keys, dropna=False)
        .agg(events=("patient", "size"), patients=("patient", "nunique"))
        .reset_index()
        .sort_values(["events", *keys], ascending=[False, *[True] * len(keys)])
    )
    return (
        counts.loc[:, list(AE_COLUMNS)]
        .astype({"events": "int64", "patients": "int64"})
        .reset_index(drop=True)
    )


# The paper's references: GAPDH for mRNAs, U6 snRNA for miRNAs (named miR-...).
QPCR_REFERENCES = {"mrna": "GAPDH", "mirna": "U6"}
QPCR_COLUMNS = (
    "gene", "reference", "n", "mean_ddct", "geomean_fold", "ci_low", "ci_high",
    "wilcoxon_p", "wilcoxon_method", "t_p", "mean_fold", "sem_fold",
    "paper_fold", "paper_sem", "paper_p", "paper_test",
)  # fmt: skip


def qpcr_comparison(study: Study) -> CompareResult | None:
    """Real vs sham per gene from the stored qPCR wells (`compare_arms`), or None
    when the study has no sample wells.

    Arms are real / sham, or the sealed X / Y codes when `meta["blinded"]` (ddCt is
    then X - Y). Each gene against the paper's reference: U6 for miRNAs, GAPDH for
    the rest; undetermined wells are excluded (the reader's default policy).
    """
    wells = study.qpcr.loc[study.qpcr["task"] == "UNKNOWN"]
    if wells.empty:
        return None
    coded = bool(study.meta.get("blinded"))
    wells = with_arm(wells, study.allocation, coded=coded)
    wells = wells.assign(
        ct=wells["ct"].astype("float64"),
        undetermined=wells["ct"].isna().astype(bool),
        well_position=wells["plate"] + " " + wells["well"],
    )
    references = set(QPCR_REFERENCES.values())
    present = list(dict.fromkeys(wells["target"]))
    paper = list(paper_targets()["qpcr"]["genes"])
    genes = [g for g in paper if g in present]
    genes += [g for g in present if g not in references and g not in genes]
    mirnas = [g for g in genes if g.lower().startswith("mir")]
    return compare_arms(
        wells,
        references=[QPCR_REFERENCES["mrna"]],
        gene_references={g: [QPCR_REFERENCES["mirna"]] for g in mirnas},
        genes=genes,
        source="the study's qpcr table",
    )


def qpcr_table(result: CompareResult) -> pd.DataFrame:
    """`compare_arms`' per-gene results beside the paper's fold, SEM, p and test
    (NaN / empty for a gene the paper does not report).

    Returns columns: gene, reference, n, mean_ddct, geomean_fold, ci_low, ci_high,
    wilcoxon_p, wilcoxon_method, t_p, mean_fold, sem_fold, paper_fold, paper_sem,
    paper_p, paper_test.
    """
    paper = paper_targets()["qpcr"]["genes"]
    frame = result.genes.copy()
    frame["paper_fold"] = [paper.get(g, {}).get("fold", np.nan) for g in frame["gene"]]
    frame["paper_sem"] = [paper.get(g, {}).get("sem", np.nan) for g in frame["gene"]]
    frame["paper_p"] = [paper.get(g, {}).get("p", np.nan) for g in frame["gene"]]
    frame["paper_test"] = [paper.get(g, {}).get("test", "") for g in frame["gene"]]
    return frame.loc[:, list(QPCR_COLUMNS)].reset_index(drop=True)


# Electrophysiology: column -> (label, unit, key in targets.yaml's electrophysiology).
EPHYS_MEASURES: tuple[tuple[str, str, str, str], ...] = (
    ("peak_na", "Peak ACh current (500 µM, 4 s)", "nA", "peak_current_nA"),
    ("t05_s", "Desensitization T0.5 (30-s application)", "s", "decay_t05_s"),
    ("ec50_um", "ACh EC50", "µM", "ec50_uM"),
)
EPHYS_SUMMARY_COLUMNS = (
    "measure", "arm", "n", "patients", "mean", "sem", "censored",
    "paper_n", "paper_mean", "paper_sem",
)  # fmt: skip
EPHYS_TEST_COLUMNS = (
    "measure", "contrast", "n_oocytes", "n_patients", "mw_p", "mw_method",
    "ratio", "ratio_ci_low", "ratio_ci_high", "mixed_df", "mixed_p", "mixed_error",
    "paper_p", "paper_test",
)  # fmt: skip


def ephys_oocytes(study: Study) -> pd.DataFrame | None:
    """The stored oocytes with their arm (real / sham, or X / Y when blinded), or None
    when the study has none."""
    if study.oocytes.empty:
        return None
    return with_arm(study.oocytes, study.allocation, coded=bool(study.meta.get("blinded")))


def ephys_arms(oocytes: pd.DataFrame) -> list[str]:
    """The two arms in display order: real, sham; or X, Y whichever is real."""
    present = set(oocytes["arm"].dropna())
    return list(ARMS) if present <= set(ARMS) else sorted(present)


def ephys_summary(oocytes: pd.DataFrame) -> pd.DataFrame:
    """Per measure and arm: oocytes, patients, mean and SEM over oocytes (the paper's
    summary) and censored T0.5s (counted at their censoring time, a lower bound);
    beside them the paper's n, mean and SEM (real / sham arms only)."""
    paper = paper_targets()["electrophysiology"]
    rows = []
    for column, _, _, key in EPHYS_MEASURES:
        for arm in ephys_arms(oocytes):
            values = oocytes.loc[oocytes["arm"] == arm].dropna(subset=[column])
            n, mean, sd = _describe(values[column])
            target = paper[key].get(arm, {})
            censored = values["t05_censored"].fillna(False).astype(bool).sum()
            rows.append(
                {
                    "measure": column,
                    "arm": arm,
                    "n": n,
                    "patients": values["patient"].nunique(),
                    "mean": mean,
                    "sem": sd / np.sqrt(n) if n > 1 else np.nan,
                    "censored": int(censored) if column == "t05_s" else 0,
                    "paper_n": target.get("n_oocytes", np.nan),
                    "paper_mean": target.get("mean", np.nan),
                    "paper_sem": target.get("sem", np.nan),
                }
            )
    return pd.DataFrame(rows, columns=list(EPHYS_SUMMARY_COLUMNS))


def ephys_tests(oocytes: pd.DataFrame) -> pd.DataFrame:
    """Per measure, first arm against second: the paper's Mann-Whitney on oocytes as if
    independent, beside the patient-level analysis: a mixed model on the log value with
    random intercepts per patient and per sample (biopsy) within patient, so oocytes
    are nested in their biopsy and patient; its arm contrast back-transformed is the
    ratio of geometric means with its 95 % CI (Satterthwaite df). A model that cannot
    be fitted (too few patients) gives its reason in `mixed_error`."""
    from ..analysis import mann_whitney
    from ..assays.doseresponse import mixed_log_model

    paper = paper_targets()["electrophysiology"]
    arms = ephys_arms(oocytes)
    rows = []
    for column, _, _, key in EPHYS_MEASURES:
        values = oocytes.dropna(subset=[column, "arm"])
        row: dict = {
            "measure": column,
            "contrast": f"{arms[0]} / {arms[1]}",
            "n_oocytes": len(values),
            "n_patients": values["patient"].nunique(),
            "paper_p": paper[key]["test"]["p"],
            "paper_test": paper[key]["test"]["name"],
            "mixed_error": "",
        }
        x = values.loc[values["arm"] == arms[0], column].to_numpy(float)
        y = values.loc[values["arm"] == arms[1], column].to_numpy(float)
        if len(x) and len(y):
            test = mann_whitney(x, y)
            row.update(mw_p=test.p, mw_method=test.method)
        try:
            fit = mixed_log_model(
                values, column, "arm", "patient", "sample", levels=[arms[1], arms[0]]
            )
        except NmmstrialError as error:
            row["mixed_error"] = str(error)
        else:
            c = fit.contrasts.iloc[0]
            row.update(
                ratio=np.exp(c["estimate"]),
                ratio_ci_low=np.exp(c["ci_low"]),
                ratio_ci_high=np.exp(c["ci_high"]),
                mixed_df=c["df"],
                mixed_p=c["p"],
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(EPHYS_TEST_COLUMNS))


EPHYS_CURVE_COLUMNS = ("arm", "patient", "sample", "oocyte", "model", "b", "c", "d", "e", "points")


def _params(text) -> dict:
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def ephys_examples(oocytes: pd.DataFrame) -> dict[str, dict]:
    """Per arm, the representative recording: of the oocytes with a T0.5 recording, the
    one whose T0.5 is the arm's median (the lower of the middle two; censored values
    count at their censoring time, which is what was measured); else the same by peak
    among peak recordings. Each is {sample, oocyte, patient, measure, value, censored}
    and the recording's provenance (file, sha256, sweep, window, current channel and
    units) from `params`; an arm without a recording is absent."""
    out = {}
    for arm in ephys_arms(oocytes):
        rows = oocytes.loc[oocytes["arm"] == arm]
        for measure, column in (("t05", "t05_s"), ("peak", "peak_na")):
            entries = [
                (float(row[column]), _params(row["params"])[measure], row)
                for _, row in rows.iterrows()
                if measure in _params(row["params"]) and pd.notna(row[column])
            ]
            if not entries:
                continue
            entries.sort(key=lambda entry: (entry[0], entry[2]["sample"], entry[2]["oocyte"]))
            value, params, row = entries[(len(entries) - 1) // 2]
            out[arm] = {
                "sample": row["sample"],
                "oocyte": int(row["oocyte"]),
                "patient": row["patient"],
                "measure": measure,
                "value": value,
                "censored": bool(row["t05_censored"]) if pd.notna(row["t05_censored"]) else False,
                "n": len(entries),
                **params,
            }
            break
    return out


def ephys_curves(oocytes: pd.DataFrame) -> pd.DataFrame:
    """One row per oocyte with a stored dose-response fit (`params["ec50"]`): its arm,
    model, drc's b, c, d, e and the points it was fitted to, [[dose, response], ...]."""
    rows = []
    for _, row in oocytes.iterrows():
        fit = _params(row["params"]).get("ec50")
        if not fit or pd.isna(row["arm"]):
            continue
        rows.append(
            {
                "arm": row["arm"],
                "patient": row["patient"],
                "sample": row["sample"],
                "oocyte": int(row["oocyte"]),
                **{key: fit.get(key) for key in ("model", "b", "c", "d", "e", "points")},
            }
        )
    return pd.DataFrame(rows, columns=list(EPHYS_CURVE_COLUMNS))


def ephys_global_fit(curves: pd.DataFrame, arms: list[str]) -> dict:
    """The stored dose-response points of every oocyte pooled per arm and fitted with a
    shared slope and plateaus and one EC50 per arm (`global_fit`): the EC50 ratio
    first arm / second with its CI, and the extra-sum-of-squares F test. Pooling treats
    oocytes as independent points, as a one-curve-per-arm analysis does; the mixed model
    on log EC50 is the patient-level answer. {"error": reason} when it cannot be fitted."""
    from ..assays.doseresponse import global_fit

    points = [
        {"arm": row.arm, "dose": x, "response": y}
        for row in curves.itertuples(index=False)
        for x, y in row.points
    ]
    frame = pd.DataFrame(points, columns=["arm", "dose", "response"])
    if frame["arm"].nunique() < 2:
        return {"error": "dose-response fits in one arm only"}
    try:
        fit = global_fit(frame, "dose", "response", "arm", reference=arms[1], source="points")
    except NmmstrialError as error:
        return {"error": str(error)}
    return {**fit, "arms": arms, "ratio": fit["ratios"][0]}
