"""Benchmark: vaecollapse against the paper's own algorithms (``reference.py``), side by side.

Every ratio is candidate / reference measured in the same run, at the same torch thread count,
on the same points with the same weights, with reference and candidate interleaved repetition
by repetition (the machine is shared: interleaving exposes both to the same load); the median of
the repetitions is reported, with the load average.

1. Training, the paper's ReLU CVAE (quarter split of the bundled 10,000 digits, hidden 16,
   d = 16, η_enc = 1, η_dec = 0.5, β = 1, batch 128, Adam lr 1e-3, clip 0.01): one epoch of
   ``reference_train_epoch`` (DataLoader over a TensorDataset) vs epoch 2 of
   ``vaecollapse.runs.train.train`` as its metrics log times it (steps and per-epoch metrics). Also
   checked: two trainer runs with the same seed give bit-identical weights.
2. Importance-sampled log-likelihood: ``reference_log_likelihood`` (per point, MultivariateNormal,
   S copies of x) vs ``diagnostics.likelihood.importance_log_likelihood``; the ReLU CVAE above (trained 2
   epochs) at S = 1000 and the paper's ReLU VAE (784-256-16, trained 1 epoch) at S = 10,000, on
   points drawn with a seed. Values: mean of each estimator and their mean paired difference
   ± its standard error (independent noise: equal within Monte-Carlo error when |Δ| ≲ 2 SE).
3. ``predict`` on a synthetic 60,000 × 784 MNIST-format IDX file (``synthetic_idx.py``): the
   whole ``python -m vaecollapse predict --model vae`` process vs a bare numpy process that
   reads the IDX file, forms XᵀX in float64 and calls ``eigh``; and the CVAE (quarter split):
   one prediction vs a 60-point ``--sweep``. BLAS threads set by OMP/OPENBLAS_NUM_THREADS for
   both processes. Imports checked with ``python -X importtime``.

Usage: python benchmarks/bench_reference.py [--reps 3] [--threads 1,2] [--quick]
       [--out benchmarks/RESULTS-reference.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from reference import (  # noqa: E402
    ReferenceCVAE,
    reference_loader,
    reference_log_likelihood,
    reference_train_epoch,
)
from results import write_results  # noqa: E402
from synthetic_idx import write_idx  # noqa: E402

from vaecollapse.config import TrainConfig, model_config_for  # noqa: E402
from vaecollapse.data import load  # noqa: E402
from vaecollapse.diagnostics.likelihood import importance_log_likelihood  # noqa: E402
from vaecollapse.runs.rundir import METRICS, load_model  # noqa: E402
from vaecollapse.runs.train import train  # noqa: E402

SPEC = "mnist:split=quarter"
CVAE_HP = {"hidden": [16], "eta_enc": 1.0, "eta_dec": 0.5, "beta": 1.0}
VAE_HP = {"hidden": [256], "eta_enc": 1.0, "eta_dec": 0.5, "beta": 1.0}
BATCH, LR, CLIP = 128, 1e-3, 0.01

BARE = """
import sys, numpy as np
path = sys.argv[1] + "/train-images-idx3-ubyte"
with open(path, "rb") as fh:
    raw = fh.read()
