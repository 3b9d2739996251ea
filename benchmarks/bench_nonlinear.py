"""Benchmark: the non-linear predictor's cost against one quick training run of the same model.

For every non-linear experiment of the registry, its first grid point (seed 0, quick profile):
the full `train` of that run (checkpoints, per-epoch metrics, final diagnostics, as `reproduce`
runs it) and the predictor (`vaecollapse.runs.pilot.predict_run`: the pilot of the run's first
8% of epochs, then the criterion on 4,000 points), timed interleaved A B A B in one process
after a warm-up call of each, one torch thread. The target (issue 26) is a ratio ≤ 0.10.

Usage: python benchmarks/bench_nonlinear.py [--reps 2] [--out benchmarks/RESULTS-nonlinear.md]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from results import write_results  # benchmarks/results.py (run as a script)

from vaecollapse.config import config_from_options
from vaecollapse.experiments.registry import REGISTRY
from vaecollapse.experiments.runner import resolved, variants
from vaecollapse.runs.pilot import pilot_epochs, predict_run
from vaecollapse.runs.predicted import TheoryCache
from vaecollapse.runs.train import train

EXPERIMENTS = ("fig2b", "fig2c", "fig3a", "fig4", "cnn-mhvae-grid", "table-vae", "table-cvae",
               "table-mhvae", "synthetic-correlation", "nonlinear-beyond")


def first_nonlinear(name: str):
    exp = resolved(REGISTRY[name], "quick", TheoryCache())
    runs = [v for v in variants(exp, "quick") if v.options.get("backbone", "mlp") != "linear"]
    if name == "fig3a":  # the ReLU and the CNN series' first runs
        return [runs[0], next(v for v in runs if v.options.get("backbone") == "cnn")]
    return [runs[0]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-nonlinear.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows, ratios = [], []
    for name in EXPERIMENTS:
        for v in first_nonlinear(name):
            datasets: dict = {}
            cfg = config_from_options(**v.options, datasets=datasets)
            predict_run(cfg, datasets)  # warm-up
            t_train, t_pred = [], []
            for _ in range(args.reps):
                d = Path(tempfile.mkdtemp())
                t0 = time.perf_counter()
                train(cfg, d / "run", progress=False, datasets=datasets)
                t_train.append(time.perf_counter() - t0)
                shutil.rmtree(d)
                t0 = time.perf_counter()
                predict_run(cfg, datasets)
                t_pred.append(time.perf_counter() - t0)
            tr, pr = statistics.median(t_train), statistics.median(t_pred)
            ratios.append(pr / tr)
            rows.append(f"| `{name}` | {v.name} ({cfg.model.family}, {cfg.model.backbone}) | "
                        f"{pilot_epochs(cfg)} of {cfg.epochs} | {tr:.2f} s | {pr:.3f} s | "
                        f"{pr / tr:.3f} |")
    lines = ["One torch thread, medians of "
             f"{args.reps} interleaved repetitions after a warm-up; the training run is the "
             "quick profile's, as `reproduce` trains it.", "",
             "| experiment | run (seed 0) | pilot epochs | one training run | predictor | ratio |",
             "|---|---|---|---|---|---|", *rows, "",
             f"Median ratio {statistics.median(ratios):.3f}, largest {max(ratios):.3f} "
             f"(target ≤ 0.10: {'met' if max(ratios) <= 0.10 else 'not met'})."]
    write_results(args.out, "the non-linear predictor against one training run", "bench_nonlinear",
                  lines)


if __name__ == "__main__":
    main()
