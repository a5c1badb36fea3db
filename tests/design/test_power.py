"""Analytic power against R's pwr (reference/power.R), G*Power's published examples, refusals."""

import json
from pathlib import Path

import pytest

from nmmstrial.design import enrolment, power_analysis, power_of
from nmmstrial.errors import InvalidValueError

REFERENCE = json.loads((Path(__file__).parent / "reference" / "power.json").read_text())
CASES = REFERENCE["cases"]


def _shape(given: dict) -> dict:
    return {key: given[key] for key in ("k", "eps", "rho") if key in given}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['test']}-{i}" for i, c in enumerate(CASES)])
def test_power_matches_pwr(case):
    # Power at R's (n, d) is a direct evaluation: it must agree to 1e-4 absolutely.
    got = power_of(
        case["test"], case["d"], case["n"], case["given"]["alpha"], **_shape(case["given"])
    )
    assert got == pytest.approx(case["power"], abs=1e-4)


@pytest.mark.parametrize("case", CASES, ids=[f"{c['test']}-{i}" for i, c in enumerate(CASES)])
def test_solved_quantity_matches_pwr(case):
    given = case["given"]
    result = power_analysis(
        case["test"],
        1.0,
        n=given["n"],
        d=given["d"],
        power=given["power"],
        alpha=given["alpha"],
        **_shape(given),
    )
    # pwr solves with uniroot's default tolerance (about 1e-4): agreement to 1e-4.
    assert result.n == pytest.approx(case["n"], rel=1e-4)
    assert result.d == pytest.approx(case["d"], rel=1e-4)
    assert result.power == pytest.approx(case["power"], abs=1e-4)


@pytest.mark.parametrize(
    ("test", "d", "power", "shape", "n_ceiling"),
    [
        ("paired-t", 0.5, 0.95, {}, 54),  # G*Power manual, matched pairs
        ("paired-t", 0.5, 0.80, {}, 34),
        ("two-sample-t", 0.5, 0.95, {}, 105),  # G*Power's default example, 210 in all
        ("rm-anova", 0.25, 0.95, {"k": 4, "eps": 1.0, "rho": 0.5}, 36),  # within factors
        ("rm-anova", 0.25, 0.80, {"k": 3, "eps": 1.0, "rho": 0.5}, 28),
    ],
)
def test_gpower_examples(test, d, power, shape, n_ceiling):
    assert power_analysis(test, 1.0, d=d, power=power, **shape).n_ceiling == n_ceiling


def test_paper_sample_size():
    # Pooled SD 4.9, 80 %, two-sided 0.05, 11 pairs: the effect the paper did not state.
    implied = power_analysis("paired-t", 4.9, n=11, power=0.8)
    assert implied.d == pytest.approx(0.93769, abs=1e-4)
    assert implied.delta == pytest.approx(4.9 * implied.d)
    back = power_analysis("paired-t", 4.9, delta=implied.delta, power=0.8, dropout=0.4)
    assert back.n == pytest.approx(11, abs=1e-6)
    assert back.n_ceiling == 11
    assert back.n_enrol == 19
    assert enrolment(11, 0.4, "multiply") == 16


def test_to_dict_has_contract_fields():
    out = power_analysis("rm-anova", 4.9, delta=1.5, n=22, eps=0.566, dropout=0.1).to_dict()
    for key in ("test", "n", "n_ceiling", "power", "d", "delta", "alpha", "method"):
        assert key in out
    assert out["n_enrol"] == 25
    assert "dropout" not in power_analysis("paired-t", 1, d=1, n=10).to_dict()


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"d": 0.5, "delta": 1.0, "n": 10}, "not both"),
        ({"d": 0.5}, "missing: n, power"),
        ({"d": 0.5, "n": 10, "power": 0.8}, "all three"),
        ({"d": 0.5, "n": 10, "alpha": 1.5}, "alpha"),
        ({"d": 0.5, "power": 1.2}, "power"),
        ({"d": 0.5, "n": 10, "eps": 0.1}, "eps"),
        ({"d": -0.5, "power": 0.8}, "effect"),
        ({"n": 10, "power": 0.01}, "power"),
        ({"d": 0.5, "n": 10, "dropout": 1.0}, "dropout"),
    ],
)
def test_refusals_name_the_key(kwargs, key):
    with pytest.raises(InvalidValueError, match=key):
        power_analysis("paired-t", 1.0, **kwargs)


def test_unknown_test():
    with pytest.raises(InvalidValueError, match="test: 'anova'"):
        power_of("anova", 0.5, 10)
