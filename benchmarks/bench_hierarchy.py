"""Benchmark: the per-mode reduced solve of the numerical theory (theory/hierarchy.py) against the
full-matrix Newton solve of the same loss, same instances, same run, CPU seconds (process time:
the shared machine's load does not enter), median of ``--reps``.

The paper has no public code for these settings (the reference scripts stop at Theorem 5), so
the baseline is the full-matrix solve — the only other exact method — with 4 starts.
Also reports the agreement of the optimal losses (relative).

Usage: python benchmarks/bench_hierarchy.py [--reps 3] [--out benchmarks/RESULTS-hierarchy.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from vaecollapse.files.atomic import atomic_write_text
from vaecollapse.theory.hierarchy.optimum import solve_full, solve_modes
from vaecollapse.theory.hierarchy.setting import make_hierarchy
from vaecollapse.theory.stats import vae_statistics

CASES = [
    ("MHVAE, Σ1 and Σ2 learnable, β = 0.5, 1", 2, [0.5, 1.0], [None, None], "markov"),
    ("3-level ladder, Σ = 0.5, learn, learn, β = 0.5, 1, 2", 3, [0.5, 1.0, 2.0],
     [0.5, None, None], "ladder"),
]


def cpu_time(fn, reps: int):
    times, out = [], None
    for _ in range(reps):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--d0", type=int, default=6)
    ap.add_argument("--d", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/RESULTS-hierarchy.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(args.d0, args.d0)))
    theta = np.sort(rng.uniform(0.3, 3, args.d0))[::-1]
    A = (q * theta**2) @ q.T
    th = vae_statistics(A).theta
    rows = []
    for name, L, betas, sigmas, inference in CASES:
        h = make_hierarchy(L, betas, args.d, sigmas, inference, 1.0, 0.8)
        t_red, red = cpu_time(lambda h=h: solve_modes(th, h), args.reps)
        t_full, (full, _) = cpu_time(lambda h=h: solve_full(A, h, starts=4), args.reps)
        rows.append(f"| {name} | {t_red:.2f} | {t_full:.2f} | {t_full / t_red:.0f}× | "
                    f"{abs(red.loss - full) / abs(full):.1e} |")
    text = "\n".join([
        "# Numerical theory: reduced (per-mode) solve vs full-matrix solve", "",
        f"d0 = {args.d0}, latent size {args.d} per level, CPU seconds (process time, one thread), "
        f"median of {args.reps}; {platform.processor() or platform.machine()}, torch "
        f"{torch.__version__}.", "",
        "| setting | reduced (s) | full matrices (s) | speed-up | rel. loss difference |",
        "|---|---|---|---|---|", *rows, ""])
    atomic_write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
