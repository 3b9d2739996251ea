"""Sweeps: a grid of training runs (hyperparameters × seeds), run on a local process pool or on
a Ray cluster, resumable, with one index of every run.

Layout of a sweep directory DIR::

    DIR/sweep.json        the grid, seeds and base training options (the sweep's definition)
    DIR/index.csv         one row per run: grid values, seed, status (done / failed / pending),
                          run directory, final metrics, error
    DIR/runs/<name>/      an ordinary run directory (see vaecollapse.train)

Rerunning the same sweep skips finished runs, resumes interrupted ones from their checkpoints and
retries failed ones; a failing run never stops the others.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaecollapse.errors import UserError
from vaecollapse.io import atomic_write_json, atomic_write_text
from vaecollapse.lock import locks_directory
from vaecollapse.records import read_csv, read_json

SWEEP, INDEX, RUNS = "sweep.json", "index.csv", "runs"
EXECUTORS = ("local", "ray")
METRIC_COLUMNS = ("epoch", "loss", "recon", "kl_total", "n_collapsed", "active_units",
                  "log_likelihood")


@dataclass(frozen=True)
class Run:
    """One grid point and seed: its options (base options with the grid values applied)."""

    name: str
    values: dict[str, Any]
    seed: int
    options: dict[str, Any]


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def expand(grid: dict[str, list], seeds: int, base: dict[str, Any]) -> list[Run]:
    """Every combination of the grid values (in the order given) × seeds 0…seeds−1 (offset by the
    base seed)."""
    names = list(grid)
    runs = []
    base_seed = int(base.get("seed", 0))
    for combo in itertools.product(*(grid[k] for k in names)):
        values = dict(zip(names, combo, strict=True))
        for s in range(seeds):
            seed = base_seed + s
            name = "_".join(f"{k}={_fmt(v)}" for k, v in values.items()) + f"_seed={seed}"
            runs.append(Run(name, values, seed, {**base, **values, "seed": seed}))
    return runs


# ------------------------------------------------------------------------------ one run


def run_one(options: dict[str, Any], run_dir: str, threads: int | None = None) -> dict[str, Any]:
    """Train one run (resuming it if a checkpoint exists) and return its final metrics.
    Runs in a worker process (local pool or Ray task)."""
    import torch

    from vaecollapse.train import (
        CHECKPOINT,
        DIAGNOSTICS,
        config_from_options,
        load_checkpoint,
        train,
    )

    if threads:
        torch.set_num_threads(threads)
    out = Path(run_dir)
    cfg = config_from_options(**options)
    saved = out / "config.json"
    if saved.exists() and _without_runtime(read_json(saved, "run configuration")) != json.loads(
            json.dumps(cfg.to_dict())):
        raise UserError(f"{out} holds a run with another configuration; rerun with --force to "
                        "replace it")
    if (out / CHECKPOINT).exists():
        ckpt = load_checkpoint(out)
        if ckpt["epoch"] >= cfg.epochs and (out / DIAGNOSTICS).exists():
            return final_metrics(out)
        train(cfg, out, resume=True, progress=False)
    else:
        train(cfg, out, progress=False)
    return final_metrics(out)


def _without_runtime(config: Any) -> Any:
    """A saved config.json without its runtime entry (threads, device, versions)."""
    return {k: v for k, v in config.items() if k != "runtime"} if isinstance(config, dict) else config


def final_metrics(run_dir: Path) -> dict[str, Any]:
    """Last epoch's metrics (last latent level) and the diagnostics' log-likelihood."""
    from vaecollapse.train import DIAGNOSTICS, METRICS

    lines = (run_dir / METRICS).read_text().splitlines()
    last = json.loads(lines[-1])
    level = list(last["n_collapsed"])[-1]
    diag = json.loads((run_dir / DIAGNOSTICS).read_text())
    ll = diag.get("log_likelihood") or {}
    return {"epoch": last["epoch"], "loss": last["loss"], "recon": last["recon"],
            "kl_total": last["kl_total"], "n_collapsed": last["n_collapsed"][level],
            "active_units": last["active_units"][level], "log_likelihood": ll.get("estimate")}


# ------------------------------------------------------------------------------ index


INDEX_COLUMNS = ("run", "status", "run_dir", *METRIC_COLUMNS)
STATUSES = ("done", "failed", "pending")


def read_index(path: Path, grid_names: Iterable[str] = ()) -> list[dict[str, str]]:
    """index.csv's rows ([] without one), checked: its columns, statuses and run directories;
    a corrupt index is a UserError naming the file (delete it: finished runs are found again)."""
    if not path.exists():
        return []
    fix = "; delete it and rerun the sweep (finished runs are read back, not retrained)"
    try:
        rows = read_csv(path, (*INDEX_COLUMNS, *grid_names), "sweep index")
    except UserError as e:
        raise UserError(f"{e}{fix}") from None
    for i, row in enumerate(rows, start=2):
        if row["status"] not in STATUSES:
            raise UserError(f"{path} is not a valid sweep index: line {i} has status "
                            f"{row['status']!r} (not {', '.join(STATUSES)}){fix}")
        if Path(row["run_dir"]).is_absolute() or ".." in Path(row["run_dir"]).parts:
            raise UserError(f"{path} is not a valid sweep index: line {i} has run_dir "
                            f"{row['run_dir']!r} outside the sweep{fix}")
    return rows


def read_definition(out: Path) -> dict[str, Any]:
    """sweep.json, checked: {"grid": {NAME: [values]}, "seeds": N, "base": {options}} or
    {"variants": {NAME: {options}}}."""
    path = out / SWEEP
    d = read_json(path, "sweep definition")
    bad = f"{path} is not a valid sweep definition"
    if not isinstance(d, dict):
        raise UserError(f"{bad}: it must be a JSON object, got {type(d).__name__}")
    if "variants" in d:
        if not (isinstance(d["variants"], dict) and all(isinstance(v, dict)
                                                        for v in d["variants"].values())):
            raise UserError(f"{bad}: variants must map names to option objects")
        return d
    for key, kind, what in (("grid", dict, "an object of value lists"), ("seeds", int, "a number"),
                            ("base", dict, "an object of train options")):
        if key not in d:
            raise UserError(f"{bad}: the key {key} is missing")
        if not isinstance(d[key], kind) or isinstance(d[key], bool):
            raise UserError(f"{bad}: {key} must be {what}, got {d[key]!r}")
    if not d["grid"] or not all(isinstance(v, list) and v for v in d["grid"].values()):
        raise UserError(f"{bad}: grid must map option names to non-empty lists of values")
    return d


def write_index(path: Path, runs: list[Run], state: dict[str, dict[str, Any]]) -> None:
    """index.csv: one row per run (grid values, seed, status, run_dir, metrics, error)."""
    grid_names = list(runs[0].values) if runs else []
    cols = ["run", *grid_names, "seed", "status", "run_dir", *METRIC_COLUMNS, "error"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in runs:
        st = state.get(r.name, {})
        row = {"run": r.name, **{k: _fmt(v) for k, v in r.values.items()}, "seed": r.seed,
               "status": st.get("status", "pending"), "run_dir": f"{RUNS}/{r.name}",
               "error": st.get("error", "")}
        for k in METRIC_COLUMNS:
            v = st.get("metrics", {}).get(k)
            row[k] = "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)
        w.writerow(row)
    atomic_write_text(path, buf.getvalue())


# ------------------------------------------------------------------------------ executors


def _default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def _die_with_parent(parent: int) -> None:
    """Pool-worker initializer: end this worker when the sweep process dies, even by kill -9.

    On Linux the kernel sends SIGKILL at the parent's death (prctl PR_SET_PDEATHSIG); everywhere a
    watchdog thread also checks every second that the parent is still this worker's parent. The
    worker's run directory lock dies with it, so a rerun never races a survivor."""
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # died before the prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="vaecollapse-parent-watch", daemon=True).start()


