"""Split-body fibre analysis against R (lmerTest, t.test, bw.nrd0; reference/morphometry.R)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from nmmstrial.assays.morphometry import bw_nrd0, density, read_fibre_table, split_body
from nmmstrial.errors import InvalidValueError

REFERENCE = Path(__file__).parent / "reference"
WANT = json.loads((REFERENCE / "morphometry.json").read_text())
TIGHT = 1e-6  # estimates, SE, bandwidths, t
LOOSE = 1e-4  # Satterthwaite df and p


@pytest.fixture(scope="module")
def result():
    with (REFERENCE / "morphometry_fibres.csv").open() as fp:
        return split_body(read_fibre_table(fp))


@pytest.mark.parametrize("kind", ["slow", "fast"])
def test_mixed_model_matches_lmertest(result, kind):
    got = result.models[kind].fixed
    want = WANT["models"][kind]["fixed"]
    assert got["term"].tolist() == [w["term"] for w in want]
    for column, rel in (("estimate", TIGHT), ("se", TIGHT), ("t", TIGHT), ("df", LOOSE)):
        assert got[column].tolist() == pytest.approx([w[column] for w in want], rel=rel)
    assert got["p"].tolist() == pytest.approx([w["p"] for w in want], rel=LOOSE)
    assert result.models[kind].n_obs == WANT["models"][kind]["n_obs"]
    vcov = result.models[kind].random.set_index("group")["vcov"]
    for row in WANT["models"][kind]["random"]:
        assert vcov[row["group"]] == pytest.approx(row["vcov"], rel=1e-5)


@pytest.mark.parametrize("kind", ["slow", "fast"])
def test_per_patient_means_paired_t_matches_r(result, kind):
    got, want = result.means_tests[kind], WANT["means_tests"][kind]
    assert (got.estimate, got.statistic, got.df) == pytest.approx(
        (want["estimate"], want["t"], want["df"]), rel=TIGHT
    )
    assert got.p == pytest.approx(want["p"], rel=LOOSE)
    assert got.n == want["n"]


def test_pct_fast_paired_t_matches_r(result):
    got, want = result.pct_fast_test, WANT["pct_fast_test"]
    assert (got.estimate, got.statistic) == pytest.approx((want["estimate"], want["t"]), rel=TIGHT)
    assert got.p == pytest.approx(want["p"], rel=LOOSE)
    assert got.n == want["n"] == 4  # P05's sham section is below 50 fibres


def test_bandwidths_are_r_bw_nrd0(result):
    got = result.densities.set_index(["type", "arm"])
    for row in WANT["bandwidths"]:
        assert got.loc[(row["type"], row["arm"]), "bandwidth"] == pytest.approx(
            row["bandwidth"], rel=TIGHT
        )
        assert got.loc[(row["type"], row["arm"]), "n"] == row["n"]
    assert result.bandwidth_rule == "bw.nrd0"


def test_short_section_is_reported_and_left_out(result):
    short = result.sections[~result.sections["countable"]]
    assert len(short) == WANT["excluded_sections"] == 1
    assert "P05" in result.notes[0] and "below the minimum of 50" in result.notes[0]


def test_comparison_puts_model_beside_means(result):
    table = result.comparison().set_index("type")
    assert table.loc["fast", "mixed_estimate"] == pytest.approx(
        WANT["models"]["fast"]["fixed"][1]["estimate"], rel=TIGHT
    )
    assert table.loc["fast", "means_p"] == pytest.approx(
        WANT["means_tests"]["fast"]["p"], rel=LOOSE
    )
    json.dumps(result.to_dict(), allow_nan=False)


def test_density_integrates_to_one():
    x = np.array([40.0, 50.0, 52.0, 61.0, 75.0])
    curve = density(x, bw_nrd0(x))
    assert np.trapezoid(curve["density"], curve["x"]) == pytest.approx(1.0, abs=2e-3)


def test_fibre_table_needs_arm():
    with pytest.raises(InvalidValueError, match=r"missing column\(s\) arm;"):
        read_fibre_table(io.StringIO("patient,side,fibre,diameter_um\nP1,left,1,50\n"))


def test_fibre_table_names_bad_row():
    text = "patient,side,arm,fibre,diameter_um\nP1,left,real,1,50\nP1,left,real,2,-3\n"
    with pytest.raises(InvalidValueError, match="row 2, field diameter_um"):
        read_fibre_table(io.StringIO(text))
