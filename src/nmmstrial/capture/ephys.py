"""Oocyte recordings of a batch, as rows of a study's `oocytes` table.

Which oocyte a file is. A map CSV (`file, sample, oocyte`: the file's name, the biopsy
sample id whose membranes the oocyte carries, the oocyte's number within it, 1-based)
comes first; otherwise the file's name, `SAMPLE_oocyteNN.abf` (how the demo names its
recordings: blind to arm). A file that neither names, a sample that is not a biopsy of
the study, an oocyte number below 1: refused before anything is measured, every such
file named. Patient and side come from the biopsy.

What a file measures. The application's length says it: up to
`PEAK_MAX_APPLICATION_S` (the paper's peaks come from 4-s applications) it is a peak
recording, stored as `peak_na`, the magnitude of the baseline-subtracted peak in nA;
longer (the paper's 30-s applications) it is a desensitization recording, stored as
`t05_s` and `t05_censored` (a T0.5 not reached before the agonist is removed is stored
at its censoring time, flagged). `kind` overrides the rule. Two files for the same
measure of one oocyte are refused, naming both.

Which sweep. The first measured sweep that is not excluded (a bad clamp) and holds a
response: repeated applications run down, so an oocyte's first response is its value,
and a sweep without one (a missed application) is passed over; `--sweeps` picks
others. When no included sweep responds, the first included one is stored: its peak
(a small current is a result) but no T0.5 (the half-decay of noise means nothing). A
file whose sweeps are all excluded is an error for that file.

Provenance. `params` is JSON with one entry per stored measure (`peak`, `t05`, and
`ec50` for a dose-response fit), each with the file and its SHA-256, the sweep, the
window and its source, the channels, the thresholds and clamp tolerance, the reader;
`version` is nmmstrial's. `file` and `sha256` name the T0.5 recording, else the peak
recording.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InvalidValueError
from ..study import TABLES, conform
from .imports import read_text_csv

NAME = re.compile(r"^(?P<sample>.+?)_oocyte(?P<oocyte>\d+)$", re.IGNORECASE)
KINDS = ("auto", "peak", "t05")
PEAK_MAX_APPLICATION_S = 10.0
MAP_COLUMNS = ("file", "sample", "oocyte")


def read_oocyte_map(path: Path) -> dict[str, tuple[str, int]]:
    """A map CSV with columns file, sample, oocyte: {file name: (sample, oocyte)}."""
    frame = read_text_csv(path)
    missing = [c for c in MAP_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidValueError(
            f"{path}: header must be file,sample,oocyte; missing {', '.join(missing)}"
        )
    out: dict[str, tuple[str, int]] = {}
    for number, row in enumerate(frame.to_dict(orient="records"), start=2):
        name = Path(str(row["file"]).strip()).name
        if name in out:
            raise InvalidValueError(f"{path}, line {number}: file {name} is mapped twice")
        out[name] = (
            str(row["sample"]).strip(),
            _oocyte_number(row["oocyte"], f"{path}, line {number}"),
        )
    return out


def _oocyte_number(value: Any, where: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise InvalidValueError(f"{where}: oocyte {value!r} must be a whole number from 1")
    return number


def map_files(
    paths: Sequence[Path],
    biopsies: pd.DataFrame,
    file_map: Mapping[str, tuple[str, int]] | None = None,
) -> dict[str, tuple[str, int]]:
    """{str(path): (sample, oocyte)} for every file, from the map, else the file's name.

    Refused, naming every such file: a file neither names, a sample that is not a
    biopsy sample of the study.
    """
    known = set(biopsies["sample"].dropna())
    out, problems = {}, []
    for path in paths:
        path = Path(path)
        if file_map is not None and path.name in file_map:
            sample, oocyte = file_map[path.name]
        else:
            match = NAME.match(path.stem)
            if match is None:
                problems.append(f"{path}: not in the map and not named SAMPLE_oocyteNN.abf")
                continue
            sample, oocyte = match["sample"], int(match["oocyte"])
            if oocyte < 1:
                problems.append(f"{path}: oocyte number {oocyte}; oocytes are numbered from 1")
                continue
        if sample not in known:
            problems.append(f"{path}: sample {sample} is not a biopsy sample of the study")
            continue
        out[str(path)] = (sample, oocyte)
    if problems:
        raise InvalidValueError(
            f"{len(problems)} file(s) not mapped to an oocyte; nothing measured or stored: "
            + "; ".join(problems)
            + " (name files SAMPLE_oocyteNN.abf or give --map CSV with file,sample,oocyte)"
        )
    return out


def recording_kind(result: Mapping[str, Any], kind: str = "auto") -> tuple[str, str]:
    """("peak" or "t05", why): the given kind, else by the application's length."""
    if kind not in KINDS:
        raise InvalidValueError(f"kind {kind!r}: use one of {', '.join(KINDS)}")
    if kind != "auto":
        return kind, "given"
    window = result["window"]
    length = window["end_s"] - window["start_s"]
    if length <= PEAK_MAX_APPLICATION_S:
        return "peak", f"application {length:.3g} s <= {PEAK_MAX_APPLICATION_S:g} s"
    return "t05", f"application {length:.3g} s > {PEAK_MAX_APPLICATION_S:g} s"