class LocalExecutor:
    """A process pool; each worker gets cores // jobs torch threads (no oversubscription) and
    exits when the sweep process dies (:func:`_die_with_parent`)."""

    def __init__(self, jobs: int):
        import multiprocessing as mp

        self.jobs = jobs
        self.threads = max(1, _default_jobs() // jobs)
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                        initializer=_die_with_parent, initargs=(os.getpid(),))

    def submit(self, run: Run, run_dir: str):
        return self.pool.submit(run_one, run.options, run_dir, self.threads)

    def wait(self, pending):
        done, rest = wait(pending, return_when=FIRST_COMPLETED)
        return [(f, self._result(f)) for f in done], rest

    @staticmethod
    def _result(f):
        try:
            return ("done", f.result())
        except BrokenProcessPool:
            return ("crashed", "the worker process died (out of memory or killed?)")
        except UserError as e:
            return ("failed", str(e))
        except Exception as e:  # noqa: BLE001 - a failing run is reported, never fatal
            return ("failed", "".join(traceback.format_exception_only(type(e), e)).strip())

    def restart_if_broken(self) -> None:
        import multiprocessing as mp

        if getattr(self.pool, "_broken", False):
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=mp.get_context("spawn"),
                                            initializer=_die_with_parent, initargs=(os.getpid(),))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Each run is a Ray task (1 CPU) on the cluster at ``address`` — or on a local Ray instance
    started here with ``jobs`` CPUs when no address is given."""

    def __init__(self, jobs: int, address: str | None):
        try:
            import ray
        except ImportError:
            raise UserError("the ray executor needs Ray: pip install 'vaecollapse[distributed]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            try:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:
                    ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
            except Exception as e:  # noqa: BLE001 - connection problems are the user's to fix
                raise UserError(f"cannot start or reach Ray ({address or 'local'}): {e}") from None
        self.task = ray.remote(num_cpus=1, max_retries=0)(run_one)

    def submit(self, run: Run, run_dir: str):
        return self.task.remote(run.options, run_dir, 1)

    def wait(self, pending):
        done, rest = self.ray.wait(list(pending), num_returns=1)
        out = []
        for ref in done:
            try:
                out.append((ref, ("done", self.ray.get(ref))))
            except self.ray.exceptions.WorkerCrashedError:
                out.append((ref, ("crashed", "the Ray worker died")))
            except self.ray.exceptions.RayTaskError as e:
                cause = e.cause if getattr(e, "cause", None) is not None else e
                out.append((ref, ("failed", str(cause).strip().splitlines()[-1])))
        return out, set(rest)

    def restart_if_broken(self) -> None:
        pass

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


# ------------------------------------------------------------------------------ the sweep


def run_sweep(grid: dict[str, list], seeds: int, base: dict[str, Any], out: str | os.PathLike, *,
              executor: str = "local", jobs: int | None = None, address: str | None = None,
              retries: int = 1, force: bool = False,
              on_update: Callable[[int, int, int], None] | None = None) -> list[dict[str, str]]:
    """Run (or resume) a sweep into ``out``; returns the final index rows.

    ``base`` holds `train` options (as keyword arguments of
    :func:`vaecollapse.train.config_from_options`); ``grid`` maps option names to value lists.
    Each run is retried up to ``retries`` times after a failure or a worker crash.
    """
    if seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {seeds}")
    return _run(expand(grid, seeds, base), {"grid": grid, "seeds": seeds, "base": base}, Path(out),
                executor=executor, jobs=jobs, address=address, retries=retries, force=force,
                on_update=on_update)


def run_variants(variants: dict[str, dict[str, Any]], out: str | os.PathLike, **kwargs
                 ) -> list[dict[str, str]]:
    """Run a named set of heterogeneous runs (each its own full `train` options) with the same
    machinery as :func:`run_sweep` (index.csv with a ``variant`` column, resumable, any executor);
    used by the paper's experiments."""
    runs = [Run(name, {"variant": name}, int(opts.get("seed", 0)), opts)
            for name, opts in variants.items()]
    return _run(runs, {"variants": variants}, Path(out), **kwargs)


