"""The simulated fibre sections: the paper's section sizes, % fast per arm and diameter
ranges come back within sampling error, the effects point the paper's way, other tables
do not move, and the drawn images measure back through the lab's pipeline."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nmmstrial.assays.morphometry import measure, split_body
from nmmstrial.cli.demo_fibres import fibres_through_the_lab
from nmmstrial.protocol import paper_targets, reference_protocol
from nmmstrial.simulate import load_calibration, simulate_trial
from nmmstrial.simulate.fibres import (
    MYOSIN_CHANNELS,
    beta_parameters,
    section_images,
    write_sections,
)
from nmmstrial.study import with_arm

SEEDS = range(40)  # 40 trials x 4 patients = 160 sections per arm
PAPER = paper_targets()["histology"]


@pytest.fixture(scope="module")
def trials():
    return [simulate_trial(reference_protocol(), seed=seed) for seed in SEEDS]


@pytest.fixture(scope="module")
def fibres(trials) -> pd.DataFrame:
    return pd.concat(
        [with_arm(t.fibres, t.allocation).assign(trial=k) for k, t in enumerate(trials)],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def sections(fibres) -> pd.DataFrame:
    return (
        fibres.groupby(["trial", "patient", "arm"])
        .agg(n=("fibre", "size"), pct_fast=("fibre_type", lambda t: 100 * (t == "fast").mean()))
        .reset_index()
    )


def test_one_section_per_morphometry_biopsy(trials):
    for trial in trials:
        flagged = trial.biopsies.loc[trial.biopsies["morphometry"].astype(bool)]
        assert flagged["patient"].nunique() == PAPER["morphometry"]["patients"]
        assert set(trial.fibres["sample"]) == set(flagged["sample"])
        keyed = trial.fibres.merge(flagged, on=["patient", "side", "sample"], how="left")
        assert keyed["morphometry"].notna().all()  # sample, patient and side agree
        for _, section in trial.fibres.groupby("sample"):
            assert section["fibre"].tolist() == list(range(1, len(section) + 1))
        assert set(trial.fibres["fibre_type"]) <= {"slow", "fast"}
        assert trial.fibres["file"].isna().all()  # true values; the demo's lab measures


def test_fibres_per_section_follow_the_papers_rule(sections):
    low, high = PAPER["morphometry"]["fibres_per_section"]
    assert sections["n"].between(low, high).all()
    # Uniform over 50-140: both ends are reached over 320 sections.
    assert sections["n"].min() < low + 10 and sections["n"].max() > high - 10


@pytest.mark.parametrize("arm", ["real", "sham"])
def test_pct_fast_per_arm_matches_the_paper(sections, arm):
    # Sections are independent across patients and trials: 4 SE on the mean (a miss
    # has p < 1e-4). The SD of 160 draws from a skewed Beta is known to about 8 %
    # (SE of an SD ~ SD / sqrt(2n), inflated for the Beta's kurtosis): 25 % allowed.
    target = PAPER["fast_fibre_pct"][arm]
    values = sections.loc[sections["arm"] == arm, "pct_fast"]
    se = values.std() / math.sqrt(len(values))
    assert abs(values.mean() - target["mean"]) < 4 * se
    assert values.std() == pytest.approx(target["sd"], rel=0.25)


def test_pct_fast_is_higher_in_the_real_arm_within_patients(sections):
    wide = sections.pivot_table(index=["trial", "patient"], columns="arm", values="pct_fast")
    diff = wide["real"] - wide["sham"]
    paper = PAPER["fast_fibre_pct"]["real"]["mean"] - PAPER["fast_fibre_pct"]["sham"]["mean"]
    assert abs(diff.mean() - paper) < 4 * diff.std() / math.sqrt(len(diff))
    # The arms of a patient are tied (copula r = 0.95): shares correlate strongly.
    assert np.corrcoef(wide["real"], wide["sham"])[0, 1] > 0.6


@pytest.mark.parametrize("arm", ["real", "sham"])
def test_diameters_stay_in_the_papers_range(fibres, arm):
    low, high = PAPER["fibre_diameter_range_um"][arm]
    values = fibres.loc[fibres["arm"] == arm, "min_feret_um"]
    assert values.between(low, high).all()
    assert values.min() < low + 1  # atrophic fibres reach the paper's smallest
    assert values.max() > 84  # and the large ones its sham maximum


def test_real_arm_has_larger_fast_and_slightly_smaller_slow_fibres(fibres):
    # Per patient and type, real - sham of the mean diameter; patients independent:
    # 4 SE for the sign. Fast: clearly larger (the paper's p < 0.001); slow: smaller,
    # by less than 6 um ("slight"), and much less than the fast shift.
    means = fibres.groupby(["trial", "patient", "fibre_type", "arm"])["min_feret_um"].mean()
    diff = (means.xs("real", level="arm") - means.xs("sham", level="arm")).dropna()
    fast, slow = diff.xs("fast", level="fibre_type"), diff.xs("slow", level="fibre_type")
    se = {k: v.std() / math.sqrt(len(v)) for k, v in (("fast", fast), ("slow", slow))}
    assert fast.mean() > 4 * se["fast"]
    assert fast.mean() > 8  # calibrated: about +14 um
    assert slow.mean() < 0 and slow.mean() > -6
    assert abs(slow.mean()) < fast.mean() / 3


def test_fast_fibre_effect_is_found_by_the_mixed_model(trials):
    # The paper's fast-fibre result (p < 0.001) comes back in most trials; a miss
    # rate above 30 % would mean the calibrated shift is too small for 4 patients.
    significant = []
    for trial in trials[:20]:
        table = with_arm(trial.fibres, trial.allocation).rename(
            columns={"min_feret_um": "diameter_um", "fibre_type": "type"}
        )
        result = split_body(table.astype({"fibre": str}))
        row = result.comparison().set_index("type").loc["fast"]
        significant.append(row["mixed_estimate"] > 0 and row["mixed_p"] < 0.05)
    assert np.mean(significant) >= 0.7


def test_beta_counted_over_n_fibres_has_the_papers_sd():
    # Independent reference: scipy's beta-binomial. With n fixed, E[1/n] = 1/n.
    for arm in ("real", "sham"):
        target = PAPER["fast_fibre_pct"][arm]
        m, sd, n = target["mean"] / 100, target["sd"] / 100, 95
        a, b = beta_parameters(m, sd, 1 / n)
        counted = stats.betabinom(n, a, b)
        assert counted.mean() / n == pytest.approx(m, rel=1e-12)
        assert math.sqrt(counted.var()) / n == pytest.approx(sd, rel=1e-12)


def test_fibres_come_from_their_own_stream(trials):
    # Changing the morphometry calibration changes the fibres and nothing else.
    cal = load_calibration()
    chosen = copy.deepcopy(cal.chosen)
    chosen["morphometry"]["fast_share"]["between_arms"] = 0.5
    other = simulate_trial(
        reference_protocol(), seed=SEEDS[0], calibration=dataclasses.replace(cal, chosen=chosen)
    )
    for name, frame in trials[0].tables.items():
        if name == "fibres":
            assert not frame.equals(other.tables[name])
        else:
            pd.testing.assert_frame_equal(frame, other.tables[name], obj=name)


def test_a_drawn_section_measures_back_through_the_pipeline(trials, tmp_path):
    # The lab's path: myosin image + label mask -> `measure` (as `assay fibres measure
    # IMAGE --mask MASK --channels slow=1,fast=2`). At 0.65 um per pixel the minimum
    # Feret of a rasterized ellipse is within 2 px of the drawn one and unbiased
    # (mean within 0.15 px); Otsu on the per-fibre means types every fibre as drawn.
    chosen = load_calibration().chosen["morphometry"]
    sample = trials[0].fibres["sample"].iloc[0]
    section = trials[0].fibres.loc[trials[0].fibres["sample"] == sample]
    image, mask = write_sections(section, tmp_path, chosen, seed=1)[sample]
    result = measure(image, mask=mask, channels=MYOSIN_CHANNELS)
    assert result.unit == "um" and result.um_per_px == pytest.approx(0.65)
    assert not result.fibres["excluded"].any()
    got = result.fibres.set_index(result.fibres["label"].astype(int))
    want = section.set_index(section["fibre"].astype(int))
    assert sorted(got.index) == sorted(want.index)
    got = got.loc[want.index]
    error = got["min_feret"] - want["min_feret_um"]
    assert error.abs().max() < 2 * 0.65
    assert abs(error.mean()) < 0.15 * 0.65
    assert (got["type"] == want["fibre_type"]).all()


def test_section_images_do_not_touch_the_edge_or_each_other(trials):
    chosen = load_calibration().chosen["morphometry"]
    section = trials[1].fibres.loc[trials[1].fibres["sample"] == trials[1].fibres["sample"].iloc[0]]
    drawn = section_images(section, chosen, np.random.default_rng(3))
    labels = drawn.labels
    assert labels[0].max() == labels[-1].max() == labels[:, 0].max() == labels[:, -1].max() == 0
    assert set(np.unique(labels)) == {0, *section["fibre"].astype(int)}
    # Horizontally or vertically adjacent pixels of different fibres would touch.
    right = (labels[:, 1:] != labels[:, :-1]) & (labels[:, 1:] > 0) & (labels[:, :-1] > 0)
    down = (labels[1:] != labels[:-1]) & (labels[1:] > 0) & (labels[:-1] > 0)
    assert not right.any() and not down.any()


def test_the_demo_stores_measured_fibres_with_their_files(trials, tmp_path):
    study = trials[2]
    measured = fibres_through_the_lab(study, tmp_path)
    got = measured.fibres.set_index(["sample", "fibre"]).sort_index()
    want = study.fibres.set_index(["sample", "fibre"]).sort_index()
    assert got.index.equals(want.index)
    assert (got["fibre_type"] == want["fibre_type"]).all()
    assert (got["min_feret_um"] - want["min_feret_um"]).abs().max() < 2 * 0.65
    for (sample, _), row in got.groupby(level=[0, 1]).head(1).iterrows():
        path = tmp_path / row["file"]
        assert row["file"] == f"{sample}_mask.tif"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
    sections = measured.meta["morphometry"]["sections"]
    assert len(sections) == study.fibres["sample"].nunique()
    for entry in sections:
        image = tmp_path / entry["image"]
        assert hashlib.sha256(image.read_bytes()).hexdigest() == entry["image_sha256"]
        assert entry["n_excluded"] == 0 and entry["threshold_method"] == "otsu"
