"""Monte Carlo power: against analytic power, alpha under the null, reproducibility, refusals."""

import itertools

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from nmmstrial.design import power_of
from nmmstrial.errors import InvalidValueError
from nmmstrial.simulate.power import BATCH, make_tasks, simulate_power, wilson
from nmmstrial.simulate.scenario import load_scenario, scenario_from_dict

SCENARIO = {
    "n": [11, 16, 22],
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


def scenario(**changes):
    return scenario_from_dict({**SCENARIO, **changes})


def test_paired_t_power_matches_analytic():
    # Without dropout the change d is normal: SD^2 = 4 sd^2 (1 - rho_03)(1 - sides).
    s = scenario(n=[11, 22], dropout={}, analyses=["paired_t_change"])
    rho_03 = 0.7**3
    sd_d = np.sqrt(4 * 4.9**2 * (1 - rho_03) * (1 - 0.5))
    mean_d = (30.4 - 30.0) - (28.0 - 30.0)
    result = simulate_power(s, n_sim=4000, seed=3)
    for row in result.rows("power"):
        analytic = power_of("paired-t", mean_d / sd_d, row["n"])
        assert row["ci_low"] <= analytic <= row["ci_high"], (row, analytic)


def test_type1_error_holds_alpha():
    # 4,000 null trials: an exact test lands in 0.05 +- 0.011 (99.9 %). Greenhouse-
    # Geisser is approximate, and conservative under this AR(1) (about 0.04).
    result = simulate_power(scenario(n=[16]), n_sim=4000, seed=2)
    for row in result.rows("type1"):
        if row["analysis"].startswith("rm_anova_gg"):
            assert 0.025 < row["power"] < 0.061, row
        else:
            assert abs(row["power"] - 0.05) < 0.011, row


def test_seed_gives_identical_results_in_any_task_order():
    s = scenario(n=[11, 16])

    def reversed_map(func, tasks):
        return [func(task) for task in reversed(list(tasks))]

    one = simulate_power(s, n_sim=2 * BATCH + 7, seed=9)
    other = simulate_power(s, n_sim=2 * BATCH + 7, seed=9, mapper=reversed_map)
    assert one.counts == other.counts
    assert one.to_dict(1.0) == other.to_dict(1.0)
    assert one.counts != simulate_power(s, n_sim=2 * BATCH + 7, seed=10).counts


def test_tasks_split_n_sim_and_seeds():
    tasks = make_tasks(scenario(n=[11, 16]), 2 * BATCH + 7, 1)
    assert len(tasks) == 2 * 2 * 3
    assert sum(t.trials for t in tasks if t.kind == "power" and t.n == 11) == 2 * BATCH + 7
    states = [t.seed.generate_state(2).tolist() for t in tasks]
    assert all(a != b for a, b in itertools.combinations(states, 2))


def test_rows_shape_and_trial_count():
    result = simulate_power(scenario(n=[11]), n_sim=50, seed=1)
    out = result.to_dict(2.0)
    arms = [r.get("arm") for r in out["results"] if r["analysis"] == "rm_anova_gg_per_arm"]
    assert arms == ["real", "sham"]
    assert len(out["results"]) == len(out["type1"]) == 6
    assert out["trials_per_second"] * out["seconds"] == pytest.approx(2 * 50)
    assert set(out["results"][0]) == {"n", "analysis", "power", "ci_low", "ci_high", "n_sim"}


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (412, 1000)])
def test_wilson_matches_statsmodels(k, n):
    assert wilson(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-12)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n": [2, 11]}, "n: 2 patients is too few; at least 3"),
        ({"n": 2}, "n: 2 patients is too few; at least 3"),
        ({"dropout": {"T3": 1.2}}, r"dropout\.T3: .*from 0 to 1"),
        ({"dropout": {"T9": 0.1}}, r"dropout\.T9: not a visit"),
        ({"analyses": ["paired_t_chang"]}, "unknown analysis 'paired_t_chang'; did you mean"),
        ({"correlation": {"visits": {"type": "cs", "rho": 0.9}, "sides": -0.99}}, None),
        (
            {"correlation": {"visits": {"type": "matrix", "matrix": np.eye(4).tolist()}}},
            None,
        ),
        (
            {
                "correlation": {
                    "visits": {
                        "type": "matrix",
                        "matrix": [
                            [1, 0.9, 0.9, -0.9],
                            [0.9, 1, 0.9, 0.9],
                            [0.9, 0.9, 1, 0.9],
                            [-0.9, 0.9, 0.9, 1],
                        ],
                    },
                    "sides": 0.5,
                }
            },
            "correlation: not positive definite",
        ),
        ({"correlation": {"visits": {"type": "ar1"}}}, r"correlation\.visits\.rho"),
        ({"means": {"real": [30.0, 31.0], "sham": [30.0] * 4}}, r"means\.real: 2 values"),
        ({"colour": "red"}, "colour: Extra inputs"),
    ],
)
def test_scenario_errors_name_the_key(changes, message):
    if message is None:  # a valid scenario
        scenario(**changes)
        return
    with pytest.raises(InvalidValueError, match=message):
        scenario(**changes)


def test_effect_pattern_gives_the_same_means():
    pattern = {"baseline": 30.0, "real": [0, 0.6, 1.2, 0.4], "sham": [0, -0.6, -1.1, -2.0]}
    by_effect = scenario_from_dict({**SCENARIO, "means": None, "effect": pattern})
    assert by_effect.mean_array == pytest.approx(scenario().mean_array)
    assert (by_effect.null().mean_array == 30.0).all()
    with pytest.raises(InvalidValueError, match="means: give means or effect"):
        scenario_from_dict({**SCENARIO, "effect": pattern})


def test_null_scenario_has_flat_means():
    null = scenario().null()
    assert (null.mean_array == 30.0).all()
    assert scenario().mean_array[0, 1] == 30.6


def test_load_scenario_yaml_errors():
    with pytest.raises(InvalidValueError, match="not YAML"):
        load_scenario("n: [1, 2", source="s.yaml")
    with pytest.raises(InvalidValueError, match="a mapping"):
        load_scenario("- 1", source="s.yaml")


def test_local_dask_cluster_gives_identical_results():
    from nmmstrial.simulate.cluster import dask_mapper

    s = scenario(n=[11, 22])
    local = simulate_power(s, n_sim=BATCH + 500, seed=4)
    with dask_mapper(workers=2) as mapper:
        distributed = simulate_power(s, n_sim=BATCH + 500, seed=4, mapper=mapper)
    assert distributed.counts == local.counts


def test_scheduler_address_gives_identical_results():
    from distributed import LocalCluster

    from nmmstrial.simulate.cluster import dask_mapper

    s = scenario(n=[11])
    local = simulate_power(s, n_sim=300, seed=6)
    # An in-process scheduler with one thread worker stands in for tcp://HOST:PORT.
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster,
        dask_mapper(scheduler=cluster.scheduler_address) as mapper,
    ):
        remote = simulate_power(s, n_sim=300, seed=6, mapper=mapper)
    assert remote.counts == local.counts


def test_dask_mapper_needs_one_target():
    from nmmstrial.simulate.cluster import dask_mapper

    with pytest.raises(InvalidValueError, match="exactly one"), dask_mapper():
        pass
    with (
        pytest.raises(InvalidValueError, match="exactly one"),
        dask_mapper(workers=1, scheduler="tcp://127.0.0.1:8786"),
    ):
        pass
