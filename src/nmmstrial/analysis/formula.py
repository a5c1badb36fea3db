"""Model formulas as R reads them, and the design matrices R builds from them.

`parse_formula("value ~ arm * time")` expands `*` and `:` as R's `terms()` does
(`a*b` = `a + b + a:b`; parentheses distribute), orders terms by degree and names
them with their variables in order of first appearance (`time:arm` in `value ~ time
+ arm + arm:time`). `model_matrix` codes factors as R's `model.matrix` does with
treatment contrasts and an intercept: a factor gets contrasts (columns for every
level but the first) when the term without it is already in the model, otherwise
indicators for every level (R's marginality heuristic); columns of an interaction
vary the first variable fastest and are named `armreal:timeT1`. Only intercept
models are supported: `0`, `-` and `^` are refused.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidValueError

_TOKEN = re.compile(r"\s*(?:(`[^`]*`)|([A-Za-z.][A-Za-z0-9._]*)|(\d+)|(.))")

Term = tuple[str, ...]


@dataclass(frozen=True)
class Formula:
    """`response ~ terms`; `terms` ordered by degree, each a tuple of variable names."""

    response: str | None
    terms: tuple[Term, ...]
    variables: tuple[str, ...]

    @property
    def labels(self) -> list[str]:
        return [":".join(term) for term in self.terms]


class _Parser:
    """Recursive descent over `+` (lowest), `*`, `:` (highest), parentheses and names."""

    def __init__(self, text: str, source: str):
        self.text = text
        self.source = source
        self.tokens: list[str] = []
        self.names: list[bool] = []
        for match in _TOKEN.finditer(text):
            quoted, name, number, other = match.groups()
            if quoted is not None:
                self.tokens.append(quoted[1:-1])
                self.names.append(True)
            elif name is not None:
                self.tokens.append(name)
                self.names.append(True)
            elif number is not None:
                self.tokens.append(number)
                self.names.append(False)
            elif other is not None and other.strip():
                self.tokens.append(other)
                self.names.append(False)
        self.position = 0
        self.variables: list[str] = []

    def fail(self, token: str | None) -> InvalidValueError:
        what = "the formula ends too early" if token is None else f"unexpected {token!r}"
        return InvalidValueError(
            f"{self.source}: formula {self.text!r}: {what}; "
            "write `dv ~ a * b + c` with `+`, `*`, `:` and parentheses"
        )

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str | None, bool]:
        if self.position >= len(self.tokens):
            return None, False
        token, is_name = self.tokens[self.position], self.names[self.position]
        self.position += 1
        return token, is_name

    def sum(self) -> list[frozenset[str]]:
        terms = self.product()
        while self.peek() == "+":
            self.position += 1
            terms = _union(terms, self.product())
        return terms

    def product(self) -> list[frozenset[str]]:
        terms = self.interaction()
        while self.peek() == "*":
            self.position += 1
            right = self.interaction()
            terms = _union(_union(terms, right), _cross(terms, right))
        return terms

    def interaction(self) -> list[frozenset[str]]:
        terms = self.atom()
        while self.peek() == ":":
            self.position += 1
            terms = _cross(terms, self.atom())
        return terms

    def atom(self) -> list[frozenset[str]]:
        token, is_name = self.take()
        if token == "(":
            terms = self.sum()
            closing, _ = self.take()
            if closing != ")":
                raise self.fail(closing)
            return terms
        if token == "1":
            return [frozenset()]
        if not is_name:
            raise self.fail(token)
        if token not in self.variables:
            self.variables.append(token)
        return [frozenset([token])]


def _union(left: list[frozenset[str]], right: list[frozenset[str]]) -> list[frozenset[str]]:
    return left + [term for term in right if term not in left]


def _cross(left: list[frozenset[str]], right: list[frozenset[str]]) -> list[frozenset[str]]:
    return _union([], [a | b for a in left for b in right])


def _finish(parser: _Parser, terms: list[frozenset[str]]) -> tuple[Term, ...]:
    if parser.peek() is not None:
        raise parser.fail(parser.peek())
    order = {name: i for i, name in enumerate(parser.variables)}
    kept = [tuple(sorted(term, key=order.__getitem__)) for term in terms if term]
    return tuple(sorted(kept, key=len))


def parse_formula(text: str, *, source: str = "data") -> Formula:
    """`dv ~ rhs` as R's `terms()`: expanded, deduplicated, ordered by degree."""
    if text.count("~") != 1:
        raise InvalidValueError(f"{source}: formula {text!r} needs one `~`: `dv ~ a * b`")
    lhs, rhs = text.split("~")
    left = _Parser(lhs, source)
    left.text = text
    response, is_name = left.take()
    if response is None or not is_name or left.peek() is not None:
        raise left.fail(left.peek() if response is not None and is_name else response)
    right = _Parser(rhs, source)
    right.text = text
    right.variables = [response]
    terms = _finish(right, right.sum())
    return Formula(response, terms, tuple(right.variables[1:]))