def check_executor(executor: str, jobs: int | None) -> int:
    """The number of runs at once (CPU count for None), after checking it and the executor."""
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    jobs = _default_jobs() if jobs is None else jobs
    if not (1 <= jobs <= 1024):
        raise UserError(f"--jobs must be in [1, 1024], got {jobs}")
    return jobs


@locks_directory("out", "sweep directory")
def _run(runs: list[Run], definition: dict[str, Any], out: Path, *, executor: str = "local",
         jobs: int | None = None, address: str | None = None, retries: int = 1,
         force: bool = False, on_update: Callable[[int, int, int], None] | None = None
         ) -> list[dict[str, str]]:
    jobs = check_executor(executor, jobs)
    if retries < 0:
        raise UserError(f"--retries must be >= 0, got {retries}")
    saved = out / SWEEP
    if saved.exists() and not force:
        old = read_definition(out)
        if old != json.loads(json.dumps(definition)):
            raise UserError(f"{out} holds a different sweep ({saved}); choose another --out or "
                            "pass --force to start it anew")
    from vaecollapse.train import config_from_options

    for r in runs:  # validate every configuration before any work starts
        config_from_options(**r.options)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(saved, definition)
    index_path = out / INDEX
    state: dict[str, dict[str, Any]] = {}
    for row in [] if force else read_index(index_path, list(runs[0].values) if runs else []):
        if row["status"] == "done" and not force and (out / row["run_dir"]).exists():
            state[row["run"]] = {"status": "done", "error": "",
                                 "metrics": {k: _num(row[k]) for k in METRIC_COLUMNS}}
    todo = [r for r in runs if state.get(r.name, {}).get("status") != "done"]
    if force:  # start every run afresh: no stale checkpoint is resumed
        import shutil

        for r in todo:
            shutil.rmtree(out / RUNS / r.name, ignore_errors=True)
    write_index(index_path, runs, state)
    done_count = len(runs) - len(todo)
    if on_update:
        on_update(done_count, len(runs), 0)
    if not todo:
        return read_index(index_path)
    ex = LocalExecutor(jobs) if executor == "local" else RayExecutor(jobs, address)
    attempts = {r.name: 0 for r in todo}
    failed = 0
    try:
        queue = list(todo)
        pending: dict[Any, Run] = {}
        while queue or pending:
            while queue and len(pending) < jobs * 2:
                r = queue.pop(0)
                pending[ex.submit(r, str(out / RUNS / r.name))] = r
            finished, _ = ex.wait(set(pending))
            for handle, (status, payload) in finished:
                r = pending.pop(handle)
                if status == "done":
                    state[r.name] = {"status": "done", "metrics": payload, "error": ""}
                    done_count += 1
                else:
                    attempts[r.name] += 1
                    if attempts[r.name] <= retries:
                        queue.append(r)  # retried; an interrupted run resumes from its checkpoint
                        state[r.name] = {"status": "pending", "error": f"retrying: {payload}"}
                    else:
                        state[r.name] = {"status": "failed", "error": payload}
                        failed += 1
                write_index(index_path, runs, state)
                if on_update:
                    on_update(done_count, len(runs), failed)
            if any(s == "crashed" for _, (s, _) in finished):
                for handle, r in list(pending.items()):  # a broken pool loses its queue
                    queue.insert(0, r)
                    pending.pop(handle)
                ex.restart_if_broken()
    finally:
        ex.close()
    return read_index(index_path)


