"""The report's electrophysiology section: Figure 5's equivalent, the paper's values and
per-oocyte Mann-Whitney beside ours and the patient-level mixed model; blinded pages
show codes only."""

from __future__ import annotations

import dataclasses

import pytest

from nmmstrial.protocol import paper_targets
from nmmstrial.report import write_report
from nmmstrial.report.tables import ephys_oocytes, ephys_summary, ephys_tests

PAPER = paper_targets()["electrophysiology"]


def _section(page: str) -> str:
    start = page.index('<section id="ephys">')
    return page[start : page.index("</section>", start)]


@pytest.fixture(scope="module")
def report(simulated_study, tmp_path_factory):
    index = write_report(simulated_study, tmp_path_factory.mktemp("ephys"))
    return index, index.read_text(encoding="utf-8")


def test_section_and_figure_are_present(report):
    index, page = report
    section = _section(page)
    assert '<figure id="figure-ephys">' in section
    assert 'id="table-ephys"' in section and 'id="table-ephys-tests"' in section
    assert (index.parent / "figures" / "ephys.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (index.parent / "figures" / "ephys.svg").read_bytes()
    assert 'href="#ephys"' in page
    assert "283 oocytes from 15 patients" in section


def test_ours_beside_the_papers_values(report, simulated_study):
    section = _section(report[1])
    summary = ephys_summary(ephys_oocytes(simulated_study))
    for row in summary.itertuples(index=False):
        assert f"{row.mean:.2f} ± {row.sem:.2f} (n = {row.n})" in section
        assert f"{row.paper_mean:.2f} ± {row.paper_sem:.2f} (n = {row.paper_n})" in section
    for key in ("peak_current_nA", "decay_t05_s", "ec50_uM"):
        assert f"p = {PAPER[key]['test']['p']:g} (Mann-Whitney rank sum)" in section


def test_paper_test_beside_the_patient_level_model(report, simulated_study):
    section = _section(report[1])
    tests = ephys_tests(ephys_oocytes(simulated_study)).set_index("measure")
    peak = tests.loc["peak_na"]
    assert peak["n_oocytes"] == 283 and peak["n_patients"] == 15
    assert peak["contrast"] == "real / sham"
    # Patients, not oocytes, are the units: the model's df is of the order of patients.
    assert peak["mixed_df"] < 30
    assert peak["ratio_ci_low"] < peak["ratio"] < peak["ratio_ci_high"]
    assert f"{peak['ratio']:.2f} [{peak['ratio_ci_low']:.2f}, {peak['ratio_ci_high']:.2f}]" in (
        section
    )
    assert (tests["mixed_error"] == "").all()
    assert tests.loc[["t05_s", "ec50_um"], "n_patients"].eq(4).all()


def test_blinded_page_codes_arms_and_hides_the_paper(simulated_study, tmp_path):
    blinded = dataclasses.replace(simulated_study, meta={**simulated_study.meta, "blinded": True})
    section = _section(write_report(blinded, tmp_path).read_text(encoding="utf-8"))
    assert "X against Y" in section
    assert "real" not in section and "sham" not in section
    assert "10.61" not in section and "Mann-Whitney rank sum)" not in section
    assert "paper's mean" not in section


def test_study_without_oocytes_says_so(study, tmp_path):
    section = _section(write_report(study, tmp_path).read_text(encoding="utf-8"))
    assert "Not shown: no oocytes recorded" in section
    assert not (tmp_path / "figures" / "ephys.png").exists()
