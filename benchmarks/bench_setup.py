"""Benchmark: the README's two commands from a fresh clone, timed as a new user meets them.

Clones the repository's committed HEAD into a temporary directory (nothing of this checkout's
`.venv` or `out/` comes along), then times, one after the other: `make install` (creating `.venv`
and installing the pinned versions from the package registry), `make test` and `make demo`.
A fresh machine pays the install once, with whichever command it runs first; the README quotes
install + test and install + demo. Writes benchmarks/RESULTS-setup.md and
benchmarks/setup-times.json (read by scripts/verdict_blocks.py for the README's setup block).

Usage: python benchmarks/bench_setup.py [--keep DIR]   (takes 15-20 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import write_results  # benchmarks/results.py (run as a script)

from vaecollapse.files.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("install", "test", "demo")


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    res = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        raise SystemExit(f"error: `{' '.join(cmd)}` failed (exit {res.returncode}): "
                         f"{res.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="clone into DIR and keep it")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        clone = args.keep or Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        env_python = os.environ.get("PYTHON", "python3")
        seconds = {step: timed(["make", step, f"PYTHON={env_python}"], clone) for step in STEPS}
    minutes = {k: v / 60 for k, v in seconds.items()}
    doc = {"commit": commit, "cpus": os.cpu_count(), "machine": platform.machine(),
           "minutes": minutes,
           "make_test_fresh": minutes["install"] + minutes["test"],
           "make_demo_fresh": minutes["install"] + minutes["demo"]}
    atomic_write_text(ROOT / "benchmarks" / "setup-times.json", json.dumps(doc, indent=1) + "\n")
    write_results(ROOT / "benchmarks" / "RESULTS-setup.md", "the two commands from a fresh clone",
                  "bench_setup", [
                      f"A fresh clone of {commit[:7]}, {os.cpu_count()} cores "
                      f"({platform.machine()}), one run each, in this order:", "",
                      "| step | minutes |", "|---|---:|",
                      *(f"| `make {k}` | {v:.1f} |" for k, v in minutes.items()), "",
                      f"`make test` on a fresh machine (install + test): "
                      f"{doc['make_test_fresh']:.1f} min; `make demo` (install + demo): "
                      f"{doc['make_demo_fresh']:.1f} min."])
    return 0


if __name__ == "__main__":
    sys.exit(main())
