"""ABF reading and response measures against the real files' expected.json and synthetic traces."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from nmmstrial.assays.ephys import (
    Tag,
    application_window,
    iv_curve,
    measure_files,
    measure_recording,
    measure_response,
    read_abf,
)
from nmmstrial.errors import InvalidValueError

DATA = Path(__file__).parent / "data" / "ephys"
EXPECTED = json.loads((DATA / "expected.json").read_text())
FILES = [name for name in EXPECTED if name.endswith(".abf")]


@pytest.mark.parametrize("name", FILES)
def test_header_matches_expected(name):
    want = EXPECTED[name]["header"]
    rec = read_abf(DATA / name)
    info = rec.info()
    assert info["abf_version"] == want["abf_version"]
    assert info["sweeps"] == want["sweeps"]
    assert [c["name"] for c in info["channels"]] == want["adc_names"]
    assert [c["units"] for c in info["channels"]] == want["adc_units"]
    assert info["protocol"] == want["protocol"]
    assert info["holding_mV"] == pytest.approx(want["holding_command"])
    assert info["sweep_interval_s"] == pytest.approx(want["sweep_interval_s"])
    # the true rate, not pyABF's integer one: 1615 points x 2480 us = 4.0052 s
    assert info["sample_rate_hz"] == pytest.approx(1e6 / info["sample_interval_us"])
    assert info["sweep_length_s"] == pytest.approx(rec.sweep_points * rec.dt)
    assert round(info["sample_rate_hz"]) == pytest.approx(want["sample_rate_hz"], abs=1)


def test_true_sample_interval_not_rounded():
    info = read_abf(DATA / "File_axon_7.abf").info()
    assert info["sample_interval_us"] == 2480.0
    assert info["sample_rate_hz"] == pytest.approx(403.2258, abs=1e-4)
    assert info["sweep_length_s"] == pytest.approx(4.0052)
    synch = EXPECTED["File_axon_7.abf"]["header"]["sweep_interval_s_synch_array"]
    assert info["sweep_interval_s_synch_array"] == pytest.approx(synch, rel=1e-6)
    assert any("synch array" in w for w in info["warnings"])


def test_abf1_sweep_interval_from_synch_array():
    info = read_abf(DATA / "05210017_vc_abf1.abf").info()
    assert info["sweep_interval_s"] == 60.0  # pyABF says 3.0: it ignores the synch array
    assert info["holding_mV"] == [-70.0, 0.0]  # fDACHoldingLevel, not the first epoch level


def test_tag_falls_in_the_sweep_started_before_it():
    info = read_abf(DATA / "2018_11_16_sh_0006.abf").info()
    want = EXPECTED["2018_11_16_sh_0006.abf"]
    assert info["tags"] == [
        {
            "time_s": pytest.approx(want["tag_time_s"], abs=1e-4),
            "comment": "+drug at 3min",
            "sweep": 36,
        }
    ]


def test_tag_beyond_the_recording_has_no_sweep(tmp_path):
    from pyabf.abf2.tagSection import TagSection

    path = tmp_path / "tag_beyond_end.abf"
    shutil.copy(DATA / "2018_11_16_sh_0006.abf", path)
    with path.open("rb") as handle:
        start = TagSection(handle)._byteStart
    with path.open("r+b") as handle:  # 400 s in 12.5-us synch units, after the 300-s recording
        handle.seek(start)
        handle.write(struct.pack("<i", 32_000_000))
    info = read_abf(path).info()
    assert info["tags"][0]["sweep"] is None
    assert any("beyond the recording" in w for w in info["warnings"])


@pytest.mark.parametrize("name", ["File_axon_7.abf", "05210017_vc_abf1.abf", "17o19020.abf"])
def test_values_agree_with_neo(name):
    neo = pytest.importorskip("neo")
    rec = read_abf(DATA / name)
    with warnings.catch_warnings():  # neo warns about header fields it does not use
        warnings.simplefilter("ignore")
        block = neo.io.AxonIO(str(DATA / name)).read_block(signal_group_mode="split-all")
    assert len(block.segments) == rec.sweeps
    for sweep in (0, rec.sweeps - 1):
        segment = block.segments[sweep]
        for channel, signal in enumerate(segment.analogsignals):
            assert float(signal.sampling_rate) == pytest.approx(rec.sample_rate_hz, rel=1e-9)
            assert str(signal.units.dimensionality) == rec.channels[channel].units
            np.testing.assert_allclose(
                np.asarray(signal).ravel(), rec.data[channel, sweep], rtol=1e-6, atol=1e-3
            )
    if rec.abf_version.startswith("1"):
        starts = [float(s.t_start) for s in block.segments]
        assert np.diff(starts) == pytest.approx(rec.sweep_interval_s)


def test_file_axon_7_peaks_and_t05():
    want = EXPECTED["File_axon_7.abf"]
    result = measure_recording(read_abf(DATA / "File_axon_7.abf"), window=(0.5, 2.5))
    assert result["current_units"] == "nA"
    assert result["window"] == {"start_s": 0.5, "end_s": 2.5, "source": "user"}
    rows = {row["sweep"]: row for row in result["sweeps"]}
    assert [s for s, row in rows.items() if row["response"]] == want["responding_sweeps"]
    for sweep, expected in want["peaks"].items():
        row = rows[int(sweep)]
        if int(sweep) in want["responding_sweeps"]:
            assert row["peak"] * 1e3 == pytest.approx(expected["peak_pA"], rel=0.02)
        else:
            assert abs(row["peak"]) * 1e3 < 11
    # within the 2-s application the current decays to only 48-66 % of its peak
    assert [rows[s]["t05_censored"] for s in (1, 3, 6)] == [True, True, True]
    assert rows[9]["t05_censored"] is False
    assert rows[9]["t05_s"] == pytest.approx(1.35, abs=0.1)


def test_t05_never_reports_the_washout():
    # a window ending at 2.52 s takes in the washout onset, where the raw trace of sweep 1
    # touches half-peak (2.517 s); 9-point smoothing inside the window does not reach it,
    # and without the window the washout crossing (1.8 s after the peak) is never searched
    rec = read_abf(DATA / "File_axon_7.abf")
    result = measure_recording(rec, window=(0.5, 2.52), sweeps=[1], smooth_s=0.02)
    assert result["sweeps"][0]["t05_censored"] is True
    assert result["sweeps"][0]["t05_s"] == pytest.approx(2.52 - 0.712, abs=0.01)


def test_abf1_puff_artefact_is_not_a_response():
    result = measure_recording(read_abf(DATA / "05210017_vc_abf1.abf"), window=(0.6, 2.9))
    assert [row["response"] for row in result["sweeps"]] == [False] * 6


def test_abf1_scaling_gives_the_expected_sustained_current():
    rec = read_abf(DATA / "05210017_vc_abf1.abf")
    t = rec.time
    post = (t >= 0.7) & (t < 2.9)
    pre = (t >= 0.3) & (t < 0.6)
    got = [rec.data[0, s, post].mean() - rec.data[0, s, pre].mean() for s in range(rec.sweeps)]
    want = EXPECTED["05210017_vc_abf1.abf"]["header"]["post_minus_pre_mean_pA"]
    assert got == pytest.approx(want, abs=0.02)


@pytest.mark.parametrize("name", ["17o19000.abf", "17o19020.abf"])
def test_oocyte_iv_and_reversal(name):
    want = EXPECTED[name]
    result = iv_curve(read_abf(DATA / name), (0.7687, 0.8687))
    assert result["current_units"] == "nA"
    for row, expected in zip(result["sweeps"], want["iv_steady_state"], strict=True):
        assert row["command_mV"] == pytest.approx(expected["command_mV"])
        assert row["measured_mV"] == pytest.approx(expected["measured_mV"], abs=0.01)
        assert row["current"] == pytest.approx(expected["current_file_units"], rel=2e-3, abs=0.1)
        assert row["clamp_ok"] is True
        assert row["excluded"] is False
    assert result["reversal_mV"] == pytest.approx(want["zero_crossing_mV"], abs=0.1)


def test_iv_excludes_sweeps_off_the_command():
    result = iv_curve(read_abf(DATA / "17o19000.abf"), (0.7687, 0.8687), clamp_tolerance_mV=0.2)
    excluded = [row["sweep"] for row in result["sweeps"] if row["excluded"]]
    assert excluded and all(
        abs(row["measured_mV"] - row["command_mV"]) > 0.15
        for row in result["sweeps"]
        if row["excluded"]
    )


def test_unit_and_scale_override_is_recorded():
    rec = read_abf(DATA / "17o19020.abf", overrides={0: ("uA", 1e-3)})
    result = iv_curve(rec, (0.7687, 0.8687))
    assert result["current_units"] == "uA"
    assert result["sweeps"][-1]["current"] == pytest.approx(35.1533, rel=1e-3)
    assert result["provenance"]["overrides"] == [
        {"channel": 0, "file_units": "nA", "units": "uA", "scale": 1e-3}
    ]
    assert result["reversal_mV"] == pytest.approx(-21.2, abs=0.1)


@pytest.mark.parametrize("name", ["17o19000.abf", "17o19020.abf"])
def test_digital_outputs_of_a_voltage_step_protocol_are_not_an_application(name):
    # These oocyte I-V protocols set digital outputs 0-3 during epoch A (0.0187-0.3187 s,
    # right after the pre-sweep holding), which ends where the command steps to
    # -120..+80 mV: no baseline before it, a voltage step as it ends. Not an agonist.
    rec = read_abf(DATA / name)
    high = np.flatnonzero(rec.digital[0])
    assert (high[0] * rec.dt, (high[-1] + 1) * rec.dt) == pytest.approx((0.0187, 0.3187))
    with pytest.raises(InvalidValueError) as error:
        application_window(rec)
    message = str(error.value)
    assert "no application window" in message and "--window" in message
    assert "digital outputs 0, 1, 2, 3 high 0.0187-0.3187 s" in message
    assert "no baseline" in message and "voltage-step protocol" in message
    assert application_window(rec, (0.4, 0.8)).source == "user"


def _with_valve(rec, start_s, end_s, command_step=None):
    """`rec` as if digital output 2 had opened a valve over [start_s, end_s) in every
    sweep; with `command_step` (time s, mV), the command also steps there."""
    digital = rec.digital.copy()
    first, last = round(start_s / rec.dt), round(end_s / rec.dt)
    digital[:, first:last] |= 1 << 2
    command = rec.command.copy()
    if command_step is not None:
        command[:, round(command_step[0] / rec.dt) :] = command_step[1]
    return dataclasses.replace(rec, digital=digital, command=command)


def test_window_from_a_digital_output_held_at_one_potential():
    # File_axon_7's NMDA is applied 0.52-2.50 s at a steady -80 mV (SOURCES.md); a valve
    # on a digital output over that time is the application, and its peaks are the file's.
    rec = _with_valve(read_abf(DATA / "File_axon_7.abf"), 0.45, 2.5)
    window = application_window(rec)
    assert window.source == "digital_output 2"
    assert (window.start_s, window.end_s) == pytest.approx((0.45, 2.5), abs=rec.dt)
    peaks = [row["peak"] * 1e3 for row in measure_recording(rec, smooth_s=0)["sweeps"]]
    expected = [-465.6, -445.2, -665.8, -619.8]
    assert [peaks[k] for k in (1, 3, 6, 9)] == pytest.approx(expected, rel=0.02)


def test_a_digital_pulse_with_a_command_step_is_not_an_application():
    rec = read_abf(DATA / "File_axon_7.abf")
    stepped = _with_valve(rec, 0.45, 2.5, command_step=(2.5, -40.0))
    with pytest.raises(InvalidValueError, match=r"command steps .*\(to -40 mV as it ends\)"):
        application_window(stepped)
    early = _with_valve(rec, 0.02, 2.5)
    with pytest.raises(InvalidValueError, match=r"only 19.8 ms of the sweep before it"):
        application_window(early)


def test_window_from_two_tags_in_a_sweep_comes_first():
    rec = read_abf(DATA / "2018_11_16_sh_0006.abf")
    tagged = dataclasses.replace(
        rec, tags=(Tag(180.02, "ACh on", 36), Tag(180.07, "ACh off", 36), *rec.tags)
    )
    window = application_window(tagged, (0.01, 0.09))
    assert (window.start_s, window.end_s) == pytest.approx((0.02, 0.07))
    assert window.source == "tags (--window ignored)"
    assert application_window(rec, (0.01, 0.09)).source == "user"  # its one tag is in a gap


def test_abf1_digital_trigger_is_read_but_not_taken_as_the_application():
    # epoch E of this ABF1 protocol sets digital output 0 for 5 ms at 0.603 s: the puff
    # trigger (pyABF reports no digital output for ABF1)
    rec = read_abf(DATA / "05210017_vc_abf1.abf")
    high = np.flatnonzero(rec.digital[0] & 1)
    assert (high[0] * rec.dt, (high[-1] + 1) * rec.dt) == pytest.approx((0.60285, 0.60785))
    with pytest.raises(InvalidValueError, match="a trigger, not an application"):
        application_window(rec)
    assert application_window(rec, (0.6, 2.9)).source == "user"


def test_no_window_and_none_given_is_an_error():
    rec = read_abf(DATA / "File_axon_7.abf")
    with pytest.raises(InvalidValueError, match=r"no application window.*--window"):
        application_window(rec)


# --- synthetic recordings --------------------------------------------------------------

DT = 1e-4  # 10 kHz


def synthetic(*, decay_s=1.0, residual=-0.4, peak=-2.0, end=8.0, artefact=1.5, seed=7):
    """Baseline -0.05 nA, noise SD 0.01 nA, application 2 s to `end`, washout tau 0.3 s.

    The current rises linearly over 0.2 s to `peak`, then decays to `residual` with
    `decay_s`; a 10-ms outward artefact (`artefact` nA) marks the valve switching on.
    Seeded so the noise, hence the tolerances, are the same on every run.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(12 / DT)) * DT
    on, t_peak = 2.0, 2.2
    clean = np.zeros_like(t)
    rising = (t >= on) & (t < t_peak)
    clean[rising] = peak * (t[rising] - on) / (t_peak - on)
    applied = (t >= t_peak) & (t < end)
    clean[applied] = residual + (peak - residual) * np.exp(-(t[applied] - t_peak) / decay_s)
    at_end = residual + (peak - residual) * math.exp(-(end - t_peak) / decay_s)
    washout = t >= end
    clean[washout] = at_end * np.exp(-(t[washout] - end) / 0.3)
    clean[(t >= on) & (t < on + 0.01)] += artefact
    return t, -0.05 + clean + rng.normal(0, 0.01, t.size)


