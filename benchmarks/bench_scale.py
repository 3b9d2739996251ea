"""Benchmark: `vaecollapse predict` on memory-mapped .npy datasets of 60,000, 240,000 and
1,000,000 rows × 784 (float32), whole process: time and peak resident memory.

The statistics are accumulated over blocks of rows (``theory.stats.CHUNK_ROWS``) and the pages
of the mapped file already read are released (``vaecollapse.files.mapped``), so memory should stay
flat while time grows linearly in n. Data: ``synthetic_idx.synthetic_images`` / 255, written
block by block to a temporary directory (nothing downloaded); the file is in the OS page cache
when timed (it was just written), so this measures compute, not the disk.

Usage: python benchmarks/bench_scale.py [--rows 60000,240000,1000000] [--reps 3]
       [--out benchmarks/RESULTS-scale.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from results import write_results  # noqa: E402
from synthetic_idx import synthetic_images  # noqa: E402

# Peak memory of the child's own address space: VmHWM (ru_maxrss would also count the parent's
# resident pages at fork time, which Linux carries across exec).
CHILD = ("import atexit, sys\n"
         "def hwm():\n"
         "    for line in open('/proc/self/status'):\n"
         "        if line.startswith('VmHWM:'):\n"
         "            print('MAXRSS_KB', line.split()[1], file=sys.stderr)\n"
         "atexit.register(hwm)\n"
         "sys.argv = ['vaecollapse'] + sys.argv[1:]\n"
         "from vaecollapse.cli import main\n"
         "main()\n")


def write_npy(path: Path, n: int, block: int = 50_000) -> None:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 784))
    for i in range(0, n, block):
        m = min(block, n - i)
        out[i:i + m] = synthetic_images(m, seed=i) / np.float32(255)
    out.flush()
    del out


def run_predict(path: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD, "predict", "--model", "vae", "--data",
                        f"npy:{path}"], capture_output=True, text=True, check=True)
    t = time.perf_counter() - t0
    kb = int(next(line.split()[1] for line in p.stderr.splitlines() if line.startswith("MAXRSS_KB")))
    return t, kb / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="60000,240000,1000000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-scale.md"))
    args = ap.parse_args()
    sizes = [int(v) for v in args.rows.split(",")]
    load0 = "/".join(f"{v:.2f}" for v in os.getloadavg())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"x{n}.npy"
            write_npy(path, n)
            os.sync()  # no write-back of the fresh file during the timed runs
            run_predict(path)  # warm-up: page cache
            runs = [run_predict(path) for _ in range(args.reps)]
            t = statistics.median(r[0] for r in runs)
            mem = max(r[1] for r in runs)
            rows.append((n, path.stat().st_size / 2**20, t, mem))
            path.unlink()
    base_n, _, base_t, _ = rows[0]
    lines = [
        "## Scale: `predict --model vae` on memory-mapped .npy files",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, Python "
        f"{platform.python_version()}, numpy {np.__version__}; load average (1/5/15 min) {load0} "
        f"at start, {'/'.join(f'{v:.2f}' for v in os.getloadavg())} at end (shared machine). Whole "
        f"process (`python -m vaecollapse predict --model vae --data npy:PATH`), median of "
        f"{args.reps} after a warm-up run; peak memory = the largest peak resident set "
        "(VmHWM) of the runs, which counts the mapped file pages while they are resident. "
        "File in the page cache.",
        "",
        "| rows | file MB | seconds | seconds per 60,000 rows | peak memory MB |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n, mb, t, mem in rows:
        lines.append(f"| {n:,} | {mb:,.0f} | {t:.2f} | {t / n * 60_000:.2f} | {mem:,.0f} |")
    last_n, _, last_t, _ = rows[-1]
    lines += ["", f"Time ratio {last_n:,} / {base_n:,} rows: {last_t / base_t:.1f}× for "
              f"{last_n / base_n:.1f}× the rows (fixed start-up ≈ imports + eigh)."]
    write_results(args.out, "predict at scale", "bench_scale", lines)


if __name__ == "__main__":
    main()