def parse_terms(text: str, *, source: str = "data") -> Formula:
    """A right-hand side alone (`~ arm` or `arm`), as for random slopes."""
    parser = _Parser(text.split("~", 1)[1] if text.strip().startswith("~") else text, source)
    parser.text = text
    terms = _finish(parser, parser.sum())
    return Formula(None, terms, tuple(parser.variables))


def coding(terms: Sequence[Term]) -> list[dict[str, bool]]:
    """Per term, per variable: True = contrasts (1), False = indicators (2), as R's `TermCode`.

    With an intercept, a variable is coded by contrasts when the term without it is
    empty or contained in an earlier term. R computes this for numeric variables too
    (its `factors` attribute); only factors' columns depend on it.
    """
    result = []
    for index, term in enumerate(terms):
        codes = {}
        for name in term:
            reduced = set(term) - {name}
            codes[name] = not reduced or any(reduced <= set(t) for t in terms[:index])
        result.append(codes)
    return result


@dataclass(frozen=True)
class Columns:
    """Design matrix columns: names, and the term each belongs to (0 = intercept)."""

    names: list[str]
    assign: list[int]


def term_columns(
    term: Term,
    values: Mapping[str, np.ndarray],
    levels: Mapping[str, Sequence],
    contrasts: Mapping[str, bool],
) -> tuple[list[str], list[np.ndarray]]:
    """Columns of one term: factors as codes into `levels`, numerics as floats."""
    parts = []
    for name in term:
        if name in levels:
            kept = range(1, len(levels[name])) if contrasts[name] else range(len(levels[name]))
            codes = values[name]
            parts.append([(f"{name}{levels[name][j]}", (codes == j).astype(float)) for j in kept])
        else:
            parts.append([(name, np.asarray(values[name], dtype=float))])
    names, columns = [], []
    for combo in itertools.product(*reversed(parts)):
        combo = combo[::-1]
        names.append(":".join(label for label, _ in combo))
        columns.append(np.prod([column for _, column in combo], axis=0))
    return names, columns


def model_matrix(
    terms: Sequence[Term],
    values: Mapping[str, np.ndarray],
    levels: Mapping[str, Sequence],
    n: int,
) -> tuple[np.ndarray, Columns]:
    """R's `model.matrix` with an intercept and treatment contrasts (see module doc)."""
    names, assign, columns = ["(Intercept)"], [0], [np.ones(n)]
    for index, (term, contrasts) in enumerate(zip(terms, coding(terms), strict=True), start=1):
        term_names, term_cols = term_columns(term, values, levels, contrasts)
        names += term_names
        columns += term_cols
        assign += [index] * len(term_names)
    return np.column_stack(columns), Columns(names, assign)


def indicator_matrix(
    terms: Sequence[Term],
    values: Mapping[str, np.ndarray],
    levels: Mapping[str, Sequence],
    n: int,
) -> tuple[np.ndarray, list[str]]:
    """Intercept plus each term coded alone without intercept (`~ 0 + term`): all levels."""
    names, columns = ["(Intercept)"], [np.ones(n)]
    for term in terms:
        everything = {name: False for name in term if name in levels}
        term_names, term_cols = term_columns(term, values, levels, everything)
        names += term_names
        columns += term_cols
    return np.column_stack(columns), names
