"""`nmmstrial stats ...`: the statistics on any tidy CSV, as tables or `--json`."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from ..analysis.anova import rm_anova
from ..analysis.data import levels as factor_levels
from ..analysis.data import numeric, require_columns
from ..analysis.mixed import mixed_model
from ..analysis.nonparametric import mann_whitney, wilcoxon_paired
from ..analysis.parametric import paired_t, student_t, welch_t
from ..analysis.posthoc import posthoc
from ..capture.imports import read_text_csv
from ..errors import InvalidValueError
from .output import emit

FILE = click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _modes(func):
    func = click.option(
        "--no-continuity", is_flag=True, help="Normal approximation without continuity correction."
    )(func)
    func = click.option(
        "--approx", "mode", flag_value="approx", help="Normal approximation (continuity corrected)."
    )(func)
    func = click.option(
        "--exact",
        "mode",
        flag_value="exact",
        help="Exact p always (with ties or zeros: the exact conditional distribution).",
    )(func)
    return func


def _levels_option(func):
    return click.option(
        "--levels",
        "level_specs",
        multiple=True,
        metavar="COL=L1,L2,...",
        help="Level order of a factor (the first is the reference, or x). Repeatable.",
    )(func)


def _parse_levels(specs: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for spec in specs:
        column, sep, values = spec.partition("=")
        if not sep or not column or not values:
            raise InvalidValueError(f"--levels {spec!r}: write COL=L1,L2,...")
        out[column.strip()] = [v.strip() for v in values.split(",")]
    return out


def _factors_as_read(data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Numeric-looking factor columns become numbers so they sort as R sorts them."""
    out = data.copy()
    for column in columns:
        as_number = pd.to_numeric(out[column], errors="coerce")
        if as_number.notna().all():
            out[column] = as_number
    return out


@click.group()
def stats() -> None:
    """Statistics on a tidy CSV that agree with R (afex, lmerTest, emmeans, stats)."""


@stats.command("rm-anova")
@FILE
@click.option("--dv", required=True, help="Outcome column.")
@click.option("--subject", required=True, help="Subject (patient) column.")
@click.option("--within", multiple=True, required=True, help="Within-subject factor. Repeatable.")
@click.option("--between", multiple=True, help="Between-subject factor. Repeatable.")
@click.option("--type", "ss_type", type=click.Choice(["2", "3"]), default="3", show_default=True)
@click.option("--listwise", is_flag=True, help="Drop subjects missing a within cell (named).")
@JSON
def rm_anova_command(file, dv, subject, within, between, ss_type, listwise, as_json):
    """Repeated-measures ANOVA with Greenhouse-Geisser, Huynh-Feldt and Mauchly."""
    data = _factors_as_read(read_text_csv(file), [*within, *between])
    result = rm_anova(
        data,
        dv,
        subject,
        list(within),
        list(between),
        type=int(ss_type),
        listwise=listwise,
        source=str(file),
    )
    emit(result.to_dict(), as_json=as_json, title="Repeated-measures ANOVA")


@stats.command("mixed-model")
@FILE
@click.option("--formula", required=True, help='Fixed part, e.g. "value ~ arm * time".')
@click.option("--group", required=True, help="Grouping factor; nested as patient/oocyte.")
@click.option("--re", "re_formula", help='Random slopes, e.g. "~ arm" (correlated).')
@_levels_option
@click.option(
    "--ddf",
    type=click.Choice(["satterthwaite", "kenward-roger"]),
    default="satterthwaite",
    show_default=True,
)
@click.option("--contrast", help="Factor whose levels are compared with its reference.")
@click.option("--by", help="Compare at each level of this factor (with --contrast).")
@JSON
def mixed_model_command(file, formula, group, re_formula, level_specs, ddf, contrast, by, as_json):
    """Linear mixed model (REML) with Satterthwaite or Kenward-Roger df, as lmerTest."""
    if by and not contrast:
        raise InvalidValueError("--by needs --contrast")
    result = mixed_model(
        read_text_csv(file),
        formula,
        group,
        re=re_formula,
        levels=_parse_levels(level_specs),
        ddf=ddf,
        contrast=contrast,
        by=by,
        source=str(file),
    )
    emit(result.to_dict(), as_json=as_json, title="Linear mixed model (REML)")


