"""The synthetic trial against the paper's numbers (targets.yaml), over many seeds.

Tolerance: a pooled mean must lie within 3.5 standard errors of the paper's value and
a pooled SD within 3.5 of its own standard errors (delta method, using the sample's
fourth moment so skewed measures such as disease duration are not held to a normal
SE). 3.5 SE gives about one false alarm in 2,000 per quantity; the paper's numbers
are themselves estimates from 22 patients, so closer agreement is not meaningful.
"""

import numpy as np
import pandas as pd
import pytest

from nmmstrial.capture.validate import validate_observations
from nmmstrial.protocol import paper_targets, protocol_from_dict
from nmmstrial.simulate import simulate_trial
from nmmstrial.study import with_arm

TARGETS = paper_targets()
SEEDS = range(10)
Z = 3.5


@pytest.fixture(scope="module")
def pooled(protocol):
    studies = [simulate_trial(protocol, seed=seed) for seed in SEEDS]
    patients = pd.concat([s.patients for s in studies], ignore_index=True)
    obs = pd.concat(
        [with_arm(s.observations, s.allocation).assign(seed=i) for i, s in enumerate(studies)],
        ignore_index=True,
    )
    return patients, obs


def _within_sampling_error(values, mean, sd):
    x = np.asarray(values, dtype=float)
    n = len(x)
    s = x.std(ddof=1)
    m4 = np.mean((x - x.mean()) ** 4)
    se_sd = np.sqrt(max(m4 - s**4 * (n - 3) / (n - 1), 0) / n) / (2 * s)
    assert abs(x.mean() - mean) <= Z * sd / np.sqrt(n), (x.mean(), mean)
    assert abs(s - sd) <= Z * se_sd, (s, sd)


@pytest.mark.parametrize(
    ("column", "key"),
    [
        ("age", "age_years"),
        ("disease_duration_months", "disease_duration_months"),
        ("alsfrs_r", "alsfrs_r_total"),
        ("fvc_pct", "fvc_pct"),
    ],
)
def test_baseline_characteristics_match_table_1(pooled, column, key):
    patients, _ = pooled
    target = TARGETS["baseline_T0"][key]
    _within_sampling_error(patients[column], target["mean"], target["sd"])


def test_sex_matches_within_binomial_error(pooled):
    patients, _ = pooled
    p = 19 / 22
    n = len(patients)
    males = int((patients["sex"] == "male").sum())
    assert abs(males - n * p) <= Z * np.sqrt(n * p * (1 - p))


@pytest.mark.parametrize(
    ("measure", "key"),
    [
        ("mrc_sum", "mrc_upper_limb_sum"),
        ("mrc_fcr", "mrc_fcr"),
        ("dynamometer_kg", "dynamometer_kg"),
        ("cmap_apb_mv", "cmap_apb_mv"),
        ("cmap_fcr_mv", "cmap_fcr_mv"),
    ],
)
@pytest.mark.parametrize("arm", ["real", "sham"])
def test_baseline_by_arm_matches_table_1(pooled, measure, key, arm):
    _, obs = pooled
    values = obs.loc[(obs.time == "T0") & (obs.measure == measure) & (obs.arm == arm), "value"]
    target = TARGETS["baseline_T0"][key][arm]
    _within_sampling_error(values, target["mean"], target["sd"])


def _mean_change(obs, measure, arm, time):
    wide = obs[(obs.measure == measure) & (obs.arm == arm)].pivot_table(
        index=["seed", "patient"], columns="time", values="value"
    )
    return (wide[time] - wide["T0"]).mean()


