"""Axon ABF voltage-clamp recordings: reading, agonist windows, response measures, I-V.

Reading goes through pyABF for the data and its scaling, but the header values
pyABF rounds or ignores are taken from the file itself: the true sample
interval (fADCSequenceInterval, or fADCSampleInterval x channels in ABF1; pyABF
rounds the rate to an integer), the ABF1 sweep start-to-start interval from the
synch array, ABF1 holding levels (fDACHoldingLevel, not the first epoch level)
and the sweep each tag falls in (from the sweep interval, not the sweep length).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InvalidValueError, NmmstrialError

CURRENT_TO_NA = {"pA": 1e-3, "nA": 1.0, "uA": 1e3, "µA": 1e3, "μA": 1e3, "mA": 1e6, "A": 1e9}
VOLTAGE_TO_MV = {"mV": 1.0, "V": 1e3, "uV": 1e-3, "µV": 1e-3}
POLARITIES = ("inward", "outward")
MIN_APPLICATION_S = 0.1  # a shorter digital pulse triggers a puff or a camera
MIN_BASELINE_S = 0.05  # before a digital pulse, for a baseline (2.5 cycles of 50-Hz hum)
COMMAND_TOLERANCE_MV = 0.5  # the command "holds one potential" within this


@dataclass(frozen=True)
class Channel:
    """An ADC channel as read: `scale` multiplies the file's values (1 unless overridden)."""

    index: int
    name: str
    units: str
    file_units: str
    scale: float = 1.0


@dataclass(frozen=True)
class Tag:
    """A tag: seconds from the start of sweep 0, and the last sweep started at or before it."""

    time_s: float
    comment: str
    sweep: int | None


