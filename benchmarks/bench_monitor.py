"""Benchmark: the cost of `CollapseMonitor` per training step of the paper's ReLU CVAE.

The model and training step are bench_train.py's: the two-branch ReLU CVAE (hidden [16], d = 16,
η_enc = 1, η_dec = 0.5, β = 1) on the embedded MNIST quarter split (10,000 pairs), batch 128,
forward + backward + gradient clip 0.01 + Adam lr 1e-3, one torch thread. The monitored step
adds ``monitor.update(output.posteriors)`` (the posteriors the forward pass already computed),
as in examples/monitor_plain_loop.py.

Measurement, all in one run: blocks of ``--block`` consecutive steps (default 32 = the monitor's
``buffer_rows`` / batch, so every monitored block holds exactly one reduction of the staged rows
and the median charges the monitor its full amortised cost; shorter blocks would leave the
reductions in the few blocks the median ignores), alternately without and
with the monitor (the order flips every pair, ABBA, so a drift in the machine's load hits both
alike); per pair the ratio (with / without) of the block times; the overhead is the median ratio
− 1 over ``--pairs`` pairs (with its interquartile range), and the ratio of the median block
times. Each block is timed twice: in CPU time
of the process (``time.process_time``: the work done, little disturbed by other jobs on a shared
machine) and in wall-clock time (what a user waits, at the mercy of the machine's load).
After the pairs, in further monitored blocks kept out of the comparison (reading the clock
twice per step would inflate it), each ``update`` call is timed (CPU time): its median against
the median plain step is the monitor's own cost inside real training. Separately, the median
CPU time of one ``compute()`` (done once per epoch; amortised over the epoch's steps), twice:
its finalisation alone (a monitor with nothing staged: covariance, eigenvalues, the record) and
with the reduction of the rows staged since the last full buffer. The blocks above already
charge every step with its share of the reductions (one per 32-step block), so the target adds
the finalisation only; adding the second would count the reductions of that epoch twice.
Target: overhead ≤ 3 % (median pair ratio in CPU time, plus one finalisation per epoch): met
when the 95 % bootstrap interval of that overhead lies at or below 3 %, not met when it lies
above, undecided when it spans 3 %.

Usage: python benchmarks/bench_monitor.py [--pairs 400] [--block 32] [--quick]
                                           [--out benchmarks/RESULTS-monitor.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from bench_train import BATCH, CLIP, HYPER, LATENT, LR, SPEC, fresh_model, loadavg
from results import write_results

from vaecollapse.data import load
from vaecollapse.diagnostics.streaming import CollapseMonitor

TARGET = 0.03


def median_ci(values: list[float], reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the median (``reps`` resamples, seeded)."""
    import numpy as np

    v = np.asarray(values)
    rng = np.random.default_rng(seed)
    meds = np.median(v[rng.integers(0, len(v), (reps, len(v)))], axis=1)
    return float(np.quantile(meds, 0.025)), float(np.quantile(meds, 0.975))


def quantiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--block", type=int, default=CollapseMonitor().buffer_rows // BATCH,
                    help="training steps per timed block (default: one staging buffer)")
    ap.add_argument("--quick", action="store_true", help="20 pairs (smoke test)")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-monitor.md"))
    args = ap.parse_args()
    pairs = 20 if args.quick else max(args.pairs, 2)
    block = max(args.block, 1)
    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    load_start = loadavg()
    t_start = time.perf_counter()

    ds = load(SPEC)
    x, y = torch.from_numpy(ds.x), torch.from_numpy(ds.y)
    n = x.shape[0]
    steps_per_epoch = -(-n // BATCH)
    model = fresh_model(ds, "mlp")
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(0)
    perm_gen = torch.Generator().manual_seed(1)
    monitor = CollapseMonitor()
    batches: list[torch.Tensor] = []
    inline: list[float] = []  # CPU seconds of each update call in the instrumented blocks

    def next_batch() -> torch.Tensor:
        if not batches:
            order = torch.randperm(n, generator=perm_gen)
            batches.extend(order[i:i + BATCH] for i in range(0, n, BATCH))
        return batches.pop(0)

    def run(steps: int, monitored: bool, timed: bool = False) -> tuple[float, float]:
        """(CPU seconds, wall seconds) of ``steps`` training steps; ``timed``: time each
        ``update`` call too (extra clock reads, so never in the compared blocks)."""
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(steps):
            idx = next_batch()
            o = model(x[idx], y[idx], generator=gen)
            opt.zero_grad(set_to_none=True)
            o.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
            if timed:
                u0 = time.process_time()
                monitor.update(o.posteriors)
                inline.append(time.process_time() - u0)
            elif monitored:
                monitor.update(o.posteriors)
        return time.process_time() - c0, time.perf_counter() - t0

    run(2 * steps_per_epoch, True)  # warm-up: one epoch-ish of each kind of step
    run(steps_per_epoch, False)
    cpu: dict[str, list[float]] = {"plain": [], "monitored": [], "ratio": []}
    wall: dict[str, list[float]] = {"plain": [], "monitored": [], "ratio": []}
    for k in range(pairs):
        if k % 2 == 0:
            a = run(block, False)
            b = run(block, True)
        else:
            b = run(block, True)
            a = run(block, False)
        for j, rec in ((0, cpu), (1, wall)):
            rec["plain"].append(a[j] / block)
            rec["monitored"].append(b[j] / block)
            rec["ratio"].append(b[j] / a[j])
    for _ in range(max(pairs // 10, 4)):  # update's own cost, in separate instrumented blocks
        run(block, True, timed=True)
    monitor.reset()

    # compute() alone, after an epoch of updates
    with torch.no_grad():
        posts = model(x[:BATCH], y[:BATCH], generator=gen).posteriors
    compute_times: list[float] = []  # with the staged rows' reduction
    final_times: list[float] = []  # finalisation alone (buffer_rows=0: nothing is ever staged)
    unstaged = CollapseMonitor(buffer_rows=0)
    for _ in range(9 if args.quick else 31):
        for mon, times in ((monitor, compute_times), (unstaged, final_times)):
            mon.reset()
            for _ in range(steps_per_epoch):
                mon.update(posts)
            t0 = time.process_time()
            mon.compute()
            times.append(time.process_time() - t0)
    torch.set_num_threads(default_threads)
    elapsed = time.perf_counter() - t_start

    t_update, t_compute = statistics.median(inline), statistics.median(compute_times)
    t_final = statistics.median(final_times)
    amortised = t_final / steps_per_epoch
    step_cpu = statistics.median(cpu["plain"])
    with_compute = quantiles(cpu["ratio"])[1] - 1 + amortised / step_cpu
    lo, hi = (c - 1 + amortised / step_cpu for c in median_ci(cpu["ratio"]))
    # met when the whole 95 % interval is at or below the target, not met when it is above
    ok = "yes" if hi <= TARGET else "no" if lo > TARGET else (
        f"undecided (95 % interval {100 * lo:+.2f} % … {100 * hi:+.2f} % spans it)")

    def rows(label: str, rec: dict[str, list[float]]) -> list[str]:
        r25, r50, r75 = quantiles(rec["ratio"])
        plain, monitored = statistics.median(rec["plain"]), statistics.median(rec["monitored"])
        return [f"| training step, {label}, median of blocks | {plain * 1e3:.3f} ms |",
                f"| monitored step, {label}, median of blocks | {monitored * 1e3:.3f} ms "
                f"(ratio of medians − 1: {100 * (monitored / plain - 1):+.2f} %) |",
                f"| **overhead per step, {label}**: median pair ratio − 1 (IQR) | "
                f"**{100 * (r50 - 1):+.2f} %** ({100 * (r25 - 1):+.2f} % … {100 * (r75 - 1):+.2f} %) |",
                f"| overhead per step, {label}: 95 % bootstrap interval of the median pair ratio − 1 | "
                + " … ".join(f"{100 * (c - 1):+.2f} %" for c in median_ci(rec["ratio"])) + " |"]

    lines = [
        "## Collapse monitor overhead",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, Python "
        f"{platform.python_version()}, torch {torch.__version__}, 1 torch thread; the machine is "
        f"shared with other developers' jobs: load average (1/5/15 min) {load_start} at start, "
        f"{loadavg()} at end. {pairs} interleaved pairs (ABBA) of {block}-step blocks"
        f"{' (--quick)' if args.quick else ''}; total {elapsed:.0f} s.",
        "",
        f"Training step: ReLU CVAE (two-branch, hidden [16], d = {LATENT}, η_dec = "
        f"{HYPER['eta_dec']}) on {SPEC} (n = {n:,}), batch {BATCH}, Adam lr {LR:g}, clip {CLIP:g}; "
        "monitored step = the same + `CollapseMonitor.update(output.posteriors)`.",
        "",
        "| measure | value |",
        "|---|---:|",
        *rows("CPU time", cpu),
        *rows("wall clock", wall),
        f"| `update` inside training steps (instrumented blocks), CPU time, median per call | "
        f"{t_update * 1e6:.1f} µs ({100 * t_update / step_cpu:.2f} % of a plain step) |",
        f"| `compute()` finalisation, CPU time, once per epoch | {t_final * 1e3:.3f} ms "
        f"({amortised * 1e6:.1f} µs per step over {steps_per_epoch} steps) |",
        f"| `compute()` with the staged rows' reduction (already charged to the steps above) | "
        f"{t_compute * 1e3:.3f} ms |",
        f"| overhead with one finalisation per epoch, CPU time | {100 * with_compute:+.2f} % |",
        f"| target ≤ {100 * TARGET:.0f} % met (CPU time) | {ok} |",
    ]
    write_results(args.out, "collapse monitor", "bench_monitor", lines)


if __name__ == "__main__":
    main()
