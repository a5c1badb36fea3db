"""Export a study as tidy files for analysts: one file per table, a data dictionary, a README.

The same study always gives the same bytes: nothing depends on the clock, rows keep the
study's order, and floats are written in the shortest form that reads back to the same
number (pandas' default, so 11/3 is 3.6666666666666665 and 80.5 stays 80.5). A missing
value is an empty field, so per-patient measures have an empty side.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import InvalidValueError, NmmstrialError
from ..protocol import Protocol
from ..study import TABLES, Study, with_arm

FORMATS = ("csv", "parquet")

TABLE_NOTES = {
    "patients": "one row per patient: demographics and baseline",
    "allocation": "the randomization: which side had real stimulation (unblinds the trial)",
    "visits": "one row per patient and visit",
    "observations": (
        "one row per patient, side, visit and measure; the side is empty for measures "
        "taken once per patient"
    ),
    "sessions": "one row per stimulation session",
    "adverse_events": "one row per adverse event",
    "biopsies": "one row per muscle biopsy",
    "qpcr": "one row per qPCR well (Ct; empty when undetermined), samples by biopsy id",
    "oocytes": (
        "one row per voltage-clamped oocyte: peak ACh current, T0.5 and EC50 where measured, "
        "and the recording's file and SHA-256, with how it was measured"
    ),
    "fibres": (
        "one row per muscle fibre of a morphometry section: type and minimum Feret "
        "diameter, and the file it was measured from"
    ),
}

DICTIONARY_COLUMNS = {
    "table": "string",
    "column": "string",
    "measure": "string",
    "dtype": "string",
    "unit": "string",
    "min": "float64",
    "max": "float64",
    "per": "string",
    "visits": "string",
    "description": "string",
}


def data_dictionary(protocol: Protocol) -> pd.DataFrame:
    """Every column of every table, then every measure of the protocol.

    Returns the columns table, column, measure, dtype, unit, min, max, per, visits,
    description. A measure's row has table `observations`, column `value` and the
    measure's name; its visits are space-separated visit codes.
    """
    rows: list[dict[str, object]] = [
        {"table": table, "column": column, "dtype": dtype, "description": description}
        for table, columns in TABLES.items()
        for column, (dtype, description) in columns.items()
    ]
    for m in protocol.measures:
        description = m.label
        if m.derived is not None:
            description += f" ({m.derived} of {', '.join(m.components)})"
        rows.append(
            {
                "table": "observations",
                "column": "value",
                "measure": m.name,
                "dtype": TABLES["observations"]["value"][0],
                "unit": m.unit,
                "min": m.min,
                "max": m.max,
                "per": m.per,
                "visits": " ".join(m.visits),
                "description": description,
            }
        )
    return pd.DataFrame(rows, columns=list(DICTIONARY_COLUMNS)).astype(DICTIONARY_COLUMNS)


def _readme(study: Study, files: list[str], fmt: str, blinded: bool) -> str:
    protocol = study.protocol
    simulated = bool(study.meta.get("simulated", False))
    seed = study.meta.get("seed")
    if not simulated:
        origin = "Simulated: no."
    elif seed is None:
        origin = "Simulated: yes (seed not recorded)."
    else:
        origin = f"Simulated: yes, seed {seed}."
    if fmt == "csv":
        layout = "CSV, UTF-8, comma-separated, one header row; an empty field is a missing value."
    else:
        layout = "Parquet, one file per table; column types as in the dictionary."
    notes = {f"{table}.{fmt}": note for table, note in TABLE_NOTES.items()}
    notes[f"dictionary.{fmt}"] = (
        "data dictionary: every column's type and meaning; every measure's unit, valid "
        "range (min, max), whether per side or per patient, and visits"
    )
    lines = [
        f"# {protocol.name}: data export",
        "",
        # A title may name the arms ("sham-controlled"): a blinded export names none.
        *([protocol.title, ""] if protocol.title and not blinded else []),
        origin,
        "",
        f"Format: {layout}",
        "",
        "Blinded export: arms appear as the codes X and Y only."
        if blinded
        else "Unblinded export: arms are named, and the allocation is included.",
        "",
        "| file | what |",
        "|---|---|",
        *(f"| {name} | {notes[name]} |" for name in files),
        "",
    ]
    return "\n".join(lines)


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as error:
        raise NmmstrialError(
            "parquet export needs pyarrow: pip install 'nmmstrial[parquet]'"
        ) from error


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    else:
        frame.to_parquet(path, index=False, engine="pyarrow")


ARM_DESCRIPTION = {
    False: "arm of this side: real or sham stimulation (from the allocation)",
    True: "arm code of this side: X or Y, the same code for the same arm in every patient",
}
SEALED = ("allocation",)
# Columns that tell the allocation inside an otherwise blinded table: left out when blinded.
SEALED_COLUMNS = {"sessions": ("coil_left", "coil_right")}


def export_study(
    study: Study, out_dir: str | os.PathLike[str], *, fmt: str = "csv", blinded: bool = True
) -> list[Path]:
    """Write `study` to `out_dir` as tidy files; return the paths written, in order.

    Files: one per table of `TABLES` (`patients.csv`, `observations.csv`, ...), then
    `dictionary.<fmt>` (see `data_dictionary`) and `README.md`. `observations` gains an
    `arm` column. Blinded (the default): arms are the codes X / Y, the allocation and
    the sessions' coil per side are left out, and no file, column or value names the
    real or sham arm or the stimulated side. Unblinded: real / sham, and the allocation
    is included. Existing files of the same names are replaced.
    """
    if fmt not in FORMATS:
        raise InvalidValueError(
            f"export format {fmt!r} is not supported; choose one of: csv, parquet"
        )
    if fmt == "parquet":
        _require_pyarrow()
    out = Path(out_dir)
    tables = [t for t in TABLES if not (blinded and t in SEALED)]
    frames = {f"{table}.{fmt}": study.tables[table] for table in tables}
    if blinded:
        for table, columns in SEALED_COLUMNS.items():
            frames[f"{table}.{fmt}"] = study.tables[table].drop(columns=list(columns))
    observations = with_arm(study.observations, study.allocation, coded=blinded)
    frames[f"observations.{fmt}"] = observations
    dictionary = data_dictionary(study.protocol)
    dictionary = dictionary[dictionary["table"].isin(tables)]
    if blinded:
        for table, columns in SEALED_COLUMNS.items():
            sealed = (dictionary["table"] == table) & dictionary["column"].isin(columns)
            dictionary = dictionary[~sealed]
    arm_row = {
        "table": "observations",
        "column": "arm",
        "dtype": "string",
        "description": ARM_DESCRIPTION[blinded],
    }
    dictionary = pd.concat([dictionary, pd.DataFrame([arm_row])], ignore_index=True)
    frames[f"dictionary.{fmt}"] = dictionary.astype(DICTIONARY_COLUMNS)
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            _write(frame, out / name, fmt)
            written.append(out / name)
        readme = out / "README.md"
        readme.write_text(
            _readme(study, list(frames), fmt, blinded), encoding="utf-8", newline="\n"
        )
    except OSError as error:
        raise NmmstrialError(
            f"{out}: cannot write the export: {error.strerror or error}"
        ) from error
    return [*written, readme]
