"""`nmmstrial analyze`: run an analysis plan on a study database."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..analysis.plans import PLANS, run_plan
from ..errors import NmmstrialError
from ..store import read_study
from .output import emit


@click.command()
@click.argument("study_db")
@click.option("--plan", type=click.Choice(PLANS), required=True, help="Which analysis plan.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Write CSV + JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def analyze(study_db: str, plan: str, out: Path | None, as_json: bool) -> None:
    """Run the paper's analysis plan or the recommended one on STUDY_DB."""
    result = run_plan(read_study(study_db), plan)
    data = result.to_dict()
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            result.table.to_csv(out / f"analysis-{plan}.csv", index=False)
            text = json.dumps(data, indent=2, allow_nan=False)
            (out / f"analysis-{plan}.json").write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise NmmstrialError(f"{out}: cannot write the analysis: {error.strerror}") from error
    emit(data, as_json=as_json, title=f"Analysis plan: {plan}")
