"""The simulated qPCR plates: the paper's folds come back out of the wells, through
`compare_arms`, within sampling error; undetermined wells and NTCs are kept as such."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from nmmstrial.assays.qpcr import compare_arms, parse_qpcr_text
from nmmstrial.assays.qpcr.writer import quantstudio_text
from nmmstrial.cli.demo import through_the_lab
from nmmstrial.protocol import paper_targets, reference_protocol
from nmmstrial.simulate import load_calibration, simulate_trial
from nmmstrial.simulate.qpcr import fold_model
from nmmstrial.study import with_arm

SEEDS = range(30)  # 30 trials x 7 molecular patients = 210 patients per gene
PAPER = paper_targets()["qpcr"]["genes"]
MIRNAS = ("miR-24", "miR-1", "miR-206")


def _per_patient(study) -> pd.DataFrame:
    wells = with_arm(study.qpcr.loc[study.qpcr["task"] == "UNKNOWN"], study.allocation)
    wells = wells.assign(
        ct=wells["ct"].astype(float),
        undetermined=wells["ct"].isna().astype(bool),
        well_position=wells["well"],
    )
    result = compare_arms(wells, references=["GAPDH"], gene_references={g: ["U6"] for g in MIRNAS})
    return result.patients


@pytest.fixture(scope="module")
def trials():
    return [simulate_trial(reference_protocol(), seed=seed) for seed in SEEDS]


@pytest.fixture(scope="module")
def pooled(trials) -> pd.DataFrame:
    return pd.concat([_per_patient(study) for study in trials], ignore_index=True)


@pytest.mark.parametrize("gene", list(PAPER))
def test_mean_fold_matches_the_paper_within_sampling_error(pooled, gene):
    # The paper's statistic, the arithmetic mean of the per-patient folds. Its SD over
    # patients is the paper's SEM x sqrt(7); with N pooled patients the SE of our mean
    # is that SD / sqrt(N). Tolerance 4 SE: a two-sided miss has probability 6e-5.
    folds = pooled.loc[pooled["gene"] == gene, "fold"]
    n = len(folds)
    assert n == 7 * len(SEEDS)
    se = PAPER[gene]["sem"] * math.sqrt(7) / math.sqrt(n)
    assert abs(folds.mean() - PAPER[gene]["fold"]) < 4 * se


@pytest.mark.parametrize("gene", list(PAPER))
def test_log2_fold_matches_the_model(pooled, gene):
    # On the log scale the mean -ddCt is the model's log2 mean (see fold_model), SE sd / sqrt(N).
    model = fold_model(paper_targets()["qpcr"], load_calibration().chosen["qpcr"])[gene]
    log2 = -pooled.loc[pooled["gene"] == gene, "ddct"]
    assert abs(log2.mean() - model["mean_log2"]) < 4 * model["sd_log2"] / math.sqrt(len(log2))
    assert 0.7 * model["sd_log2"] < log2.std() < 1.3 * model["sd_log2"]


def test_layout_replicates_and_plausible_cts(trials):
    qpcr = trials[0].qpcr
    samples = qpcr.loc[qpcr["task"] == "UNKNOWN"]
    assert samples["patient"].nunique() == 7
    assert set(samples["target"]) == {*PAPER, "GAPDH", "U6"}
    assert (samples.groupby(["sample", "target"]).size() == 3).all()
    assert not qpcr.duplicated(["plate", "well", "target"]).any()
    # Both samples of a patient on one plate, so plate offsets cancel in ddCt.
    assert (samples.groupby("patient")["plate"].nunique() == 1).all()
    means = samples.groupby("target")["ct"].mean()
    assert 18 < means["GAPDH"] < 22 and 18 < means["U6"] < 23
    mrnas = [g for g in PAPER if g not in MIRNAS]
    assert means[mrnas].between(23, 33).all()
    assert means[list(MIRNAS)].between(19, 29).all()


def test_some_wells_are_undetermined_and_stay_so_through_the_export(trials, tmp_path):
    study = trials[0]
    samples = study.qpcr.loc[study.qpcr["task"] == "UNKNOWN"]
    lost = samples["ct"].isna().mean()
    assert 0 < lost < 0.05
    imported = through_the_lab(study, tmp_path).qpcr
    # The reader's wells are stored: same wells, undetermined kept as NaN, never 0.
    pd.testing.assert_frame_equal(imported, study.qpcr)
    text = (tmp_path / "qpcr_export_QP01.txt").read_text(encoding="utf-8")
    assert "Undetermined" in text
    assert (imported["ct"].dropna() > 0).all()


def test_export_reads_back_with_its_metadata(trials):
    plate = trials[0].qpcr.loc[trials[0].qpcr["plate"] == "QP01"]
    export = parse_qpcr_text(quantstudio_text(plate, experiment="QP01", endogenous="GAPDH, U6"))
    assert export.metadata["format"] == "quantstudio-text"
    assert export.metadata["chemistry"] == "TAQMAN"
    assert export.metadata["endogenous_control"] == "GAPDH, U6"
    assert len(export.wells) == len(plate)
    np.testing.assert_array_equal(export.wells["ct"].to_numpy(), plate["ct"].to_numpy(float))


def test_one_ntc_per_assay_and_plate(trials):
    qpcr = trials[0].qpcr
    ntc = qpcr.loc[qpcr["task"] == "NTC"]
    assays = {*PAPER, "GAPDH", "U6"}
    for _, wells in ntc.groupby("plate"):
        assert sorted(wells["target"]) == sorted(assays)
    assert ntc["patient"].isna().all() and ntc["side"].isna().all()
    # No amplification, or late signal only: never within 5 cycles of the samples.
    assert ((ntc["ct"] > 38) | ntc["ct"].isna()).all()


def test_qpcr_is_drawn_last(trials):
    # Duplicates instead of triplicates (fewer draws), same seed: the clinical tables
    # do not move, which holds only if the qPCR draws come after all the others.
    cal = load_calibration()
    chosen = {**cal.chosen, "qpcr": {**cal.chosen["qpcr"], "replicates": 2}}
    other = simulate_trial(
        reference_protocol(), seed=0, calibration=dataclasses.replace(cal, chosen=chosen)
    )
    for name, frame in trials[0].tables.items():
        if name != "qpcr":
            pd.testing.assert_frame_equal(other.tables[name], frame)
    assert len(other.qpcr) < len(trials[0].qpcr)
