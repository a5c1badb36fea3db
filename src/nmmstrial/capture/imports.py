"""Reading assessments from a CSV as people prepare them (tidy columns, by name)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InvalidValueError

REQUIRED = ("patient", "time", "measure", "side", "value")
OPTIONAL = ("reason",)


def read_text_csv(path: Path, *, empty_is_missing: bool = True) -> pd.DataFrame:
    """A CSV with every column as text, so ids and levels keep their spelling; one clear
    error for a missing, unreadable or empty file."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=empty_is_missing)
    except FileNotFoundError:
        raise InvalidValueError(f"{path}: no such file") from None
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InvalidValueError(f"{path}: cannot read as CSV: {error}") from error
    if frame.empty:
        raise InvalidValueError(f"{path}: no data rows")
    return frame


def read_assessments_csv(path: Path) -> pd.DataFrame:
    """The rows of an assessments CSV; a missing or unknown column is refused by name."""
    frame = read_text_csv(path, empty_is_missing=False)
    missing = [c for c in REQUIRED if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in (*REQUIRED, *OPTIONAL)]
    if missing or unknown:
        raise InvalidValueError(
            f"{path}: header must be {','.join(REQUIRED)}[,reason]; "
            + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}")
        )
    frame["side"] = frame["side"].replace("", None)
    if "reason" in frame:
        frame["reason"] = frame["reason"].replace("", None)
    for number, text in enumerate(frame["value"], start=1):
        try:
            float(text)
        except ValueError:
            raise InvalidValueError(
                f"{path}, row {number}, field value: {text!r} is not a number; nothing imported"
            ) from None
    return frame.assign(value=frame["value"].astype(float))
