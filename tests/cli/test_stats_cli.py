"""`nmmstrial stats ...` end to end: the CLI's JSON against R's values (fixtures)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli

REFERENCE = Path(__file__).parents[1] / "analysis" / "reference"


def stats(*args):
    result = CliRunner().invoke(cli, ["stats", *map(str, args)])
    return result


def stats_json(*args):
    result = stats(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_rm_anova_json_matches_afex():
    want = json.loads((REFERENCE / "rm_anova" / "trial_arm_by_time.json").read_text())
    got = stats_json(
        "rm-anova",
        REFERENCE / "rm_anova" / "trial_arm_by_time.csv",
        "--dv",
        "value",
        "--subject",
        "patient",
        "--within",
        "arm",
        "--within",
        "time",
    )
    assert got["n_subjects"] == want["n_subjects"]
    assert got["excluded_subjects"] == []
    for mine, theirs in zip(got["effects"], want["effects"], strict=True):
        assert mine["effect"] == theirs["effect"]
        for key in ("F", "df1", "df2", "p", "eps_gg", "p_gg", "eps_hf", "p_hf", "ges", "pes"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-6), key
        if theirs["mauchly_w"] is None:
            assert mine["mauchly_w"] is None
        else:
            assert mine["mauchly_p"] == pytest.approx(theirs["mauchly_p"], rel=1e-6)


def test_paired_wilcoxon_modes_match_r():
    path = REFERENCE / "tests" / "paired_sleep_zero_and_ties.csv"
    want = json.loads(path.with_suffix(".json").read_text())["wilcoxon"]
    for flags, key in (
        ([], "default"),
        (["--exact"], "exact"),
        (["--approx", "--no-continuity"], "approx_no_continuity"),
    ):
        got = stats_json("paired", path, "--x", "x", "--y", "y", "--test", "wilcoxon", *flags)
        assert got["statistic"] == want[key]["statistic"]
        assert got["p"] == pytest.approx(want[key]["p"], rel=1e-6)
        assert got["n"] == 10
        assert got["rank_biserial_ci"] is not None and len(got["rank_biserial_ci"]) == 2


def test_two_sample_welch_and_mann_whitney_match_r():
    path = REFERENCE / "tests" / "two_sample_toothgrowth_ties.csv"
    want = json.loads(path.with_suffix(".json").read_text())
    got = stats_json("two-sample", path, "--dv", "value", "--group", "group", "--test", "welch")
    assert got["groups"] == {"x": "OJ", "y": "VC"}
    assert (got["n_x"], got["n_y"], got["n"]) == (30, 30, 60)
    assert got["statistic"] == pytest.approx(want["welch"]["statistic"], rel=1e-6)
    assert got["df"] == pytest.approx(want["welch"]["df"], rel=1e-6)
    assert got["ci"] == pytest.approx(want["welch"]["ci"], rel=1e-6)
    got = stats_json(
        "two-sample", path, "--dv", "value", "--group", "group", "--test", "mann-whitney", "--exact"
    )
    assert got["statistic"] == want["wilcoxon"]["exact"]["statistic"]
    assert got["p"] == pytest.approx(want["wilcoxon"]["exact"]["p"], rel=1e-6)
    flipped = stats_json(
        "two-sample",
        path,
        "--dv",
        "value",
        "--group",
        "group",
        "--test",
        "welch",
        "--levels",
        "group=VC,OJ",
    )
    assert flipped["estimate"] == pytest.approx(-got_estimate(path))


def got_estimate(path):
    return stats_json("two-sample", path, "--dv", "value", "--group", "group", "--test", "welch")[
        "estimate"
    ]


def test_posthoc_matches_emmeans():
    path = REFERENCE / "tests" / "posthoc_obk_phase.csv"
    want = json.loads(path.with_suffix(".json").read_text())["t_all"]
    got = stats_json(
        "posthoc", path, "--dv", "value", "--subject", "subject", "--within", "time", "--all-pairs"
    )
    for mine, theirs in zip(got["comparisons"], want, strict=True):
        assert mine["contrast"] == theirs["contrast"]
        for key in ("estimate", "se", "statistic", "p", "p_holm", "p_bonferroni", "p_bh"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-6), key
        assert mine["ci"] == pytest.approx([theirs["ci_low"], theirs["ci_high"]], rel=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["paired", "absent.csv", "--x", "a", "--y", "b", "--test", "t"],
            "absent.csv: no such file",
        ),
        (["paired", "{csv}", "--x", "x", "--y", "nope", "--test", "t"], "no column 'nope'"),
        (
            ["paired", "{csv}", "--x", "x", "--y", "y", "--test", "t", "--exact"],
            "apply to rank tests",
        ),
        (
            ["two-sample", "{csv}", "--dv", "x", "--group", "y", "--test", "welch"],
            "a two-sample test needs exactly 2",
        ),
    ],
)
def test_bad_input_is_one_line(args, message):
    csv = REFERENCE / "tests" / "paired_sleep_zero_and_ties.csv"
    result = stats(*[a.replace("{csv}", str(csv)) for a in args])
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_rm_anova_missing_cell_names_subject(tmp_path):
    rows = ["id,time,y", "a,T0,1", "a,T1,2", "b,T0,3", "b,T1,5", "c,T0,4"]
    path = tmp_path / "d.csv"
    path.write_text("\n".join(rows) + "\n")
    result = stats("rm-anova", path, "--dv", "y", "--subject", "id", "--within", "time")
    assert result.exit_code == 1
    assert "subject c has no y for time=T1" in result.output
    got = stats_json(
        "rm-anova", path, "--dv", "y", "--subject", "id", "--within", "time", "--listwise"
    )
    assert got["excluded_subjects"] == ["c"]
    assert got["n_subjects"] == 2


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_mixed_model_json_matches_lmertest_and_emmeans(ddf):
    want = json.loads((REFERENCE / "mixed" / "trial_patient_arm.json").read_text())
    args = want["args"]
    command = [
        "mixed-model",
        REFERENCE / "mixed" / f"{args['data']}.csv",
        "--formula",
        args["formula"],
        "--group",
        args["group"],
        "--ddf",
        ddf,
        "--contrast",
        args["contrast"],
    ]
    if args.get("by"):
        command += ["--by", args["by"]]
    for factor, order in (args.get("levels") or {}).items():
        command += ["--levels", f"{factor}={','.join(order)}"]
    got = stats_json(*command)
    reference = want if ddf == "satterthwaite" else want["kenward_roger"]
    assert got["n_obs"] == want["n_obs"]
    assert got["n_groups"] == want["n_groups"]
    assert got["loglik_reml"] == pytest.approx(want["loglik_reml"], rel=1e-6)
    for mine, theirs in zip(got["fixed"], reference["fixed"], strict=True):
        assert mine["term"] == theirs["term"]
        assert mine["estimate"] == pytest.approx(theirs["estimate"], rel=1e-6)
        assert mine["se"] == pytest.approx(theirs["se"], rel=1e-6)
        assert mine["df"] == pytest.approx(theirs["df"], rel=1e-4)
        assert mine["p"] == pytest.approx(theirs["p"], rel=1e-4)
    for mine, theirs in zip(got["contrasts"], reference["contrasts"], strict=True):
        assert mine["contrast"] == theirs["contrast"]
        assert mine["ci"] == pytest.approx([theirs["ci_low"], theirs["ci_high"]], rel=1e-6)
        assert mine["df"] == pytest.approx(theirs["df"], rel=1e-4)
