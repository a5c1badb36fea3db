"""Synthetic oocyte voltage clamp for the electrophysiology patients, and its lab files.

Per patient flagged for ephys, oocytes carrying each biopsy's membranes (about the
paper's 139 real / 144 sham over 15 patients), each with a peak ACh current drawn on
the log scale as

    log peak = arm mean + patient effect + sample (biopsy) effect + oocyte noise,

the patient effect shared by both arms, so oocytes of a patient are alike and an
analysis that counts oocytes as independent is over-confident, as in the paper. The
arm's log-scale SD comes from the paper's CV (SEM x sqrt(n) / mean); its log mean is
solved so that the mean of the values kept in the paper's range (an oocyte outside it
is redrawn, given its patient and sample) is the paper's mean. T0.5 (30-s applications,
its mean that of the values as measured, censored at the end) and EC50 are drawn the
same way for the paper's subsets of 4 patients each. The table holds true values; a lab
turns them into recordings (`write_peak_recordings`, `write_traces`,
`write_dose_response_recordings`) and measures those, as the demo does. Parameters and
reasons: `calibration.yaml`, section `ephys`.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..errors import InvalidValueError
from ..study import TABLES, conform

ARMS = ("real", "sham")


def log_sigma(mean: float, sem: float, n: int) -> float:
    """The log-scale SD of a lognormal with the paper's CV, SD = SEM x sqrt(n)."""
    cv = sem * math.sqrt(n) / mean
    return math.sqrt(math.log1p(cv**2))


def truncated_log_mean(
    mean: float, sigma: float, low: float, high: float, between: float = 0.0
) -> float:
    """mu such that values kept within [low, high] have mean `mean`, when each value is
    exp(c + e), c ~ N(mu, between^2) shared by a patient's oocytes and e ~ N(0, sigma^2
    - between^2) redrawn until the value is kept: the mean over c (Gauss-Hermite) of
    the lognormal's mean truncated to the range given c."""
    if not low < mean < high:
        raise InvalidValueError(f"ephys: mean {mean} lies outside the range {low}-{high}")
    own = math.sqrt(sigma**2 - between**2)
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    log_low, log_high = math.log(low), math.log(high)

    def kept_mean(mu: float) -> float:
        centre = mu + between * nodes
        a, b = (log_low - centre) / own, (log_high - centre) / own
        inside = stats.norm.cdf(b) - stats.norm.cdf(a)
        above = stats.norm.cdf(b - own) - stats.norm.cdf(a - own)
        means = np.exp(centre + own**2 / 2) * above / np.maximum(inside, 1e-300)
        return float(np.sum(weights * np.clip(means, low, high))) - mean

    return optimize.brentq(kept_mean, log_low - 5 * sigma, log_high + 5 * sigma)


def censored_log_mean(mean: float, sigma: float, censor: float) -> float:
    """mu such that min(X, censor), X lognormal(mu, sigma), has mean `mean`: a value not
    reached before `censor` is measured at it, and the paper's mean is of measured values."""
    if not 0 < mean < censor:
        raise InvalidValueError(f"ephys: mean {mean} is not below the censoring time {censor}")
    log_c = math.log(censor)

    def measured_mean(mu: float) -> float:
        below = math.exp(mu + sigma**2 / 2) * stats.norm.cdf((log_c - mu - sigma**2) / sigma)
        return below + censor * stats.norm.sf((log_c - mu) / sigma) - mean

    return optimize.brentq(measured_mean, math.log(mean) - 10 * sigma, log_c + 10 * sigma)


def _split(total: int, capacities: list[int], rng: np.random.Generator) -> list[int]:
    """`total` spread as evenly as the capacities allow, the remainder to random slots."""
    if total > sum(capacities):
        raise InvalidValueError(f"ephys: {total} oocytes asked, {sum(capacities)} recorded")
    out = [0] * len(capacities)
    left = total
    while left:
        open_ = [i for i, c in enumerate(capacities) if out[i] < c]
        share, extra = divmod(left, len(open_))
        lucky = set(rng.permutation(open_)[:extra].tolist())
        for i in open_:
            add = min(share + (i in lucky), capacities[i] - out[i])
            out[i] += add
            left -= add
    return out


