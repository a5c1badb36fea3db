"""The study definition as typed data: visits, measures, stimulation, eligibility.

Pydantic validates what comes from YAML; its error `loc` names the offending field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The MRC scales a study may declare. `integer` is the 0-5 scale of the original
# Medical Research Council chart. `modified` adds the minus/plus grades in clinical
# use (3-, 3+, 4-, 4+, 5-), coded one third of a grade below or above the whole
# grade, so that 4- = 3.67 and 4+ = 4.33 (the coding of the modified MRC scale used
# in ALS natural-history studies). Docs: docs/mrc-scale.md.
MRC_GRADES: dict[str, dict[str, float]] = {
    "integer": {str(g): float(g) for g in range(6)},
    "modified": {
        "0": 0.0,
        "1": 1.0,
        "2": 2.0,
        "3-": 8 / 3,
        "3": 3.0,
        "3+": 10 / 3,
        "4-": 11 / 3,
        "4": 4.0,
        "4+": 13 / 3,
        "5-": 14 / 3,
        "5": 5.0,
    },
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Visit(_Strict):
    """A scheduled visit; `day` counts from T0 (day 0), the window is in days."""

    code: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    label: str
    day: int
    window_before: int = Field(ge=0)
    window_after: int = Field(ge=0)
    anchor: str | None = None  # visit the target day is reckoned from, for display only


class Measure(_Strict):
    """One outcome: unit, valid range, visits, and whether it is per side or per patient."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    unit: str
    min: float
    max: float
    per: Literal["side", "patient"]
    visits: tuple[str, ...] = Field(min_length=1)
    kind: Literal["continuous", "integer", "mrc"] = "continuous"
    derived: Literal["sum", "mean"] | None = None
    components: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _range_and_derivation(self) -> Measure:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if (self.derived is None) != (not self.components):
            raise ValueError("'derived' and 'components' go together (sum or mean of components)")
        return self


class Stimulation(_Strict):
    """Stimulation parameters; the dose is derived, never typed in."""

    device: str
    site: str
    frequency_hz: float = Field(gt=0)
    intensity_pct_mso: float = Field(gt=0, le=100)
    trains: int = Field(gt=0)
    pulses_per_train: int = Field(gt=0)
    inter_train_interval_s: float = Field(ge=0)
    sessions_per_week: int = Field(gt=0, le=7)
    weeks: int = Field(gt=0)
    sham: str = ""

    @property
    def train_duration_s(self) -> float:
        return self.pulses_per_train / self.frequency_hz

    @property
    def pulses_per_session(self) -> int:
        return self.trains * self.pulses_per_train

    @property
    def session_duration_s(self) -> float:
        """Trains back to back with an interval between each two (none after the last)."""
        return self.trains * self.train_duration_s + (self.trains - 1) * self.inter_train_interval_s

    @property
    def sessions(self) -> int:
        return self.sessions_per_week * self.weeks

    @property
    def pulses_per_course(self) -> int:
        return self.pulses_per_session * self.sessions

    def dose(self) -> dict[str, float]:
        return {
            "train_duration_s": self.train_duration_s,
            "pulses_per_session": self.pulses_per_session,
            "session_duration_s": self.session_duration_s,
            "sessions": self.sessions,
            "pulses_per_course": self.pulses_per_course,
        }


class MrcRule(_Strict):
    """Eligibility on strength: grade within [min, max] at any of `muscles`, on `sides`."""

    muscles: tuple[str, ...] = Field(min_length=1)
    min: float
    max: float
    sides: Literal["both", "either"] = "both"


class Eligibility(_Strict):
    inclusion: tuple[str, ...] = ()
    exclusion: tuple[str, ...] = ()
    mrc: MrcRule | None = None


class Protocol(_Strict):
    """A whole study definition. Cross-references are checked: every measure's visits,
    components and the eligibility muscles must exist."""

    name: str
    title: str = ""
    registration: str = ""
    mrc_scale: Literal["integer", "modified"]
    visits: tuple[Visit, ...] = Field(min_length=1)
    measures: tuple[Measure, ...] = Field(min_length=1)
    stimulation: Stimulation
    eligibility: Eligibility = Eligibility()
    biopsy_visit: str | None = None

    @model_validator(mode="after")
    def _cross_references(self) -> Protocol:
        visit_codes = [v.code for v in self.visits]
        measure_names = [m.name for m in self.measures]
        for label, names in (("visit code", visit_codes), ("measure name", measure_names)):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {label}(s): {', '.join(dupes)}")
        for m in self.measures:
            for v in m.visits:
                if v not in visit_codes:
                    raise ValueError(
                        f"measure {m.name}: visit {v!r} is not defined; "
                        f"defined visits: {', '.join(visit_codes)}"
                    )
            for c in m.components:
                if c not in measure_names:
                    raise ValueError(f"measure {m.name}: component {c!r} is not a defined measure")
            if m.kind == "mrc" and (m.min, m.max) != (0, 5):
                raise ValueError(f"measure {m.name}: an MRC grade ranges 0-5")
        if self.eligibility.mrc:
            for muscle in self.eligibility.mrc.muscles:
                if muscle not in measure_names:
                    raise ValueError(f"eligibility.mrc: muscle {muscle!r} is not a defined measure")
        if self.biopsy_visit is not None and self.biopsy_visit not in visit_codes:
            raise ValueError(f"biopsy_visit {self.biopsy_visit!r} is not a defined visit")
        return self

    def visit(self, code: str) -> Visit:
        for v in self.visits:
            if v.code == code:
                return v
        raise KeyError(code)

    def measure(self, name: str) -> Measure:
        for m in self.measures:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def mrc_grades(self) -> dict[str, float]:
        """Grade label -> numeric value on this study's MRC scale."""
        return MRC_GRADES[self.mrc_scale]

    @property
    def mrc_muscles(self) -> tuple[Measure, ...]:
        return tuple(m for m in self.measures if m.kind == "mrc")