n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols).astype(np.float64)
x /= 255
vals, vecs = np.linalg.eigh(x.T @ x / n)
print(vals[-1])
"""


def loadavg() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def med(values) -> float:
    return statistics.median(values)


def cfg_for(ds, family, hp, epochs, seed=0):
    return TrainConfig(data=ds.spec, model=model_config_for(ds, family, "mlp", 16, **hp),
                          epochs=epochs, lr=LR, batch_size=BATCH, clip=CLIP, seed=seed,
                          device="cpu")


def train_run(ds, family, hp, epochs, tmp: Path, name: str):
    """One trainer run; returns (per-epoch seconds, model)."""
    run = tmp / name
    train(cfg_for(ds, family, hp, epochs), run, progress=False)
    history = [json.loads(line) for line in (run / METRICS).read_text().splitlines()]
    _, model, _ = load_model(run)
    return [h["seconds"] for h in history], model


# ------------------------------------------------------------------------------ 1. training


def bench_training(ds, reps: int, tmp: Path) -> dict:
    x, y = torch.from_numpy(ds.x), torch.from_numpy(ds.y)
    n = x.shape[0]
    torch.manual_seed(0)
    from vaecollapse.models import build_model

    ref = ReferenceCVAE(build_model(model_config_for(ds, "cvae", "mlp", 16, **CVAE_HP)))
    opt = torch.optim.Adam(ref.parameters(), lr=LR)
    loader = reference_loader(x, y, BATCH)
    reference_train_epoch(ref, loader, opt, CLIP)  # warm-up
    t_ref, t_ours, models = [], [], []
    for r in range(reps):
        t0 = time.perf_counter()
        reference_train_epoch(ref, loader, opt, CLIP)
        t_ref.append(time.perf_counter() - t0)
        seconds, model = train_run(ds, "cvae", CVAE_HP, 2, tmp, f"train{r}")
        t_ours.append(seconds[1])
        models.append(model)
    a, b = models[0].state_dict(), models[-1].state_dict()
    identical = all(torch.equal(a[k], b[k]) for k in a)
    return {"ref": n / med(t_ref), "ours": n / med(t_ours), "identical": identical,
            "model": models[-1]}


# ------------------------------------------------------------------------------ 2. likelihood


def bench_is(model, x, y, samples: int, n_fast: int, n_ref: int, reps: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    pts = torch.randperm(x.shape[0], generator=gen)[:max(n_fast, n_ref)]
    xs, ys = x[pts], None if y is None else y[pts]

    def sub(k):
        return xs[:k], None if ys is None else ys[:k]

    importance_log_likelihood(model, *sub(2), samples=samples, generator=gen)  # warm-up
    reference_log_likelihood(model, *sub(1), samples=samples)
    t_fast, t_ref, fast, ref = [], [], None, None
    for r in range(reps):
        torch.manual_seed(1000 + r)
        t0 = time.perf_counter()
        ref = reference_log_likelihood(model, *sub(n_ref), samples=samples)
        t_ref.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fast = importance_log_likelihood(model, *sub(n_fast), samples=samples,
                                         generator=torch.Generator().manual_seed(r))["per_point"]
        t_fast.append(time.perf_counter() - t0)
    k = min(n_fast, n_ref)
    diff = fast[:k].double() - ref[:k]
    return {"fast": n_fast / med(t_fast), "ref": n_ref / med(t_ref), "k": k,
            "mean_fast": float(fast[:k].mean()), "mean_ref": float(ref[:k].mean()),
            "diff": float(diff.mean()), "se": float(diff.std() / math.sqrt(k))}


# ------------------------------------------------------------------------------ 3. predict


def timed_process(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def heavy_imports(args: list[str], env: dict) -> list[str]:
    p = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                       text=True, env=env, check=True)
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in p.stderr.splitlines()
             if line.startswith("import time:")}
    return sorted(names & {"torch", "matplotlib"})


def bench_predict(reps: int, blas_threads: int, tmp: Path) -> dict:
    d = tmp / "idx60k"
    if not d.exists():
        write_idx(d, 60_000)
    env = {**os.environ, "OMP_NUM_THREADS": str(blas_threads),
           "OPENBLAS_NUM_THREADS": str(blas_threads)}
    cli = [sys.executable, "-m", "vaecollapse", "predict"]
    vae = [*cli, "--model", "vae", "--data", f"idx:{d}"]
    cvae = [*cli, "--model", "cvae", "--data", f"idx:{d},split=quarter"]
    sweep = [*cvae, "--sweep", "beta=0.05:10:60:log"]
    bare = [sys.executable, "-c", BARE, str(d)]
    t = {"bare": [], "vae": [], "cvae": [], "sweep": []}
    timed_process(vae, env)  # warm the page cache
    for _ in range(reps):
        t["bare"].append(timed_process(bare, env))
        t["vae"].append(timed_process(vae, env))
        t["cvae"].append(timed_process(cvae, env))
        t["sweep"].append(timed_process(sweep, env))
    out = {k: med(v) for k, v in t.items()}
    out["imports"] = heavy_imports(vae[1:], env) + heavy_imports(sweep[1:], env)
    return out


# ------------------------------------------------------------------------------ report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true", help="fewer points and repetitions")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-reference.md"))
    args = ap.parse_args()
    reps = 1 if args.quick else max(args.reps, 1)
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    load_start, t_start = loadavg(), time.perf_counter()
    ds_c, ds_v = load(SPEC), load("mnist")
    xc, yc = torch.from_numpy(ds_c.x), torch.from_numpy(ds_c.y)
    xv = torch.from_numpy(ds_v.x)
    n_c = (32, 8) if args.quick else (100, 20)
    n_v = (4, 2) if args.quick else (8, 3)
    res: dict = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        torch.set_num_threads(1)
        _, vae = train_run(ds_v, "vae", VAE_HP, 1, tmp, "vae")
        for th in threads:
            torch.set_num_threads(th)
            tr = bench_training(ds_c, reps, tmp / f"t{th}")
            res["train", th] = tr
            res["cvae", th] = bench_is(tr["model"], xc, yc, 1000, *n_c, reps)
            res["vae", th] = bench_is(vae, xv, None, 10_000, *n_v, reps)
            res["predict", th] = bench_predict(reps, th, tmp)
            done = threads[:threads.index(th) + 1]
            write_report(res, done, reps, args, load_start, time.perf_counter() - t_start)


def write_report(res: dict, threads: list[int], reps: int, args, load_start: str,
                 elapsed: float) -> None:
    """Write the results measured so far (after each thread count: a slow, shared machine
    must not lose a finished part)."""

    def ok(v, target):
        return "yes" if v >= target else "**no**"

    lines = [
        "## vaecollapse vs the paper's algorithms (reference implementations)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, Python "
        f"{platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}. Shared "
        f"with other developers: load average (1/5/15 min) {load_start} at start, {loadavg()} at "
        f"end. Median of {reps} interleaved repetitions{' (--quick)' if args.quick else ''}; "
        f"every ratio is between two numbers measured in this run. Total {elapsed / 60:.1f} min.",
        "Baselines: `benchmarks/reference.py` (the public scripts' algorithms, re-implemented).",
        "",
        "### Training: ReLU CVAE, quarter split (10,000 pairs, hidden 16, d = 16, batch 128)",
        "",
        "Reference: DataLoader over a TensorDataset, Adam defaults, clip, `loss.item()`. "
        "vaecollapse: `runs.train.train`, epoch 2 as its metrics log times it (steps + per-epoch "
        "metrics). Target ≥ 2.5×.",
        "",
        "| threads | reference samples/s | vaecollapse samples/s | ratio | ≥ 2.5× | "
        "same seed bit-identical |",
        "|---:|---:|---:|---:|:---:|:---:|",
    ]
    for th in threads:
        r = res["train", th]
        ratio = r["ours"] / r["ref"]
        lines.append(f"| {th} | {r['ref']:,.0f} | {r['ours']:,.0f} | {ratio:.2f}× | "
                     f"{ok(ratio, 2.5)} | {'yes' if r['identical'] else '**no**'} |")
    for key, title, target in (
            ("cvae", "ReLU CVAE (as above, trained 2 epochs), S = 1000", 10),
            ("vae", "ReLU VAE 784-256-16 (trained 1 epoch), S = 10,000", 3)):
        lines += [
            "",
            f"### Importance-sampled log-likelihood: {title}",
            "",
            f"Points drawn with a seed; reference on {res[key, threads[0]]['k']} of them. Target "
            f"≥ {target}×. Δ = mean paired difference (vaecollapse − reference) on the shared "
            "points ± its standard error (independent noise).",
            "",
            f"| threads | reference points/s | vaecollapse points/s | ratio | ≥ {target}× | "
            "mean log p, reference | mean log p, vaecollapse | Δ ± SE |",
            "|---:|---:|---:|---:|:---:|---:|---:|---:|",
        ]
        for th in threads:
            r = res[key, th]
            ratio = r["fast"] / r["ref"]
            lines.append(f"| {th} | {r['ref']:,.1f} | {r['fast']:,.1f} | {ratio:.1f}× | "
                         f"{ok(ratio, target)} | {r['mean_ref']:.3f} | {r['mean_fast']:.3f} | "
                         f"{r['diff']:+.3f} ± {r['se']:.3f} |")
    lines += [
        "",
        "### `predict`, 60,000 × 784 synthetic IDX file (whole processes)",
        "",
        "Bare numpy: read the IDX file, XᵀX in float64, `eigh`. Target: VAE predict ≤ 1.3× bare; "
        "a 60-point CVAE sweep costs at most one prediction more (extra ≤ 1.0×).",
        "",
        "| BLAS threads | bare numpy s | predict VAE s | ratio | ≤ 1.3× | predict CVAE s | "
        "60-point sweep s | sweep extra / one prediction | torch or matplotlib imported |",
        "|---:|---:|---:|---:|:---:|---:|---:|---:|:---:|",
    ]
    for th in threads:
        p = res["predict", th]
        ratio = p["vae"] / p["bare"]
        extra = (p["sweep"] - p["cvae"]) / p["cvae"]
        lines.append(f"| {th} | {p['bare']:.2f} | {p['vae']:.2f} | {ratio:.2f}× | "
                     f"{'yes' if ratio <= 1.3 else '**no**'} | {p['cvae']:.2f} | "
                     f"{p['sweep']:.2f} | {extra:.2f} | "
                     f"{', '.join(p['imports']) or 'no'} |")
    write_results(args.out, "against the reference algorithms", "bench_reference", lines)


if __name__ == "__main__":
    main()