def simulate_ephys(
    biopsies: pd.DataFrame,
    allocation: pd.DataFrame,
    paper: dict[str, Any],
    chosen: dict[str, Any],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The `oocytes` table: every oocyte of the biopsies flagged for ephys, true values.

    Oocytes per arm scale the paper's counts to the patients here (`paper_patients`
    behind the paper's); each sample gets `min_oocytes` and the rest at random. The
    T0.5 and EC50 subsets each take `subset_patients` patients at random, their
    oocytes spread evenly over those patients' samples. A T0.5 beyond the application
    (less the rise to the peak) is stored as the censoring time, flagged censored.
    """
    used = biopsies.loc[biopsies["ephys"].fillna(False).astype(bool)]
    patients = list(dict.fromkeys(used["patient"]))
    if not patients:
        return conform(pd.DataFrame(columns=list(TABLES["oocytes"])), "oocytes")
    real_side = allocation.set_index("patient")["real_side"]
    scale = len(patients) / chosen["paper_patients"]
    low, high = paper["current_range_nA"]
    samples = {
        (p, arm): used.loc[
            (used["patient"] == p) & ((used["side"] == real_side[p]) == (arm == "real")),
            "sample",
        ].iloc[0]
        for p in patients
        for arm in ARMS
    }

    counts: dict[tuple[str, str], int] = {}
    for arm in ARMS:
        total = max(round(paper["peak_current_nA"][arm]["n_oocytes"] * scale), len(patients))
        floor = min(chosen["min_oocytes"], total // len(patients))
        extra = rng.multinomial(total - floor * len(patients), [1 / len(patients)] * len(patients))
        for p, k in zip(patients, extra, strict=True):
            counts[(p, arm)] = floor + int(k)

    share = chosen["peak"]
    peak = _arm_model(
        paper["peak_current_nA"], low, high, share["patient_share"] + share["sample_share"]
    )
    patient_z = dict(zip(patients, rng.standard_normal(len(patients)), strict=True))
    rows: list[dict[str, Any]] = []
    for p in patients:
        for arm in ARMS:
            sigma = peak[arm]["sigma"]
            sample_z = rng.standard_normal()
            centre = (
                peak[arm]["mu"]
                + sigma * math.sqrt(share["patient_share"]) * patient_z[p]
                + sigma * math.sqrt(share["sample_share"]) * sample_z
            )
            own = sigma * math.sqrt(1 - share["patient_share"] - share["sample_share"])
            for k in range(1, counts[(p, arm)] + 1):
                rows.append(
                    {
                        "patient": p,
                        "side": real_side[p] if arm == "real" else _other(real_side[p]),
                        "sample": samples[(p, arm)],
                        "oocyte": k,
                        "arm": arm,
                        "peak_na": round(_kept(centre, own, low, high, rng), 3),
                    }
                )
    frame = pd.DataFrame(rows)
    frame["t05_s"] = math.nan
    frame["t05_censored"] = pd.NA
    frame["ec50_um"] = math.nan
    t05 = chosen["t05"]
    censor = t05["application_s"] - chosen["trace"]["rise_s"]
    drawn = _subset(frame, paper["decay_t05_s"], t05, patients, scale, rng, censor=censor)
    frame.loc[drawn.index, "t05_s"] = np.round(np.minimum(drawn, censor), 3)
    frame.loc[drawn.index, "t05_censored"] = drawn >= censor
    drawn = _subset(frame, paper["ec50_uM"], chosen["ec50"], patients, scale, rng)
    frame.loc[drawn.index, "ec50_um"] = np.round(drawn, 3)
    for column in ("file", "sha256", "params", "version"):
        frame[column] = pd.NA
    return conform(frame, "oocytes")


def _arm_model(
    target: dict[str, Any], low: float, high: float, shared: float
) -> dict[str, dict[str, float]]:
    """Per arm, log SD from the paper's CV and log mean from `truncated_log_mean`, with
    `shared` the share of the log variance common to a sample's oocytes."""
    out = {}
    for arm in ARMS:
        values = target[arm]
        sigma = log_sigma(values["mean"], values["sem"], values["n_oocytes"])
        between = sigma * math.sqrt(shared)
        mu = truncated_log_mean(values["mean"], sigma, low, high, between)
        out[arm] = {"sigma": sigma, "mu": mu}
    return out


def _kept(centre: float, sd: float, low: float, high: float, rng: np.random.Generator) -> float:
    """exp(centre + sd z), redrawn until inside [low, high] (an out-of-range recording
    is not kept); after 100 tries, the nearer limit."""
    for _ in range(100):
        value = math.exp(centre + sd * rng.standard_normal())
        if low <= value <= high:
            return value
    return min(max(math.exp(centre), low), high)


def _subset(
    frame: pd.DataFrame,
    target: dict[str, Any],
    chosen: dict[str, Any],
    patients: list[str],
    scale: float,
    rng: np.random.Generator,
    censor: float | None = None,
) -> pd.Series:
    """True values for a subset: `subset_patients` patients, oocytes spread evenly,
    lognormal with the paper's CV and a patient effect shared by the arms; its mean is
    the paper's, or with `censor`, the mean of the values as measured (`censored_log_mean`)."""
    n_patients = min(chosen["subset_patients"], len(patients))
    picked = [patients[i] for i in sorted(rng.choice(len(patients), n_patients, replace=False))]
    patient_z = dict(zip(picked, rng.standard_normal(n_patients), strict=True))
    index: list[int] = []
    drawn: list[float] = []
    for arm in ARMS:
        values = target[arm]
        sigma = max(log_sigma(values["mean"], values["sem"], values["n_oocytes"]), 1e-6)
        mu = (
            math.log(values["mean"]) - sigma**2 / 2
            if censor is None
            else censored_log_mean(values["mean"], sigma, censor)
        )
        between = sigma * math.sqrt(chosen["patient_share"])
        own = sigma * math.sqrt(1 - chosen["patient_share"])
        pools = [frame.index[(frame["patient"] == p) & (frame["arm"] == arm)] for p in picked]
        wanted = max(round(values["n_oocytes"] * scale), 1)
        taken = _split(wanted, [len(pool) for pool in pools], rng)
        for p, pool, k in zip(picked, pools, taken, strict=True):
            z = rng.standard_normal(k)
            index += pool[:k].tolist()
            drawn += np.exp(mu + between * patient_z[p] + own * z).tolist()
    return pd.Series(drawn, index=index, dtype=float)


def _other(side: str) -> str:
    return "left" if side == "right" else "right"


# --- the lab: recordings and dose-response curves made from the true values -------------


def _shape(
    t: np.ndarray, start: float, end: float, half_life: float, spec: dict[str, Any]
) -> np.ndarray:
    """A response of unit peak to an application from `start` to `end` (s): a linear
    rise over `rise_s`, decay towards the residual fraction r with half-decay `half_life`
    after the peak, washout with time constant `washout_tau_s` once the agonist is off."""
    r = spec["residual_fraction"]
    k = math.log((1 - r) / (0.5 - r)) / half_life
    top = start + spec["rise_s"]
    shape = np.zeros_like(t)
    rising = (t >= start) & (t < top)
    shape[rising] = (t[rising] - start) / spec["rise_s"]
    on = (t >= top) & (t < end)
    shape[on] = r + (1 - r) * np.exp(-k * (t[on] - top))
    at_end = r + (1 - r) * math.exp(-k * (end - top))
    off = t >= end
    shape[off] = at_end * np.exp(-(t[off] - end) / spec["washout_tau_s"])
    return shape


def trace(
    peak_na: float, t05_s: float, censored: bool, chosen: dict[str, Any], rng: np.random.Generator
) -> tuple[np.ndarray, tuple[float, float]]:
    """One 30-s application as recorded (nA, inward negative) and its window (s).

    Baseline, a linear rise over `rise_s` to the peak, decay towards a residual
    fraction r of the peak, k chosen so the current is half the peak T0.5 after it
    (r + (1 - r) exp(-k T0.5) = 1/2, r < 1/2), then a washout with time constant `washout_tau_s`;
    white noise throughout. A censored T0.5 is drawn as twice the application, so the
    recording does not reach half before the agonist is removed.
    """
    spec = chosen["trace"]
    rate = spec["sample_rate_hz"]
    start = spec["baseline_s"]
    end = start + chosen["t05"]["application_s"]
    t = np.arange(round((end + spec["washout_s"]) * rate)) / rate
    half_life = 2 * chosen["t05"]["application_s"] if censored else t05_s
    shape = _shape(t, start, end, half_life, spec)
    current = -peak_na * shape + spec["noise_na"] * rng.standard_normal(t.size)
    return current, (start, end)


ABF1_HEADER_BLOCKS = 12  # the ABF 1.8 header: 6144 bytes, epochs and waveform included
BLOCK = 512
TAGS = ("ACh on", "ACh off")


def write_abf1(
    current: np.ndarray,
    path: Path,
    sample_rate_hz: float,
    *,
    holding_mV: float,
    tags: tuple[tuple[float, str], ...] = (),
    sweep_interval_s: float | None = None,
) -> None:
    """One sweep, or one per row of a 2-D `current`, as an episodic ABF1 file (nA), with
    its holding level and comment tags.

    pyABF's `writeABF1` writes a 2048-byte header and data right after it, where ABF
    readers look for the 1.8 header's waveform and epoch fields (pyABF itself then
    reads data as epochs and fails); here the header is padded to the full 6144 bytes
    (waveform off), the holding level is set, and tags (time s from the start of sweep
    0, comment) are appended as a tag section, so the application window is in the file
    as Clampex puts it. With several sweeps, sweep k starts k x `sweep_interval_s`
    after sweep 0 (fEpisodeStartToStart and a synch array of sweep starts, in samples,
    as Clampex records episodes separated by a wash).
    """
    import pyabf.abfWriter

    sweeps = np.atleast_2d(np.asarray(current, dtype=float))
    count, points = sweeps.shape
    interval = sweep_interval_s if sweep_interval_s is not None else points / sample_rate_hz
    if interval * sample_rate_hz < points:
        raise InvalidValueError(f"sweep interval {interval} s is shorter than a sweep")
    pyabf.abfWriter.writeABF1(sweeps, str(path), sample_rate_hz, units="nA")
    raw = path.read_bytes()
    old = 4 * BLOCK
    header = bytearray(raw[:old]) + bytearray(ABF1_HEADER_BLOCKS * BLOCK - old)
    data = bytearray(raw[old:])
    data += bytearray(-len(data) % BLOCK)
    struct.pack_into("<i", header, 40, ABF1_HEADER_BLOCKS)  # lDataSectionPtr
    struct.pack_into("<f", header, 178, interval)  # fEpisodeStartToStart
    struct.pack_into("<f", header, 1394, holding_mV)  # fDACHoldingLevel[0]
    struct.pack_into("10s", header, 442, b"IN 0".ljust(10))  # sADCChannelName[0]
    tail = bytearray()
    if count > 1:
        synch = bytearray()
        for k in range(count):  # lStart, lLength in samples (fSynchTimeUnit 0)
            synch += struct.pack("<ii", round(k * interval * sample_rate_hz), points)
        struct.pack_into("<i", header, 92, ABF1_HEADER_BLOCKS + len(data) // BLOCK)
        struct.pack_into("<i", header, 96, count)
        tail += synch + bytearray(-len(synch) % BLOCK)
    section = bytearray()
    for time_s, comment in tags:
        entry = bytearray(64)
        struct.pack_into("<i", entry, 0, round(time_s * sample_rate_hz))  # in samples
        struct.pack_into("56s", entry, 4, comment.encode("latin-1"))
        struct.pack_into("<h", entry, 60, 1)  # nTagType: comment
        section += entry
    if section:
        struct.pack_into("<i", header, 44, ABF1_HEADER_BLOCKS + (len(data) + len(tail)) // BLOCK)
        struct.pack_into("<i", header, 48, len(tags))
        tail += section + bytearray(-len(section) % BLOCK)
    path.write_bytes(bytes(header) + bytes(data) + bytes(tail))


def write_traces(
    oocytes: pd.DataFrame, directory: Path, chosen: dict[str, Any], seed: int
) -> dict[int, Path]:
    """One ABF1 file (one sweep, nA, tags at the start and end of ACh) per oocyte with a
    T0.5, named by sample and oocyte only (blind to arm); returns {row index: path}.

    Noise is drawn from `seed` and the row, so the same study gives the same files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    spec = chosen["trace"]
    out = {}
    for index, row in oocytes.loc[oocytes["t05_s"].notna()].iterrows():
        rng = np.random.default_rng([seed, int(index)])
        current, (start, end) = trace(
            float(row["peak_na"]), float(row["t05_s"]), bool(row["t05_censored"]), chosen, rng
        )
        path = directory / f"{row['sample']}_oocyte{int(row['oocyte']):02d}.abf"
        write_abf1(
            current,
            path,
            spec["sample_rate_hz"],
            holding_mV=spec["holding_mV"],
            tags=tuple(zip((start, end), TAGS, strict=True)),
        )
        out[int(index)] = path
    return out


PEAK_MAP = "peak_map.csv"
MONTHS = "123456789ond"  # Clampex's month letter in yyMddnnn file names


def clampex_name(day: int, number: int, start: str = "2019-01-07") -> str:
    """A Clampex file name, yyMddnnn.abf: the `number`th recording of the `day`th rig
    day after `start` (Clampex names files by date and count, not by sample)."""
    import datetime as dt

    date = dt.date.fromisoformat(start) + dt.timedelta(days=day)
    return f"{date.year % 100:02d}{MONTHS[date.month - 1]}{date.day:02d}{number:03d}.abf"


def write_peak_recordings(
    oocytes: pd.DataFrame, directory: Path, chosen: dict[str, Any], seed: int
) -> tuple[dict[int, Path], pd.DataFrame]:
    """Per oocyte, its 500-uM peak test as an ABF1 file (one sweep, nA): baseline, a 4-s
    application tagged `ACh 500 uM` / `wash`, washout, drawn like the dose-response
    sweeps (`ec50.recording`, `trace`) at the oocyte's true peak. Files are named as
    Clampex names them (`clampex_name`: one rig day per patient, in table order), so
    the lab keeps `directory / PEAK_MAP` (file, sample, oocyte), the map
    `nmmstrial assay ephys measure --map` takes. Returns ({row index: path}, the map).
    """
    directory.mkdir(parents=True, exist_ok=True)
    spec = chosen["trace"]
    record = chosen["ec50"]["recording"]
    rate = spec["sample_rate_hz"]
    start = record["baseline_s"]
    end = start + record["application_s"]
    t = np.arange(round((end + record["washout_s"]) * rate)) / rate
    shape = _shape(t, start, end, record["t05_s"], spec)
    days = {patient: k for k, patient in enumerate(dict.fromkeys(oocytes["patient"]))}
    counts: dict[str, int] = {}
    out, rows = {}, []
    label = f"ACh {concentration_label(float(record['reference_um']))}"
    for index, row in oocytes.iterrows():
        rng = np.random.default_rng([seed, int(index), 2])
        current = -float(row["peak_na"]) * shape + spec["noise_na"] * rng.standard_normal(t.size)
        number = counts.get(row["patient"], 0)
        counts[row["patient"]] = number + 1
        path = directory / clampex_name(days[row["patient"]], number)
        write_abf1(
            current,
            path,
            rate,
            holding_mV=spec["holding_mV"],
            tags=((start, label), (end, "wash")),
        )
        out[int(index)] = path
        rows.append({"file": path.name, "sample": row["sample"], "oocyte": int(row["oocyte"])})
    sheet = pd.DataFrame(rows, columns=["file", "sample", "oocyte"])
    sheet.to_csv(directory / PEAK_MAP, index=False)
    return out, sheet


DOSE_RESPONSE_FOLDER = "dose_response"
DOSE_RESPONSE_MAP = "dose_response_map.csv"


def concentration_label(conc_um: float) -> str:
    """A concentration as a rig's comment has it: `3 uM`, `300 uM`, `1 mM`, `100 nM`."""
    for unit, factor in (("mM", 1e3), ("uM", 1.0), ("nM", 1e-3)):
        if conc_um >= factor:
            return f"{conc_um / factor:g} {unit}"
    return f"{conc_um * 1e3:g} nM"


def dose_response_recording(
    peak_na: float, ec50_um: float, chosen: dict[str, Any], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """One oocyte's concentration series as recorded: (concentrations uM, current
    [sweep, point] nA, window s), one sweep per concentration, lowest first.

    The current at concentration x is the oocyte's peak (its 500-uM current, `peak_na`)
    times f(x) / f(500), f the Hill curve (bottom 0, top 1, slope `hill_slope`) at the
    oocyte's EC50, times exp(`noise` z): application-to-application variation (run-down,
    perfusion), proportional to the current. Each sweep is drawn like the T0.5
    recordings (`trace` section: rise, desensitization with half-decay
    `recording.t05_s`, washout, white noise), so at low concentrations the peak is the
    size of the noise, as on a rig.
    """
    spec = chosen["ec50"]
    shape_spec = chosen["trace"]
    record = spec["recording"]
    conc = np.asarray(spec["concentrations_um"], dtype=float)
    rate = shape_spec["sample_rate_hz"]
    start = record["baseline_s"]
    end = start + record["application_s"]
    t = np.arange(round((end + record["washout_s"]) * rate)) / rate
    shape = _shape(t, start, end, record["t05_s"], shape_spec)

    def hill(x: np.ndarray | float) -> np.ndarray | float:
        return 1 / (1 + (ec50_um / x) ** spec["hill_slope"])

    scale = peak_na / hill(record["reference_um"])
    amplitude = scale * hill(conc) * np.exp(spec["noise"] * rng.standard_normal(conc.size))
    noise = shape_spec["noise_na"] * rng.standard_normal((conc.size, t.size))
    return conc, -amplitude[:, np.newaxis] * shape + noise, (start, end)


def write_dose_response_recordings(
    oocytes: pd.DataFrame, directory: Path, chosen: dict[str, Any], seed: int
) -> tuple[dict[int, Path], pd.DataFrame]:
    """Per oocyte with an EC50, one episodic ABF1 file of its concentration series in
    `directory` (SAMPLE_oocyteNN.abf, blind to arm): one sweep per concentration,
    sweeps `recording.sweep_interval_s` apart (the wash between applications), a tag
    `ACh <conc>` where the application starts and `wash` where it ends, typed as at the
    rig; and the lab's sheet of which sweep had which concentration, `directory /
    DOSE_RESPONSE_MAP` (file, sweep, conc_um). Returns ({row index: path}, the sheet).
    """
    directory.mkdir(parents=True, exist_ok=True)
    rate = chosen["trace"]["sample_rate_hz"]
    record = chosen["ec50"]["recording"]
    interval = record["sweep_interval_s"]
    out, rows = {}, []
    for index, row in oocytes.loc[oocytes["ec50_um"].notna()].iterrows():
        rng = np.random.default_rng([seed, int(index), 1])
        conc, current, (start, end) = dose_response_recording(
            float(row["peak_na"]), float(row["ec50_um"]), chosen, rng
        )
        path = directory / f"{row['sample']}_oocyte{int(row['oocyte']):02d}.abf"
        tags = []
        for k, c in enumerate(conc):
            tags += [
                (k * interval + start, f"ACh {concentration_label(float(c))}"),
                (k * interval + end, "wash"),
            ]
        write_abf1(
            current,
            path,
            rate,
            holding_mV=chosen["trace"]["holding_mV"],
            tags=tuple(tags),
            sweep_interval_s=interval,
        )
        out[int(index)] = path
        rows += [{"file": path.name, "sweep": k, "conc_um": float(c)} for k, c in enumerate(conc)]
    sheet = pd.DataFrame(rows, columns=["file", "sweep", "conc_um"])
    sheet.to_csv(directory / DOSE_RESPONSE_MAP, index=False)
    return out, sheet