def test_synthetic_recording_gives_back_its_parameters():
    _, current = synthetic()
    got = measure_response(current, DT, (2.0, 8.0), fit_decay=True)
    assert got["baseline"] == pytest.approx(-0.05, abs=0.002)
    assert got["baseline_sd"] == pytest.approx(0.01, rel=0.1)
    assert got["peak"] == pytest.approx(-2.0, rel=0.02)
    assert got["t_peak_s"] == pytest.approx(2.2, abs=0.01)
    assert got["response"] is True
    assert got["t05_censored"] is False
    assert got["t05_s"] == pytest.approx(math.log(1.6 / 0.6), abs=0.02)  # tau ln((P-C)/(P/2-C))
    end_value = -0.4 - 1.6 * np.exp(-(np.arange(7.9, 8.0, DT) - 2.2)).mean()
    assert got["residual"] == pytest.approx(end_value, abs=0.005)
    assert got["decay_tau_s"] == pytest.approx(1.0, rel=0.05)


def test_synthetic_recording_through_an_abf_file(tmp_path):
    from pyabf.abfWriter import writeABF1

    _, current = synthetic()
    path = tmp_path / "synthetic.abf"
    writeABF1(np.array([current * 1e3]), str(path), 1 / DT, units="pA")  # pA, as rigs write
    result = measure_recording(read_abf(path), window=(2.0, 8.0))
    row = result["sweeps"][0]
    assert result["current_units"] == "nA"
    assert row["peak"] == pytest.approx(-2.0, rel=0.02)
    assert row["t05_s"] == pytest.approx(0.981, abs=0.02)


