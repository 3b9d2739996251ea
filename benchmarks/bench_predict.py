"""Benchmark: `predict` on a 60,000 × 784 dataset against computing XᵀX alone, same BLAS, same run.

The target (issue: foundation) is predict ≤ ~1.5× the cost of XᵀX. Both are timed as the median
of several repetitions; the data are the embedded MNIST digits tiled to 60,000 rows (float32, as
the data layer returns them), so the timing covers the float64 conversion too.

Usage: python benchmarks/bench_predict.py [--reps 5] [--out benchmarks/RESULTS-predict.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from vaecollapse.data import load
from vaecollapse.files.atomic import atomic_write_text
from vaecollapse.theory import predict


def median_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine() -> str:
    blas = "unknown"
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]["name"] + " " + cfg["Build Dependencies"]["blas"]["version"]
    except Exception:  # noqa: BLE001 - informational only
        pass
    return (f"{platform.machine()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
            f"numpy {np.__version__} ({blas})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-predict.md"))
    args = ap.parse_args()

    ds = load("mnist")
    x32 = np.ascontiguousarray(np.tile(ds.x, (6, 1)))  # 60,000 × 784 float32
    pairs = load("mnist:split=quarter")
    xq, yq = np.tile(pairs.x, (6, 1)), np.tile(pairs.y, (6, 1))
    x64 = x32.astype(np.float64)

    baseline = median_time(lambda: x64.T @ x64, args.reps)
    rows = []
    for label, fn in [
        ("VAE, d = 16 (learnable Σ)", lambda: predict(x32, model="vae", latent_dim=16, beta=1.0)),
        ("MHVAE, d = 16 (Theorem 3)", lambda: predict(x32, model="mhvae", latent_dim=16,
                                                       sigma1=0.5, eta_enc=0.5, eta_dec=0.5)),
        ("CVAE quarter split, d = 16", lambda: predict(xq, yq, model="cvae", latent_dim=16)),
    ]:
        t = median_time(fn, args.reps)
        rows.append((label, t, t / baseline))

    lines = [
        "## predict on 60,000 × 784 vs XᵀX",
        "",
        f"Machine: {machine()}. Median of {args.reps} runs; ratio = predict time / XᵀX time, "
        "both measured in the same run. Target: ≤ 1.5×.",
        "",
        "| job | seconds | ratio to XᵀX |",
        "|---|---:|---:|",
        f"| XᵀX (float64, 60,000 × 784) — baseline | {baseline:.3f} | 1.00 |",
    ]
    lines += [f"| predict: {label} | {t:.3f} | {r:.2f} |" for label, t, r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
