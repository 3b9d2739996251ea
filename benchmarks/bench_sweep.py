"""Benchmark: sweep scaling — 1 vs 2 local workers on a fixed grid, and the Ray executor's
overhead against the local pool on the same grid, all measured in one run.

Grid: 4 runs of the paper's ReLU CVAE (hidden 16, latent 16) on the 10,000 pairs of the embedded MNIST
quarter split, 4 epochs each. Each sweep starts from an empty directory; wall-clock time includes
starting the workers (and Ray). Median of ``--reps`` repetitions.

Usage: python benchmarks/bench_sweep.py [--reps 3] [--out benchmarks/RESULTS-sweep.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vaecollapse.files.atomic import atomic_write_text
from vaecollapse.runs.sweep import run_sweep

GRID = {"beta": [0.25, 0.5, 1.0, 2.0]}
BASE = {"model": "cvae", "backbone": "mlp", "hidden": "16", "latent_dim": 16,
        "data": "mnist:split=quarter", "eta_enc": 1.0, "eta_dec": 0.5, "epochs": 4,
        "clip": 0.01, "seed": 0}


def sweep_time(executor: str, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rows = run_sweep(GRID, 1, BASE, Path(tmp) / "s", executor=executor, jobs=jobs)
        dt = time.perf_counter() - t0
    if any(r["status"] != "done" for r in rows):
        raise RuntimeError(f"a run failed: {rows}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-sweep.md"))
    args = ap.parse_args()
    load0 = os.getloadavg()
    configs = [("local", 1), ("local", 2)]
    try:
        import ray  # noqa: F401

        configs.append(("ray", 2))
    except ImportError:
        pass
    times = {c: statistics.median(sweep_time(*c) for _ in range(args.reps)) for c in configs}
    base = times["local", 1]
    lines = [
        "## Sweep scaling",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}; "
        f"load average {load0[0]:.2f} at start. Grid: {len(GRID['beta'])} ReLU CVAE runs (hidden 16, "
        "latent 16, 10,000 quarter-split pairs, 4 epochs); wall-clock per sweep including worker "
        f"start-up, median of {args.reps}.",
        "",
        "| executor | workers | seconds | speed-up vs 1 local worker |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {ex} | {jobs} | {t:.2f} | {base / t:.2f} |" for (ex, jobs), t in times.items()]
    if ("ray", 2) in times:
        lines += ["", f"Ray overhead vs the local pool (2 workers each): "
                  f"{times['ray', 2] / times['local', 2]:.2f}× the local time "
                  "(includes starting a local Ray instance)."]
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
