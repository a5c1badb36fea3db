"""Simulated trials per second of the GG RM ANOVA per arm on 22 x 4 data: kernels vs pingouin.

Like with like, as issue 9 asks: one simulated trial is 22 patients x 2 sides x 4
visits (the issue's scenario: AR(1) rho 0.7, sides 0.5, SD 4.9), analysed by a one-way
RM ANOVA with Greenhouse-Geisser per arm (`rm_anova_gg_per_arm`). The baseline makes
one `pingouin.rm_anova(correction=True)` call per arm per trial on long frames built
before the clock starts (so the baseline is not charged for pandas reshaping). The
kernel is timed twice: generating and analysing, and analysing pre-generated data.
Both analyse the same first trials and must agree on p_GG. Then the peak traced
memory (tracemalloc) of 1,000,000 trials run in batches of `BATCH`.

Run: .venv/bin/python benchmarks/power.py [--loop-trials 200] [--million 1000000]
Needs pingouin (benchmark only): .venv/bin/pip install pingouin
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd
import pingouin

from nmmstrial.simulate.kernels import analyse, covariance, generate, visit_correlation
from nmmstrial.simulate.power import BATCH

N, K = 22, 4
MEANS = np.array([[30.0, 30.6, 31.2, 30.4], [30.0, 29.4, 28.9, 28.0]])
CHOL = np.linalg.cholesky(covariance(4.9, visit_correlation("ar1", K, 0.7), 0.5))
NO_DROPOUT = np.zeros(K)
ANALYSIS = "rm_anova_gg_per_arm"


def kernel_batch(rng: np.random.Generator, trials: int) -> int:
    """Generate and analyse one batch; the number of rejections (both arms)."""
    y, present = generate(rng, trials, N, MEANS, CHOL, NO_DROPOUT)
    return sum(int(np.sum(p < 0.05)) for p in analyse(ANALYSIS, y, present).values())


def long_frames(y: np.ndarray) -> list[pd.DataFrame]:
    """Per trial and arm, the long frame pingouin wants."""
    subject = np.repeat(np.arange(N), K)
    time_ = np.tile([f"T{v}" for v in range(K)], N)
    return [
        pd.DataFrame({"patient": subject, "time": time_, "value": y[b, :, side].ravel()})
        for b in range(y.shape[0])
        for side in (0, 1)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-trials", type=int, default=200)
    parser.add_argument("--kernel-trials", type=int, default=400_000)
    parser.add_argument("--million", type=int, default=1_000_000)
    args = parser.parse_args()

    # Baseline: pingouin, one call per arm per trial.
    y, present = generate(np.random.default_rng(1), args.loop_trials, N, MEANS, CHOL, NO_DROPOUT)
    frames = long_frames(y)
    start = time.perf_counter()
    p_pingouin = [
        pingouin.rm_anova(f, dv="value", within="time", subject="patient", correction=True)[
            "p_GG_corr"
        ].iloc[0]
        for f in frames
    ]
    loop_rate = args.loop_trials / (time.perf_counter() - start)
    p_kernel = np.column_stack(list(analyse(ANALYSIS, y, present).values())).ravel()
    worst = float(np.max(np.abs(p_kernel - np.array(p_pingouin))))

    # Kernel: generate + analyse, then analyse only (data generated before the clock).
    rng = np.random.default_rng(2)
    kernel_batch(rng, BATCH)  # warm-up: imports, caches
    start = time.perf_counter()
    for _ in range(args.kernel_trials // BATCH):
        kernel_batch(rng, BATCH)
    full_rate = args.kernel_trials / (time.perf_counter() - start)
    y, present = generate(rng, BATCH, N, MEANS, CHOL, NO_DROPOUT)
    repeats = args.kernel_trials // BATCH
    start = time.perf_counter()
    for _ in range(repeats):
        analyse(ANALYSIS, y, present)
    analyse_rate = repeats * BATCH / (time.perf_counter() - start)

    # Peak memory of a million trials, in batches.
    tracemalloc.start()
    start = time.perf_counter()
    rejected = sum(kernel_batch(rng, BATCH) for _ in range(args.million // BATCH))
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"pingouin {pingouin.__version__} loop: {loop_rate:,.0f} trials/s ({args.loop_trials})")
    print(f"kernel, generate + analyse: {full_rate:,.0f} trials/s")
    print(f"kernel, analyse only:       {analyse_rate:,.0f} trials/s")
    print(f"ratio (generate + analyse) vs pingouin loop: {full_rate / loop_rate:,.0f} x")
    print(f"ratio (analyse only) vs pingouin loop:      {analyse_rate / loop_rate:,.0f} x")
    print(f"max |p_GG kernel - p_GG pingouin| on {args.loop_trials} trials x 2 arms: {worst:.2e}")
    print(
        f"{args.million:,} trials in batches of {BATCH}: {seconds:.1f} s, "
        f"peak traced memory {peak / 2**20:.1f} MiB, max RSS {max_rss:.0f} MiB, "
        f"power per arm (mean) {rejected / (2 * args.million):.3f}"
    )


if __name__ == "__main__":
    main()
