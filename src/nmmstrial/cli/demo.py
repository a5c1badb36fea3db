"""`nmmstrial demo`: simulate the reference trial, store it, and write its report."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import click
import pandas as pd
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..assays.doseresponse import fit_dose_response
from ..assays.ephys import measure_files, read_abf
from ..assays.qpcr import read_qpcr_export
from ..assays.qpcr.writer import quantstudio_text
from ..capture.ephys import (
    curve_oocytes,
    dose_response_sheet,
    ec50_rows,
    map_files,
    oocyte_rows,
    read_dose_map,
    read_oocyte_map,
)
from ..capture.imports import read_text_csv
from ..capture.qpcr import study_wells
from ..conduct.simulated import conducted_authorship
from ..errors import InvalidValueError
from ..protocol import reference_protocol
from ..report import write_report
from ..simulate import load_calibration, simulate_trial
from ..simulate.ephys import (
    DOSE_RESPONSE_FOLDER,
    DOSE_RESPONSE_MAP,
    PEAK_MAP,
    write_dose_response_recordings,
    write_peak_recordings,
    write_traces,
)
from ..store import Author, read_study, write_study
from ..study import Study, conform
from .auth import demo_users
from .demo_fibres import fibres_through_the_lab

EXPORT_PREFIX = "qpcr_export_"
DOSE_RESPONSE_SHEET = "dose_response.csv"


@click.command()
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--seed", type=click.IntRange(min=0), default=2019, show_default=True)
def demo(out: Path, seed: int) -> None:
    """Simulate the reference trial into OUT/study.db and report it in OUT/index.html."""
    out.mkdir(parents=True, exist_ok=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        disable=not sys.stderr.isatty(),
        transient=True,
    ) as progress:
        task = progress.add_task("simulating the reference trial", total=3)
        study = simulate_trial(reference_protocol(), seed=seed)
        progress.update(task, description="running the qPCR plates through the lab")
        study = through_the_lab(study, out / "lab")
        progress.update(task, description="recording and measuring the oocytes")
        study = ephys_through_the_lab(study, out / "lab" / "ephys")
        progress.update(task, description="drawing and measuring the fibre sections")
        study = fibres_through_the_lab(study, out / "lab" / "morphometry")
        progress.update(task, advance=1, description="storing it in study.db")
        users, password = demo_users()
        authors, reveals = conducted_authorship(study, Author.now("nmmstrial", "admin").utc)
        write_study(
            study, out / "study.db", overwrite=True, users=users, authors=authors, events=reveals
        )
        progress.update(task, advance=1, description="writing the report")
        # The report is written from what was stored, so the demo shows the round trip.
        index = write_report(read_study(out / "study.db"), out, recordings=out / "lab" / "ephys")
        progress.update(task, advance=1)
    click.echo(str(index.resolve()))
    names = ", ".join(u.name for u in users)
    click.echo(f"users of {out / 'study.db'}: {names}; password: {password}", err=True)


def through_the_lab(study: Study, lab: Path) -> Study:
    """The study with its qPCR wells as a lab would bring them: one instrument export
    per plate in `lab/`, each read back by the same reader a lab scientist uses.

    The exports name samples by biopsy id only (blind to arm); the stored wells are the
    reader's, given patient and side from the biopsies table and replicate numbers in
    plate order.
    """
    lab.mkdir(parents=True, exist_ok=True)
    endogenous = ", ".join(t for t in ("GAPDH", "U6") if t in set(study.qpcr["target"]))
    paths = []
    for plate, wells in study.qpcr.groupby("plate", sort=True):
        path = lab / f"{EXPORT_PREFIX}{plate}.txt"
        path.write_text(
            quantstudio_text(
                wells,
                experiment=f"{study.meta.get('name', 'study')} qPCR {plate}",
                endogenous=endogenous,
            ),
            encoding="utf-8",
        )
        paths.append(path)
    imported = [
        study_wells(
            read_qpcr_export(path),
            study.biopsies,
            plate=path.stem.removeprefix(EXPORT_PREFIX),
            sample_map=None,
        )
        for path in paths
    ]
    qpcr = pd.concat(imported, ignore_index=True) if imported else study.qpcr
    return dataclasses.replace(study, tables={**study.tables, "qpcr": qpcr})


def ephys_through_the_lab(study: Study, lab: Path) -> Study:
    """The study with its oocytes measured as a lab would: every oocyte's 4-s, 500-uM
    peak test written as an ABF file in `lab/` named as Clampex names files, with the
    lab's map of file to oocyte (`peak_map.csv`), and the T0.5 subset's 30-s
    applications as SAMPLE_oocyteNN.abf, all measured by `measure_files`; the
    dose-response subset's concentration series written as episodic ABF files in
    `lab/dose_response/` (a sweep per concentration, tagged `ACh 10 uM` / `wash`) with
    the lab's sheet of concentrations per sweep (`dose_response_map.csv`), measured by
    the same `measure_files`, each oocyte's peaks normalised to its largest
    (`capture.ephys.dose_response_sheet`, the tags checked against the sheet) into
    `lab/dose_response.csv`, the sheet `nmmstrial assay ephys dose-response` takes, and
    fitted by `fit_dose_response` (LL.4, LL.3 when the lower plateau is not identified).

    The stored T0.5 and EC50 are the measured ones, turned into rows by the same
    functions as `nmmstrial assay ephys measure --study` (`capture.ephys`: files named
    SAMPLE_oocyteNN.abf, `params` and `version`); the reader finds each application
    window from the files' tags, and `meta["ephys"]` records the window sources. An
    EC50's `params` entry holds its sheet (with SHA-256), its recording (with SHA-256),
    model, parameters and points. The recordings are drawn from the true values; what is
    stored is what was measured from them. Noise comes from the study's seed.
    """
    from .. import __version__

    oocytes = study.oocytes.copy()
    if oocytes.empty:
        return study
    chosen = load_calibration().chosen["ephys"]
    seed = int(study.meta.get("seed") or 0)
    written = write_traces(oocytes, lab, chosen, seed)
    peaks, _ = write_peak_recordings(oocytes, lab, chosen, seed)
    meta_ephys: dict = {
        "recordings": len(written),
        "peak_recordings": len(peaks),
        "peak_map": PEAK_MAP,
    }
    if written or peaks:
        paths = [*peaks.values(), *written.values()]
        results, errors = measure_files(paths)
        if errors:
            raise InvalidValueError(f"{errors[0]['file']}: {errors[0]['error']}")
        rows, failed, _ = oocyte_rows(
            results,
            map_files(paths, study.biopsies, read_oocyte_map(lab / PEAK_MAP)),
            study.biopsies,
            oocytes,
            version=__version__,
        )
        if failed:
            raise InvalidValueError(failed[0]["error"])
        oocytes = _merged(oocytes, rows)
        meta_ephys["windows"] = sorted({result["window"]["source"] for result in results})
    folder = lab / DOSE_RESPONSE_FOLDER
    series, _ = write_dose_response_recordings(study.oocytes, folder, chosen, seed)
    if series:
        paths = list(series.values())
        results, errors = measure_files(paths)
        if errors:
            raise InvalidValueError(f"{errors[0]['file']}: {errors[0]['error']}")
        table, _ = dose_response_sheet(
            results,
            read_dose_map(folder / DOSE_RESPONSE_MAP),
            map_files(paths, study.biopsies),
            tags={str(path): read_abf(path).tags for path in paths},
        )
        sheet = lab / DOSE_RESPONSE_SHEET
        table.assign(file=DOSE_RESPONSE_FOLDER + "/" + table["file"]).to_csv(sheet, index=False)
        digest = hashlib.sha256(sheet.read_bytes()).hexdigest()
        table = read_text_csv(sheet)
        fits = fit_dose_response(table, "conc_um", "response", curve="curve", source=str(sheet))
        curves = curve_oocytes(table, "curve", study.biopsies, where=str(sheet))
        by_file = {Path(result["file"]).name: result for result in results}
        recordings = {}
        for name, part in table.groupby("curve"):
            result = by_file[Path(part["file"].iloc[0]).name]
            recordings[name] = {
                "file": part["file"].iloc[0],
                "sha256": result["sha256"],
                "window": result["window"],
                "map": f"{DOSE_RESPONSE_FOLDER}/{DOSE_RESPONSE_MAP}",
            }
        rows = ec50_rows(
            fits,
            table,
            curves,
            study.biopsies,
            oocytes,
            curve="curve",
            dose="conc_um",
            response="response",
            sheet=DOSE_RESPONSE_SHEET,
            sha256=digest,
            version=__version__,
            recordings=recordings,
        )
        oocytes = _merged(oocytes, rows)
        meta_ephys["dose_response"] = {
            "sheet": DOSE_RESPONSE_SHEET,
            "recordings": len(paths),
            "map": f"{DOSE_RESPONSE_FOLDER}/{DOSE_RESPONSE_MAP}",
            "windows": sorted({result["window"]["source"] for result in results}),
            "curves": len(fits),
            "models": sorted({fit["model"] for fit in fits}),
        }
    return dataclasses.replace(
        study,
        meta={**study.meta, "ephys": meta_ephys},
        tables={**study.tables, "oocytes": oocytes},
    )


def _merged(oocytes: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """`oocytes` with the rows of the same (sample, oocyte) replaced by `rows`, in place."""
    keys = zip(oocytes["sample"], oocytes["oocyte"], strict=True)
    position = {key: i for i, key in enumerate(keys)}
    at = [position[key] for key in zip(rows["sample"], rows["oocyte"], strict=True)]
    kept = oocytes.drop(index=oocytes.index[at])
    return conform(pd.concat([kept, rows.set_axis(oocytes.index[at])]).sort_index(), "oocytes")