def _num(text: str):
    if text in ("", None):
        return None
    try:
        v = float(text)
    except ValueError:
        return text
    return int(v) if v.is_integer() and "." not in text and "e" not in text else v


def parse_grid(items: Iterable[str], convert: Callable[[str, str], Any]) -> dict[str, list]:
    """['beta=0.1,0.5', 'eta_dec=0.5,1'] → {'beta': [0.1, 0.5], 'eta_dec': [0.5, 1.0]};
    ``convert(name, text)`` parses one value for an option (and rejects unknown names)."""
    grid: dict[str, list] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise UserError(f"--grid takes NAME=V1,V2,…, got {item!r}")
        if name in grid:
            raise UserError(f"--grid {name} given twice")
        grid[name] = [convert(name, v.strip()) for v in values.split(",") if v.strip()]
    if not grid:
        raise UserError("a sweep needs at least one --grid NAME=V1,V2,…")
    return grid


# ------------------------------------------------------------------------------ summary

SUMMARY_METRICS = {"n_collapsed": "(ε,δ)-collapsed dims", "kl_total": "KL (nats)",
                   "nll": "NLL (nats, IS)", "active_units": "active units"}


def summarise(out: str | os.PathLike) -> tuple[list[str], list[dict[str, Any]]]:
    """Mean ± sd over seeds per grid point, from index.csv (finished runs only).

    Returns the grid names and one dict per grid point: its ``values``, ``runs`` (finished
    seeds), ``failed``, and for each summary metric ``<metric>_mean`` and ``<metric>_sd``
    (sample sd; 0 with one seed). ``nll`` is −log-likelihood."""
    import numpy as np

    out = Path(out)
    if not (out / SWEEP).exists():
        raise UserError(f"{out} is not a sweep directory (no {SWEEP})")
    definition = read_definition(out)
    if "grid" not in definition:
        raise UserError(f"{out} holds named variants (a reproduction's runs), not a grid to summarise")
    names = list(definition["grid"])
    groups: dict[tuple, dict[str, Any]] = {}
    for row in read_index(out / INDEX, names):
        key = tuple(row[k] for k in names)
        g = groups.setdefault(key, {"values": {k: _num(row[k]) for k in names}, "runs": 0,
                                    "failed": 0, "_rows": []})
        if row["status"] == "done":
            g["runs"] += 1
            g["_rows"].append(row)
        elif row["status"] == "failed":
            g["failed"] += 1
    result = []
    for g in groups.values():
        rows = g.pop("_rows")
        for m in SUMMARY_METRICS:
            col = "log_likelihood" if m == "nll" else m
            vals = [_num(r[col]) for r in rows if r.get(col) not in ("", None)]
            text = [v for v in vals if isinstance(v, str)]
            if text:
                raise UserError(f"{out / INDEX} is not a valid sweep index: column {col} holds "
                                f"{text[0]!r}, not a number")
            vals = np.array([-v if m == "nll" else v for v in vals], dtype=float)
            g[f"{m}_mean"] = float(vals.mean()) if vals.size else None
            g[f"{m}_sd"] = float(vals.std(ddof=1)) if vals.size > 1 else (0.0 if vals.size else None)
        result.append(g)
    return names, result


