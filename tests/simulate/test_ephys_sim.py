"""The simulated oocytes: the paper's counts and arm means come back within sampling
error, oocytes of a patient are alike, and the lab files read back through the reader."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from nmmstrial.assays.doseresponse import fit_dose_response
from nmmstrial.assays.ephys import measure_files, measure_recording, read_abf
from nmmstrial.capture.ephys import (
    DOSE_SHEET_COLUMNS,
    dose_response_sheet,
    map_files,
    read_dose_map,
    read_oocyte_map,
    tag_concentration_um,
)
from nmmstrial.cli.demo import DOSE_RESPONSE_SHEET, ephys_through_the_lab
from nmmstrial.errors import InvalidValueError
from nmmstrial.protocol import paper_targets, reference_protocol
from nmmstrial.simulate import load_calibration, simulate_trial
from nmmstrial.simulate.ephys import (
    DOSE_RESPONSE_MAP,
    PEAK_MAP,
    clampex_name,
    write_dose_response_recordings,
    write_traces,
)
from nmmstrial.study import with_arm

SEEDS = range(20)
PAPER = paper_targets()["electrophysiology"]
MEASURES = {"peak_na": "peak_current_nA", "t05_s": "decay_t05_s", "ec50_um": "ec50_uM"}


@pytest.fixture(scope="module")
def trials():
    return [simulate_trial(reference_protocol(), seed=seed) for seed in SEEDS]


@pytest.fixture(scope="module")
def oocytes(trials) -> pd.DataFrame:
    return pd.concat(
        [with_arm(t.oocytes, t.allocation).assign(trial=k) for k, t in enumerate(trials)],
        ignore_index=True,
    )


@pytest.mark.parametrize("column", list(MEASURES))
def test_counts_per_arm_are_the_papers(oocytes, column):
    target = PAPER[MEASURES[column]]
    counts = oocytes.dropna(subset=[column]).groupby(["trial", "arm"]).size().unstack()
    assert (counts["real"] == target["real"]["n_oocytes"]).all()
    assert (counts["sham"] == target["sham"]["n_oocytes"]).all()


def test_fifteen_patients_and_subsets_of_four(oocytes, trials):
    assert all(t.oocytes["patient"].nunique() == PAPER["patients"] for t in trials)
    assert all(len(t.oocytes) == PAPER["oocytes"] for t in trials)
    for column in ("t05_s", "ec50_um"):
        patients = oocytes.dropna(subset=[column]).groupby("trial")["patient"].nunique()
        assert (patients == 4).all()


@pytest.mark.parametrize("column", list(MEASURES))
@pytest.mark.parametrize("arm", ["real", "sham"])
def test_arm_means_match_the_paper_within_sampling_error(oocytes, column, arm):
    # Oocytes share patients, so the SE of the pooled mean comes from the spread of the
    # per-trial means (each trial an independent study): 4 SE, a miss has p < 1e-4.
    # EC50 also gets 1 % of the mean, as the paper's sham SD is below its SEM x sqrt(20).
    target = PAPER[MEASURES[column]][arm]
    values = oocytes.loc[oocytes["arm"] == arm].dropna(subset=[column])
    per_trial = values.groupby("trial")[column].mean()
    se = per_trial.std() / math.sqrt(len(per_trial))
    assert abs(per_trial.mean() - target["mean"]) < 4 * se + 0.01 * target["mean"]


def test_peaks_stay_in_the_papers_range_and_are_skewed(oocytes):
    low, high = PAPER["current_range_nA"]
    assert oocytes["peak_na"].between(low, high).all()
    for arm in ("real", "sham"):
        peaks = oocytes.loc[oocytes["arm"] == arm, "peak_na"]
        assert peaks.median() < peaks.mean()  # lognormal: right-skewed, as currents are


def test_oocytes_of_a_patient_are_alike(oocytes):
    # The patient effect is shared by both arms: a patient's real and sham samples have
    # correlated mean log peaks, which is what makes counting oocytes as independent wrong.
    means = (
        oocytes.assign(log_peak=np.log(oocytes["peak_na"]))
        .groupby(["trial", "patient", "arm"])["log_peak"]
        .mean()
        .unstack()
    )
    assert means["real"].corr(means["sham"]) > 0.3


def test_censored_t05_only_at_the_end_of_the_application(oocytes):
    measured = oocytes.dropna(subset=["t05_s"])
    assert measured["t05_censored"].notna().all()
    assert oocytes.loc[oocytes["t05_s"].isna(), "t05_censored"].isna().all()
    censor = 30 - load_calibration().chosen["ephys"]["trace"]["rise_s"]
    censored = measured.loc[measured["t05_censored"].astype(bool), "t05_s"]
    assert (censored == censor).all()
    assert (measured.loc[~measured["t05_censored"].astype(bool), "t05_s"] < censor).all()


def test_ephys_draws_leave_the_other_tables_alone(trials):
    # Fewer oocytes per sample (fewer draws), same seed: every other table is unchanged.
    cal = load_calibration()
    chosen = {**cal.chosen, "ephys": {**cal.chosen["ephys"], "min_oocytes": 2}}
    other = simulate_trial(
        reference_protocol(), seed=0, calibration=dataclasses.replace(cal, chosen=chosen)
    )
    for name, frame in trials[0].tables.items():
        if name != "oocytes":
            pd.testing.assert_frame_equal(other.tables[name], frame)
    assert not other.oocytes["peak_na"].equals(trials[0].oocytes["peak_na"])


def test_qpcr_settings_leave_the_oocytes_alone(trials):
    cal = load_calibration()
    chosen = {**cal.chosen, "qpcr": {**cal.chosen["qpcr"], "replicates": 2}}
    other = simulate_trial(
        reference_protocol(), seed=0, calibration=dataclasses.replace(cal, chosen=chosen)
    )
    pd.testing.assert_frame_equal(other.oocytes, trials[0].oocytes)


def test_written_abf_files_read_back_with_rate_units_and_window(trials, tmp_path):
    study = trials[0]
    chosen = load_calibration().chosen["ephys"]
    written = write_traces(study.oocytes, tmp_path, chosen, seed=0)
    assert len(written) == 34
    index, path = next(iter(written.items()))
    rec = read_abf(path)
    assert rec.abf_version.startswith("1.")
    assert rec.sample_rate_hz == pytest.approx(chosen["trace"]["sample_rate_hz"])
    assert rec.sweeps == 1 and rec.channels[0].units == "nA"
    assert rec.holding_mV[0] == pytest.approx(-60)
    assert [t.comment for t in rec.tags] == ["ACh on", "ACh off"]
    # neo, an independent reader, sees the same rate, unit and values.
    neo = pytest.importorskip("neo")
    signal = neo.io.AxonIO(str(path)).read_block().segments[0].analogsignals[0]
    assert float(signal.sampling_rate.rescale("Hz")) == pytest.approx(rec.sample_rate_hz)
    assert signal.units.dimensionality.string == "nA"
    np.testing.assert_allclose(np.asarray(signal).ravel(), rec.data[0, 0], atol=1e-6)
    measured = measure_recording(rec)
    assert measured["window"] == {"start_s": 5.0, "end_s": 35.0, "source": "tags"}
    sweep = measured["sweeps"][0]
    row = study.oocytes.loc[index]
    assert -sweep["peak"] == pytest.approx(row["peak_na"], rel=0.03)
    assert sweep["response"]
    if not row["t05_censored"]:
        assert sweep["t05_s"] == pytest.approx(row["t05_s"], rel=0.1, abs=0.05)


def test_the_lab_stores_measured_t05_and_fitted_ec50(trials, tmp_path):
    study = trials[1]
    lab = ephys_through_the_lab(study, tmp_path)
    before, after = study.oocytes, lab.oocytes
    # every oocyte's peak is measured from its 4-s recording: the drawn one plus noise
    ratio = after["peak_na"] / before["peak_na"]
    assert ratio.between(0.97, 1.1).all() and not ratio.eq(1).all()
    assert abs(ratio.median() - 1) < 0.01
    assert after["file"].notna().all()
    recorded = after["file"].str.contains("_oocyte").astype(bool)
    assert recorded.sum() == 34
    assert recorded.equals(before["t05_s"].notna())
    for row in after.itertuples():
        assert hashlib.sha256((tmp_path / row.file).read_bytes()).hexdigest() == row.sha256
        entry = json.loads(row.params)["peak"]
        assert entry["window"] == {"start_s": 5.0, "end_s": 9.0, "source": "tags"}
        assert (tmp_path / entry["file"]).is_file() and entry["kind"] == "peak"
    # peak files are named as Clampex names them; the lab's map says which oocyte each is
    mapped = read_oocyte_map(tmp_path / PEAK_MAP)
    assert len(mapped) == len(after) and all(
        re.fullmatch(r"\d\d[1-9ond]\d{5}\.abf", f) for f in mapped
    )
    assert set(mapped.values()) == set(
        zip(after["sample"], after["oocyte"].astype(int), strict=True)
    )
    ok = recorded & ~before["t05_censored"].fillna(True).astype(bool)
    ratio = after.loc[ok, "t05_s"] / before.loc[ok, "t05_s"]
    assert ratio.between(0.8, 1.1).all() and not ratio.eq(1).all()
    fitted = before["ec50_um"].notna()
    assert after["ec50_um"].notna().equals(fitted)
    ratio = after.loc[fitted, "ec50_um"] / before.loc[fitted, "ec50_um"]
    assert ratio.between(0.8, 1.25).all() and not ratio.eq(1).all()
    assert (tmp_path / DOSE_RESPONSE_SHEET).exists()
    assert lab.meta["ephys"]["windows"] == ["tags"]
    assert lab.meta["ephys"]["recordings"] == 34


def test_dose_response_recordings_read_back_with_sweeps_tags_and_map(trials, tmp_path):
    study = trials[0]
    chosen = load_calibration().chosen["ephys"]
    record = chosen["ec50"]["recording"]
    written, sheet = write_dose_response_recordings(study.oocytes, tmp_path, chosen, seed=0)
    assert len(written) == study.oocytes["ec50_um"].notna().sum() == 34
    assert sheet.equals(read_dose_map(tmp_path / DOSE_RESPONSE_MAP))
    index, path = next(iter(written.items()))
    rec = read_abf(path)
    conc = chosen["ec50"]["concentrations_um"]
    assert rec.sweeps == len(conc) and rec.sweep_interval_s == pytest.approx(120)
    assert rec.holding_mV[0] == pytest.approx(-60)
    # one "ACh <conc>" and one "wash" tag per sweep, where the application starts and ends
    comments = [t.comment for t in rec.tags]
    assert comments[:4] == ["ACh 1 uM", "wash", "ACh 3 uM", "wash"] and comments[-2] == "ACh 1 mM"
    assert [t.sweep for t in rec.tags] == [k for k in range(len(conc)) for _ in range(2)]
    offsets = {round(t.time_s - rec.sweep_start_s(t.sweep), 6) for t in rec.tags}
    start = record["baseline_s"]
    assert offsets == {start, start + record["application_s"]}
    stated = [tag_concentration_um(t.comment) for t in rec.tags[::2]]
    assert stated == sheet.loc[sheet["file"] == path.name, "conc_um"].tolist() == conc
    # neo, an independent reader, sees the same sweeps and their start times
    neo = pytest.importorskip("neo")
    raw = neo.rawio.AxonRawIO(str(path))
    raw.parse_header()
    assert [raw.segment_t_start(0, k) for k in range(rec.sweeps)] == pytest.approx(
        [120.0 * k for k in range(rec.sweeps)]
    )
    block = neo.io.AxonIO(str(path)).read_block()
    for k, segment in enumerate(block.segments):
        np.testing.assert_allclose(np.asarray(segment.analogsignals[0]).ravel(), rec.data[0, k])
    # the largest current is near the oocyte's 500-uM peak scaled to 1 mM on its curve
    peaks = [-row["peak"] for row in measure_recording(rec)["sweeps"]]
    row = study.oocytes.loc[index]
    hill = 1 / (1 + (row["ec50_um"] / np.array([500.0, 1000.0])) ** 1.5)
    assert max(peaks) == pytest.approx(row["peak_na"] * hill[1] / hill[0], rel=0.08)
    assert peaks == sorted(peaks) or np.corrcoef(peaks, np.log(conc))[0, 1] > 0.8


def test_the_lab_fits_the_curves_it_measured_from_the_recordings(trials, tmp_path):
    study = trials[2]
    lab = ephys_through_the_lab(study, tmp_path)
    sheet = pd.read_csv(tmp_path / DOSE_RESPONSE_SHEET, dtype={"curve": str})
    assert list(sheet.columns) == list(DOSE_SHEET_COLUMNS)
    assert sheet.groupby("curve")["response"].max().eq(1).all()  # normalised per oocyte
    assert (
        sheet["response"] == sheet["peak_na"] / sheet.groupby("curve")["peak_na"].transform("max")
    ).all()
    fitted = lab.oocytes.dropna(subset=["ec50_um"])
    for row in fitted.itertuples():
        entry = json.loads(row.params)["ec50"]
        recording = tmp_path / entry["recording"]["file"]
        assert hashlib.sha256(recording.read_bytes()).hexdigest() == entry["recording"]["sha256"]
        assert entry["recording"]["window"] == {"start_s": 5.0, "end_s": 9.0, "source": "tags"}
        points = sheet.loc[sheet["curve"] == f"{row.sample}-{row.oocyte}"]
        assert entry["points"] == points[["conc_um", "response"]].to_numpy().tolist()
        assert (points["file"] == entry["recording"]["file"]).all()
    assert lab.meta["ephys"]["dose_response"]["recordings"] == len(fitted)
    # the sheet a scientist feeds to `nmmstrial assay ephys dose-response` gives the same EC50s
    again = fit_dose_response(sheet, "conc_um", "response", curve="curve")
    by_curve = {fit["curve"]: fit["ec50"] for fit in again}
    for row in fitted.itertuples():
        assert by_curve[f"{row.sample}-{row.oocyte}"] == pytest.approx(row.ec50_um)


def test_a_tag_that_contradicts_the_concentration_sheet_is_refused(trials, tmp_path):
    study = trials[0]
    chosen = load_calibration().chosen["ephys"]
    written, sheet = write_dose_response_recordings(study.oocytes, tmp_path, chosen, seed=0)
    path = next(iter(written.values()))
    results, errors = measure_files([path])
    assert not errors
    mapping = map_files([path], study.biopsies)
    tags = {str(path): read_abf(path).tags}
    table, _ = dose_response_sheet(results, sheet, mapping, tags=tags)
    assert len(table) == 7
    wrong = sheet.copy()
    wrong.loc[(wrong["file"] == path.name) & (wrong["sweep"] == 2), "conc_um"] = 30.0
    with pytest.raises(
        InvalidValueError, match="sweep 2: the sheet says 30 uM, the recording's tag 10 uM"
    ):
        dose_response_sheet(results, wrong, mapping, tags=tags)
    missing = pd.concat([sheet, pd.DataFrame([{"file": path.name, "sweep": 7, "conc_um": 3000.0}])])
    with pytest.raises(InvalidValueError, match="names sweep 7"):
        dose_response_sheet(results, missing, mapping)


@pytest.mark.parametrize(
    ("comment", "um"),
    [
        ("ACh 10 uM", 10.0),
        ("100uM ACh", 100.0),
        ("ACh 1 mM", 1000.0),
        ("ach 0,3 µM", 0.3),
        ("300 nM ACh", 0.3),
        ("wash", None),
        ("ACh 10 uM + 5 mM Ca", "refused"),
        ("NMDA 2 s -80mV", None),
    ],
)
def test_concentrations_in_rig_comments(comment, um):
    if um == "refused":
        with pytest.raises(InvalidValueError, match="states 2 concentrations"):
            tag_concentration_um(comment)
    else:
        assert tag_concentration_um(comment) == (None if um is None else pytest.approx(um))


def test_clampex_names_count_recordings_per_day():
    assert clampex_name(0, 0) == "19107000.abf"  # 2019-01-07, first recording
    assert clampex_name(300, 12) == "19n03012.abf"  # November is "n"
    assert clampex_name(360, 999) == "20102999.abf"
