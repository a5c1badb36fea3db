"""`nmmstrial design ...` end to end: the issue's CLI contract (flags, JSON, errors)."""

import json

import pytest
import yaml
from click.testing import CliRunner

from nmmstrial.cli import Root
from nmmstrial.cli.design import design

# The group under the root's error handling, as `nmmstrial design` runs it.
ROOT = Root(name="nmmstrial", commands={"design": design})

SCENARIO = {
    "n": [11, 16],
    "visits": ["T0", "T1", "T2", "T3"],
    "means": {"real": [30.0, 30.6, 31.2, 30.4], "sham": [30.0, 29.4, 28.9, 28.0]},
    "sd": 4.9,
    "correlation": {"visits": {"type": "ar1", "rho": 0.7}, "sides": 0.5},
    "dropout": {"T1": 0.0, "T2": 0.05, "T3": 0.10},
    "analyses": [
        "paired_t_change",
        "wilcoxon_change",
        "rm_anova_gg_per_arm",
        "rm_anova_gg_interaction",
        "mixed_change",
    ],
    "n_sim": 10000,
    "seed": 1,
}


def run(*args):
    return CliRunner().invoke(ROOT, ["design", *map(str, args)])


def run_json(*args):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def scenario_file(tmp_path):
    def write(**changes):
        path = tmp_path / "scenario.yaml"
        path.write_text(yaml.safe_dump({**SCENARIO, **changes}))
        return path

    return write


def test_power_paper_calculation():
    out = run_json(
        "power", "--test", "paired-t", "--sd", 4.9, "--n", 11, "--power", 0.8, "--dropout", 0.4
    )
    assert out["d"] == pytest.approx(0.93769, abs=1e-4)
    assert out["delta"] == pytest.approx(4.9 * out["d"])
    assert (out["n_ceiling"], out["dropout"], out["inflate"], out["n_enrol"]) == (
        11,
        0.4,
        "divide",
        19,
    )
    multiplied = run_json(
        "power", "--test", "paired-t", "--sd", 4.9, "--delta", out["delta"], "--power", 0.8,
        "--dropout", 0.4, "--inflate", "multiply",
    )  # fmt: skip
    assert multiplied["n"] == pytest.approx(11, abs=1e-6)
    assert multiplied["n_enrol"] == 16


def test_power_fields_and_rm_anova():
    out = run_json(
        "power", "--test", "rm-anova", "--sd", 1, "--d", 0.25, "--power", 0.95,
        "--k", 4, "--eps", 1, "--rho", 0.5,
    )  # fmt: skip
    assert set(out) >= {"test", "n", "n_ceiling", "power", "d", "delta", "alpha", "method"}
    assert out["n_ceiling"] == 36  # G*Power's within-factors example
    assert out["alpha"] == 0.05


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--d", 0.5, "--delta", 1, "--n", 10], "--delta and --d are exclusive"),
        (["--d", 0.5], "give all but one"),
        (["--d", 0.5, "--n", 10, "--alpha", 2], "alpha"),
    ],
)
def test_power_refusals_are_one_line(args, message):
    result = run("power", "--test", "paired-t", "--sd", 1, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_simulate_power_json_and_out(scenario_file, tmp_path):
    out_dir = tmp_path / "out"
    result = run(
        "simulate-power", scenario_file(), "--n-sim", 300, "--seed", 5, "--out", out_dir, "--json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert "n_sim 300, seed 5" in result.stderr
    assert len(document["results"]) == len(document["type1"]) == 2 * 6
    assert {r["n_sim"] for r in document["results"]} == {300}
    total = document["trials_per_second"] * document["seconds"]
    assert total == pytest.approx(2 * 2 * 300)
    assert json.loads((out_dir / "power.json").read_text()) == document
    assert (out_dir / "power_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_simulate_power_same_seed_same_result_with_workers(scenario_file):
    path = scenario_file(n=[11])
    one = run_json("simulate-power", path, "--n-sim", 2500, "--seed", 7)
    two = run_json("simulate-power", path, "--n-sim", 2500, "--seed", 7, "--workers", 2)
    assert one["results"] == two["results"]
    assert one["type1"] == two["type1"]


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"correlation": {"visits": {"type": "cs", "rho": -0.5}}}, "correlation: not positive"),
        ({"dropout": {"T2": 1.5}}, "dropout.T2"),
        ({"analyses": ["anova_uncorrected"]}, "unknown analysis 'anova_uncorrected'"),
        ({"n": [2]}, "n: 2 patients"),
    ],
)
def test_simulate_power_bad_input_names_the_key(scenario_file, changes, key):
    result = run("simulate-power", scenario_file(**changes), "--json")
    assert result.exit_code != 0
    assert key in result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_group_help():
    result = run("--help")
    assert "Trial design: sample size and power" in result.output
    assert "simulate-power" in result.output