def theory_hyperparameters(m) -> dict[str, Any]:
    """The closed forms' hyperparameters of a ModelConfig (true β-ELBO weights)."""
    if m.family == "mhvae":
        return {"beta1": m.beta1, "beta2": m.beta2, "eta_enc": m.eta_enc, "eta_dec": m.eta_dec,
                "sigma1": m.sigma1, "sigma2": m.sigma2}
    return {"beta": m.beta, "eta_enc": m.eta_enc, "eta_dec": m.eta_dec, "sigma": m.sigma}


def closed_form_collapse(options: dict[str, Any], cache: dict) -> int | None:
    """Closed-form number of collapsed modes for a run's data and hyperparameters (the linear
    model's, whatever the run's backbone); None without a closed form (MHVAE, learnable Σ1).
    ``cache`` keeps the data statistics per (data spec, family)."""
    from vaecollapse.theory import solve, statistics
    from vaecollapse.train import config_from_options, load_run_data

    cfg = config_from_options(**options)
    m = cfg.model
    if m.family == "mhvae" and m.sigma1 is None:
        return None
    key = (cfg.data, m.family)
    if key not in cache:
        _, x, y = load_run_data(cfg.data, m.family)
        cache[key] = statistics(x.numpy(), None if y is None else y.numpy(), model=m.family)
    return solve(cache[key], m.latent_dim, **theory_hyperparameters(m)).n_collapsed


def theory_n_collapsed(out: str | os.PathLike, groups: list[dict[str, Any]]) -> list[int | None] | None:
    """Closed-form number of collapsed modes per grid point when the sweep trains a linear model
    with a closed form (None otherwise): the theory on the run's data and hyperparameters."""
    definition = read_definition(Path(out))
    if definition["base"].get("backbone") != "linear" and all(
            "backbone" not in g["values"] for g in groups):
        return None
    cache: dict = {}
    counts = []
    for g in groups:
        options = {**definition["base"], **g["values"]}
        if options.get("backbone") != "linear":
            return None
        try:
            counts.append(closed_form_collapse(options, cache))
        except UserError:
            raise
        except (TypeError, ValueError) as e:  # hand-edited base options of the wrong type
            raise UserError(f"{Path(out) / SWEEP} is not a valid sweep definition: its options "
                            f"{options} are invalid ({e})") from None
    return None if any(c is None for c in counts) else counts
