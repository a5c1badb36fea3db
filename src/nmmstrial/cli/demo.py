"""`nmmstrial demo`: simulate the reference trial, store it, and write its report."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click
import pandas as pd
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..assays.doseresponse import fit_dose_response
from ..assays.ephys import measure_files
from ..assays.qpcr import read_qpcr_export
from ..assays.qpcr.writer import quantstudio_text
from ..capture.qpcr import study_wells
from ..conduct.simulated import conducted_authorship
from ..errors import InvalidValueError
from ..protocol import reference_protocol
from ..report import write_report
from ..simulate import load_calibration, simulate_trial
from ..simulate.ephys import dose_response_points, write_traces
from ..store import Author, read_study, write_study
from ..study import Study
from .auth import demo_users

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
        progress.update(task, advance=1, description="storing it in study.db")
        users, password = demo_users()
        authors, reveals = conducted_authorship(study, Author.now("nmmstrial", "admin").utc)
        write_study(
            study, out / "study.db", overwrite=True, users=users, authors=authors, events=reveals
        )
        progress.update(task, advance=1, description="writing the report")
        # The report is written from what was stored, so the demo shows the round trip.
        index = write_report(read_study(out / "study.db"), out)
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

    The stored T0.5 and EC50 are the measured ones, with each recording's file name and
    SHA-256; the reader finds each application window from the files' tags, and
    `meta["ephys"]` records the window sources. Peaks are the 4-s applications' (not
    written). Noise comes from the study's seed.
    """
    oocytes = study.oocytes.copy()
    if oocytes.empty:
        return study
    chosen = load_calibration().chosen["ephys"]
    seed = int(study.meta.get("seed") or 0)
    written = write_traces(oocytes, lab, chosen, seed)
    meta_ephys: dict = {"recordings": len(written)}
    if written:
        index_of = {str(path): index for index, path in written.items()}
        results, errors = measure_files(list(written.values()))
        if errors:
            raise InvalidValueError(f"{errors[0]['file']}: {errors[0]['error']}")
        for result in results:
            index = index_of[result["file"]]
            sweep = result["sweeps"][0]
            oocytes.loc[index, "t05_s"] = round(sweep["t05_s"], 3)
            oocytes.loc[index, "t05_censored"] = bool(sweep["t05_censored"])
            oocytes.loc[index, "file"] = Path(result["file"]).name
            oocytes.loc[index, "sha256"] = result["sha256"]
        meta_ephys["windows"] = sorted({result["window"]["source"] for result in results})
    points = dose_response_points(oocytes, chosen, seed)
    if not points.empty:
        sheet = lab / DOSE_RESPONSE_SHEET
        points.to_csv(sheet, index=False)
        fits = fit_dose_response(
            pd.read_csv(sheet, dtype={"curve": str}),
            "conc_um",
            "response",
            curve="curve",
            source=str(sheet),
        )
        ec50 = {fit["curve"]: round(fit["ec50"], 3) for fit in fits}
        curve = oocytes["sample"] + "-" + oocytes["oocyte"].astype(str)
        has = oocytes["ec50_um"].notna()
        oocytes.loc[has, "ec50_um"] = curve[has].map(ec50)
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
