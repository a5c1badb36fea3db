"""`nmmstrial protocol show`: the study definition, dose included."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..protocol import Protocol, load_protocol, reference_protocol


@click.group()
def protocol() -> None:
    """The study definition (visits, measures, stimulation, eligibility)."""


@protocol.command("show")
@click.option(
    "--file",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A study definition in YAML; the built-in reference trial if omitted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the derived dose).")
def show(path: Path | None, as_json: bool) -> None:
    """Print a study definition: visits, measures, stimulation and its dose, eligibility."""
    proto = load_protocol(path) if path else reference_protocol()
    if as_json:
        data = proto.model_dump(mode="json")
        data["stimulation"]["dose"] = proto.stimulation.dose()
        click.echo(json.dumps(data, indent=2))
        return
    _print(proto, Console(soft_wrap=False, width=max(Console().width, 132)))


def _print(proto: Protocol, console: Console) -> None:
    console.print(f"[bold]{proto.name}[/bold]  {proto.title}")
    if proto.registration:
        console.print(f"registration: {proto.registration}")
    grades = ", ".join(proto.mrc_grades)
    console.print(f"MRC scale: {proto.mrc_scale} ({grades})")

    visits = Table(title="Visits (days from T0)")
    for column in ("visit", "label", "target day", "window"):
        visits.add_column(column)
    for v in proto.visits:
        if v.window_before == v.window_after:
            window = f"±{v.window_before}" if v.window_before else "on the day"
        else:
            window = f"-{v.window_before} / +{v.window_after}"
        visits.add_row(v.code, v.label, str(v.day), window)
    console.print(visits)

    measures = Table(title="Measures")
    for column in ("measure", "label", "unit", "range", "per", "visits"):
        measures.add_column(column)
    for m in proto.measures:
        label = m.label + (f" ({m.derived} of {len(m.components)})" if m.derived else "")
        measures.add_row(m.name, label, m.unit, f"{m.min:g}-{m.max:g}", m.per, " ".join(m.visits))
    console.print(measures)

    stim = proto.stimulation
    dose = stim.dose()
    console.print("[bold]Stimulation[/bold]")
    console.print(f"  device: {stim.device}; site: {stim.site}")
    if stim.sham:
        console.print(f"  sham: {stim.sham}")
    console.print(
        f"  {stim.frequency_hz:g} Hz at {stim.intensity_pct_mso:g} % MSO; {stim.trains} trains of "
        f"{stim.pulses_per_train} pulses, {stim.inter_train_interval_s:g} s between trains; "
        f"{stim.sessions_per_week} sessions a week for {stim.weeks} weeks"
    )
    seconds = dose["session_duration_s"]
    console.print(
        f"  dose: train {dose['train_duration_s']:g} s; session {dose['pulses_per_session']:,} "
        f"pulses in {seconds:,.0f} s ({seconds / 60:.0f} min); "
        f"course {dose['sessions']} sessions = {dose['pulses_per_course']:,} pulses"
    )
    console.print("[bold]Eligibility[/bold]")
    for criterion in proto.eligibility.inclusion:
        console.print(f"  include: {criterion}")
    for criterion in proto.eligibility.exclusion:
        console.print(f"  exclude: {criterion}")
    rule = proto.eligibility.mrc
    if rule:
        console.print(
            f"  MRC rule: grade {rule.min:g}-{rule.max:g} at {' or '.join(rule.muscles)}, "
            f"{rule.sides} sides"
        )
