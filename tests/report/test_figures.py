import pytest
from matplotlib.figure import Figure

from nmmstrial.errors import InvalidValueError
from nmmstrial.report import (
    arm_labels,
    before_after_figure,
    figure_bytes,
    flow,
    flow_figure,
    strength_figure,
    summary_by_arm,
)

STRENGTH = ["mrc_fcr", "mrc_sum", "dynamometer_kg"]
VISITS = ["T0", "T1", "T2", "T3"]


@pytest.fixture
def strength(study):
    return summary_by_arm(study, STRENGTH, VISITS)


def test_strength_figure_plots_the_means_by_arm(study, strength):
    fig = strength_figure(strength, study.protocol, arm_labels(study))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    for ax, measure in zip(fig.axes, STRENGTH, strict=True):
        for container, arm in zip(ax.containers, ["real", "sham"], strict=True):
            rows = strength[(strength["measure"] == measure) & (strength["arm"] == arm)]
            want = rows["mean"].to_numpy()
            assert container.lines[0].get_ydata() == pytest.approx(want)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["real", "sham"]


def test_strength_figure_uses_codes_when_blinded(blinded_study):
    summary = summary_by_arm(blinded_study, STRENGTH, VISITS)
    fig = strength_figure(summary, blinded_study.protocol, arm_labels(blinded_study))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["X", "Y"]


def test_before_after_figure_draws_four_bars_per_measure(study):
    summary = summary_by_arm(study, ["cmap_apb_mv", "cmap_fcr_mv"], ["T0", "T2"])
    fig = before_after_figure(summary, study.protocol, arm_labels(study))
    assert len(fig.axes) == 2
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    want = summary.query("measure == 'cmap_apb_mv'").set_index(["arm", "time"])["mean"]
    assert heights == pytest.approx([want[(a, t)] for a in ("real", "sham") for t in ("T0", "T2")])


def test_before_after_figure_needs_two_visits(study):
    summary = summary_by_arm(study, ["cmap_apb_mv"], ["T0", "T1", "T2"])
    with pytest.raises(InvalidValueError, match="needs two visits"):
        before_after_figure(summary, study.protocol, arm_labels(study))


def test_flow_figure_shows_every_stage_count(study):
    fig = flow_figure(flow(study))
    text = "\n".join(t.get_text() for t in fig.axes[0].texts)
    assert "Randomized\n6 patients · 12 arms" in text
    assert "Withdrawn\n1 patient · 2 arms" in text
    assert "morphometry\n2 patients\n3 arms" in text


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_figure_bytes_are_reproducible(study, strength, fmt):
    labels = arm_labels(study)
    first = figure_bytes(strength_figure(strength, study.protocol, labels), fmt)
    second = figure_bytes(strength_figure(strength, study.protocol, labels), fmt)
    assert first == second
    assert first.startswith(b"\x89PNG" if fmt == "png" else b"<?xml")


def test_svg_carries_no_date(study, strength):
    svg = figure_bytes(strength_figure(strength, study.protocol, arm_labels(study)), "svg")
    assert b"<dc:date>" not in svg


def test_figure_bytes_refuses_other_formats(study, strength):
    fig = strength_figure(strength, study.protocol, arm_labels(study))
    with pytest.raises(InvalidValueError, match="'pdf' is not one of png, svg"):
        figure_bytes(fig, "pdf")