@stats.command("paired")
@FILE
@click.option("--x", "x_col", required=True, help="First measurement column (d = x - y).")
@click.option("--y", "y_col", required=True, help="Second measurement column.")
@click.option("--test", type=click.Choice(["wilcoxon", "t"]), required=True)
@_modes
@JSON
def paired_command(file, x_col, y_col, test, mode, no_continuity, as_json):
    """Paired test on two columns: Wilcoxon signed-rank or paired t."""
    data = read_text_csv(file)
    require_columns(data, [x_col, y_col], source=str(file))
    x, y = numeric(data, x_col, source=str(file)), numeric(data, y_col, source=str(file))
    if test == "t":
        _no_rank_flags(mode, no_continuity, test)
        result = paired_t(x, y)
    else:
        result = wilcoxon_paired(x, y, mode=mode, continuity=not no_continuity)
    emit(result.to_dict(), as_json=as_json, title="Paired comparison")


@stats.command("two-sample")
@FILE
@click.option("--dv", required=True, help="Outcome column.")
@click.option("--group", "group_col", required=True, help="Column with exactly two groups.")
@click.option("--test", type=click.Choice(["mann-whitney", "welch", "student"]), required=True)
@_levels_option
@_modes
@JSON
def two_sample_command(file, dv, group_col, test, level_specs, mode, no_continuity, as_json):
    """Two independent groups: Mann-Whitney U, Welch t or Student t (x = first level)."""
    data = read_text_csv(file)
    require_columns(data, [dv, group_col], source=str(file))
    given = _parse_levels(level_specs).get(group_col)
    groups = factor_levels(data[group_col], given, name=group_col)
    if len(groups) != 2:
        raise InvalidValueError(
            f"{file}, column {group_col}: {len(groups)} groups ({', '.join(map(str, groups))}); "
            "a two-sample test needs exactly 2"
        )
    values = numeric(data, dv, source=str(file))
    x = values[data[group_col] == groups[0]]
    y = values[data[group_col] == groups[1]]
    if test == "mann-whitney":
        result = mann_whitney(x, y, mode=mode, continuity=not no_continuity)
    else:
        _no_rank_flags(mode, no_continuity, test)
        result = (welch_t if test == "welch" else student_t)(x, y)
    out = result.to_dict()
    out["groups"] = {"x": str(groups[0]), "y": str(groups[1])}
    emit(out, as_json=as_json, title=f"Two-sample comparison: {groups[0]} - {groups[1]}")


@stats.command("posthoc")
@FILE
@click.option("--dv", required=True)
@click.option("--subject", required=True)
@click.option(
    "--within", required=True, help="The within-subject factor whose levels are compared."
)
@click.option("--ref", help="Compare every level with this one (default: the first level).")
@click.option("--all-pairs", is_flag=True, help="Compare every pair of levels.")
@click.option("--test", type=click.Choice(["t", "wilcoxon"]), default="t", show_default=True)
@_modes
@click.option("--pooled-error", is_flag=True, help="Use the RM ANOVA's pooled error (t only).")
@click.option("--listwise", is_flag=True, help="Drop subjects missing a level (named).")
@JSON
def posthoc_command(
    file,
    dv,
    subject,
    within,
    ref,
    all_pairs,
    test,
    mode,
    no_continuity,
    pooled_error,
    listwise,
    as_json,
):
    """Paired comparisons of the levels of one within factor, adjusted as one family."""
    if ref and all_pairs:
        raise InvalidValueError("give --ref or --all-pairs, not both")
    if test == "t":
        _no_rank_flags(mode, no_continuity, test)
    elif pooled_error:
        raise InvalidValueError("--pooled-error applies to --test t only")
    data = _factors_as_read(read_text_csv(file), [within])
    result = posthoc(
        data,
        dv,
        subject,
        within,
        ref=ref,
        all_pairs=all_pairs,
        test=test,
        mode=mode,
        continuity=not no_continuity,
        pooled_error=pooled_error,
        listwise=listwise,
    )
    emit(result.to_dict(), as_json=as_json, title="Post hoc comparisons")


def _no_rank_flags(mode: str | None, no_continuity: bool, test: str) -> None:
    if mode or no_continuity:
        raise InvalidValueError(
            f"--exact, --approx and --no-continuity apply to rank tests, not --test {test}"
        )