def test_effect_directions_follow_the_paper(pooled):
    _, obs = pooled
    assert _mean_change(obs, "dynamometer_kg", "real", "T1") > 1
    assert _mean_change(obs, "dynamometer_kg", "real", "T2") > 2
    assert _mean_change(obs, "dynamometer_kg", "real", "T3") < -0.5
    assert abs(_mean_change(obs, "dynamometer_kg", "sham", "T1")) < 0.7
    assert _mean_change(obs, "dynamometer_kg", "sham", "T3") < -0.5
    # arm x time at T2: the real arm gains more than the sham arm
    real_t2 = _mean_change(obs, "dynamometer_kg", "real", "T2")
    assert real_t2 - _mean_change(obs, "dynamometer_kg", "sham", "T2") > 1.5
    assert _mean_change(obs, "mrc_fcr", "real", "T1") > 0.2
    assert _mean_change(obs, "mrc_fcr", "real", "T2") > 0.2
    assert abs(_mean_change(obs, "mrc_fcr", "real", "T3")) < 0.2
    for muscle in ("cmap_apb_mv", "cmap_fcr_mv"):
        for arm in ("real", "sham"):
            base = obs.loc[(obs.measure == muscle) & (obs.arm == arm) & (obs.time == "T0"), "value"]
            assert abs(_mean_change(obs, muscle, arm, "T2")) < 0.1 * base.mean()


def test_flow_counts_are_exact(protocol):
    study = simulate_trial(protocol, seed=11)
    patients, biopsies = study.patients, study.biopsies
    assert len(patients) == 22
    assert (patients.biopsy == "refused").sum() == 7
    biopsied = biopsies.groupby("patient")[["ephys", "qpcr", "histology", "morphometry"]].all()
    assert len(biopsied) == 15
    assert biopsied.sum().to_dict() == {"ephys": 15, "qpcr": 7, "histology": 7, "morphometry": 4}
    assert (biopsied.morphometry <= biopsied.qpcr).all()  # morphometry patients are a subset
    assert sorted(study.allocation.real_side.value_counts().tolist()) == [11, 11]
    sessions = study.sessions.groupby("patient")
    assert (sessions.size() == 10).all()
    assert (sessions.pulses.sum() == 70000).all()
    assert set(study.sessions.duration_s) == {3485}


def test_observations_obey_the_protocol(protocol, small_study):
    validate_observations(small_study.observations, protocol)
    obs = small_study.observations
    wide = obs[obs.side.notna()].pivot_table(
        index=["patient", "side", "time"], columns="measure", values="value"
    )
    muscles = [m.name for m in protocol.mrc_muscles]
    assert np.allclose(wide["mrc_sum"], wide[muscles].sum(axis=1))
    trials = [f"dynamometer_kg_trial{k}" for k in (1, 2, 3)]
    assert np.allclose(wide["dynamometer_kg"], wide[trials].mean(axis=1), atol=0.005)
    per_patient = obs[obs.side.isna()].pivot_table(
        index=["patient", "time"], columns="measure", values="value"
    )
    items = [f"alsfrs_r_q{k:02d}" for k in range(1, 13)]
    assert (per_patient["alsfrs_r"] == per_patient[items].sum(axis=1)).all()


def test_modified_scale_gives_minus_and_plus_grades(protocol):
    modified = protocol_from_dict(
        {**protocol.model_dump(mode="json"), "mrc_scale": "modified"}, source="test"
    )
    obs = simulate_trial(modified, seed=3).observations
    validate_observations(obs, modified)
    grades = obs.loc[obs.measure == "mrc_fcr", "value"]
    assert (np.abs(grades * 3 - np.round(grades * 3)) < 1e-9).all()
    assert (np.abs(grades - np.round(grades)) > 0.3).any()  # some 4- or 4+


def test_same_seed_same_study_other_seed_other_study(protocol):
    one, again, other = (simulate_trial(protocol, seed=s) for s in (5, 5, 6))
    for name, frame in one.tables.items():
        pd.testing.assert_frame_equal(frame, again.tables[name])
    assert not one.observations.equals(other.observations)
    assert one.meta["seed"] == 5
    assert one.meta["simulated"] is True
