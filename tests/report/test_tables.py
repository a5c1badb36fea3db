import numpy as np
import pandas as pd
import pytest

from nmmstrial.errors import InvalidValueError
from nmmstrial.protocol import paper_targets
from nmmstrial.report import adverse_event_counts, arm_labels, flow, summary_by_arm, table1
from nmmstrial.study import Study


def _by_arm(study) -> pd.DataFrame:
    """Per-side observations with their arm, computed here without the package's helper."""
    obs = study.observations.dropna(subset=["side"])
    obs = obs.merge(study.allocation[["patient", "real_side"]], on="patient")
    return obs.assign(arm=np.where(obs["side"] == obs["real_side"], "real", "sham"))


def _row(frame, characteristic, arm):
    rows = frame[(frame["characteristic"] == characteristic) & (frame["arm"] == arm)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_table1_has_the_documented_columns(study):
    got = table1(study)
    assert list(got.columns) == [
        "characteristic",
        "unit",
        "arm",
        "n",
        "mean",
        "sd",
        "paper_n",
        "paper_mean",
        "paper_sd",
    ]
    assert len(got) == 6 + 5 * 2


@pytest.mark.parametrize(
    ("characteristic", "column"),
    [
        ("Age", "age"),
        ("Disease duration", "disease_duration_months"),
        ("ALSFRS-R total", "alsfrs_r"),
        ("Forced vital capacity", "fvc_pct"),
    ],
)
def test_table1_patient_rows_match_pandas(study, characteristic, column):
    values = study.patients[column].astype(float)
    row = _row(table1(study), characteristic, "all")
    assert row["n"] == 6
    assert row["mean"] == pytest.approx(values.mean())
    assert row["sd"] == pytest.approx(values.std(ddof=1))


def test_table1_counts_sexes(study):
    got = table1(study)
    assert _row(got, "Sex: male", "all")["n"] == 4
    assert _row(got, "Sex: female", "all")["n"] == 2
    assert _row(got, "Sex: male", "all")["paper_n"] == 19
    assert np.isnan(_row(got, "Sex: male", "all")["mean"])


@pytest.mark.parametrize(
    ("characteristic", "measure"),
    [
        ("MRC upper-limb sum (8 muscles)", "mrc_sum"),
        ("MRC flexor carpi radialis", "mrc_fcr"),
        ("Handgrip dynamometer", "dynamometer_kg"),
        ("CMAP amplitude, abductor pollicis brevis", "cmap_apb_mv"),
        ("CMAP amplitude, flexor carpi radialis", "cmap_fcr_mv"),
    ],
)
@pytest.mark.parametrize("arm", ["real", "sham"])
def test_table1_side_rows_match_pandas(study, characteristic, measure, arm):
    obs = _by_arm(study)
    values = obs.loc[
        (obs["time"] == "T0") & (obs["measure"] == measure) & (obs["arm"] == arm), "value"
    ]
    row = _row(table1(study), characteristic, arm)
    assert row["n"] == len(values) == 6
    assert row["mean"] == pytest.approx(values.mean())
    assert row["sd"] == pytest.approx(values.std(ddof=1))


def test_table1_carries_the_papers_values(study):
    baseline = paper_targets()["baseline_T0"]
    got = table1(study)
    age = _row(got, "Age", "all")
    assert (age["paper_mean"], age["paper_sd"]) == (
        baseline["age_years"]["mean"],
        baseline["age_years"]["sd"],
    )
    sham = _row(got, "Handgrip dynamometer", "sham")
    assert (sham["paper_mean"], sham["paper_sd"]) == (19.9, 5.8)
    assert (got["paper_n"][got["unit"] != "patients"] == 22).all()


def test_summary_by_arm_matches_pandas(study):
    measures, times = ["mrc_fcr", "mrc_sum", "dynamometer_kg"], ["T0", "T1", "T2", "T3"]
    got = summary_by_arm(study, measures, times)
    assert list(got.columns) == ["measure", "arm", "time", "n", "mean", "sd", "sem"]
    assert len(got) == 3 * 2 * 4
    obs = _by_arm(study)
    want = (
        obs[obs["measure"].isin(measures)]
        .groupby(["measure", "arm", "time"])["value"]
        .agg(["count", "mean", "std"])
    )
    merged = got.merge(want.reset_index(), on=["measure", "arm", "time"], validate="one_to_one")
    assert len(merged) == len(got)
    assert (merged["n"] == merged["count"]).all()
    assert merged["mean_x"].to_numpy() == pytest.approx(merged["mean_y"].to_numpy())
    assert merged["sem"].to_numpy() == pytest.approx(
        (merged["std"] / np.sqrt(merged["count"])).to_numpy()
    )


def test_summary_by_arm_counts_the_withdrawn_patient_only_while_seen(study):
    got = summary_by_arm(study, ["dynamometer_kg"], ["T1", "T2"]).set_index(["arm", "time"])
    assert got.loc[("real", "T1"), "n"] == 6
    assert got.loc[("real", "T2"), "n"] == 5


def test_summary_by_arm_keeps_empty_cells(study):
    got = summary_by_arm(study, ["cmap_fcr_mv"], ["T0", "T1"]).set_index(["arm", "time"])
    assert got.loc[("sham", "T1"), "n"] == 0
    assert np.isnan(got.loc[("sham", "T1"), "mean"])


@pytest.mark.parametrize(
    ("measure", "message"),
    [
        ("alsfrs_r", "once per patient"),
        ("grip", "not a measure of this protocol; per-side measures: mrc_"),
    ],
)
def test_summary_by_arm_refuses_measures_without_arms(study, measure, message):
    with pytest.raises(InvalidValueError, match=message):
        summary_by_arm(study, [measure], ["T0"])


def test_flow_counts_patients_and_arms(study):
    got = flow(study)
    assert list(got.columns) == ["stage", "label", "patients", "arms"]
    counts = {row.stage: (row.patients, row.arms) for row in got.itertuples()}
    assert counts == {
        "randomized": (6, 12),
        "allocated_real_left": (3, 6),
        "allocated_real_right": (3, 6),
        "treated": (5, 10),  # P06 stopped during session 7
        "assessed_T0": (6, 12),
        "assessed_T1": (6, 12),
        "assessed_T2": (5, 10),
        "assessed_T3": (5, 10),
        "withdrawn": (1, 2),
        "biopsied": (4, 8),
        "biopsy_refused": (1, 2),
        "assay_ephys": (4, 8),
        "assay_qpcr": (3, 6),
        "assay_histology": (3, 6),
        "assay_morphometry": (2, 3),  # P02's left sample had too few fibres
    }


def test_flow_needs_the_visit_done_and_data_present(study):
    visits = study.visits.copy()
    visits.loc[(visits["patient"] == "P01") & (visits["time"] == "T3"), "status"] = "missed"
    changed = type(study)(
        protocol=study.protocol, meta=study.meta, tables={**study.tables, "visits": visits}
    )
    got = flow(changed).set_index("stage")
    assert tuple(got.loc["assessed_T3", ["patients", "arms"]]) == (4, 8)


def test_flow_labels_code_the_arms_when_blinded(blinded_study):
    labels = flow(blinded_study)["label"]
    assert "Allocated: X on the left" in set(labels)
    assert not labels.str.contains("real|sham").any()


def test_arm_labels(study, blinded_study):
    assert arm_labels(study) == {"real": "real", "sham": "sham"}
    assert arm_labels(blinded_study) == {"real": "X", "sham": "Y"}  # the fixture's sealed code
    swapped = blinded_study.allocation.assign(real_code="Y")
    again = Study(
        protocol=blinded_study.protocol,
        meta=blinded_study.meta,
        tables={**blinded_study.tables, "allocation": swapped},
    )
    assert arm_labels(again) == {"real": "Y", "sham": "X"}


def test_adverse_events_are_counted_by_term_severity_relatedness_and_arm(study):
    got = adverse_event_counts(study)
    assert list(got.columns) == [
        "term",
        "severity",
        "related_to",
        "relatedness",
        "arm",
        "events",
        "patients",
    ]
    rows = {(r.term, r.arm): (r.events, r.patients) for r in got.itertuples()}
    assert rows == {
        ("biopsy site pain", "sham"): (1, 1),  # P03's right arm: real is left
        ("biopsy site pain", "real"): (1, 1),  # P04's right arm: real is right
        ("headache", "all"): (1, 1),
        ("local discomfort", "real"): (1, 1),
    }


def test_no_adverse_events_gives_zero_rows(quiet_study):
    got = adverse_event_counts(quiet_study)
    assert got.empty
    assert list(got.columns) == [
        "term",
        "severity",
        "related_to",
        "relatedness",
        "arm",
        "events",
        "patients",
    ]


def test_simulated_trial_flow_and_table1_are_complete(simulated_study):
    counts = flow(simulated_study).set_index("stage")
    assert tuple(counts.loc["randomized", ["patients", "arms"]]) == (22, 44)
    allocated = counts.loc[["allocated_real_left", "allocated_real_right"], "patients"]
    assert allocated.sum() == 22
    biopsy = counts.loc[["biopsied", "biopsy_refused"], "patients"]
    assert biopsy.sum() == 22
    t1 = table1(simulated_study)
    assert (t1.loc[t1["unit"] != "patients", "n"] == 22).all()
