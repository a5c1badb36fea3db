"""`nmmstrial design ...`: analytic sample size and power, and simulation-based power."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from ..conduct.allocation import randomize, show_list
from ..design.power import INFLATE, TESTS, power_analysis
from ..design.randomization import parse_strata
from ..errors import InvalidValueError
from ..simulate.power import local_map, simulate_power
from ..simulate.scenario import load_scenario
from ..store import Author
from .auth import login, user_option
from .output import emit

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group()
def design() -> None:
    """Trial design: sample size and power, and the sealed randomization list."""


@design.command("power")
@click.option("--test", type=click.Choice(TESTS), required=True, help="The planned test.")
@click.option("--sd", type=float, required=True, help="SD (paired-t: of the differences).")
@click.option("--delta", type=float, help="Raw effect (rm-anova/interaction: SD of effects).")
@click.option("--d", "d", type=float, help="Standardized effect: d_z, d or Cohen's f.")
@click.option("--n", type=float, help="Sample size (pairs, per group, or subjects).")
@click.option("--power", type=float, help="Power, e.g. 0.8.")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Two-sided for t.")
@click.option("--k", type=int, default=4, show_default=True, help="Visits (rm-anova, interaction).")
@click.option("--eps", type=float, default=1.0, show_default=True, help="Nonsphericity epsilon.")
@click.option("--rho", type=float, default=0.5, show_default=True, help="Correlation of visits.")
@click.option("--dropout", type=float, help="Dropout fraction: adds n_enrol.")
@click.option("--inflate", type=click.Choice(INFLATE), default="divide", show_default=True)
@JSON
def power_command(test, sd, delta, d, n, power, alpha, k, eps, rho, dropout, inflate, as_json):
    """Solve for whichever of n, power and effect is left out (noncentral t/F, as G*Power)."""
    if delta is not None and d is not None:
        raise InvalidValueError("--delta and --d are exclusive; give one")
    result = power_analysis(
        test,
        sd,
        delta=delta,
        d=d,
        n=n,
        power=power,
        alpha=alpha,
        k=k,
        eps=eps,
        rho=rho,
        dropout=dropout,
        inflate=inflate,
    )
    emit(result.to_dict(), as_json=as_json, title=f"Power: {test}")


@design.command("simulate-power")
@click.argument("scenario_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--n-sim", type=int, help="Trials per n (overrides the scenario's n_sim).")
@click.option("--seed", type=int, help="Seed (overrides the scenario's seed).")
@click.option("--workers", type=int, help="Run on a local Dask cluster of N workers.")
@click.option("--scheduler", help="Run on a Dask scheduler, e.g. tcp://host:8786.")
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), help="Write figure and JSON here."
)
@JSON
def simulate_power_command(scenario_file, n_sim, seed, workers, scheduler, out, as_json):
    """Monte Carlo power and type I error of a split-body scenario (YAML; see docs/power.md)."""
    if workers is not None and scheduler is not None:
        raise InvalidValueError("--workers and --scheduler are exclusive; give one")
    if n_sim is not None and n_sim < 1:
        raise InvalidValueError(f"--n-sim: {n_sim}; at least 1")
    try:
        text = scenario_file.read_text()
    except OSError as error:
        raise InvalidValueError(f"{scenario_file}: cannot read: {error}") from error
    scenario = load_scenario(text, source=str(scenario_file))
    with click.progressbar(length=1, label="simulating", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        if workers is None and scheduler is None:
            start = time.perf_counter()
            result = simulate_power(
                scenario, n_sim=n_sim, seed=seed, mapper=local_map, progress=progress
            )
            seconds = time.perf_counter() - start
        else:
            from ..simulate.cluster import dask_mapper

            with dask_mapper(workers=workers, scheduler=scheduler) as mapper:
                start = time.perf_counter()
                result = simulate_power(
                    scenario, n_sim=n_sim, seed=seed, mapper=mapper, progress=progress
                )
                seconds = time.perf_counter() - start
    document = result.to_dict(seconds)
    where = f"{workers} local workers" if workers else (scheduler or "1 process")
    click.echo(
        f"{scenario_file}: n_sim {result.n_sim}, seed {result.seed}, {where}, {seconds:.2f} s",
        err=True,
    )
    if out is not None:
        _write(out, document)
        click.echo(f"wrote {out / 'power.json'} and {out / 'power_curve.png'}", err=True)
    if not as_json:  # every table row gets an arm cell, so the per-arm rows show theirs
        for key in ("results", "type1"):
            document[key] = [
                {"n": r["n"], "analysis": r["analysis"], "arm": r.get("arm"), **r}
                for r in document[key]
            ]
    emit(document, as_json=as_json, title="Simulated power")


def _write(out: Path, document: dict) -> None:
    """power.json and power_curve.png (power against n per analysis, with 95 % CIs)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "power.json").write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    except OSError as error:
        raise InvalidValueError(f"--out {out}: cannot write: {error}") from error
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    curves: dict[str, list[dict]] = {}
    for row in document["results"]:
        label = row["analysis"] + (f" ({row['arm']})" if "arm" in row else "")
        curves.setdefault(label, []).append(row)
    for label, rows in curves.items():
        rows = sorted(rows, key=lambda r: r["n"])
        n = [r["n"] for r in rows]
        power = [r["power"] for r in rows]
        errors = [
            [r["power"] - r["ci_low"] for r in rows],
            [r["ci_high"] - r["power"] for r in rows],
        ]
        axes.errorbar(n, power, yerr=errors, marker="o", capsize=3, label=label)
    axes.axhline(0.8, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("patients (n)")
    axes.set_ylabel("power (95 % Wilson CI)")
    axes.set_ylim(0, 1)
    axes.legend(fontsize="small")
    figure.savefig(out / "power_curve.png", dpi=120)


@design.command("randomize")
@click.argument("study_db")
@user_option
@click.option("--n", "n", type=int, required=True, help="Entries per stratum.")
@click.option("--blocks", default="2,4", show_default=True, help="Block sizes to draw from.")
@click.option("--strata", help="Strata, e.g. 'site=A,B;onset=left,right'.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed (sealed); drawn when omitted.")
@JSON
def randomize_command(study_db, user_name, n, blocks, strata, seed, as_json):
    """Create the sealed 1:1 randomization list (statistician or admin).

    Prints its size, blocks, strata, balance per stratum and fingerprint: never the
    sequence."""
    user = login(study_db, user_name)
    try:
        sizes = tuple(int(b) for b in blocks.split(","))
    except ValueError:
        raise InvalidValueError(f"--blocks {blocks!r}: write sizes such as 2,4") from None
    summary = randomize(
        study_db,
        user,
        Author.now(user.name, user.role),
        n=n,
        blocks=sizes,
        strata=parse_strata(strata),
        seed=seed,
    )
    emit(summary, as_json=as_json, title="Randomization list (sealed)")


@design.command("show-list")
@click.argument("study_db")
@user_option
@JSON
def show_list_command(study_db, user_name, as_json):
    """The sealed list itself: unblinded physician (and admin after unblinding) only."""
    user = login(study_db, user_name)
    result = show_list(study_db, user, Author.now(user.name, user.role))
    emit(result, as_json=as_json, title="Randomization list")