def _provenance(result: Mapping[str, Any], sweep: Mapping[str, Any], kind: str, why: str) -> dict:
    return {
        "file": Path(result["file"]).name,
        "sha256": result["sha256"],
        "kind": kind,
        "kind_from": why,
        "sweep": sweep["sweep"],
        "sweeps_measured": [row["sweep"] for row in result["sweeps"]],
        "window": result["window"],
        "current_channel": result["current_channel"],
        "current_units": result["current_units"],
        "voltage_channel": result["voltage_channel"],
        "parameters": result["parameters"],
        "reader": result["provenance"],
        "response": sweep["response"],
        "peak": sweep["peak"],
        "baseline": sweep["baseline"],
        "baseline_sd": sweep["baseline_sd"],
        "clamp_ok": sweep["clamp_ok"],
        "clamp_deviation_mV": sweep["clamp_deviation_mV"],
        "warnings": result["warnings"],
    }


def _params(text: Any) -> dict:
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"previous": text}
    return value if isinstance(value, dict) else {"previous": value}


def oocyte_rows(
    results: Sequence[Mapping[str, Any]],
    mapping: Mapping[str, tuple[str, int]],
    biopsies: pd.DataFrame,
    oocytes: pd.DataFrame,
    *,
    version: str,
    kind: str = "auto",
) -> tuple[pd.DataFrame, list[dict], list[str]]:
    """The `oocytes` rows the measured files give, merged into the stored ones.

    `results` are `measure_recording`'s, `mapping` `map_files`'; `oocytes` the stored
    table (a stored oocyte keeps its other values and `params` entries). Returns
    (rows with the table's columns, errors {file, error} for files with nothing to
    store, notes for the user).
    """
    biopsy = biopsies.set_index("sample")
    stored = oocytes.set_index(["sample", "oocyte"], drop=False) if len(oocytes) else None
    rows: dict[tuple[str, int], dict] = {}
    seen: dict[tuple[str, int, str], str] = {}
    errors, notes = [], []
    for result in results:
        sample, number = mapping[result["file"]]
        measure, why = recording_kind(result, kind)
        included = [row for row in result["sweeps"] if not row["excluded"]]
        if not included:
            errors.append(
                {
                    "file": result["file"],
                    "error": f"{result['file']}: every measured sweep is excluded (clamp off "
                    "the command); nothing stored (--keep-bad-clamp keeps them)",
                }
            )
            continue
        if measure == "peak" and result["current_units"] != "nA":
            errors.append(
                {
                    "file": result["file"],
                    "error": f"{result['file']}: current in {result['current_units']}, not a "
                    "current unit; override it (--units CH=nA) to store a peak",
                }
            )
            continue
        other = seen.get((sample, number, measure))
        if other is not None:
            raise InvalidValueError(
                f"{other} and {result['file']} both give the {measure} of oocyte {number} of "
                f"sample {sample}; nothing stored: measure one of them, or fix the map"
            )
        seen[(sample, number, measure)] = result["file"]
        sweep = next((row for row in included if row["response"]), included[0])
        key = (sample, number)
        if key not in rows:
            if stored is not None and key in stored.index:
                rows[key] = stored.loc[key].to_dict()
            else:
                rows[key] = {column: None for column in TABLES["oocytes"]}
                rows[key].update(
                    patient=biopsy.loc[sample, "patient"],
                    side=biopsy.loc[sample, "side"],
                    sample=sample,
                    oocyte=number,
                )
        row = rows[key]
        params = _params(row["params"])
        params[measure] = _provenance(result, sweep, measure, why)
        name = Path(result["file"]).name
        if measure == "peak":
            row["peak_na"] = abs(sweep["peak"])
            if not sweep["response"]:
                notes.append(f"{result['file']}: sweep {sweep['sweep']}: no response; peak stored")
        elif sweep["response"]:
            row["t05_s"] = sweep["t05_s"]
            row["t05_censored"] = bool(sweep["t05_censored"])
        else:
            row["t05_s"], row["t05_censored"] = None, None
            notes.append(f"{result['file']}: sweep {sweep['sweep']}: no response; no T0.5")
        if measure == "t05" or _blank(row["file"]) or "t05" not in params:
            row["file"], row["sha256"] = name, result["sha256"]
        row["params"] = json.dumps(params, sort_keys=True)
        row["version"] = version
    frame = pd.DataFrame(list(rows.values()), columns=list(TABLES["oocytes"]))
    return conform(frame, "oocytes"), errors, notes


