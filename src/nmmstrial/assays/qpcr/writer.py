"""Write wells as a QuantStudio text export, the file a lab brings from the instrument.

The layout is that of QuantStudio Real-Time PCR Software's "Export > Results" text:
`* key = value` header lines, then `[Sample Setup]` and `[Results]` tab-separated
tables with the software's column names, Cт written `CT`, `Undetermined` where a well
did not amplify. It exists so that synthetic runs go through the same reader
(`parse_qpcr_text`) as real ones; it writes plate setup and raw Ct, no vendor analysis.
"""

from __future__ import annotations

import pandas as pd

from ...errors import InvalidValueError

INSTRUMENT = "QuantStudio(TM) 7 Flex System"
SETUP_COLUMNS = ["Well", "Well Position", "Sample Name", "Target Name", "Task", "Reporter"]
SETUP_COLUMNS += ["Quencher"]
RESULT_COLUMNS = ["Well", "Well Position", "Omit", "Sample Name", "Target Name", "Task"]
RESULT_COLUMNS += ["Reporter", "Quencher", "CT"]


def _well_number(position: str, columns: int = 24) -> int:
    row, column = position[0].upper(), position[1:]
    if not ("A" <= row <= "P" and column.isdigit()):
        raise InvalidValueError(f"well {position!r} is not a plate position such as A1")
    return (ord(row) - ord("A")) * columns + int(column)


def quantstudio_text(wells: pd.DataFrame, *, experiment: str, endogenous: str = "") -> str:
    """The export of one plate: `wells` with well, sample, target, task (UNKNOWN/NTC)
    and ct (NaN = Undetermined), in plate order. Controls keep their sample name (NTC),
    as many labs type it. `endogenous` names the reference(s) in the footer."""
    for column in ("well", "sample", "target", "task", "ct"):
        if column not in wells:
            raise InvalidValueError(f"qPCR export: the wells have no {column} column")
    header = [
        "* Block Type = 384-Well Block",
        "* Chemistry = TAQMAN",
        f"* Experiment Name = {experiment}",
        "* Experiment Type = Comparative Cт (ΔΔCт)",
        f"* Instrument Type = {INSTRUMENT}",
        "* Passive Reference = ROX",
        "* Quantification Cycle Method = Ct",
        "",
    ]
    setup, results = ["\t".join(SETUP_COLUMNS)], ["\t".join(RESULT_COLUMNS)]
    for row in wells.itertuples(index=False):
        number = str(_well_number(str(row.well)))
        sample = "" if pd.isna(row.sample) else str(row.sample)
        common = [sample, str(row.target), str(row.task), "FAM", "NFQ-MGB"]
        ct = "Undetermined" if pd.isna(row.ct) else f"{row.ct:.3f}"
        setup.append("\t".join([number, str(row.well), *common]))
        results.append("\t".join([number, str(row.well), "false", *common, ct]))
    footer = ["", f"Endogenous Control = {endogenous}"] if endogenous else []
    lines = [*header, "[Sample Setup]", *setup, "", "[Results]", *results, *footer]
    return "\n".join(lines) + "\n"
