"""`nmmstrial analyze`: run an analysis plan on a study database."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..analysis.plans import PLANS, PlanResult, run_plan
from ..errors import NmmstrialError
from ..store import read_study
from .auth import as_seen_by
from .output import cell, emit


@click.command()
@click.argument("study_db")
@click.option("--plan", type=click.Choice(PLANS), required=True, help="Which analysis plan.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Write CSV + JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--user",
    "user_name",
    help="Your user name: blinded roles get arm codes X / Y until the study is unblinded.",
)
def analyze(study_db: str, plan: str, out: Path | None, as_json: bool, user_name: str | None):
    """Run the paper's analysis plan or the recommended one on STUDY_DB.

    Without --user the study's own setting applies (a simulated study is unblinded)."""
    study = read_study(study_db)
    study = as_seen_by(study_db, user_name, study)
    result = run_plan(study, plan)
    data = result.to_dict()
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            result.table.to_csv(out / f"analysis-{plan}.csv", index=False)
            text = json.dumps(data, indent=2, allow_nan=False)
            (out / f"analysis-{plan}.json").write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise NmmstrialError(f"{out}: cannot write the analysis: {error.strerror}") from error
    if as_json:
        emit(data, as_json=True, title="")
    else:
        _print(result)


SHOWN = (
    "outcome",
    "comparison",
    "test",
    "correction",
    "n",
    "df1",
    "df2",
    "statistic",
    "estimate",
    "p",
    "p_adjusted",
    "paper",
)


def _print(result: PlanResult) -> None:
    """One table per section, the columns a reader scans; the files hold every column."""
    console = Console(soft_wrap=False, width=max(Console().width, 160))
    console.print(f"[bold]Analysis plan: {result.plan}[/bold]")
    for note in result.notes:
        console.print(f"- {note}")
    for section, rows in result.table.groupby("section", sort=False):
        table = Table(title=section, title_justify="left")
        for column in SHOWN:
            table.add_column(column)
        for row in rows.itertuples(index=False):
            table.add_row(*(cell(getattr(row, column)) for column in SHOWN))
        console.print(table)
