"""`nmmstrial demo`: simulate the reference trial, store it, and write its report."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click
import pandas as pd
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..assays.qpcr import read_qpcr_export
from ..assays.qpcr.writer import quantstudio_text
from ..conduct.simulated import conducted_authorship
from ..errors import InvalidValueError
from ..protocol import reference_protocol
from ..report import write_report
from ..simulate import simulate_trial
from ..store import Author, read_study, write_study
from ..study import Study
from .auth import demo_users

EXPORT_PREFIX = "qpcr_export_"


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
    imported = [import_qpcr_export(path, study.biopsies) for path in paths]
    qpcr = pd.concat(imported, ignore_index=True) if imported else study.qpcr
    return dataclasses.replace(study, tables={**study.tables, "qpcr": qpcr})


def import_qpcr_export(path: Path, biopsies: pd.DataFrame) -> pd.DataFrame:
    """One plate's export as `qpcr` rows: the plate is the file's name after the prefix;
    a sample well whose name is no biopsy sample is refused, naming file and sample."""
    export = read_qpcr_export(path)
    wells = export.wells
    by_sample = biopsies.set_index("sample")
    samples = wells["task"] == "UNKNOWN"
    unknown = sorted(set(wells.loc[samples, "sample"]) - set(by_sample.index))
    if unknown:
        raise InvalidValueError(f"{path}: sample {unknown[0]} is not a biopsy sample of the study")
    patient = wells["sample"].map(by_sample["patient"]).where(samples)
    side = wells["sample"].map(by_sample["side"]).where(samples)
    return pd.DataFrame(
        {
            "patient": patient,
            "side": side,
            "sample": wells["sample"],
            "target": wells["target"],
            "replicate": wells.groupby(["sample", "target"], sort=False).cumcount() + 1,
            "ct": wells["ct"],
            "task": wells["task"],
            "plate": path.stem.removeprefix(EXPORT_PREFIX),
            "well": wells["well_position"],
        }
    )