def test_t05_not_reached_in_a_two_second_application():
    _, current = synthetic(decay_s=5.0, end=4.0)
    got = measure_response(current, DT, (2.0, 4.0))
    assert got["response"] is True
    assert got["t05_censored"] is True
    assert got["t05_s"] == pytest.approx(4.0 - DT - got["t_peak_s"], abs=1e-9)


def test_artefact_alone_is_not_a_response():
    _, current = synthetic(peak=0.0, residual=0.0, artefact=-3.0)
    got = measure_response(current, DT, (2.0, 8.0))
    assert got["response"] is False


def test_bad_clamp_is_flagged():
    _, current = synthetic()
    command = np.full(current.size, -60.0)
    voltage = command + np.where(np.arange(current.size) * DT > 2.1, 12.0, 0.0)
    got = measure_response(current, DT, (2.0, 8.0), voltage=voltage, command=command)
    assert got["clamp_ok"] is False
    assert got["clamp_deviation_mV"] == pytest.approx(12.0, abs=0.5)


# --- bad input ----------------------------------------------------------------------------


@pytest.fixture
def bad_files(tmp_path):
    truncated = tmp_path / "truncated.abf"
    truncated.write_bytes((DATA / "File_axon_7.abf").read_bytes()[:50_000])
    text = tmp_path / "notes.abf"
    text.write_text("oocyte 3, 500 uM ACh, good seal\n")
    return truncated, text


