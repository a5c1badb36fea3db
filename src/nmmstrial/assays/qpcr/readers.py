"""Readers for qPCR exports as instruments write them: columns found by name, never position.

Formats: QuantStudio / ViiA 7 / 7500 Software v2 text (`* key = value` header,
`[Sample Setup]`, `[Results]`, footer lines such as `Endogenous Control = GAPDH`),
QuantStudio Design & Analysis `.xlsx` (header row found by scanning), ABI 7500/7900
SDS v1.x/2.x text (`Detector Name` or `Detector` = target), a tidy CSV
(`patient, side, sample, target, replicate, ct`) and a paired-columns CSV
(`target, ct_target, reference, ct_reference`, one tube a row).

Policies:

- `Undetermined`, `UNDETERMINED`, `NO_AMP`, `N/A` and blank Cq are kept as wells with
  `ct` NaN and `undetermined` True; never 0, never dropped here (`fold` applies
  `--undetermined`).
- Omitted wells (`Omit` true) and sample wells (task UNKNOWN) without a sample name
  are excluded and counted in `metadata["excluded"]`; standards and NTCs need no name.
- Thousands separators (`5,720.562`) are removed; any other text in a number column
  is refused, naming the file and well.
- `well` is the tube: the well position in instrument exports, `well` or `replicate`
  in the tidy CSV, the row in a paired-columns CSV (`--error same` pairs by it).
- Vendor results (`Ct Mean`, `RQ`, `Delta Ct Mean`, ...) are read, not recomputed:
  exports trimmed after analysis cannot reproduce them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from ...errors import InvalidValueError

UNDETERMINED = {"", "undetermined", "no_amp", "no amp", "n/a", "na", "nan", "no ct", "-"}
WELL_COLUMNS = ["well", "well_position", "sample", "target", "task", "ct", "undetermined"]
READ_FIELDS = ["well_position", "sample", "target", "task", "ct"]

# Normalised header (lower case, т -> t, punctuation -> space) -> canonical column.
ALIASES = {
    "well": "well_number",
    "well position": "well_position",
    "pos": "well_position",
    "position": "well_position",
    "sample name": "sample",
    "sample": "sample",
    "target name": "target",
    "target": "target",
    "detector name": "target",
    "detector": "target",
    "gene": "target",
    "task": "task",
    "content": "task",
    "ct": "ct",
    "cq": "ct",
    "c t": "ct",
    "omit": "omit",
    "quantity": "quantity",
    "qty": "quantity",
    "starting quantity sq": "quantity",
    "ct mean": "ct_mean",
    "cq mean": "ct_mean",
    "ct sd": "ct_sd",
    "cq sd": "ct_sd",
    "stddev ct": "ct_sd",
    "rq": "rq",
    "rq min": "rq_min",
    "rq max": "rq_max",
    "delta ct mean": "delta_ct_mean",
    "delta cq mean": "delta_ct_mean",
    "delta ct se": "delta_ct_se",
    "delta cq se": "delta_ct_se",
    "delta delta ct": "ddct",
    "delta delta cq": "ddct",
}
TIDY_ALIASES = {"replicate": "replicate", "patient": "patient", "side": "side", "arm": "arm"}
NUMBER_COLUMNS = ["quantity", "ct_mean", "ct_sd", "rq", "rq_min", "rq_max"]
NUMBER_COLUMNS += ["delta_ct_mean", "delta_ct_se", "ddct"]
META_KEYS = {
    "instrument type": "instrument",
    "instrument": "instrument",
    "chemistry": "chemistry",
    "experiment type": "analysis_type",
    "assay type": "analysis_type",
    "analysis type": "analysis_type",
    "endogenous control": "endogenous_control",
    "reference sample": "reference_sample",
    "rq min max confidence level": "confidence_level",
    "quantification cycle method": "quantification_cycle_method",
    "software name and version": "software",
    "plugin name and version": "plugin",
}
THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


@dataclass(frozen=True)
class QpcrExport:
    """The wells of one export and its metadata.

    `wells` columns: well (tube), well_position, sample, target, task
    (UNKNOWN/STANDARD/NTC), ct (NaN when undetermined), undetermined, then what the
    file has of quantity, replicate, patient, side, arm and the vendor's results.
    `metadata`: instrument, chemistry, analysis_type, excluded {omitted, no_sample},
    format, and header/footer values such as endogenous_control.
    """

    wells: pd.DataFrame
    metadata: dict = field(default_factory=dict)
    source: str = ""

    def to_dict(self) -> dict:
        """The contract of `qpcr read`: wells with ct null when undetermined, and metadata."""
        wells = self.wells[READ_FIELDS].astype(object)
        wells = wells.where(wells.notna(), None)
        return {"wells": wells.to_dict("records"), "metadata": self.metadata}


def read_qpcr_export(path: Path) -> QpcrExport:
    """Read an export file (the edge): `.xlsx` as Design & Analysis, anything else as text."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidValueError(f"{path}: cannot read: {error.strerror or error}") from error
    if path.suffix.lower() == ".xls":
        raise InvalidValueError(
            f"{path}: old Excel .xls is not read; export the results as .txt or .xlsx"
        )
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return parse_qpcr_xlsx(io.BytesIO(data), source=str(path))
    return parse_qpcr_text(_decode(data), source=str(path))


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) as written by current software, else Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse_qpcr_text(text: str, *, source: str = "<text>") -> QpcrExport:
    """Parse a text export: sectioned (QuantStudio, 7500 v2), SDS, tidy or paired CSV."""
    lines = text.splitlines()
    if any(line.strip().lower() == "[results]" for line in lines):
        return _parse_sectioned(lines, source)
    return _parse_delimited(lines, source)