def _blank(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def ec50_params(
    fit: Mapping[str, Any],
    points: pd.DataFrame,
    *,
    sheet: str,
    sha256: str,
    dose: str,
    response: str,
    recording: Mapping[str, Any] | None = None,
) -> dict:
    """The `ec50` entry of an oocyte's `params`: the sheet it was fitted from, the model
    and its parameters (drc's b, c, d, e), the flags and the points, so the curve can be
    drawn again from the study alone; with `recording`, the file the points were measured
    from ({file, sha256, window, ...})."""
    return {
        "sheet": sheet,
        "sha256": sha256,
        **({"recording": dict(recording)} if recording is not None else {}),
        "curve": fit["curve"],
        "model": fit["model"],
        **{name: fit[name] for name in ("b", "c", "d", "e", "se_e", "flags", "note")},
        "points": [
            [float(x), float(y)] for x, y in zip(points[dose], points[response], strict=True)
        ],
    }


# --- dose-response series: one sweep per concentration --------------------------------

DOSE_MAP_COLUMNS = ("file", "sweep", "conc_um")
DOSE_SHEET_COLUMNS = (
    "curve", "sample", "oocyte", "file", "sweep", "conc_um", "peak_na", "response",
)  # fmt: skip
CONCENTRATION = re.compile(
    r"(?<![\w.])(?P<value>\d+(?:[.,]\d+)?|\.\d+)\s*(?P<unit>[nuµμm]?M)(?![a-zA-Z])"
)
TO_UM = {"nM": 1e-3, "uM": 1.0, "µM": 1.0, "μM": 1.0, "mM": 1e3, "M": 1e6}


def tag_concentration_um(comment: str) -> float | None:
    """The concentration a rig comment states, in uM (`ACh 10 uM`, `100uM ACh`,
    `ACh 1 mM`, `0,3 µM`); None when it states none. Two different ones: refused."""
    found = {
        float(m["value"].replace(",", ".")) * TO_UM[m["unit"]]
        for m in CONCENTRATION.finditer(comment)
    }
    if len(found) > 1:
        raise InvalidValueError(f"comment {comment!r} states {len(found)} concentrations")
    return found.pop() if found else None


def read_dose_map(path: Path) -> pd.DataFrame:
    """The lab's sheet of which sweep of which file had which concentration: columns
    file, sweep (0-based), conc_um (>= 0). Refused, naming the line: a missing column,
    a sweep that is not a whole number from 0, a concentration that is not a number
    >= 0, a file and sweep given twice."""
    frame = read_text_csv(path)
    missing = [c for c in DOSE_MAP_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidValueError(
            f"{path}: header must hold file,sweep,conc_um; missing {', '.join(missing)}"
        )
    rows, seen = [], set()
    for number, row in enumerate(frame.to_dict(orient="records"), start=2):
        where = f"{path}, line {number}"
        name = Path(str(row["file"]).strip()).name
        try:
            sweep = int(str(row["sweep"]).strip())
        except ValueError:
            sweep = -1
        if sweep < 0:
            raise InvalidValueError(
                f"{where}: sweep {row['sweep']!r} must be a whole number from 0"
            )
        try:
            conc = float(str(row["conc_um"]).strip())
        except ValueError:
            conc = float("nan")
        if not conc >= 0:
            raise InvalidValueError(f"{where}: conc_um {row['conc_um']!r} must be a number >= 0")
        if (name, sweep) in seen:
            raise InvalidValueError(f"{where}: {name} sweep {sweep} is given twice")
        seen.add((name, sweep))
        rows.append({"file": name, "sweep": sweep, "conc_um": conc})
    return pd.DataFrame(rows, columns=list(DOSE_MAP_COLUMNS))


def dose_response_sheet(
    results: Sequence[Mapping[str, Any]],
    dose_map: pd.DataFrame,
    mapping: Mapping[str, tuple[str, int]],
    *,
    tags: Mapping[str, Sequence[Any]] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Each oocyte's measured peaks, normalised to its largest, as the sheet a lab fits.

    `results` are `measure_recording`'s for recordings of concentration series (a sweep
    per application), `dose_map` `read_dose_map`'s, `mapping` `map_files'`. Per mapped
    sweep: `peak_na`, the inward current (baseline-subtracted peak, sign turned so that
    inward is positive; a sweep without a response keeps its small, maybe negative,
    value: it is a point of the curve) and `response`, that over the largest of the
    oocyte's included sweeps (the paper's normalisation). A sweep excluded for its clamp
    is left out, with a note. With `tags` ({file: the recording's tags}), a tag inside
    a mapped sweep that states another concentration (`tag_concentration_um`) is refused.
    Refused, naming it: a mapped sweep the file does not have, a measured file with no
    row in the map. Returns (sheet with `DOSE_SHEET_COLUMNS`, notes).
    """
    rows, notes = [], []
    by_file = {name: part for name, part in dose_map.groupby("file", sort=False)}
    for result in results:
        name = Path(result["file"]).name
        part = by_file.get(name)
        if part is None:
            raise InvalidValueError(f"{result['file']}: no row in the concentration sheet")
        sample, number = mapping[result["file"]]
        sweeps = {row["sweep"]: row for row in result["sweeps"]}
        stated = _tag_concentrations(tags.get(result["file"], ()) if tags else ())
        oocyte_rows_ = []
        for entry in part.itertuples(index=False):
            if entry.sweep not in sweeps:
                raise InvalidValueError(
                    f"{result['file']}: the concentration sheet names sweep {entry.sweep}, "
                    f"measured sweeps are {sorted(sweeps)}"
                )
            said = stated.get(entry.sweep)
            if said is not None and not math.isclose(said, entry.conc_um, rel_tol=1e-6):
                raise InvalidValueError(
                    f"{result['file']}: sweep {entry.sweep}: the sheet says {entry.conc_um:g} uM, "
                    f"the recording's tag {said:g} uM; correct one of them"
                )
            sweep = sweeps[entry.sweep]
            if sweep["excluded"]:
                notes.append(f"{result['file']}: sweep {entry.sweep} excluded (clamp)")
                continue
            oocyte_rows_.append(
                {
                    "curve": f"{sample}-{number}",
                    "sample": sample,
                    "oocyte": number,
                    "file": name,
                    "sweep": int(entry.sweep),
                    "conc_um": float(entry.conc_um),
                    "peak_na": -float(sweep["peak"]),
                }
            )
        top = max((row["peak_na"] for row in oocyte_rows_), default=0.0)
        if top <= 0:
            raise InvalidValueError(f"{result['file']}: no inward current in any mapped sweep")
        for row in oocyte_rows_:
            row["response"] = row["peak_na"] / top
        rows += oocyte_rows_
    return pd.DataFrame(rows, columns=list(DOSE_SHEET_COLUMNS)), notes


def _tag_concentrations(tags: Sequence[Any]) -> dict[int, float]:
    """{sweep: the concentration its tags state}; a sweep whose tags disagree is refused."""
    out: dict[int, float] = {}
    for tag in tags:
        conc = tag_concentration_um(tag.comment)
        if conc is None or tag.sweep is None:
            continue
        if tag.sweep in out and not math.isclose(out[tag.sweep], conc, rel_tol=1e-6):
            raise InvalidValueError(
                f"sweep {tag.sweep}: tags state {out[tag.sweep]:g} and {conc:g} uM"
            )
        out[tag.sweep] = conc
    return out


CURVE_NAME = re.compile(r"^(?P<sample>.+?)(?:-|_oocyte)(?P<oocyte>\d+)$", re.IGNORECASE)


def curve_oocytes(
    table: pd.DataFrame, curve: str, biopsies: pd.DataFrame, *, where: str
) -> dict[str, tuple[str, int]]:
    """{curve: (sample, oocyte)} for every curve of a dose-response sheet: from its
    `sample` and `oocyte` columns when the sheet has them (one value per curve), else
    from the curve's name, SAMPLE-N or SAMPLE_oocyteNN. Refused, naming every such
    curve: one that gives no oocyte or two, a sample that is not a biopsy of the study."""
    if curve not in table.columns:
        raise InvalidValueError(f"{where}: no column {curve!r}")
    known = set(biopsies["sample"].dropna())
    columns = {"sample", "oocyte"} <= set(table.columns)
    out, problems = {}, []
    for name, part in table.groupby(curve, sort=False):
        name = str(name)
        if columns:
            pairs = {
                (str(s).strip(), str(o).strip())
                for s, o in zip(part["sample"], part["oocyte"], strict=True)
            }
            if len(pairs) != 1:
                problems.append(f"curve {name}: {len(pairs)} sample/oocyte pairs in its rows")
                continue
            sample, number = pairs.pop()
        else:
            match = CURVE_NAME.match(name)
            if match is None:
                problems.append(f"curve {name}: not SAMPLE-N and the sheet has no sample, oocyte")
                continue
            sample, number = match["sample"], match["oocyte"]
        try:
            oocyte = _oocyte_number(number, f"{where}: curve {name}")
        except InvalidValueError as error:
            problems.append(str(error))
            continue
        if sample not in known:
            problems.append(f"curve {name}: sample {sample} is not a biopsy sample of the study")
            continue
        out[name] = (sample, oocyte)
    if problems:
        raise InvalidValueError(f"{where}: nothing stored: " + "; ".join(problems))
    return out


def ec50_rows(
    fits: Sequence[Mapping[str, Any]],
    table: pd.DataFrame,
    curves: Mapping[str, tuple[str, int]],
    biopsies: pd.DataFrame,
    oocytes: pd.DataFrame,
    *,
    curve: str,
    dose: str,
    response: str,
    sheet: str,
    sha256: str,
    version: str,
    parameters: Mapping[str, Any] | None = None,
    recordings: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """The `oocytes` rows a sheet's fits give: each curve's oocyte (`curve_oocytes`)
    with `ec50_um` and an `ec50` entry in `params` (`ec50_params`, plus `parameters`,
    the options of the fit, and the curve's recording from `recordings` when given);
    a stored oocyte keeps its other values and entries, a new one gets patient and side
    from its biopsy. `file` and `sha256` stay those of the oocyte's recording."""
    biopsy = biopsies.set_index("sample")
    stored = oocytes.set_index(["sample", "oocyte"], drop=False) if len(oocytes) else None
    rows = []
    for fit in fits:
        sample, number = curves[str(fit["curve"])]
        key = (sample, number)
        if stored is not None and key in stored.index:
            row = stored.loc[key].to_dict()
        else:
            row = {column: None for column in TABLES["oocytes"]}
            row.update(
                patient=biopsy.loc[sample, "patient"],
                side=biopsy.loc[sample, "side"],
                sample=sample,
                oocyte=number,
            )
        points = table.loc[table[curve].astype(str) == str(fit["curve"])]
        entry = ec50_params(
            fit,
            points,
            sheet=sheet,
            sha256=sha256,
            dose=dose,
            response=response,
            recording=(recordings or {}).get(str(fit["curve"])),
        )
        if parameters:
            entry["parameters"] = dict(parameters)
        params = _params(row["params"])
        params["ec50"] = entry
        row["ec50_um"] = fit["ec50"]
        row["params"] = json.dumps(params, sort_keys=True)
        row["version"] = version
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(TABLES["oocytes"]))
    return conform(frame, "oocytes")