@dataclass(frozen=True, eq=False)
class Recording:
    """One ABF file: `data[channel, sweep, point]` scaled, `command[sweep, point]` (DAC 0, mV).

    `sweep_interval_s` is start-to-start: the protocol's fEpisodeStartToStart in
    ABF2, the synch array's spacing in ABF1; sweep k starts at k x interval.
    `digital[sweep, point]` holds the protocol's digital output word (0 when none).
    """

    path: str
    sha256: str
    abf_version: str
    operation_mode: int
    sweeps: int
    sweep_points: int
    sample_interval_us: float
    sweep_interval_s: float
    sweep_interval_s_synch_array: float | None
    protocol: str
    holding_mV: tuple[float, ...]
    channels: tuple[Channel, ...]
    tags: tuple[Tag, ...]
    warnings: tuple[str, ...]
    provenance: dict
    data: np.ndarray = field(repr=False)
    command: np.ndarray = field(repr=False)
    digital: np.ndarray = field(repr=False)

    @property
    def dt(self) -> float:
        return self.sample_interval_us * 1e-6

    @property
    def sample_rate_hz(self) -> float:
        return 1e6 / self.sample_interval_us

    @property
    def sweep_length_s(self) -> float:
        return self.sweep_points * self.sample_interval_us / 1e6  # one rounding, not two

    @property
    def time(self) -> np.ndarray:
        """Seconds from the start of a sweep, from the true sample interval."""
        return np.arange(self.sweep_points) * self.dt

    def sweep_start_s(self, sweep: int) -> float:
        return sweep * self.sweep_interval_s

    def info(self) -> dict:
        """The header summary printed by `nmmstrial assay ephys info`."""
        return {
            "file": self.path,
            "sha256": self.sha256,
            "abf_version": self.abf_version,
            "sweeps": self.sweeps,
            "sample_interval_us": self.sample_interval_us,
            "sample_rate_hz": self.sample_rate_hz,
            "sweep_length_s": self.sweep_length_s,
            "sweep_interval_s": self.sweep_interval_s,
            "sweep_interval_s_synch_array": self.sweep_interval_s_synch_array,
            "protocol": self.protocol,
            "holding_mV": list(self.holding_mV),
            "channels": [
                {"index": c.index, "name": c.name, "units": c.units} for c in self.channels
            ],
            "tags": [
                {"time_s": t.time_s, "comment": t.comment, "sweep": t.sweep} for t in self.tags
            ],
            "warnings": list(self.warnings),
            "provenance": self.provenance,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _abf1_header(raw: bytes) -> dict:
    """ABF1 fields pyABF does not read (offsets from Axon's ABFFILE.H, v1.8)."""
    (synch_ptr,) = struct.unpack_from("<i", raw, 92)
    (synch_size,) = struct.unpack_from("<i", raw, 96)
    (channels,) = struct.unpack_from("<h", raw, 120)
    (sample_interval,) = struct.unpack_from("<f", raw, 122)
    (synch_unit,) = struct.unpack_from("<f", raw, 130)
    (start_to_start,) = struct.unpack_from("<f", raw, 178)
    holding = struct.unpack_from("<4f", raw, 1394)
    (tag_ptr,) = struct.unpack_from("<i", raw, 44)
    (tag_count,) = struct.unpack_from("<i", raw, 48)
    starts = []
    for i in range(max(synch_size, 0)):
        offset = synch_ptr * 512 + 8 * i
        if offset + 8 > len(raw):
            break
        starts.append(struct.unpack_from("<i", raw, offset)[0])
    tags = []
    for i in range(max(tag_count, 0)):
        offset = tag_ptr * 512 + 64 * i
        if offset + 60 > len(raw):
            break
        (time,) = struct.unpack_from("<i", raw, offset)
        comment = raw[offset + 4 : offset + 60].split(b"\0")[0].decode("latin-1").strip()
        tags.append((time, comment))
    return {
        "channels": channels,
        "digital_enable": struct.unpack_from("<h", raw, 1436)[0],
        "digital_values": struct.unpack_from("<10h", raw, 1588),
        "sample_interval_us": sample_interval * channels,
        "raw_sample_us": sample_interval,
        "synch_unit_us": synch_unit,
        "synch_starts": starts,
        "start_to_start_s": start_to_start,
        "holding": holding,
        "tags": tags,
    }


def _abf1_digital(abf, header: dict, out: np.ndarray) -> None:
    """OR the ABF1 epochs' digital output words into `out` (pyABF leaves them at 0).

    Only the epoch patterns (nDigitalValue), not the holding pattern between epochs.
    """
    if not header["digital_enable"]:
        return
    epochs = abf.sweepEpochs
    count = len(epochs.p1s) - 2  # pyABF lists the pre-sweep holding first, the post last
    for i, value in enumerate(header["digital_values"][: max(count, 0)]):
        if value:
            out[epochs.p1s[i + 1] : epochs.p2s[i + 1]] |= value


def _abf2_raw_tags(path: Path) -> list[tuple[int, str]]:
    """Tag times as stored (pyABF rounds them in place); comments as stored."""
    from pyabf.abf2.tagSection import TagSection

    with path.open("rb") as handle:
        section = TagSection(handle)
    return [
        (int(t), str(c).strip()) for t, c in zip(section.lTagTime, section.sComment, strict=True)
    ]


def _open_pyabf(path: Path):
    import pyabf

    head = path.read_bytes()[:4]
    if head not in (b"ABF ", b"ABF2"):
        raise InvalidValueError(
            f"{path}: not an Axon ABF file (it starts with {head!r}, not 'ABF ' or 'ABF2')"
        )
    try:
        abf = pyabf.ABF(str(path))
    except Exception as error:  # pyABF raises anything from struct, numpy or its own checks
        raise InvalidValueError(
            f"{path}: unreadable ABF file, truncated or damaged ({type(error).__name__}: {error})"
        ) from error
    expected = abf.dataByteStart + abf.dataPointCount * abf.dataPointByteSize
    size = path.stat().st_size
    if expected > size:
        raise InvalidValueError(
            f"{path}: truncated ABF file: the header puts data up to byte {expected}, "
            f"the file has {size} bytes"
        )
    return abf


def _parse_overrides(
    overrides: Mapping[int, tuple[str | None, float | None]] | None, n_channels: int, path: Path
) -> dict[int, tuple[str | None, float | None]]:
    out = dict(overrides or {})
    for index in out:
        if not 0 <= index < n_channels:
            raise InvalidValueError(
                f"{path}: override for channel {index}, but the file has channels "
                f"0-{n_channels - 1}"
            )
    return out


def read_abf(
    path: str | Path,
    *,
    overrides: Mapping[int, tuple[str | None, float | None]] | None = None,
) -> Recording:
    """Read an ABF1 or ABF2 file; `overrides` maps channel -> (units, scale) for bad headers.

    An override is for a file whose header is known to be wrong (a hand-entered
    amplifier gain, a mislabelled unit): values are multiplied by `scale` and
    labelled `units`; the override is recorded in `provenance`. Refused with a
    message naming the file: a missing file, a file that is not ABF, a truncated one.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidValueError(f"{path}: no such file")
    abf = _open_pyabf(path)
    raw = path.read_bytes()
    warnings: list[str] = []
    n_channels = abf.channelCount
    sweeps = abf.sweepCount
    points = abf.sweepPointCount
    synch_interval = None
    if abf.abfVersion["major"] == 1:
        header = _abf1_header(raw)
        sample_us = header["sample_interval_us"]
        unit_us = header["synch_unit_us"] or header["raw_sample_us"]
        starts = np.array(header["synch_starts"][:sweeps], dtype=float) * unit_us * 1e-6
        if len(starts) >= 2:
            synch_interval = float(np.median(np.diff(starts)))
        interval = synch_interval or header["start_to_start_s"] or points * sample_us * 1e-6
        holding = tuple(float(v) for v in header["holding"][:n_channels])
        tag_unit_us = unit_us
        raw_tags = header["tags"]
    else:
        protocol = abf._protocolSection
        sample_us = float(protocol.fADCSequenceInterval)
        unit_us = protocol.fSynchTimeUnit or sample_us / n_channels
        starts = np.array(abf._synchArraySection.lStart[:sweeps], dtype=float) * unit_us * 1e-6
        if len(starts) >= 2:
            synch_interval = float(np.median(np.diff(starts)))
        interval = float(protocol.fEpisodeStartToStart) or points * sample_us * 1e-6
        holding = tuple(float(v) for v in abf._dacSection.fDACHoldingLevel[:n_channels])
        tag_unit_us = unit_us
        raw_tags = _abf2_raw_tags(path)
    if abf.nOperationMode == 3:  # gap-free: one continuous sweep
        interval = points * sample_us * 1e-6
        synch_interval = None
    length_s = points * sample_us * 1e-6
    if synch_interval is not None and not math.isclose(synch_interval, interval, rel_tol=1e-3):
        warnings.append(
            f"sweep interval: protocol {interval:.6g} s, synch array {synch_interval:.6g} s; "
            "sweep starts use the protocol value"
            if abf.abfVersion["major"] == 2
            else f"sweep interval: synch array {synch_interval:.6g} s used"
        )
    if interval < length_s * (1 - 1e-6):
        warnings.append(f"sweep interval {interval} s shorter than the sweep; sweeps abut")
        interval = length_s
    end_s = (sweeps - 1) * interval + length_s
    # tags and sweep starts share the acquisition clock, which may start before sweep 0
    origin = float(starts[0]) if len(starts) else 0.0
    tags = []
    for time_raw, comment in raw_tags:
        time_s = time_raw * tag_unit_us * 1e-6 - origin
        sweep = min(math.floor(time_s / interval + 1e-9), sweeps - 1)
        if time_s < 0 or time_s > end_s:
            warnings.append(
                f"tag {comment!r} at {time_s:.4f} s lies beyond the recording ({end_s:.4f} s)"
            )
            sweep = None
        tags.append(Tag(time_s=time_s, comment=comment, sweep=sweep))
    given = _parse_overrides(overrides, n_channels, path)
    channels = []
    data = np.empty((n_channels, sweeps, points))
    command = np.empty((sweeps, points))
    digital = np.zeros((sweeps, points), dtype=np.int64)
    for sweep in range(sweeps):
        for index in range(n_channels):
            abf.setSweep(sweep, channel=index)
            data[index, sweep] = abf.sweepY
        abf.setSweep(sweep, channel=0)
        command[sweep] = abf.sweepC
        for line in range(8):
            try:
                bits = np.asarray(abf.sweepD(line))
            except (IndexError, KeyError, ValueError, TypeError, AttributeError):
                # pyABF cannot build digital outputs for some protocols: none then
                break
            if bits.shape == (points,):
                digital[sweep] |= (bits > 0).astype(np.int64) << line
        if abf.abfVersion["major"] == 1:
            _abf1_digital(abf, header, digital[sweep])
    applied = []
    for index in range(n_channels):
        units = abf.adcUnits[index]
        new_units, scale = given.get(index, (None, None))
        scale = 1.0 if scale is None else float(scale)
        if not math.isfinite(scale) or scale == 0:
            raise InvalidValueError(f"{path}: channel {index}: scale {scale} must be finite, not 0")
        data[index] *= scale
        channels.append(
            Channel(
                index=index,
                name=abf.adcNames[index],
                units=new_units or units,
                file_units=units,
                scale=scale,
            )
        )
        if index in given:
            applied.append(
                {"channel": index, "file_units": units, "units": new_units or units, "scale": scale}
            )
    return Recording(
        path=str(path),
        sha256=_sha256(path),
        abf_version=abf.abfVersionString,
        operation_mode=int(abf.nOperationMode),
        sweeps=sweeps,
        sweep_points=points,
        sample_interval_us=sample_us,
        sweep_interval_s=float(interval),
        sweep_interval_s_synch_array=synch_interval,
        protocol=abf.protocol,
        holding_mV=holding,
        channels=tuple(channels),
        tags=tuple(tags),
        warnings=tuple(warnings),
        provenance={"reader": f"pyabf {_pyabf_version()}", "overrides": applied},
        data=data,
        command=command,
        digital=digital,
    )


def _pyabf_version() -> str:
    import pyabf

    return str(pyabf.__version__)


# --- windows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The agonist application within a sweep, seconds from the sweep's start."""

    start_s: float
    end_s: float
    source: str

    def to_dict(self) -> dict:
        return {"start_s": self.start_s, "end_s": self.end_s, "source": self.source}


def parse_window(text: str) -> tuple[float, float]:
    """`START:END` in seconds from the start of the sweep."""
    start, sep, end = text.partition(":")
    try:
        low, high = float(start), float(end)
    except ValueError:
        low = high = math.nan
    if not sep or not (math.isfinite(low) and math.isfinite(high)) or not 0 <= low < high:
        raise InvalidValueError(f"window {text!r}: write START:END in seconds, 0 <= START < END")
    return low, high


def _window_from_tags(rec: Recording) -> Window | None:
    by_sweep: dict[int, list[float]] = {}
    for tag in rec.tags:
        if tag.sweep is None:
            continue
        offset = tag.time_s - rec.sweep_start_s(tag.sweep)
        if 0 <= offset <= rec.sweep_length_s:
            by_sweep.setdefault(tag.sweep, []).append(offset)
    for sweep in sorted(by_sweep):
        times = sorted(by_sweep[sweep])
        if len(times) >= 2 and times[1] > times[0]:
            return Window(times[0], times[1], "tags")
    return None


def _window_from_digital(rec: Recording, triggers: list[str]) -> Window | None:
    """The first digital output pulse of sweep 0 that is an agonist application.

    A valve or perfusion switch driven by a digital output opens the agonist while the
    membrane is held at one potential, so a pulse counts as the application only when
    (1) it lasts at least `MIN_APPLICATION_S` (a shorter one triggers a puff or a
    camera), (2) at least `MIN_BASELINE_S` of the sweep precede it, for a baseline, and
    (3) in every sweep the command holds one potential from that baseline through the
    pulse and for `MIN_BASELINE_S` after it (or to the end of the sweep): the current
    before, during and just after the agonist is then the agonist's, not a voltage step's.
    A pulse on an epoch of a voltage-step (I-V) protocol fails (2) or (3): the digital
    output belongs to the step's epochs. Lines that pulse together are judged together;
    each rejected pulse is described in `triggers`, for the error message.
    """
    word = rec.digital[0]
    seen: set[bytes] = set()
    for line in range(8):
        high = ((word >> line) & 1).astype(np.int8)
        if high.all() or not high.any() or high.tobytes() in seen:
            continue
        seen.add(high.tobytes())
        lines = [
            k for k in range(line, 8) if np.array_equal(((word >> k) & 1).astype(np.int8), high)
        ]
        name = (
            f"digital output {line}"
            if len(lines) == 1
            else (f"digital outputs {', '.join(map(str, lines))}")
        )
        rises = np.flatnonzero(np.diff(np.concatenate([[0], high])) == 1)
        start = int(rises[0])
        falls = np.flatnonzero(high[start:] == 0)
        stop = start + int(falls[0]) if falls.size else rec.sweep_points
        where = f"{name} high {start * rec.dt:.4g}-{stop * rec.dt:.4g} s"
        reasons = _not_an_application(rec, start, stop)
        if reasons:
            triggers.append(f"{where}: not an agonist application: {'; '.join(reasons)}")
            continue
        return Window(start * rec.dt, stop * rec.dt, name.replace(" ", "_", 1))
    return None


def _not_an_application(rec: Recording, start: int, stop: int) -> list[str]:
    """Why the digital pulse over samples [start, stop) is not an agonist application
    (see `_window_from_digital`); empty when it is one."""
    reasons = []
    length = (stop - start) * rec.dt
    if length < MIN_APPLICATION_S:
        reasons.append(
            f"{length * 1e3:.3g} ms long: a trigger, not an application (a puff or a "
            f"camera; an application lasts >= {MIN_APPLICATION_S * 1e3:g} ms)"
        )
    need = math.ceil(MIN_BASELINE_S / rec.dt - 1e-9)
    if start < need:
        reasons.append(
            f"only {start * rec.dt * 1e3:.3g} ms of the sweep before it, no baseline "
            f"(>= {MIN_BASELINE_S * 1e3:g} ms)"
        )
    first, last = max(0, start - need), min(rec.sweep_points, stop + need)
    held = rec.command[:, first:last]
    spread = held.max(axis=1) - held.min(axis=1)
    moving = np.flatnonzero(spread > COMMAND_TOLERANCE_MV)
    if moving.size:
        levels = rec.command[:, min(stop, rec.sweep_points - 1)]
        after = (
            f"{levels.min():.4g} mV"
            if np.ptp(levels) <= COMMAND_TOLERANCE_MV
            else f"{levels.min():.4g} to {levels.max():.4g} mV over the sweeps"
        )
        reasons.append(
            f"the command steps within {MIN_BASELINE_S * 1e3:g} ms of it or during it in "
            f"sweep(s) {_ranges(moving)} (to {after} as it ends): an epoch of a "
            "voltage-step protocol (for an I-V curve, `nmmstrial assay ephys iv`)"
        )
    return reasons


def _ranges(values: np.ndarray) -> str:
    values = [int(v) for v in values]
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ", ".join(map(str, values))


def application_window(rec: Recording, given: tuple[float, float] | None = None) -> Window:
    """Where the agonist is applied: tags, then the protocol's digital outputs, then `given`.

    Two tags inside one sweep bound the application (the first such sweep sets it for
    all); otherwise the first digital output pulse of sweep 0 that is an agonist
    application (long enough, after a baseline, with the command held at one potential
    around it: `_window_from_digital`; an epoch marker of a voltage-step protocol is
    not); otherwise the user's times. Recorded information wins over `given` because it
    was logged at the rig; a `given` window that is not used is said in `source`. No
    source: an error, never a guess.
    """
    triggers: list[str] = []
    for found in (_window_from_tags(rec), _window_from_digital(rec, triggers)):
        if found is not None:
            if given is not None:
                return Window(found.start_s, found.end_s, f"{found.source} (--window ignored)")
            return found
    if given is None:
        seen = f" ({'; '.join(triggers)})" if triggers else ""
        raise InvalidValueError(
            f"{rec.path}: no application window: no pair of tags inside a sweep and no "
            f"digital output pulse of the protocol that is an agonist application{seen}; "
            "give one with --window START:END "
            "(seconds from the sweep start)"
        )
    start, end = given
    if end > rec.sweep_length_s + rec.dt:
        raise InvalidValueError(
            f"{rec.path}: window {start}:{end} ends after the sweep ({rec.sweep_length_s:.4f} s)"
        )
    return Window(start, end, "user")


# --- channels ----------------------------------------------------------------------------


def current_channel(rec: Recording, given: int | None = None) -> int:
    """The given channel, else the first whose units are a current (pA, nA, uA...)."""
    return _channel(rec, given, CURRENT_TO_NA, "current")


def voltage_channel(rec: Recording, given: int | None = None) -> int | None:
    """The given channel, else the first in mV or V other than the current; None if none."""
    if given is not None:
        return _channel(rec, given, VOLTAGE_TO_MV, "voltage")
    found = [c.index for c in rec.channels if c.units in VOLTAGE_TO_MV]
    return found[0] if found else None


def _channel(rec: Recording, given: int | None, units: Mapping, kind: str) -> int:
    names = ", ".join(f"{c.index} ({c.name}, {c.units})" for c in rec.channels)
    if given is not None:
        if not 0 <= given < len(rec.channels):
            raise InvalidValueError(f"{rec.path}: no channel {given}; channels: {names}")
        return given
    found = [c.index for c in rec.channels if c.units in units]
    if not found:
        raise InvalidValueError(
            f"{rec.path}: no {kind} channel found by units; channels: {names}; "
            f"name one with --{kind}-channel N or override its units"
        )
    return found[0]


def check_sweeps(rec: Recording, sweeps: Sequence[int] | None) -> list[int]:
    """0-based sweep numbers; one out of range is refused, naming it."""
    if sweeps is None:
        return list(range(rec.sweeps))
    bad = [s for s in sweeps if not 0 <= s < rec.sweeps]
    if bad:
        raise InvalidValueError(
            f"{rec.path}: sweep {bad[0]} out of range: the file has sweeps 0-{rec.sweeps - 1}"
        )
    return list(sweeps)


# --- measures ----------------------------------------------------------------------------


def smooth(values: np.ndarray, points: int) -> np.ndarray:
    """Centred moving average over an odd number of points, edges padded with edge values."""
    points = max(1, int(points) | 1)
    if points == 1:
        return np.asarray(values, dtype=float)
    half = points // 2
    padded = np.pad(np.asarray(values, dtype=float), half, mode="edge")
    return np.convolve(padded, np.ones(points) / points, mode="valid")


def _index_range(dt: float, n: int, start: float, end: float) -> tuple[int, int]:
    """First and last sample of the half-open [start, end): a step that ends at `end` is out."""
    first = max(0, math.ceil(start / dt - 1e-9))
    last = min(n - 1, math.ceil(end / dt - 1e-9) - 1)
    return first, last


def _clamp_deviation(
    voltage: np.ndarray, command: np.ndarray, first: int, last: int, points: int
) -> float:
    """Largest |V - command| in the window, smoothed inside it (edge transients stay out)."""
    difference = np.asarray(voltage, dtype=float)[first : last + 1] - command[first : last + 1]
    return float(np.max(np.abs(smooth(difference, points))))


def measure_response(
    current: np.ndarray,
    dt: float,
    window: tuple[float, float],
    *,
    polarity: str = "inward",
    baseline_s: float = 0.5,
    threshold_sd: float = 10.0,
    min_amplitude: float = 0.0,
    min_duration_s: float = 0.05,
    smooth_s: float = 0.01,
    residual_s: float = 0.1,
    fit_decay: bool = False,
    voltage: np.ndarray | None = None,
    command: np.ndarray | None = None,
    clamp_tolerance_mV: float = 5.0,
) -> dict:
    """Baseline, peak, response, T0.5, residual (and decay, clamp) of one agonist response.

    Sign convention: currents keep their sign after baseline subtraction, so an inward
    (ACh) current is negative; `polarity` says which extreme is the peak. The peak and
    the T0.5 crossing use the trace smoothed over `smooth_s` (a centred moving average;
    0 turns it off). A response is the smoothed current beyond `threshold_sd` baseline
    SDs (and beyond `min_amplitude`, in the trace's units) for at least
    `min_duration_s`, so a brief artefact is not one. The default 10 SD, not 3-5,
    because the SD of a short baseline misses the slow drift of a 2-s window (a few
    SD in quiet recordings), while an agonist current is tens to hundreds of SD. T0.5 is the time
    from the peak to the first half-amplitude crossing, linearly interpolated, searched
    only up to the end of the application: when it does not occur, `t05_s` is the
    censoring time (end - peak) and `t05_censored` is True, never a washout crossing.
    `residual` is the mean baseline-subtracted current over the last `residual_s` of
    the application. With `voltage` and `command` (mV), the clamp is ok when the smoothed
    membrane potential stays within `clamp_tolerance_mV` of the command in the window.
    """
    if polarity not in POLARITIES:
        raise InvalidValueError(f"polarity {polarity!r}: use one of {', '.join(POLARITIES)}")
    current = np.asarray(current, dtype=float)
    n = current.size
    start, end = window
    first, last = _index_range(dt, n, start, end)
    if last - first < 2:
        raise InvalidValueError(
            f"window {start}:{end} s holds fewer than 3 samples of a {n * dt:.4f}-s sweep"
        )
    base_first, base_last = _index_range(dt, n, max(0.0, start - baseline_s), start)
    base_last = min(base_last, first - 1)
    if base_last - base_first < 1:
        raise InvalidValueError(
            f"window {start}:{end} s: no baseline before the application; start the window "
            "later (the baseline is the samples before it)"
        )
    base = current[base_first : base_last + 1]
    base_mean = float(base.mean())
    base_sd = float(base.std(ddof=1))
    trace = current - base_mean
    # smoothed inside the application only, so no washout sample leaks into its end
    smoothed = trace.copy()
    smoothed[first : last + 1] = smooth(trace[first : last + 1], round(smooth_s / dt))
    sign = -1.0 if polarity == "inward" else 1.0
    segment = sign * smoothed[first : last + 1]
    k = first + int(np.argmax(segment))
    peak = float(smoothed[k])
    beyond = segment > max(threshold_sd * base_sd, min_amplitude)
    needed = max(1, math.ceil(min_duration_s / dt))
    response = _longest_run(beyond) >= needed
    half = sign * peak / 2
    after = sign * smoothed[k + 1 : last + 1]
    crossing = np.flatnonzero(after <= half)
    if crossing.size:
        j = k + 1 + int(crossing[0])
        y0, y1 = sign * smoothed[j - 1], sign * smoothed[j]
        fraction = (y0 - half) / (y0 - y1) if y0 != y1 else 0.0
        t05 = (j - 1 + fraction - k) * dt
        censored = False
    else:
        t05 = (last - k) * dt
        censored = True
    res_first = max(first, last - max(1, round(residual_s / dt)) + 1)
    residual = float(trace[res_first : last + 1].mean())
    out = {
        "baseline": base_mean,
        "baseline_sd": base_sd,
        "peak": peak,
        "t_peak_s": k * dt,
        "t05_s": float(t05),
        "t05_censored": censored,
        "residual": residual,
        "residual_fraction": residual / peak if peak else None,
        "response": bool(response),
        "decay_tau_s": _decay_tau(smoothed[k : last + 1], dt) if fit_decay else None,
        "clamp_deviation_mV": None,
        "clamp_ok": None,
    }
    if voltage is not None and command is not None:
        deviation = _clamp_deviation(voltage, command, first, last, round(smooth_s / dt))
        out["clamp_deviation_mV"] = deviation
        out["clamp_ok"] = deviation <= clamp_tolerance_mV
    return out


def _response_defaults() -> dict:
    """`measure_response`'s keyword defaults (its thresholds, smoothing, tolerance)."""
    import inspect

    return {
        name: p.default
        for name, p in inspect.signature(measure_response).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name not in ("voltage", "command")
    }


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def _decay_tau(segment: np.ndarray, dt: float) -> float | None:
    """Single exponential A exp(-t/tau) + C from the peak to the end; None if it fails."""
    from scipy.optimize import curve_fit

    t = np.arange(segment.size) * dt
    if segment.size < 5:
        return None
    guess = (segment[0] - segment[-1], max(t[-1] / 3, dt), segment[-1])
    try:
        params, _ = curve_fit(
            lambda x, a, tau, c: a * np.exp(-x / tau) + c,
            t,
            segment,
            p0=guess,
            bounds=([-np.inf, dt, -np.inf], [np.inf, 1e3 * max(t[-1], dt), np.inf]),
            maxfev=5000,
        )
    except (RuntimeError, ValueError):
        return None
    return float(params[1])


def _units_factor(rec: Recording, channel: int) -> tuple[float, str]:
    units = rec.channels[channel].units
    if units in CURRENT_TO_NA:
        return CURRENT_TO_NA[units], "nA"
    return 1.0, units


def measure_recording(
    rec: Recording,
    *,
    window: tuple[float, float] | None = None,
    sweeps: Sequence[int] | None = None,
    current: int | None = None,
    voltage: int | None = None,
    exclude_bad_clamp: bool = True,
    **options,
) -> dict:
    """Measure every (or the listed) sweep of `rec` in nA; see `measure_response`.

    The application window comes from `application_window`. A sweep whose clamp
    fails is flagged and, by default, `excluded` (its numbers are still shown).
    Returns {file, sha256, window, current_channel, current_units, provenance,
    parameters, nmmstrial_version, warnings, sweeps}, one row per sweep: sweep,
    baseline, peak, t05_s, t05_censored, residual, response, clamp_ok, excluded
    (and the other measures).
    """
    from .. import __version__

    chosen = check_sweeps(rec, sweeps)
    win = application_window(rec, window)
    i_channel = current_channel(rec, current)
    v_channel = voltage_channel(rec, voltage)
    if v_channel == i_channel:
        v_channel = None
    factor, units = _units_factor(rec, i_channel)
    rows = []
    for sweep in chosen:
        v_trace = None
        if v_channel is not None:
            v_trace = rec.data[v_channel, sweep] * VOLTAGE_TO_MV.get(
                rec.channels[v_channel].units, 1.0
            )
        measured = measure_response(
            rec.data[i_channel, sweep] * factor,
            rec.dt,
            (win.start_s, win.end_s),
            voltage=v_trace,
            command=rec.command[sweep] if v_trace is not None else None,
            **options,
        )
        excluded = bool(exclude_bad_clamp and measured["clamp_ok"] is False)
        rows.append({"sweep": sweep, **measured, "excluded": excluded})
    return {
        "file": rec.path,
        "sha256": rec.sha256,
        "window": win.to_dict(),
        "current_channel": i_channel,
        "current_units": units,
        "voltage_channel": v_channel,
        "provenance": rec.provenance,
        # every parameter in effect, defaults included, so the record is complete
        "parameters": {"exclude_bad_clamp": exclude_bad_clamp, **_response_defaults(), **options},
        "nmmstrial_version": __version__,
        "warnings": list(rec.warnings),
        "sweeps": rows,
    }


def iv_curve(
    rec: Recording,
    window: tuple[float, float],
    *,
    current: int | None = None,
    voltage: int | None = None,
    clamp_tolerance_mV: float = 5.0,
    smooth_s: float = 0.01,
) -> dict:
    """Steady-state I-V: per sweep the mean command, measured V and current in `window`.

    Currents keep the file's unit (or the override's). The reversal potential is the
    first zero-current crossing, linearly interpolated, over the included sweeps ordered
    by measured V (by command V without a voltage channel); None, with a warning, when
    the current does not change sign.
    """
    i_channel = current_channel(rec, current)
    v_channel = voltage_channel(rec, voltage)
    if v_channel == i_channel:
        v_channel = None
    first, last = _index_range(rec.dt, rec.sweep_points, *window)
    if last - first < 1:
        raise InvalidValueError(f"{rec.path}: window {window[0]}:{window[1]} s holds no samples")
    rows = []
    for sweep in range(rec.sweeps):
        cmd = rec.command[sweep]
        row = {
            "sweep": sweep,
            "command_mV": float(cmd[first : last + 1].mean()),
            "measured_mV": None,
            "current": float(rec.data[i_channel, sweep, first : last + 1].mean()),
            "clamp_ok": None,
            "excluded": False,
        }
        if v_channel is not None:
            volts = rec.data[v_channel, sweep] * VOLTAGE_TO_MV.get(
                rec.channels[v_channel].units, 1.0
            )
            row["measured_mV"] = float(volts[first : last + 1].mean())
            deviation = _clamp_deviation(volts, cmd, first, last, round(smooth_s / rec.dt))
            row["clamp_ok"] = bool(deviation <= clamp_tolerance_mV)
            row["excluded"] = not row["clamp_ok"]
        rows.append(row)
    warnings = list(rec.warnings)
    reversal = reversal_potential(rows)
    if reversal is None:
        warnings.append("the current does not change sign over the included sweeps: no reversal")
    return {
        "file": rec.path,
        "window": {"start_s": window[0], "end_s": window[1]},
        "current_channel": i_channel,
        "voltage_channel": v_channel,
        "current_units": rec.channels[i_channel].units,
        "sweeps": rows,
        "reversal_mV": reversal,
        "provenance": rec.provenance,
        "warnings": warnings,
    }


def reversal_potential(rows: Sequence[Mapping]) -> float | None:
    """First sign change of `current` along V (measured, else command); linear interpolation."""
    points = sorted(
        (r["measured_mV"] if r["measured_mV"] is not None else r["command_mV"], r["current"])
        for r in rows
        if not r["excluded"]
    )
    for (v0, i0), (v1, i1) in itertools.pairwise(points):
        if i0 == 0:
            return float(v0)
        if i0 * i1 < 0:
            return float(v0 - i0 * (v1 - v0) / (i1 - i0))
    if points and points[-1][1] == 0:
        return float(points[-1][0])
    return None


def measure_files(
    paths: Sequence[Path], *, overrides=None, progress=None, **options
) -> tuple[list[dict], list[dict]]:
    """Measure each file; a file that fails gets an error row and the others go on.

    `progress(path)` is called after each file. Returns (results, errors) with errors
    as {file, error}.
    """
    results, errors = [], []
    for path in paths:
        try:
            rec = read_abf(path, overrides=overrides)
            results.append(measure_recording(rec, **options))
        except NmmstrialError as error:
            errors.append({"file": str(path), "error": str(error)})
        if progress is not None:
            progress(path)
    return results, errors
