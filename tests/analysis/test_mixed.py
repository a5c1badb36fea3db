"""mixed_model against lme4 / lmerTest / pbkrtest / emmeans (fixtures from reference/mixed.R)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmmstrial.analysis.formula import parse_formula, parse_terms
from nmmstrial.analysis.mixed import MixedModel, mixed_model
from nmmstrial.errors import InvalidValueError

REFERENCE = Path(__file__).parent / "reference" / "mixed"
CASES = sorted(p.stem for p in REFERENCE.glob("*.json"))
TIGHT = 1e-6  # estimates, SE, t, F, variance components, logLik, CI
LOOSE = 1e-4  # Satterthwaite / Kenward-Roger df and p


def read(data: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / f"{data}.csv")


def load(name: str) -> tuple[pd.DataFrame, dict]:
    want = json.loads((REFERENCE / f"{name}.json").read_text())
    return read(want["args"]["data"]), want


def fit(name: str, ddf: str = "satterthwaite") -> tuple[MixedModel, dict]:
    data, want = load(name)
    args = {k: v for k, v in want["args"].items() if k != "data"}
    return mixed_model(data, ddf=ddf, **args), want


def close(got: pd.Series, want: list, rel: float) -> None:
    assert got.tolist() == pytest.approx(want, rel=rel, abs=0)


def names(random: pd.DataFrame) -> list[list]:
    cells = random[["group", "var1", "var2"]].astype(object)
    return cells.where(cells.notna(), None).values.tolist()


def check_tests(got: MixedModel, want: dict) -> None:
    fixed = pd.DataFrame(want["fixed"])
    assert got.fixed["term"].tolist() == fixed["term"].tolist()
    for column in ["estimate", "se", "t"]:
        close(got.fixed[column], fixed[column].tolist(), TIGHT)
    for column in ["df", "p"]:
        close(got.fixed[column], fixed[column].tolist(), LOOSE)
    anova = pd.DataFrame(want["anova"])
    assert got.anova["term"].tolist() == anova["term"].tolist()
    assert got.anova["df1"].tolist() == anova["df1"].tolist()
    close(got.anova["F"], anova["F"].tolist(), TIGHT)
    for column in ["df2", "p"]:
        close(got.anova[column], anova[column].tolist(), LOOSE)
    contrasts = pd.DataFrame(want["contrasts"])
    assert got.contrasts["contrast"].tolist() == contrasts.get("contrast", pd.Series()).tolist()
    if len(contrasts):
        for column in ["estimate", "se", "t", "ci_low", "ci_high"]:
            close(got.contrasts[column], contrasts[column].tolist(), TIGHT)
        for column in ["df", "p"]:
            close(got.contrasts[column], contrasts[column].tolist(), LOOSE)


@pytest.mark.parametrize("name", CASES)
def test_matches_lme4_and_lmertest(name):
    got, want = fit(name)
    assert got.converged
    check_tests(got, want)
    random = pd.DataFrame(want["random"])
    assert names(got.random) == names(random)
    close(got.random["vcov"], random["vcov"].tolist(), TIGHT)
    close(got.random["sdcor"], random["sdcor"].tolist(), TIGHT)
    assert got.loglik_reml == pytest.approx(want["loglik_reml"], rel=TIGHT)
    assert got.n_obs == want["n_obs"]
    assert got.n_groups == want["n_groups"]
    assert list(got.n_groups) == list(want["n_groups"])  # lme4's term order


@pytest.mark.parametrize("name", CASES)
def test_kenward_roger_matches_pbkrtest(name):
    got, want = fit(name, ddf="kenward-roger")
    check_tests(got, want["kenward_roger"])


def test_to_dict_is_the_cli_contract():
    got, _ = fit("trial_arm_slope")
    out = got.to_dict()
    assert set(out) == {
        "fixed", "random", "anova", "contrasts", "loglik_reml", "n_obs", "n_groups",
        "formula", "re", "group", "ddf", "method", "reference_levels", "converged",
    }  # fmt: skip
    assert set(out["fixed"][0]) == {"term", "estimate", "se", "df", "t", "p"}
    assert set(out["anova"][0]) == {"term", "F", "df1", "df2", "p"}
    assert out["random"][0] == {
        "group": "patient",
        "var1": "(Intercept)",
        "var2": None,
        "vcov": pytest.approx(76.8565924047377, rel=TIGHT),
        "sdcor": pytest.approx(8.76678917305177, rel=TIGHT),
    }
    assert out["random"][2]["var2"] == "armreal"  # the covariance row carries var2
    assert out["random"][-1]["group"] == "Residual"
    contrast = out["contrasts"][0]
    assert contrast["contrast"] == "real - sham"
    assert len(contrast["ci"]) == 2 and contrast["ci"][0] < contrast["estimate"] < contrast["ci"][1]
    assert out["reference_levels"] == {"arm": "sham", "time": "T0"}
    assert out["method"] == "REML" and out["ddf"] == "satterthwaite" and out["re"] == "~ arm"
    assert out["n_groups"] == {"patient": 22}
    json.dumps(out, allow_nan=False)


def test_nan_becomes_none():
    got, _ = fit("trial_time_only")
    fixed = got.fixed.copy()
    fixed.loc[0, "p"] = math.nan
    replaced = MixedModel(**{**got.__dict__, "fixed": fixed}).to_dict()
    assert replaced["fixed"][0]["p"] is None


def test_levels_default_to_sorted():
    got = mixed_model(read("trial"), "value ~ arm", "patient", contrast="arm")
    assert got.fixed["term"].tolist() == ["(Intercept)", "armsham"]  # "real" sorts first
    assert got.contrasts["contrast"].tolist() == ["sham - real"]


TRIAL = read("trial")


@settings(max_examples=8, deadline=None)
@given(order=st.permutations(range(len(TRIAL))), seed=st.integers(0, 2**32 - 1))
def test_invariant_to_row_order_and_patient_labels(order, seed):
    # Relabelling changes the sort order of patients, hence the column order of Z.
    names = TRIAL["patient"].unique()
    relabel = dict(zip(names, np.random.default_rng(seed).permutation(len(names)), strict=True))
    data = TRIAL.iloc[list(order)].assign(patient=lambda d: d["patient"].map(relabel))
    args = {"levels": SHAM_FIRST, "contrast": "arm", "by": "time"}
    base = mixed_model(TRIAL, "value ~ arm * time", "patient", **args)
    got = mixed_model(data, "value ~ arm * time", "patient", **args)
    for table, columns in [
        ("fixed", ["estimate", "se", "df", "p"]),
        ("anova", ["F", "df2", "p"]),
        ("random", ["vcov"]),
        ("contrasts", ["estimate", "se", "df"]),
    ]:
        for column in columns:
            close(getattr(got, table)[column], getattr(base, table)[column].tolist(), 1e-7)
    assert got.loglik_reml == pytest.approx(base.loglik_reml, rel=1e-10)


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("y ~ a * b", ["a", "b", "a:b"]),
        ("y ~ a:b + a", ["a", "a:b"]),
        ("y ~ b:a + a", ["a", "b:a"]),  # variables keep their order of appearance
        ("y ~ a * b * c", ["a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]),
        ("y ~ (a + b) * c", ["a", "b", "c", "a:c", "b:c"]),
        ("y ~ a + a + 1", ["a"]),
        ("y ~ 1", []),
        ("y ~ `odd name` * b", ["odd name", "b", "odd name:b"]),
    ],
)
def test_formula_terms_as_r(text, terms):
    assert parse_formula(text).labels == terms


def test_random_slopes_formula():
    assert parse_terms("~ arm").labels == ["arm"]
    assert parse_terms("Days").labels == ["Days"]


def test_design_columns_as_r_model_matrix():
    data = read("sleepstudy")
    got = mixed_model(data, "Reaction ~ Days * cohort", "Subject")
    assert got.fixed["term"].tolist() == ["(Intercept)", "Days", "cohortB", "Days:cohortB"]
    # Without the main effect, R codes cohort within Days by indicators for every level.
    nested = mixed_model(data, "Reaction ~ Days + Days:cohort", "Subject")
    assert nested.fixed["term"].tolist() == ["(Intercept)", "Days", "Days:cohortB"]
    alone = mixed_model(data, "Reaction ~ cohort:Days", "Subject")
    assert alone.fixed["term"].tolist() == ["(Intercept)", "cohortA:Days", "cohortB:Days"]


def test_nested_groups_with_slopes_name_both_factors():
    got, _ = fit("oocytes_nested_slope")
    assert list(got.n_groups) == ["patient:oocyte", "patient"]
    slope = got.random[got.random["var1"] == "armreal"]
    assert slope["group"].tolist() == ["patient"]  # slopes on the first factor only


SHAM_FIRST = {"arm": ["sham", "real"]}


def _trial() -> pd.DataFrame:
    return TRIAL.copy()


def _no_real_t3() -> pd.DataFrame:
    data = _trial()
    return data[~((data["arm"] == "real") & (data["time"] == "T3"))]


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (_trial(), {"formula": "value ~ arm +"}, "formula ends too early"),
        (_trial(), {"formula": "value ~ arm - time"}, "unexpected '-'"),
        (_trial(), {"formula": "value ~ 0 + arm"}, "unexpected '0'"),
        (_trial(), {"formula": "value ~ arm ^ 2"}, r"unexpected '\^'"),
        (_trial(), {"formula": "value arm"}, "needs one `~`"),
        (_trial(), {"formula": "value ~ arm + dose"}, "no column 'dose'"),
        (_trial(), {"group": "site"}, "no column 'site'"),
        (_trial().assign(value="high"), {}, "row 1, column value: 'high' is not a number"),
        (_trial().assign(value=3.0), {}, "constant outcome"),
        (_trial().assign(patient="P01"), {}, "grouping factor patient: 1 group"),
        (_no_real_t3(), {"levels": SHAM_FIRST}, "fixed effect armreal:timeT3 is aliased"),
        (_trial().assign(arm="sham"), {}, "column arm: one level"),
        (_trial().assign(dose=5.0), {"formula": "value ~ arm + dose"}, "dose is aliased"),
        (_trial().assign(arm=lambda d: d["arm"].where(d.index != 3)), {}, "column arm: missing"),
        (_trial(), {"ddf": "kr"}, "ddf 'kr'"),
        (_trial(), {"contrast": "patient"}, "contrast='patient' is not a factor"),
        (_trial(), {"by": "time"}, "needs contrast"),
        (_trial(), {"levels": {"side": ["left", "right"]}}, "levels given for side"),
        (_trial(), {"re": "~ arm * time"}, "176 random effects for 170 observations"),
        (_trial(), {"group": "patient/arm/time"}, "170 groups for 170 observations"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_errors_say_what_to_fix(data, kwargs, message):
    args = {"formula": "value ~ arm * time", "group": "patient", **kwargs}
    with pytest.raises(InvalidValueError, match=message):
        mixed_model(data, **args)
