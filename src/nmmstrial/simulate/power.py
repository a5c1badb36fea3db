"""Monte Carlo power of a scenario: batched tasks, Wilson intervals, type I error under the null.

The work is a fixed list of tasks, one per (power or null, n, batch of at most
`BATCH` trials), each with its own seed from `np.random.SeedSequence(seed).spawn`.
The list depends only on the scenario, `n_sim` and `seed`; each task returns integer
rejection counts, and counts add in any order, so the result is bit-identical
whether the tasks run in one process or on a Dask cluster. Memory is bounded by
one batch per worker (about BATCH x n x 2k doubles, a few MB).

A trial whose analysis is undefined (p = NaN: fewer than 2 completers) counts as
not rejecting; `n_sim` is always the number of simulated trials.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import stats

from .kernels import analyse, generate
from .scenario import Scenario

__all__ = [
    "BATCH",
    "PowerSimulation",
    "Task",
    "local_map",
    "make_tasks",
    "run_task",
    "simulate_power",
    "wilson",
]

BATCH = 2_000
KINDS = ("power", "type1")


@dataclass(frozen=True)
class Task:
    """One batch: `trials` studies of `n` patients, alternative or null means."""

    kind: str
    n: int
    batch: int
    trials: int
    seed: np.random.SeedSequence


@dataclass(frozen=True)
class PowerSimulation:
    """Rejection counts per (kind, n, analysis, arm) and the `--json` rows they give."""

    counts: dict[tuple[str, int, str, str | None], int]
    n_sim: int
    seed: int
    alpha: float
    sizes: tuple[int, ...]
    analyses: tuple[str, ...]

    def rows(self, kind: str) -> list[dict]:
        """One row per (n, analysis[, arm]): power (or type I error) and its Wilson 95 % CI."""
        out = []
        for (k, n, analysis, arm), rejected in self.counts.items():
            if k != kind:
                continue
            low, high = wilson(rejected, self.n_sim)
            row = {"n": n, "analysis": analysis}
            if arm is not None:
                row["arm"] = arm
            row |= {
                "power": rejected / self.n_sim,
                "ci_low": low,
                "ci_high": high,
                "n_sim": self.n_sim,
            }
            out.append(row)
        return out

    @property
    def trials(self) -> int:
        """Simulated studies, type I ones included."""
        return len(KINDS) * len(self.sizes) * self.n_sim

    def to_dict(self, seconds: float) -> dict:
        """The `simulate-power --json` document, given the wall time of the run."""
        return {
            "results": self.rows("power"),
            "type1": self.rows("type1"),
            "seconds": seconds,
            "trials_per_second": self.trials / seconds if seconds > 0 else None,
            "n_sim": self.n_sim,
            "seed": self.seed,
            "alpha": self.alpha,
        }


def wilson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good near 0 and 1, unlike Wald)."""
    z = stats.norm.ppf(0.5 + level / 2)
    p = successes / trials
    centre = (p + z**2 / (2 * trials)) / (1 + z**2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / (1 + z**2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def make_tasks(scenario: Scenario, n_sim: int, seed: int, batch: int = BATCH) -> list[Task]:
    """Every (kind, n, batch) task in a fixed order, each with its spawned seed."""
    per_n = [min(batch, n_sim - start) for start in range(0, n_sim, batch)]
    keys = [
        (kind, n, b, size) for kind in KINDS for n in scenario.n for b, size in enumerate(per_n)
    ]
    seeds = np.random.SeedSequence(seed).spawn(len(keys))
    return [Task(*key, seed=s) for key, s in zip(keys, seeds, strict=True)]


def run_task(scenario: Scenario, task: Task) -> tuple[Task, dict]:
    """Simulate and analyse one batch; returns the task and its rejection counts."""
    source = scenario if task.kind == "power" else scenario.null()
    rng = np.random.default_rng(task.seed)
    y, present = generate(
        rng, task.trials, task.n, source.mean_array, scenario.chol, scenario.dropout_array
    )
    counts = {}
    for name in scenario.analyses:
        for arm, p in analyse(name, y, present).items():
            counts[(task.kind, task.n, name, arm)] = int(np.sum(p < scenario.alpha))
    return task, counts


def local_map(func: Callable, tasks: Iterable[Task]) -> Iterable:
    """Run the tasks one after another in this process."""
    return map(func, tasks)


def simulate_power(
    scenario: Scenario,
    *,
    n_sim: int | None = None,
    seed: int | None = None,
    mapper: Callable[[Callable, list[Task]], Iterable] = local_map,
    progress: Callable[[int, int], None] | None = None,
) -> PowerSimulation:
    """Power and type I error of every analysis at every n, by Monte Carlo.

    `n_sim` and `seed` override the scenario's. `mapper(func, tasks)` runs the tasks
    and yields their results in any order (`local_map`, or `cluster.dask_mapper`);
    `progress(done, total)` is called after each task.
    """
    n_sim = scenario.n_sim if n_sim is None else n_sim
    seed = scenario.seed if seed is None else seed
    tasks = make_tasks(scenario, n_sim, seed)
    totals: dict = {
        (kind, n, name, arm): 0
        for kind in KINDS
        for n in scenario.n
        for name in scenario.analyses
        for arm in (("real", "sham") if name == "rm_anova_gg_per_arm" else (None,))
    }
    for done, (_, counts) in enumerate(mapper(partial(run_task, scenario), tasks), start=1):
        for key, value in counts.items():
            totals[key] += value
        if progress is not None:
            progress(done, len(tasks))
    return PowerSimulation(
        counts=totals,
        n_sim=n_sim,
        seed=seed,
        alpha=scenario.alpha,
        sizes=tuple(scenario.n),
        analyses=tuple(scenario.analyses),
    )
