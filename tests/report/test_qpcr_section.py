"""The report's qPCR section: figure, per-gene tests beside the paper, folds per patient."""

from __future__ import annotations

import dataclasses
import re

import pytest

from nmmstrial.protocol import paper_targets
from nmmstrial.report import write_report
from nmmstrial.report.tables import qpcr_comparison, qpcr_table

PAPER = paper_targets()["qpcr"]["genes"]


def _section(page: str) -> str:
    start = page.index('<section id="qpcr">')
    return page[start : page.index("</section>", start)]


@pytest.fixture(scope="module")
def report(simulated_study, tmp_path_factory):
    index = write_report(simulated_study, tmp_path_factory.mktemp("qpcr"))
    return index, index.read_text(encoding="utf-8")


def test_section_and_figure_are_present(report):
    index, page = report
    section = _section(page)
    assert '<figure id="figure-qpcr">' in section
    assert 'id="table-qpcr"' in section and 'id="table-qpcr-patients"' in section
    assert (index.parent / "figures" / "qpcr.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (index.parent / "figures" / "qpcr.svg").read_bytes()
    assert 'href="#qpcr"' in page


def test_every_gene_has_ours_beside_the_papers(report, simulated_study):
    section = _section(report[1])
    ours = qpcr_table(qpcr_comparison(simulated_study)).set_index("gene")
    for gene, paper in PAPER.items():
        row = re.search(rf"<tr><td>{re.escape(gene)}</td>(.*?)</tr>", section)
        assert row, gene
        cells = row.group(1)
        assert f"{paper['fold']:.2f} ± {paper['sem']:.2f}, p = {paper['p']:g}" in cells
        assert f"{ours.loc[gene, 'geomean_fold']:.2f} [" in cells
        assert f"{ours.loc[gene, 'mean_fold']:.2f} ± {ours.loc[gene, 'sem_fold']:.2f}" in cells
    assert "as in the paper" in section


def test_comparison_uses_the_papers_references(simulated_study):
    result = qpcr_comparison(simulated_study)
    refs = result.genes.set_index("gene")["reference"]
    assert refs["miR-1"] == "U6" and refs["MuRF-1"] == "GAPDH"
    assert (result.genes["n"] == 7).all()
    assert result.contrast == "real - sham"
    assert result.patients.groupby("gene").size().eq(7).all()


def test_blinded_page_codes_arms_and_hides_the_paper(simulated_study, tmp_path):
    blinded = dataclasses.replace(simulated_study, meta={**simulated_study.meta, "blinded": True})
    section = _section(write_report(blinded, tmp_path).read_text(encoding="utf-8"))
    # Codes in a fixed order (X - Y), whichever stands for real: the order tells nothing.
    assert "ddCt = dCt(X) − dCt(Y)" in section
    assert "real" not in section and "sham" not in section
    assert "p = 0.002 (Wilcoxon)" not in section
    assert "paper's mean fold" not in section


def test_study_without_qpcr_says_so(study, tmp_path):
    section = _section(write_report(study, tmp_path).read_text(encoding="utf-8"))
    assert "Not shown: no qPCR wells recorded" in section
    assert not (tmp_path / "figures" / "qpcr.png").exists()