def parse_qpcr_xlsx(data: BinaryIO, *, source: str = "<xlsx>") -> QpcrExport:
    """Parse a Design & Analysis workbook: the Results sheet, header row found by scanning."""
    try:
        import openpyxl
    except ImportError as error:  # an optional extra: only .xlsx exports need it
        raise InvalidValueError(
            f"{source}: reading .xlsx needs openpyxl; pip install 'nmmstrial[xlsx]'"
        ) from error

    try:
        with warnings.catch_warnings():
            # D&A workbooks carry no default style; openpyxl warns and applies its own.
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(data, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises zipfile, KeyError, ValueError...
        raise InvalidValueError(f"{source}: not a readable .xlsx workbook: {error}") from error
    try:
        sheet = _results_sheet(book, source)
        rows = [
            ["" if v is None else _cell_text(v) for v in row]
            for row in sheet.iter_rows(values_only=True)
        ]
        group_quantities = _replicate_group_quantities(book)
    finally:
        book.close()
    start = _find_header(rows)
    if start is None:
        raise InvalidValueError(
            f"{source}, sheet {sheet.title}: no header row with Sample/Target/Cq columns"
        )
    body = []
    for row in rows[start + 1 :]:
        if not any(cell.strip() for cell in row):
            break
        body.append(row)
    # Key/value rows above the table and below it (Endogenous Control, Reference Sample).
    footer = rows[start + 1 + len(body) :]
    metadata = _metadata_from_pairs(row[:2] for row in [*rows[:start], *footer])
    export = _build(
        rows[start], body, metadata, source, fmt="design-and-analysis-xlsx", first_line=start + 2
    )
    return _standard_quantities(export, group_quantities)


def _replicate_group_quantities(book) -> dict[tuple[str, str], float]:
    """(sample, target) -> quantity from the "Replicate Group Result" sheet, where the
    Results sheet of a standard-curve workbook leaves the standards' quantity out."""
    sheet = next(
        (s for s in book.worksheets if _normalise(s.title) == "replicate group result"), None
    )
    if sheet is None:
        return {}
    rows = [
        ["" if v is None else _cell_text(v) for v in row]
        for row in sheet.iter_rows(values_only=True)
    ]
    for at, row in enumerate(rows):
        names = [_normalise(cell) for cell in row]
        if {"sample", "target", "quantity"} <= set(names):
            sample, target, quantity = (names.index(n) for n in ("sample", "target", "quantity"))
            out = {}
            for body in rows[at + 1 :]:
                try:
                    value = float(body[quantity].replace(",", ""))
                except (ValueError, IndexError):
                    continue
                if value > 0:
                    out[(body[sample].strip(), body[target].strip())] = value
            return out
    return {}


def _standard_quantities(export: QpcrExport, quantities: dict) -> QpcrExport:
    """Fill STANDARD wells' missing quantities from the replicate-group sheet."""
    wells = export.wells
    if not quantities or "task" not in wells:
        return export
    missing = (wells["task"] == "STANDARD") & ~(wells.get("quantity", np.nan) > 0)
    if not missing.any():
        return export
    keys = list(zip(wells["sample"], wells["target"], strict=True))
    found = pd.Series([quantities.get(k, np.nan) for k in keys], index=wells.index)
    filled = wells.get("quantity", pd.Series(np.nan, index=wells.index)).where(~missing, found)
    return dataclasses.replace(export, wells=wells.assign(quantity=filled))


def _cell_text(value) -> str:
    """Cells as the text export would have them: full precision, whole numbers without .0."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _results_sheet(book, source: str):
    for sheet in book.worksheets:
        if sheet.title.strip().lower() == "results":
            return sheet
    names = ", ".join(s.title for s in book.worksheets)
    raise InvalidValueError(f"{source}: no 'Results' sheet (sheets: {names})")


def _normalise(name: str) -> str:
    name = name.strip().lower().replace("т", "t").replace("δ", " delta ")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name).split())


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter))


def _delimiter(line: str) -> str:
    if "\t" in line:
        return "\t"
    return ";" if line.count(";") > line.count(",") else ","


def _columns(header: list[str]) -> dict[str, int]:
    """Canonical column -> index; the first of duplicate names wins."""
    out: dict[str, int] = {}
    for i, name in enumerate(header):
        key = _normalise(name)
        canonical = ALIASES.get(key) or TIDY_ALIASES.get(key) or key.replace(" ", "_")
        out.setdefault(canonical, i)
    return out


def _is_header(cells: list[str]) -> bool:
    names = {_normalise(c) for c in cells}
    canon = {ALIASES.get(n) for n in names}
    paired = {"ct target", "ct reference"} <= names
    return paired or ({"ct", "target"} <= canon)


def _find_header(rows: list[list[str]]) -> int | None:
    for i, row in enumerate(rows):
        if _is_header(row):
            return i
    return None


def _key_value(line: str) -> tuple[str, str] | None:
    text = line.strip().lstrip("*").strip()
    if "=" not in text:
        return None
    key, _, value = text.partition("=")
    return key.strip(), value.strip()


def _metadata_from_pairs(pairs) -> dict:
    out = {}
    for pair in pairs:
        pair = list(pair)
        if len(pair) < 2 or not str(pair[0]).strip():
            continue
        key = META_KEYS.get(_normalise(str(pair[0])))
        if key and key not in out and str(pair[1]).strip():
            out[key] = str(pair[1]).strip()
    return out


def _parse_sectioned(lines: list[str], source: str) -> QpcrExport:
    pairs, sections, current, first_line = [], {}, None, 0
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1].strip().lower()
            sections[current] = []
            if current == "results":
                first_line = number + 2  # the header follows [Results]
        elif current is None:
            kv = _key_value(line)
            if kv:
                pairs.append(kv)
        else:
            sections[current].append(line)
    table, footer = _table_and_footer(sections["results"])
    if not table:
        raise InvalidValueError(f"{source}: the [Results] section is empty")
    delimiter = _delimiter(table[0])
    rows = [_split(line, delimiter) for line in table]
    if not _is_header(rows[0]):
        raise InvalidValueError(
            f"{source}: [Results] has no Target and Ct/Cq columns (header: {table[0][:120]!r})"
        )
    metadata = _metadata_from_pairs([*pairs, *footer])
    return _build(
        rows[0], rows[1:], metadata, source, fmt="quantstudio-text", first_line=first_line
    )


def _table_and_footer(lines: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Table lines up to the first blank line; `key = value` lines after it are the footer."""
    table, footer, in_table = [], [], True
    for line in lines:
        if in_table and line.strip():
            kv = _key_value(line) if "\t" not in line else None
            if kv and table:
                in_table = False
                footer.append(kv)
            else:
                table.append(line)
        elif line.strip():
            kv = _key_value(line)
            if kv:
                footer.append(kv)
        elif table:
            in_table = False
    return table, footer


def _parse_delimited(lines: list[str], source: str) -> QpcrExport:
    start = None
    for i, line in enumerate(lines):
        if line.strip() and _is_header(_split(line, _delimiter(line))):
            start = i
            break
    if start is None:
        raise InvalidValueError(
            f"{source}: no header row with Target (or Detector Name) and Ct/Cq columns; "
            "expected an instrument export or a CSV with sample, target, ct"
        )
    pairs = []
    for line in lines[:start]:
        kv = _key_value(line)
        if kv is None and "\t" in line:
            cells = line.split("\t")
            kv = (cells[0], cells[1]) if len(cells) > 1 else None
        if kv:
            pairs.append(kv)
    delimiter = _delimiter(lines[start])
    table, footer = _table_and_footer(lines[start:])
    rows = [_split(line, delimiter) for line in table]
    metadata = _metadata_from_pairs([*pairs, *footer])
    names = {_normalise(c) for c in rows[0]}
    if {"ct target", "ct reference"} <= names:
        return _build_paired(rows[0], rows[1:], metadata, source)
    instrument = "well_number" in _columns(rows[0]) or "well_position" in _columns(rows[0])
    fmt = "tidy-csv" if not instrument else "sds-text" if delimiter == "\t" else "instrument-csv"
    return _build(rows[0], rows[1:], metadata, source, fmt=fmt, first_line=start + 2)


def _number(text: str, *, source: str, where: str, column: str) -> float:
    value = text.strip()
    if THOUSANDS.match(value):
        value = value.replace(",", "")
    try:
        return float(value)
    except ValueError:
        raise InvalidValueError(
            f"{source}, {where}, column {column}: {text!r} is not a number"
        ) from None


def _ct(text: str, *, source: str, where: str) -> float:
    if text.strip().lower() in UNDETERMINED:
        return np.nan
    return _number(text, source=source, where=where, column="Ct")


def _optional_number(text: str, *, source: str, where: str, column: str) -> float:
    if text.strip().lower() in UNDETERMINED:
        return np.nan
    return _number(text, source=source, where=where, column=column)


def _build(
    header: list[str],
    body: list[list[str]],
    metadata: dict,
    source: str,
    *,
    fmt: str,
    first_line: int,
) -> QpcrExport:
    """Wells from a header and its rows; `first_line` numbers the first row as the file does."""
    cols = _columns(header)
    for need in ("target", "ct"):
        if need not in cols:
            raise InvalidValueError(f"{source}: no {need} column (header: {', '.join(header)})")
    if "sample" not in cols and "patient" not in cols:
        raise InvalidValueError(f"{source}: no Sample Name column (header: {', '.join(header)})")
    has_well = "well_position" in cols or "well_number" in cols
    records, omitted, no_sample = [], 0, 0
    for line_no, raw in enumerate(body, start=first_line):
        row = [*raw, *[""] * (len(header) - len(raw))]

        def get(column: str, row=row) -> str:
            return row[cols[column]].strip() if column in cols else ""

        target, sample = get("target"), get("sample")
        if not sample and get("patient"):
            sample = "-".join(v for v in (get("patient"), get("arm") or get("side")) if v)
        task = _task(get("task"), sample)
        if not target and not sample:
            continue  # an empty plate position
        position = get("well_position") or get("well_number") or f"row {line_no}"
        where = f"well {position}" if has_well else f"row {line_no}"
        if get("omit").lower() == "true":
            omitted += 1
            continue
        if task == "UNKNOWN" and not sample:
            no_sample += 1
            continue
        ct = _ct(get("ct"), source=source, where=where)
        record = {
            "well": position,
            "well_position": position,
            "sample": sample,
            "target": target,
            "task": task,
            "ct": ct,
            "undetermined": bool(np.isnan(ct)),
        }
        if not has_well and get("replicate"):
            record["well"] = get("replicate")  # tidy CSV: one replicate number = one tube
        for extra in ("patient", "side", "arm", "replicate"):
            if extra in cols:
                record[extra] = get(extra)
        for column in NUMBER_COLUMNS:
            if column in cols:
                record[column] = _optional_number(
                    get(column), source=source, where=where, column=header[cols[column]]
                )
        if task == "STANDARD" and np.isnan(record.get("quantity", np.nan)):
            record["quantity"] = _quantity_from_name(sample)
        records.append(record)
    if not records:
        raise InvalidValueError(f"{source}: no wells with a target and a Ct/Cq")
    wells = pd.DataFrame.from_records(records)
    if "analysis_type" not in metadata and "plugin" in metadata:
        # Design & Analysis names the analysis only in its plug-in list.
        last = metadata["plugin"].split(",")[-1]
        metadata["analysis_type"] = re.sub(r"\s+v[\d.]+$", "", last.strip())
    metadata = {
        "format": fmt,
        "instrument": metadata.pop("instrument", None),
        "chemistry": metadata.pop("chemistry", None),
        "analysis_type": metadata.pop("analysis_type", None),
        "excluded": {"omitted": omitted, "no_sample": no_sample},
        **metadata,
    }
    return QpcrExport(wells=wells, metadata=metadata, source=source)


def _task(text: str, sample: str) -> str:
    """UNKNOWN/STANDARD/NTC from `Task` or Bio-Rad `Content` (Unkn-01, Std-02); a file
    without either has sample wells, and NTC where the sample is named NTC."""
    task = text.strip().upper()
    if not task:
        return "NTC" if sample.strip().upper() == "NTC" else "UNKNOWN"
    for prefix, name in (("UNK", "UNKNOWN"), ("STD", "STANDARD"), ("STANDARD", "STANDARD")):
        if task.startswith(prefix):
            return name
    return "NTC" if task.startswith("NTC") else task


def _quantity_from_name(sample: str) -> float:
    """A standard's quantity from its name ('5000', '1e4', '10,000 copies'); NaN if none."""
    match = re.match(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)", sample)
    if not match:
        return np.nan
    text = match.group(1)
    return float(text.replace(",", "")) if THOUSANDS.match(text) or "," not in text else np.nan


def _build_paired(
    header: list[str], body: list[list[str]], metadata: dict, source: str
) -> QpcrExport:
    """One row = one tube with a target and a reference Ct: two wells sharing `well`."""
    names = [_normalise(c) for c in header]
    index = {n: i for i, n in reversed(list(enumerate(names)))}
    sample_col = next((c for c in ("sample", "tissue", "group", "patient") if c in index), None)
    for need in ("target", "reference"):
        if need not in index:
            raise InvalidValueError(f"{source}: paired CSV without a {need!r} name column")
    if sample_col is None:
        raise InvalidValueError(f"{source}: paired CSV needs a sample, tissue or group column")
    used = {sample_col, "target", "reference", "ct target", "ct reference"}
    extras = [(n.replace(" ", "_"), i) for n, i in index.items() if n not in used]
    records = []
    for line_no, raw in enumerate(body, start=2):
        row = [*raw, *[""] * (len(header) - len(raw))]
        if not any(cell.strip() for cell in row):
            continue
        tube = f"row {line_no}"
        common = {"sample": row[index[sample_col]].strip(), "task": "UNKNOWN"}
        common.update({name: row[i].strip() for name, i in extras})
        for name_col, ct_col in (("target", "ct target"), ("reference", "ct reference")):
            ct = _ct(row[index[ct_col]], source=source, where=f"row {line_no}")
            records.append(
                {
                    "well": tube,
                    "well_position": tube,
                    "target": row[index[name_col]].strip(),
                    "ct": ct,
                    "undetermined": bool(np.isnan(ct)),
                    **common,
                }
            )
    wells = pd.DataFrame.from_records(records)
    wells = wells[[*WELL_COLUMNS, *[c for c in wells.columns if c not in WELL_COLUMNS]]]
    meta = {
        "format": "paired-csv",
        "instrument": metadata.pop("instrument", None),
        "chemistry": metadata.pop("chemistry", None),
        "analysis_type": metadata.pop("analysis_type", None),
        "excluded": {"omitted": 0, "no_sample": 0},
        **metadata,
    }
    return QpcrExport(wells=wells, metadata=meta, source=source)
