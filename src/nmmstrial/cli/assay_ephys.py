"""`nmmstrial assay ephys ...`: ABF recordings (info, I-V, agonist responses) and dose-response.

`measure` prints its results; with `--study` and `--user` it also stores each oocyte's
peak or T0.5 in the study (`conduct.lab.import_ephys`; files map to oocytes as
`capture.ephys` says); `dose-response` likewise stores each curve's EC50
(`conduct.lab.import_ec50`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..assays.doseresponse import MODELS, SE_METHODS, fit_dose_response
from ..assays.ephys import (
    POLARITIES,
    iv_curve,
    measure_files,
    parse_window,
    read_abf,
)
from ..capture.ephys import KINDS
from ..capture.imports import read_text_csv
from ..conduct.lab import import_ec50, import_ephys
from ..errors import InvalidValueError
from ..store import Author
from .auth import login
from .output import emit

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
ABF = click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
CURRENT = click.option(
    "--current-channel", type=int, help="Current channel (default: the first in A units)."
)
VOLTAGE = click.option(
    "--voltage-channel", type=int, help="Membrane-potential channel (default: the first in mV)."
)
TOLERANCE = click.option(
    "--clamp-tolerance",
    type=float,
    default=5.0,
    show_default=True,
    metavar="MV",
    help="Largest |measured V - command| in the window for a sweep to count.",
)


TABLE = (
    "curve",
    "model",
    "b",
    "c",
    "d",
    "e",
    "se_e",
    "ec50_ci_wald",
    "ec50_ci_log",
    "ec50_ci_profile",
    "hill_slope",
    "log_ec50",
    "ed10",
    "ed10_ci_profile",
    "ed90",
    "ed90_ci_profile",
    "flags",
)


def _overrides(func):
    func = click.option(
        "--scale",
        "scales",
        multiple=True,
        metavar="CH=FACTOR",
        help="Multiply a channel whose header gain is wrong (recorded in provenance).",
    )(func)
    return click.option(
        "--units",
        "units",
        multiple=True,
        metavar="CH=UNIT",
        help="Relabel a channel whose header unit is wrong, e.g. 0=uA (recorded).",
    )(func)


def _parse_overrides(units: tuple[str, ...], scales: tuple[str, ...]) -> dict:
    out: dict[int, list] = {}
    for option, specs in (("--units", units), ("--scale", scales)):
        for spec in specs:
            channel, sep, value = spec.partition("=")
            try:
                index = int(channel)
                parsed = value.strip() if option == "--units" else float(value)
            except ValueError:
                sep = ""
            if not sep or not value.strip():
                raise InvalidValueError(f"{option} {spec!r}: write CH=VALUE, e.g. 0=uA or 0=0.001")
            entry = out.setdefault(index, [None, None])
            entry[0 if option == "--units" else 1] = parsed
    return {k: tuple(v) for k, v in out.items()}


def _parse_sweeps(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidValueError(f"--sweeps {text!r}: write 0-based numbers, e.g. 0,2,5") from None


@click.group()
def ephys() -> None:
    """Two-electrode voltage-clamp recordings (Axon ABF) and dose-response curves."""


@ephys.command("info")
@ABF
@JSON
def info_command(file, as_json):
    """Header of an ABF file: true sample rate, sweep interval, channels, tags and sweeps."""
    emit(read_abf(file).info(), as_json=as_json, title=str(file))


@ephys.command("iv")
@ABF
@click.option("--window", required=True, metavar="START:END", help="Steady-state window, s.")
@CURRENT
@VOLTAGE
@TOLERANCE
@_overrides
@JSON
def iv_command(
    file, window, current_channel, voltage_channel, clamp_tolerance, units, scales, as_json
):
    """Steady-state I-V per sweep and the reversal potential (zero-current crossing)."""
    rec = read_abf(file, overrides=_parse_overrides(units, scales))
    result = iv_curve(
        rec,
        parse_window(window),
        current=current_channel,
        voltage=voltage_channel,
        clamp_tolerance_mV=clamp_tolerance,
    )
    emit(result, as_json=as_json, title=f"I-V: {file}")


def _abf_paths(inputs: tuple[Path, ...]) -> list[Path]:
    paths: list[Path] = []
    for given in inputs:
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if p.suffix.lower() == ".abf")
            if not found:
                raise InvalidValueError(f"{given}: no .abf files in this folder")
            paths.extend(found)
        else:
            paths.append(given)
    return paths


@ephys.command("measure")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--window", metavar="START:END", help="Application window, s (if not recorded).")
@click.option("--sweeps", help="0-based sweep numbers, e.g. 0,2,5 (default: all).")
@click.option("--polarity", type=click.Choice(POLARITIES), default="inward", show_default=True)
@click.option("--baseline", type=float, default=0.5, show_default=True, help="Baseline, s.")
@click.option("--threshold-sd", type=float, default=10.0, show_default=True)
@click.option("--min-duration", type=float, default=0.05, show_default=True, help="s.")
@click.option("--min-amplitude", type=float, default=0.0, show_default=True, help="nA.")
@click.option("--smooth", type=float, default=0.01, show_default=True, help="s; 0 = none.")
@click.option("--fit-decay", is_flag=True, help="Also fit a single exponential decay.")
@click.option("--keep-bad-clamp", is_flag=True, help="Do not exclude sweeps with a bad clamp.")
@CURRENT
@VOLTAGE
@TOLERANCE
@_overrides
@click.option("--study", "study_db", help="Store each oocyte's result in this study database.")
@click.option("--user", "user_name", help="Your user name (electrophysiologist or admin).")
@click.option(
    "--map",
    "file_map",
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV file,sample,oocyte for files not named SAMPLE_oocyteNN.abf.",
)
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="auto",
    show_default=True,
    help="What a file measures: peak (short application) or t05; auto: <= 10 s is a peak.",
)
@click.option("--reason", help="Why stored values change (needed to change one).")
@JSON
def measure_command(
    inputs,
    window,
    sweeps,
    polarity,
    baseline,
    threshold_sd,
    min_duration,
    min_amplitude,
    smooth,
    fit_decay,
    keep_bad_clamp,
    current_channel,
    voltage_channel,
    clamp_tolerance,
    units,
    scales,
    study_db,
    user_name,
    file_map,
    kind,
    reason,
    as_json,
):
    """Agonist responses per sweep (nA, inward negative) of every ABF in DIR or FILES.

    A file that cannot be read or measured gets one error line on stderr and the
    others are still measured; the exit status is 1 if any file failed.

    With --study (and --user), each file's oocyte gets its result stored, audited: the
    file is SAMPLE_oocyteNN.abf (the biopsy's sample id) or listed in --map; an
    unmapped file refuses the whole run before anything is measured. A recording
    whose application lasts up to 10 s stores the peak (|peak|, nA), a longer one
    T0.5 (censored when not reached), from the first sweep not excluded, with the
    file's SHA-256, the parameters and nmmstrial's version. A stored value changes
    only with --reason.
    """
    if (study_db is None) != (user_name is None):
        raise InvalidValueError("--study and --user go together: give both or neither")
    if (file_map or reason) and study_db is None:
        raise InvalidValueError("--map and --reason are for storing: give --study and --user")
    paths = _abf_paths(inputs)
    options = {
        "overrides": _parse_overrides(units, scales),
        "window": parse_window(window) if window else None,
        "sweeps": _parse_sweeps(sweeps),
        "current": current_channel,
        "voltage": voltage_channel,
        "exclude_bad_clamp": not keep_bad_clamp,
        "polarity": polarity,
        "baseline_s": baseline,
        "threshold_sd": threshold_sd,
        "min_duration_s": min_duration,
        "min_amplitude": min_amplitude,
        "smooth_s": smooth,
        "fit_decay": fit_decay,
        "clamp_tolerance_mV": clamp_tolerance,
    }
    if study_db is not None:
        user = login(study_db, user_name)
        author = Author.now(user.name, user.role)

        def run(progress=None):
            done = import_ephys(
                study_db,
                user,
                author,
                paths,
                file_map=file_map,
                kind=kind,
                reason=reason,
                progress=progress,
                **options,
            )
            return done.results, done.errors, done

    else:

        def run(progress=None):
            return (*measure_files(paths, progress=progress, **options), None)

    if sys.stderr.isatty():  # a bar on a terminal only, so piped output stays clean
        with click.progressbar(length=len(paths), label="Measuring", file=sys.stderr) as bar:
            results, errors, stored = run(progress=lambda _: bar.update(1))
    else:
        results, errors, stored = run()
    for error in errors:
        click.echo(f"Error: {error['error']}", err=True)
    if stored is not None:
        for note in stored.notes:
            click.echo(f"Note: {note}", err=True)
    out = {"files": results, "errors": errors}
    if stored is not None:
        out["stored"] = {"study": study_db, **stored.counts}
    if as_json:
        emit(out, as_json=True, title="")
    else:
        for result in results:
            head = {k: v for k, v in result.items() if k not in ("sweeps", "sha256")}
            emit({**head, "sweeps": result["sweeps"]}, as_json=False, title=result["file"])
    if stored is not None:
        counts = ", ".join(f"{n} {what}" for what, n in stored.counts.items())
        click.echo(f"oocytes in {study_db}: {counts}", err=True)
    if errors:
        sys.exit(1)


@ephys.command("dose-response")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--conc", required=True, help="Dose (concentration) column; 0 = control.")
@click.option("--response", required=True, help="Response column.")
@click.option("--curve", help="Column naming the curve (one fit per oocyte or group).")
@click.option(
    "--model",
    type=click.Choice(MODELS),
    help="Default: LL.4, falling back to LL.3 (c = 0) when c is not identified.",
)
@click.option(
    "--se",
    type=click.Choice(SE_METHODS),
    default="drc",
    show_default=True,
    help="drc: Hessian of the RSS; nls: J'J (Gauss-Newton).",
)
@click.option("--study", "study_db", help="Store each curve's EC50 in this study database.")
@click.option("--user", "user_name", help="Your user name (electrophysiologist or admin).")
@click.option("--reason", help="Why stored EC50s change (needed to change one).")
@JSON
def dose_response_command(
    file, conc, response, curve, model, se, study_db, user_name, reason, as_json
):
    """Log-logistic fits (drc's b, c, d, e and GraphPad's Hill slope = -b) per curve.

    With --study (and --user), each curve is one oocyte, named by the sheet's `sample`
    and `oocyte` columns or by the curve (SAMPLE-N or SAMPLE_oocyteNN), and its EC50
    is stored, audited, with the sheet's SHA-256, the model, drc's b, c, d, e, the
    points, the options and nmmstrial's version; a curve that names no oocyte of the
    study refuses the whole sheet. A stored EC50 changes only with --reason.
    """
    if (study_db is None) != (user_name is None):
        raise InvalidValueError("--study and --user go together: give both or neither")
    if reason and study_db is None:
        raise InvalidValueError("--reason is for storing: give --study and --user")
    stored = None
    if study_db is not None:
        if curve is None:
            raise InvalidValueError("--study needs --curve: one curve per oocyte")
        user = login(study_db, user_name)
        stored = import_ec50(
            study_db,
            user,
            Author.now(user.name, user.role),
            file,
            conc=conc,
            response=response,
            curve=curve,
            model=model,
            se=se,
            reason=reason,
        )
        rows = stored.fits
    else:
        rows = fit_dose_response(
            read_text_csv(file), conc, response, curve=curve, model=model, se=se, source=str(file)
        )
    for row in rows:
        if row["note"]:
            click.echo(f"Note: {row['curve'] or file}: {row['note']}", err=True)
    if not as_json:
        rows = [{key: row[key] for key in TABLE} for row in rows]
    emit(
        {
            "curves": rows,
            "model_form": "f(x) = c + (d - c) / (1 + (x / e)^b); GraphPad HillSlope = -b",
            "se_method": se,
            **({"stored": {"study": study_db, **stored.counts}} if stored else {}),
        },
        as_json=as_json,
        title=f"Dose-response: {file}",
    )
    if stored is not None:
        counts = ", ".join(f"{n} {what}" for what, n in stored.counts.items())
        click.echo(f"oocytes in {study_db}: {counts}", err=True)
