"""The electrophysiology section's example recordings and dose-response curves: drawn
from the study's ABF files and stored fits, blinded pages coded X / Y throughout."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from matplotlib.text import Text

from nmmstrial.cli.demo import ephys_through_the_lab
from nmmstrial.report import write_report
from nmmstrial.report.figures import log_logistic
from nmmstrial.report.html import _ephys_examples, example_traces
from nmmstrial.report.tables import (
    arm_labels,
    ephys_curves,
    ephys_examples,
    ephys_global_fit,
    ephys_oocytes,
)


def _section(page: str) -> str:
    start = page.index('<section id="ephys">')
    return page[start : page.index("</section>", start)]


@pytest.fixture(scope="module")
def lab(simulated_study, tmp_path_factory):
    """The simulated study run through the lab: ABF files and a dose-response sheet."""
    folder = tmp_path_factory.mktemp("lab")
    return ephys_through_the_lab(simulated_study, folder), folder


def test_example_is_the_median_recording_of_its_arm(lab):
    study, folder = lab
    oocytes = ephys_oocytes(study)
    examples = ephys_examples(oocytes)
    assert set(examples) == {"real", "sham"}
    for arm, example in examples.items():
        measured = oocytes.loc[(oocytes["arm"] == arm) & oocytes["t05_s"].notna(), "t05_s"]
        ranked = np.sort(measured.to_numpy(float))
        assert example["value"] == ranked[(len(ranked) - 1) // 2]
        assert (folder / example["file"]).is_file()
        assert example["window"]["source"] == "tags"
    traces = example_traces(study, folder)
    for trace in traces.values():
        start, end = trace["window"]
        inside = (trace["time_s"] >= start) & (trace["time_s"] < end)
        # the trace is the file's: its inward peak lies inside the application window
        assert inside[np.argmin(trace["current_na"])]
        assert end - start == pytest.approx(30, abs=0.02)


def test_curves_redraw_the_stored_fits(lab):
    study, _ = lab
    curves = ephys_curves(ephys_oocytes(study))
    assert len(curves) == study.oocytes["ec50_um"].notna().sum()
    for row in curves.itertuples(index=False):
        stored = study.oocytes.loc[
            (study.oocytes["sample"] == row.sample) & (study.oocytes["oocyte"] == row.oocyte)
        ].iloc[0]
        assert row.e == pytest.approx(stored["ec50_um"])
        # at the EC50 the curve is half-way between its plateaus, by definition of LL.4
        half = log_logistic(np.array([row.e]), row.b, row.c, row.d, row.e)[0]
        assert half == pytest.approx((row.c + row.d) / 2)
        points = np.asarray(row.points)
        residual = points[:, 1] - log_logistic(points[:, 0], row.b, row.c, row.d, row.e)
        assert np.sqrt(np.mean(residual**2)) < 0.05  # the demo's noise SD is 0.02


def test_figure_in_the_page_with_the_recordings_named(lab, tmp_path):
    study, folder = lab
    page = write_report(study, tmp_path, recordings=folder).read_text(encoding="utf-8")
    section = _section(page)
    assert '<figure id="figure-ephys_examples">' in section
    for example in ephys_examples(ephys_oocytes(study)).values():
        assert example["file"] in section
    assert "not shown" not in section
    assert (tmp_path / "figures" / "ephys_examples.png").read_bytes().startswith(b"\x89PNG")


def test_missing_or_changed_recording_is_said_not_drawn(lab, tmp_path):
    study, folder = lab
    section = _section(write_report(study, tmp_path / "a").read_text(encoding="utf-8"))
    assert "not shown: no recordings folder given" in section
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.glob("*.abf"):
        (copy / path.name).write_bytes(path.read_bytes() + b"\0" * 512)
    page = write_report(study, tmp_path / "b", recordings=copy).read_text(encoding="utf-8")
    assert "is not the file measured (SHA-256 differs)" in _section(page)


def test_blinded_figure_and_caption_show_codes_only(lab, tmp_path):
    study, folder = lab
    blinded = dataclasses.replace(study, meta={**study.meta, "blinded": True})
    section = _section(write_report(blinded, tmp_path, recordings=folder).read_text("utf-8"))
    assert '<figure id="figure-ephys_examples">' in section
    assert "real" not in section and "sham" not in section
    traces = example_traces(blinded, folder)
    assert set(traces) == {"X", "Y"}
    caption, fig = _ephys_examples(blinded, arm_labels(blinded), traces)
    words = " ".join(t.get_text() for t in fig.findobj(Text)).lower()
    assert "x: example recording" in words and "y (" in words
    assert "real" not in words and "sham" not in words
    assert "real" not in caption and "sham" not in caption
    params = [json.loads(p) for p in blinded.oocytes["params"].dropna()]
    assert all("real" not in json.dumps(p) and "sham" not in json.dumps(p) for p in params)


def test_global_fit_of_the_stored_points_is_in_the_caption(lab, tmp_path):
    study, folder = lab
    oocytes = ephys_oocytes(study)
    pooled = ephys_global_fit(ephys_curves(oocytes), ["real", "sham"])
    ratio = pooled["ratio"]
    assert ratio["ci"][0] < ratio["ratio"] < ratio["ci"][1]
    # one curve per arm lands near the ratio of the arms' median per-oocyte EC50s
    median = oocytes.groupby("arm")["ec50_um"].median()
    assert ratio["ratio"] == pytest.approx(median["real"] / median["sham"], rel=0.15)
    assert (pooled["df1"], pooled["df2"]) == (1, len(ephys_curves(oocytes)) * 7 - 5)
    section = _section(write_report(study, tmp_path, recordings=folder).read_text("utf-8"))
    assert f"ratio real / sham {ratio['ratio']:.2f}" in section
    assert "extra-sum-of-squares F(1, " in section
