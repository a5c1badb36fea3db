"""The visit form, generated from the protocol: one section per derived measure (its
components, then the computed total or mean), then the other measures per side and per
patient. Nothing here is written per measure by hand, so another protocol gets its form.

Pure: the stored values, the role and the entered text come in; a form comes out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..conduct.data import entry_roles
from ..protocol import Measure, Protocol
from ..tidy import SIDES


@dataclass
class Cell:
    """One input: a measure at one side (or none) of the visit."""

    measure: str
    side: str | None
    name: str  # form field of the value; the version travels as "ver." + name
    editable: bool
    stored: float | None = None
    version: int | None = None
    entered_by: str | None = None
    entered_at: str | None = None
    text: str = ""  # what the input shows: the stored value, or what was typed
    error: str | None = None

    @property
    def version_name(self) -> str:
        return f"ver.{self.name[2:]}"


@dataclass
class Row:
    measure: Measure
    derived: bool
    cells: dict[str | None, Cell]


@dataclass
class Section:
    title: str
    sides: tuple[str | None, ...]
    rows: list[Row] = field(default_factory=list)


def field_name(measure: str, side: str | None) -> str:
    return f"v.{measure}.{side}" if side else f"v.{measure}"


def show_value(protocol: Protocol, measure: Measure, value: float | None) -> str:
    """A stored value as the form shows it: an MRC grade by its label (4-, 4+)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if measure.kind == "mrc":
        for label, grade in protocol.mrc_grades.items():
            if abs(grade - value) < 1e-6:
                return label
    return f"{value:g}"


def parse_value(protocol: Protocol, measure: Measure, text: str) -> float:
    """What was typed, as a number: an MRC label (4-) or a number (a decimal comma too).

    Raises ValueError naming what is allowed; the range itself is checked by
    `capture.validate` like any other entry."""
    text = text.strip()
    if measure.kind == "mrc" and text in protocol.mrc_grades:
        return protocol.mrc_grades[text]
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        allowed = (
            f"grades {', '.join(protocol.mrc_grades)}"
            if measure.kind == "mrc"
            else f"{measure.min:g}-{measure.max:g} {measure.unit}"
        )
        raise ValueError(f"{text!r} is not a number; allowed {allowed}") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a number")
    return value


def visit_sections(protocol: Protocol, time: str, role: str) -> list[Section]:
    """The sections of the form for visit `time`, inputs editable by `role` only."""
    at_visit = [m for m in protocol.measures if time in m.visits]
    names = {m.name for m in at_visit}
    grouped: set[str] = set()
    sections = []
    for measure in at_visit:
        if not measure.derived:
            continue
        parts = [protocol.measure(c) for c in measure.components if c in names]
        sides = _sides(measure)
        section = Section(measure.label, sides)
        for part in [*parts, measure]:
            section.rows.append(_row(part, sides, role))
            grouped.add(part.name)
        sections.append(section)
    rest = [m for m in at_visit if m.name not in grouped]
    for per, title in (("side", "Other measures, per side"), ("patient", "Per patient")):
        chosen = [m for m in rest if m.per == per]
        if chosen:
            sides = _sides(chosen[0])
            sections.append(Section(title, sides, [_row(m, sides, role) for m in chosen]))
    return sections


def _sides(measure: Measure) -> tuple[str | None, ...]:
    return tuple(SIDES) if measure.per == "side" else (None,)


def _row(measure: Measure, sides: tuple[str | None, ...], role: str) -> Row:
    derived = measure.derived is not None
    editable = not derived and role in entry_roles(measure.name)
    cells = {
        side: Cell(measure.name, side, field_name(measure.name, side), editable) for side in sides
    }
    return Row(measure, derived, cells)


def fill_stored(protocol: Protocol, sections: list[Section], stored: list[dict]) -> None:
    """Put the stored values, their versions and authors into the cells."""
    by_key = {(r["measure"], r["side"]): r for r in stored}
    for section in sections:
        for row in section.rows:
            for side, cell in row.cells.items():
                hit = by_key.get((row.measure.name, side))
                if hit is None:
                    continue
                cell.stored = hit["value"]
                cell.version = hit["version"]
                cell.entered_by = hit["entered_by"]
                cell.entered_at = hit["entered_at"]
                cell.text = show_value(protocol, row.measure, hit["value"])


def cells(sections: list[Section]) -> list[tuple[Row, Cell]]:
    return [(row, cell) for s in sections for row in s.rows for cell in row.cells.values()]
