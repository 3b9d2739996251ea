"""Sweeps: a grid of training runs (hyperparameters × seeds), run on a local process pool or on
a Ray cluster, resumable, with one index of every run.

Layout of a sweep directory DIR::

    DIR/sweep.json        the grid, seeds and base training options (the sweep's definition)
    DIR/index.csv         one row per run: grid values, seed, status (done / failed / pending),
                          run directory, final metrics, error
    DIR/runs/<name>/      an ordinary run directory (see vaecollapse.runs.rundir)

Rerunning the same sweep skips finished runs, resumes interrupted ones from their checkpoints and
retries failed ones; a failing run never stops the others.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from vaecollapse.config import config_from_options
from vaecollapse.config.text_settings import MODEL as TEXT_MODEL
from vaecollapse.config.text_settings import text_config_from_options
from vaecollapse.errors import UserError
from vaecollapse.files.atomic import atomic_write_json, atomic_write_text
from vaecollapse.files.lock import locks_directory
from vaecollapse.files.records import read_csv, read_json
from vaecollapse.runs.executors import LocalExecutor, RayExecutor, check_executor
from vaecollapse.runs.grid import Run, expand, value_text
from vaecollapse.runs.rundir import RunDir

SWEEP, INDEX, RUNS = "sweep.json", "index.csv", "runs"
METRIC_COLUMNS = ("epoch", "loss", "recon", "kl_total", "n_collapsed", "active_units",
                  "log_likelihood")


def run_dir(sweep_dir: str | os.PathLike, name: str) -> RunDir:
    """The run directory of run ``name`` in sweep directory ``sweep_dir``."""
    return RunDir(Path(sweep_dir) / RUNS / name)


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
        row = {"run": r.name, **{k: value_text(v) for k, v in r.values.items()}, "seed": r.seed,
               "status": st.get("status", "pending"), "run_dir": f"{RUNS}/{r.name}",
               "error": st.get("error", "")}
        for k in METRIC_COLUMNS:
            v = st.get("metrics", {}).get(k)
            row[k] = "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)
        w.writerow(row)
    atomic_write_text(path, buf.getvalue())


# ------------------------------------------------------------------------------ the sweep


def run_sweep(grid: dict[str, list], seeds: int, base: dict[str, Any], out: str | os.PathLike, *,
              executor: str = "local", jobs: int | None = None, address: str | None = None,
              retries: int = 1, force: bool = False,
              on_update: Callable[[int, int, int], None] | None = None) -> list[dict[str, str]]:
    """Run (or resume) a sweep into ``out``; returns the final index rows.

    ``base`` holds `train` options (as keyword arguments of
    :func:`vaecollapse.config.config_from_options`); ``grid`` maps option names to value lists.
    Each run is retried up to ``retries`` times after a failure or a worker crash.
    """
    if seeds < 1:
        raise UserError(f"seeds must be >= 1, got {seeds}")
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


@locks_directory("out", "sweep directory")
def _run(runs: list[Run], definition: dict[str, Any], out: Path, *, executor: str = "local",
         jobs: int | None = None, address: str | None = None, retries: int = 1,
         force: bool = False, on_update: Callable[[int, int, int], None] | None = None
         ) -> list[dict[str, str]]:
    jobs = check_executor(executor, jobs)
    if retries < 0:
        raise UserError(f"retries must be >= 0, got {retries}")
    saved = out / SWEEP
    if saved.exists() and not force:
        old = read_definition(out)
        if old != json.loads(json.dumps(definition)):
            raise UserError(f"{out} holds a different sweep ({saved}); choose another directory "
                            "or force it to start anew")
    datasets: dict = {}  # each data spec loaded once for the checks
    for r in runs:  # validate every configuration before any work starts
        if r.options.get("model") == TEXT_MODEL:
            text_config_from_options(**r.options)
        else:
            config_from_options(**r.options, datasets=datasets)
    del datasets
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(saved, definition)
    index_path = out / INDEX
    state: dict[str, dict[str, Any]] = {}
    for row in [] if force else read_index(index_path, list(runs[0].values) if runs else []):
        if row["status"] == "done" and not force and (out / row["run_dir"]).exists():
            state[row["run"]] = {"status": "done", "error": "",
                                 "metrics": {k: parse_number(row[k]) for k in METRIC_COLUMNS}}
    todo = [r for r in runs if state.get(r.name, {}).get("status") != "done"]
    if force:  # start every run afresh: no stale checkpoint is resumed
        for r in todo:
            shutil.rmtree(run_dir(out, r.name).path, ignore_errors=True)
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
                pending[ex.submit(r, str(run_dir(out, r.name).path))] = r
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


def parse_number(text: str):
    """A CSV cell as a number (int when it reads as one), the text itself otherwise, None when empty."""
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