def test_truncated_abf_is_refused(bad_files):
    with pytest.raises(InvalidValueError, match=r"truncated\.abf.*truncated or damaged"):
        read_abf(bad_files[0])


def test_text_renamed_abf_is_refused(bad_files):
    with pytest.raises(InvalidValueError, match=r"notes\.abf: not an Axon ABF file"):
        read_abf(bad_files[1])


def test_sweep_out_of_range_is_named():
    rec = read_abf(DATA / "File_axon_7.abf")
    with pytest.raises(InvalidValueError, match=r"sweep 12 out of range.*0-11"):
        measure_recording(rec, window=(0.5, 2.5), sweeps=[1, 12])


def test_batch_goes_on_after_bad_files(bad_files):
    paths = [bad_files[0], DATA / "File_axon_7.abf", bad_files[1]]
    results, errors = measure_files(paths, window=(0.5, 2.5))
    assert [r["file"] for r in results] == [str(DATA / "File_axon_7.abf")]
    assert [e["file"] for e in errors] == [str(p) for p in bad_files]


def test_gap_free_recording_is_one_sweep(tmp_path):
    from pyabf.abfWriter import writeABF1

    path = tmp_path / "gap_free.abf"
    writeABF1(np.zeros((3, 1000)), str(path), 1000.0)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<h", raw, 8, 3)  # nOperationMode 3: gap-free
    path.write_bytes(bytes(raw))
    info = read_abf(path).info()
    assert (info["sweeps"], info["sweep_length_s"]) == (1, pytest.approx(3.0))
    assert info["sweep_interval_s"] == pytest.approx(3.0)
