"""The report's morphometry section: Figure 4d's densities with bw.nrd0, % fast per arm
with the paired t, the mixed model beside the per-patient-means t and the paper's
claims; blinded pages show codes only and none of the paper's values by arm."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from nmmstrial.assays.morphometry import bw_nrd0, split_body
from nmmstrial.protocol import paper_targets
from nmmstrial.report import write_report
from nmmstrial.study import with_arm

PAPER = paper_targets()["histology"]


def _section(page: str) -> str:
    start = page.index('<section id="morphometry">')
    return page[start : page.index("</section>", start)]


def _fibres(study, coded=False):
    table = with_arm(study.fibres, study.allocation, coded=coded)
    return table.rename(columns={"min_feret_um": "diameter_um", "fibre_type": "type"}).astype(
        {"fibre": str}
    )


@pytest.fixture(scope="module")
def report(simulated_study, tmp_path_factory):
    index = write_report(simulated_study, tmp_path_factory.mktemp("fibres"))
    return index, _section(index.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def blinded(simulated_study, tmp_path_factory):
    study = dataclasses.replace(simulated_study, meta={**simulated_study.meta, "blinded": True})
    index = write_report(study, tmp_path_factory.mktemp("fibres_blind"))
    return index, index.read_text(encoding="utf-8")


def test_section_figure_and_tables_are_present(report, simulated_study):
    index, section = report
    assert '<figure id="figure-morphometry">' in section
    for table in ("sections", "pct-fast", "models"):
        assert f'id="table-morphometry-{table}"' in section
    assert (index.parent / "figures" / "morphometry.png").read_bytes().startswith(b"\x89PNG")
    svg = (index.parent / "figures" / "morphometry.svg").read_bytes()
    assert b"<svg" in svg
    n = len(simulated_study.fibres)
    assert f"{n} fibres in 8 sections of 4 patients" in section
    assert "bw.nrd0" in section and "Figure 4d" in section
    assert 'href="#morphometry"' in index.read_text(encoding="utf-8")


def test_bandwidths_in_the_figure_are_r_bw_nrd0(simulated_study):
    # The legend's bandwidth is bw.nrd0 of the arm's fibres of that type, recomputed here
    # from the stored table (bw_nrd0 itself is checked against R in tests/assays).
    from nmmstrial.report.morphometry import density_figure

    table = _fibres(simulated_study)
    result = split_body(table)
    figure = density_figure(result)
    legends = [t.get_text() for ax in figure.axes for t in ax.get_legend().get_texts()]
    for kind in ("slow", "fast"):
        for arm in ("real", "sham"):
            x = table.loc[(table["type"] == kind) & (table["arm"] == arm), "diameter_um"]
            assert f"{arm}: n = {len(x)}, bw = {bw_nrd0(x):.2f} µm" in legends


def test_numbers_are_split_body_beside_the_papers(report, simulated_study):
    section = report[1]
    result = split_body(_fibres(simulated_study))
    pct = result.pct_fast.set_index("patient")
    for arm in ("real", "sham"):
        target = PAPER["fast_fibre_pct"][arm]
        values = pct[arm].to_numpy(float)
        assert f"{values.mean():.2f} ± {values.std(ddof=1):.2f} (n = 4)" in section
        assert f"{target['mean']:.2f} ± {target['sd']:.2f} (n = 4)" in section
    test = result.pct_fast_test
    assert f"t(3) = {test.statistic:.2f}" in section
    assert "paired t-test, p &lt; 0.005" in section
    for row in result.comparison().itertuples(index=False):
        assert f"{row.mixed_estimate:.2f} ± {row.mixed_se:.2f}" in section
        assert f'<td class="num">{row.means_estimate:.2f}</td>' in section
    for kind in ("fast", "slow"):
        claim = PAPER["morphometry"][f"{kind}_fibres"]
        assert f"{claim['effect']}; {claim['test']}, p {claim['p']}".replace("<", "&lt;") in (
            section
        )
    assert "sham 8-86 µm, real 8-108 µm" in section


def test_blinded_page_shows_codes_only(blinded, simulated_study):
    index, page = blinded
    section = _section(page)
    assert not re.search(r"\b(real|sham)\b", section, re.IGNORECASE)
    assert "X - Y" in section and "Y - X" not in section
    assert "66.10" not in section and "49.22" not in section  # the paper's values by arm
    assert re.search(r'class="arm">X</th><th colspan="2" class="arm">Y', section)
    svg = (index.parent / "figures" / "morphometry.svg").read_bytes()
    assert b"real" not in svg and b"sham" not in svg
    # The estimates are the unblinded ones, signed by which code is real.
    sign = 1 if simulated_study.allocation["real_code"].iloc[0] == "X" else -1
    result = split_body(_fibres(simulated_study))
    fast = result.comparison().set_index("type").loc["fast"]
    assert f"{sign * fast['mixed_estimate']:.2f} ± {fast['mixed_se']:.2f}" in section


def test_study_without_fibres_says_so(study, tmp_path):
    index = write_report(study, tmp_path)
    section = _section(index.read_text(encoding="utf-8"))
    assert "Not shown: no fibres recorded." in section
    assert not (tmp_path / "figures" / "morphometry.png").exists()


def test_a_short_section_is_reported_not_used(simulated_study):
    # Drop fibres of one section below the paper's minimum of 50: it is flagged in the
    # sections table and left out of the tests (3 patients remain in the paired t).
    from nmmstrial.report.morphometry import section
    from nmmstrial.report.tables import arm_labels

    fibres = simulated_study.fibres
    sample = fibres["sample"].iloc[0]
    keep = (fibres["sample"] != sample) | (fibres["fibre"] <= 30)
    study = dataclasses.replace(
        simulated_study, tables={**simulated_study.tables, "fibres": fibres.loc[keep]}
    )
    context, figure = section(study, arm_labels(study))
    assert figure is not None
    assert any("30 (below minimum)" in cell for row in context["sections"] for cell in row)
    assert any("below the minimum of 50; left out" in note for note in context["notes"])
    assert context["pct_test"]["ours"].endswith("n = 3")
    assert np.isfinite(split_body(_fibres(study)).pct_fast_test.p)
