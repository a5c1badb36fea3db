"""`nmmstrial demo`: simulate the reference trial, store it, and write its report."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import click
import pandas as pd
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..assays.doseresponse import fit_dose_response
from ..assays.ephys import measure_files
from ..assays.qpcr import read_qpcr_export
from ..assays.qpcr.writer import quantstudio_text
from ..capture.ephys import ec50_params, map_files, oocyte_rows
from ..capture.qpcr import study_wells
from ..conduct.simulated import conducted_authorship
from ..errors import InvalidValueError
from ..protocol import reference_protocol
from ..report import write_report
from ..simulate import load_calibration, simulate_trial
from ..simulate.ephys import dose_response_points, write_traces
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
    """The study with its oocytes measured as a lab would: the T0.5 subset's 30-s
    applications written as ABF files in `lab/` and measured by `measure_files`, the
    dose-response subset's curves written as `lab/dose_response.csv` and fitted by
    `fit_dose_response` (LL.4, LL.3 when the lower plateau is not identified).

    The stored T0.5 and EC50 are the measured ones, turned into rows by the same
    functions as `nmmstrial assay ephys measure --study` (`capture.ephys`: files named
    SAMPLE_oocyteNN.abf, `params` and `version`); the reader finds each application
    window from the files' tags, and `meta["ephys"]` records the window sources. An
    EC50's `params` entry holds its sheet (with SHA-256), model, parameters and points.
    Peaks are the 4-s applications' (not written). Noise comes from the study's seed.
    """
    from .. import __version__

    oocytes = study.oocytes.copy()
    if oocytes.empty:
        return study
    chosen = load_calibration().chosen["ephys"]
    seed = int(study.meta.get("seed") or 0)
    written = write_traces(oocytes, lab, chosen, seed)
    meta_ephys: dict = {"recordings": len(written)}
    if written:
        paths = list(written.values())
        results, errors = measure_files(paths)
        if errors:
            raise InvalidValueError(f"{errors[0]['file']}: {errors[0]['error']}")
        rows, failed, _ = oocyte_rows(
            results,
            map_files(paths, study.biopsies),
            study.biopsies,
            oocytes,
            version=__version__,
        )
        if failed:
            raise InvalidValueError(failed[0]["error"])
        keys = zip(oocytes["sample"], oocytes["oocyte"], strict=True)
        position = {key: i for i, key in enumerate(keys)}
        at = [position[key] for key in zip(rows["sample"], rows["oocyte"], strict=True)]
        kept = oocytes.drop(index=oocytes.index[at])
        merged = pd.concat([kept, rows.set_axis(oocytes.index[at])]).sort_index()
        oocytes = conform(merged, "oocytes")
        meta_ephys["windows"] = sorted({result["window"]["source"] for result in results})
    points = dose_response_points(oocytes, chosen, seed)
    if not points.empty:
        sheet = lab / DOSE_RESPONSE_SHEET
        points.to_csv(sheet, index=False)
        digest = hashlib.sha256(sheet.read_bytes()).hexdigest()
        table = pd.read_csv(sheet, dtype={"curve": str})
        fits = fit_dose_response(table, "conc_um", "response", curve="curve", source=str(sheet))
        curve = oocytes["sample"] + "-" + oocytes["oocyte"].astype(str)
        for fit in fits:
            index = oocytes.index[curve == fit["curve"]][0]
            entry = ec50_params(
                fit,
                table.loc[table["curve"] == fit["curve"]],
                sheet=DOSE_RESPONSE_SHEET,
                sha256=digest,
                dose="conc_um",
                response="response",
            )
            params = (
                json.loads(oocytes.at[index, "params"])
                if pd.notna(oocytes.at[index, "params"])
                else {}
            )
            oocytes.at[index, "ec50_um"] = fit["ec50"]
            oocytes.at[index, "params"] = json.dumps({**params, "ec50": entry}, sort_keys=True)
            oocytes.at[index, "version"] = __version__
        meta_ephys["dose_response"] = {
            "sheet": DOSE_RESPONSE_SHEET,
            "curves": len(fits),
            "models": sorted({fit["model"] for fit in fits}),
        }
    return dataclasses.replace(
        study,
        meta={**study.meta, "ephys": meta_ephys},
        tables={**study.tables, "oocytes": oocytes},
    )
