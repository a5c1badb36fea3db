"""The simulation scenario (`design simulate-power SCENARIO.yaml`): validated, then as arrays.

Every key is documented in docs/power.md. Refusals name the key: `n`, `means`,
`correlation`, `dropout.T3`, `analyses`, ...; a misspelt analysis gets the closest
known name.
"""

from __future__ import annotations

import difflib
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InvalidValueError
from .kernels import ANALYSES, ARMS, covariance, visit_correlation

__all__ = ["Scenario", "load_scenario", "scenario_from_dict"]


class VisitCorrelation(BaseModel):
    """Correlation between the visits of one side: cs, ar1 (with rho) or a full matrix."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["cs", "ar1", "matrix"]
    rho: float | None = None
    matrix: list[list[float]] | None = None


class Correlation(BaseModel):
    """`visits` within a side; `sides` between the two sides at the same visit."""

    model_config = ConfigDict(extra="forbid")
    visits: VisitCorrelation
    sides: float = Field(0.0, gt=-1, lt=1)


class EffectPattern(BaseModel):
    """Means as a common baseline plus each arm's change at every visit."""

    model_config = ConfigDict(extra="forbid")
    baseline: float
    real: list[float]
    sham: list[float]


class Scenario(BaseModel):
    """A split-body trial to simulate: sizes, means per arm and visit, SD, correlation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    n: list[int]
    visits: list[str] = Field(min_length=2)
    means: dict[str, list[float]] | None = None
    effect: EffectPattern | None = None
    sd: float = Field(gt=0)
    correlation: Correlation
    dropout: dict[str, float] = {}
    analyses: list[str] = Field(min_length=1)
    n_sim: int = Field(10_000, ge=1)
    seed: int = Field(0, ge=0)
    alpha: float = Field(0.05, gt=0, lt=1)

    @field_validator("n", mode="before")
    @classmethod
    def _sizes(cls, value):
        sizes = value if isinstance(value, list) else [value]
        for size in sizes:
            if isinstance(size, int) and size < 3:
                raise ValueError(f"{size} patients is too few; at least 3 are needed")
        return sizes

    @field_validator("n")
    @classmethod
    def _distinct(cls, value):
        if not value:
            raise ValueError("give at least one sample size")
        return list(dict.fromkeys(value))

    @field_validator("analyses")
    @classmethod
    def _known(cls, value):
        for name in value:
            if name not in ANALYSES:
                close = difflib.get_close_matches(name, ANALYSES, n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                raise ValueError(f"unknown analysis {name!r}; {hint}known: {', '.join(ANALYSES)}")
        return list(dict.fromkeys(value))

    @property
    def mean_array(self) -> np.ndarray:
        """(2, k): real then sham, by visit (from `means`, or baseline + `effect`)."""
        if self.means is not None:
            return np.array([self.means[arm] for arm in ARMS], dtype=float)
        effect = self.effect
        return effect.baseline + np.array([effect.real, effect.sham], dtype=float)

    @property
    def r_visits(self) -> np.ndarray:
        v = self.correlation.visits
        return visit_correlation(v.type, len(self.visits), v.rho, v.matrix)

    @property
    def chol(self) -> np.ndarray:
        """Lower Cholesky factor of sd^2 (R_sides kron R_visits)."""
        return np.linalg.cholesky(covariance(self.sd, self.r_visits, self.correlation.sides))

    @property
    def dropout_array(self) -> np.ndarray:
        return np.array([self.dropout.get(v, 0.0) for v in self.visits])

    def null(self) -> Scenario:
        """The same scenario with every mean equal to sham's first-visit mean."""
        flat = [float(self.mean_array[1, 0])] * len(self.visits)
        return self.model_copy(update={"means": {arm: flat for arm in ARMS}, "effect": None})


def scenario_from_dict(data, *, source: str = "scenario") -> Scenario:
    """Validate a parsed scenario; one InvalidValueError naming the first bad key."""
    if not isinstance(data, dict):
        raise InvalidValueError(f"{source}: a scenario is a mapping of keys (n, visits, ...)")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(map(str, first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidValueError(f"{source}: {key}: {message}") from error
    _check(scenario, source)
    return scenario


def load_scenario(text: str, *, source: str = "scenario") -> Scenario:
    """A scenario from YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidValueError(f"{source}: not YAML: {error}") from error
    return scenario_from_dict(data, source=source)


def _check(s: Scenario, source: str) -> None:
    """Cross-key checks pydantic's per-field validators cannot make."""
    k = len(s.visits)
    if len(set(s.visits)) != k:
        raise InvalidValueError(f"{source}: visits: {s.visits} repeats a visit")
    if (s.means is None) == (s.effect is None):
        raise InvalidValueError(f"{source}: means: give means or effect (one of them)")
    if s.means is not None and set(s.means) != set(ARMS):
        raise InvalidValueError(
            f"{source}: means: give exactly the arms real and sham, not {sorted(s.means)}"
        )
    key = "means" if s.means is not None else "effect"
    for arm in ARMS:
        values = s.means[arm] if s.means is not None else getattr(s.effect, arm)
        if len(values) != k:
            raise InvalidValueError(f"{source}: {key}.{arm}: {len(values)} values for {k} visits")
    if "mixed_change" in s.analyses and k < 3:
        raise InvalidValueError(
            f"{source}: analyses: mixed_change needs at least 3 visits (two changes per side)"
        )
    for visit, fraction in s.dropout.items():
        if not 0 <= fraction <= 1:
            raise InvalidValueError(
                f"{source}: dropout.{visit}: {fraction} is not a fraction from 0 to 1 "
                "(of the patients still in at the previous visit)"
            )
    unknown = [v for v in s.dropout if v not in s.visits]
    if unknown:
        raise InvalidValueError(
            f"{source}: dropout.{unknown[0]}: not a visit; visits: {', '.join(s.visits)}"
        )
    v = s.correlation.visits
    if v.type in ("cs", "ar1") and (v.rho is None or not -1 < v.rho < 1):
        raise InvalidValueError(
            f"{source}: correlation.visits.rho: give rho in (-1, 1) for type {v.type}"
        )
    if v.type == "matrix":
        matrix = np.asarray(v.matrix if v.matrix is not None else [], dtype=float)
        if matrix.shape != (k, k) or not np.allclose(matrix, matrix.T):
            raise InvalidValueError(
                f"{source}: correlation.visits.matrix: must be a symmetric {k} x {k} matrix"
            )
        if not np.allclose(np.diag(matrix), 1):
            raise InvalidValueError(f"{source}: correlation.visits.matrix: the diagonal must be 1")
    eigen = np.linalg.eigvalsh(covariance(1.0, s.r_visits, s.correlation.sides))
    if eigen.min() <= 1e-10:
        raise InvalidValueError(
            f"{source}: correlation: not positive definite (smallest eigenvalue of "
            f"R_sides kron R_visits is {eigen.min():.3g}); lower rho or check the matrix"
        )
