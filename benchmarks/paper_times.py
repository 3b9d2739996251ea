"""Estimate the `paper` profile's run times from a finished `quick` reproduction.

    python benchmarks/paper_times.py QUICK_DIR [--check PAPER_DIR] [--out FILE]

For each experiment the quick runs give the measured seconds per epoch and the training-set
size n_q. A paper run costs

    train = (seconds per epoch) · (n_paper / n_q) · (paper epochs)
    IS    = (seconds per point at the paper's importance samples, timed here on 16 points
             of the run's own model) · (paper eval points)

with n_paper the paper's data on full MNIST (7.5 × the bundled train part of 8,000 digits;
synthetic data is the same in both profiles). Runs share 2 cores, so an experiment's wall time
is the sum over its runs / 2 (scaled to the paper's number of runs: its grids are 5 × 5, and it
runs 5 seeds per grid point), plus the quick run's
non-training overhead (figures, theory; × instances for the theorem checks). The batch size is
scaled up when the paper's is smaller (more steps per epoch) and otherwise taken as is: fig5's
quick batch of 32 makes its estimate an upper bound for the paper's batch of 128. This misses
the per-epoch evaluation on the paper's 10× more eval points, so the wall time is multiplied
by CALIBRATION, the largest ratio of measured to estimated time in the calibration below
(rounded up).

``--check PAPER_DIR`` compares the estimate for the *bundled* data (no ×6) with paper-profile
experiments actually run on it, which calibrates the estimator. Writes a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vaecollapse.data import load
from vaecollapse.diagnostics.likelihood import importance_log_likelihood
from vaecollapse.experiments import REGISTRY
from vaecollapse.experiments.runner import variants
from vaecollapse.runs.rundir import load_model
from vaecollapse.runs.train import load_run_data

FULL_MNIST_FACTOR = 7.5  # 60,000 training digits against the bundled train part of 8,000
CORES = 2
IS_POINTS = 16
CALIBRATION = 1.5  # measured / estimated on the bundled data: 1.0–1.45 over two calibrations


def _strip_n(spec: str) -> str:
    """An MNIST spec without its subsample option (quick profiles cut the data with n=…);
    other specs (synthetic: n= is the generated size, the same in both profiles) as they are."""
    if not spec.startswith("mnist"):
        return spec
    spec = re.sub(r"(?<=[:,])n=\d+,?", "", spec)
    return spec.rstrip(":,")


def _is_seconds_per_point(run_dir: Path, samples: int) -> float:
    cfg, model, _ = load_model(run_dir)
    _, x, y = load_run_data(cfg.data, cfg.model.family)
    from vaecollapse.data import evaluation_index

    keep = torch.from_numpy(evaluation_index(x.shape[0], IS_POINTS))
    x, y = x[keep], None if y is None else y[keep]
    t0 = time.perf_counter()
    importance_log_likelihood(model, x, y, samples=samples,
                              generator=torch.Generator().manual_seed(0))
    return (time.perf_counter() - t0) / IS_POINTS


def estimate(quick_dir: Path, name: str, full_data: bool = True) -> dict | None:
    exp = REGISTRY[name]
    run_dirs = sorted(p.parent for p in (quick_dir / name / "runs" / "runs").glob("*/config.json"))
    meta_path = quick_dir / name / "meta.json"
    if not run_dirs or not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    paper = exp.options("paper")
    epochs_p = paper["epochs"]
    samples_p = paper.get("diagnostics_is_samples", 0)
    points_p = paper.get("eval_points", 10000)
    train_s, is_s, run_s, sizes = 0.0, 0.0, 0.0, {}
    is_per_point = None
    for rd in run_dirs:
        cfg = json.loads((rd / "config.json").read_text())
        rows = [json.loads(line) for line in (rd / "metrics.jsonl").read_text().splitlines()]
        per_epoch = float(np.median([r["seconds"] for r in rows]))
        run_s += sum(r["seconds"] for r in rows)
        spec = cfg["data"]
        if spec not in sizes:
            n_q = len(load(spec).x)
            n_p = len(load(_strip_n(spec)).x)
            if full_data and spec.startswith("mnist"):
                n_p *= FULL_MNIST_FACTOR
            sizes[spec] = (n_q, n_p)
        n_q, n_p = sizes[spec]
        # a smaller paper batch means more optimiser steps per epoch (synthetic: 16 against 64)
        steps = max(1.0, cfg["batch_size"] / paper.get("batch_size", cfg["batch_size"]))
        train_s += per_epoch * n_p / n_q * epochs_p * steps
        if samples_p and is_per_point is None:
            is_per_point = _is_seconds_per_point(rd, samples_p)
        if samples_p:
            is_s += is_per_point * min(points_p, n_p)
    # the paper's grids are larger (5 × 5 against 3 × 3): scale by the number of runs
    runs_p = len(variants(exp, "paper"))
    train_s, is_s = train_s * runs_p / len(run_dirs), is_s * runs_p / len(run_dirs)
    overhead = max(0.0, meta["seconds"] - run_s / CORES)
    if exp.kind == "verify":
        overhead *= paper.get("instances", 1) / exp.options("quick").get("instances", 1)
    raw = (train_s + is_s) / CORES + overhead
    return {"name": name, "runs": runs_p, "quick_s": meta["seconds"],
            "train_h": train_s / 3600, "is_h": is_s / 3600, "raw_min": raw / 60,
            "wall_min": CALIBRATION * raw / 60}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("quick_dir", type=Path)
    ap.add_argument("--check", type=Path, help="a paper-profile run on the bundled data")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-paper-times.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # core-seconds, as each of the quick run's 2 jobs had one core
    lines = ["# Paper-profile run times, estimated from a quick run", "",
             f"Quick run: `{args.quick_dir}`, 2 CPU cores, torch {torch.__version__}. "
             "Full MNIST = 7.5 × the bundled train part; wall times on 2 cores include the "
             f"calibration factor {CALIBRATION}. Method: `benchmarks/paper_times.py`.", "",
             "| experiment | paper runs | quick (s) | training (core-h) | IS (core-h) | paper, est. |",
             "|---|---|---|---|---|---|"]
    total = 0.0
    for name in REGISTRY:
        e = estimate(args.quick_dir, name)
        if e is None:
            print(f"{name}: no quick run in {args.quick_dir}", file=sys.stderr)
            continue
        total += e["wall_min"]
        wall = (f"{e['wall_min']:.0f} min" if e["wall_min"] < 120
                else f"{e['wall_min'] / 60:.1f} h")
        lines.append(f"| {name} | {e['runs']} | {e['quick_s']:.0f} | {e['train_h']:.2f} | "
                     f"{e['is_h']:.2f} | {wall} |")
        print(lines[-1], flush=True)
    lines += ["", f"Total: {total / 60:.0f} h on 2 cores."]
    if args.check:
        lines += ["", "## Calibration: paper profile on the bundled 10,000 digits", "",
                  "| experiment | estimated (raw) | estimated × calibration | measured |",
                  "|---|---|---|---|"]
        for meta_path in sorted(args.check.glob("*/meta.json")):
            name = meta_path.parent.name
            e = estimate(args.quick_dir, name, full_data=False)
            measured = json.loads(meta_path.read_text())["seconds"] / 60
            if e is not None:
                lines.append(f"| {name} | {e['raw_min']:.1f} min | {e['wall_min']:.1f} min | "
                             f"{measured:.1f} min |")
                print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
