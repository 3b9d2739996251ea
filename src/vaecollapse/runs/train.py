"""One training loop for every family and backbone, into resumable run directories
(:class:`vaecollapse.runs.rundir.RunDir` holds their layout).

Reproducibility: every random draw (batch order, reparameterisation noise) comes from one seeded
``torch.Generator`` whose state is checkpointed, so ``resume`` continues with exactly the numbers
an uninterrupted run would produce (on the same device and thread count).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaecollapse.config import TrainConfig, run_dataset
from vaecollapse.data import evaluation_index
from vaecollapse.diagnostics import diagnose
from vaecollapse.diagnostics.collapse import active_units, eps_delta_collapse
from vaecollapse.diagnostics.posteriors import collect_posteriors
from vaecollapse.errors import UserError
from vaecollapse.family import Family
from vaecollapse.files.atomic import atomic_write_json, atomic_write_text, jsonable
from vaecollapse.models import LatentModel
from vaecollapse.models.fast_step import AUTOGRAD, HAND_DIFFERENTIATED
from vaecollapse.runs import loop, runtime
from vaecollapse.runs.checkpoint import load_state, save_checkpoint
from vaecollapse.runs.loop import TrainingDiverged
from vaecollapse.runs.rundir import RunDir


def load_run_data(spec: str, family: str, datasets: dict | None = None):
    """(dataset, x tensor, y tensor or None) for a family (the CVAE needs y); ``datasets``: the
    data sets already loaded for this run (:func:`vaecollapse.config.load_dataset`)."""
    ds = run_dataset(spec, family, datasets)
    x = torch.from_numpy(ds.x)
    y = torch.from_numpy(ds.y) if Family.parse(family).conditional else None
    return ds, x, y


def evaluation_data(cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor | None,
                    datasets: dict | None = None):
    """The evaluation points (x, y) of a run: ``cfg.eval_points`` drawn with ``cfg.eval_seed`` from
    ``cfg.eval_data`` (or from the training tensors ``x``, ``y`` when it is None)."""
    if cfg.eval_data:
        _, x, y = load_run_data(cfg.eval_data, cfg.model.family, datasets)
    idx = torch.from_numpy(evaluation_index(x.shape[0], cfg.eval_points, cfg.eval_seed))
    return x[idx.to(x.device)], None if y is None else y[idx.to(y.device)]


# ------------------------------------------------------------------------------ metrics


def epoch_metrics(model: LatentModel, x: torch.Tensor, y: torch.Tensor | None, *, epsilon: float,
                  delta: float, seed: int) -> dict[str, Any]:
    """Per-level collapse metrics on a fixed evaluation subset (noise from its own seed, so that
    evaluating never disturbs the training RNG)."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    model.eval()
    posts = collect_posteriors(model, x, y, generator=gen)
    model.train()
    out: dict[str, Any] = {"kl_per_dim": {}, "active_units": {}, "n_collapsed": {}}
    for p in posts:
        kl = p.kl()
        out["kl_per_dim"][p.name] = kl.mean(0).tolist()
        out["active_units"][p.name] = int(active_units(p))
        frac, mask = eps_delta_collapse(kl, np.array([epsilon]), delta)
        out["n_collapsed"][p.name] = int(np.asarray(mask)[0].sum())
    return out


# ------------------------------------------------------------------------------ training


def train(cfg: TrainConfig, out: str | os.PathLike, *, resume: bool = False, progress: bool = True,
          stop_after: int | None = None,
          on_epoch: Callable[[dict[str, Any]], None] | None = None,
          datasets: dict | None = None) -> dict[str, Any]:
    """Train ``cfg`` into run directory ``out``; returns the final metrics line.

    ``resume``: continue from ``out``'s checkpoint (its saved config wins; ``cfg.epochs`` may
    extend it; the saved thread count and device are used again; a run interrupted before its
    first checkpoint starts again from its saved config). ``out`` is locked for the call: a second
    writer gets :class:`vaecollapse.files.lock.DirectoryLocked`. The training step is the
    hand-differentiated one where it covers the model and ``cfg.fast_step`` is ``auto``, else
    autograd; config.json's ``runtime.training_step`` records which. ``stop_after``: stop after that many
    epochs of this call (tests use it to simulate an interruption). ``on_epoch(line)``: called
    with each epoch's metrics line once it is saved (e.g.
    :class:`vaecollapse.integrations.tensorboard.TensorBoardLog`). ``datasets``: the data sets already
    loaded for ``cfg`` (by :func:`vaecollapse.config.config_from_options`), reused here.
    """
    run = RunDir(out)
    with run.lock():
        return _train(cfg, run, resume, progress, stop_after, on_epoch, datasets)


def _train(cfg: TrainConfig, run: RunDir, resume: bool, progress: bool, stop_after: int | None,
           on_epoch, datasets: dict | None) -> dict[str, Any]:
    out = run.path
    if resume:
        saved = run.read_config()
        saved.epochs = max(saved.epochs, cfg.epochs)
        cfg = saved
    elif run.checkpoint.exists():
        raise UserError(f"{out} already holds a run: resume it, or choose another run directory")
    cfg.validate()
    saved_rt = run.runtime() if resume else None
    device = runtime.resolve_device(saved_rt.device if saved_rt else cfg.device)
    if saved_rt:  # the saved thread count: resumed numbers equal uninterrupted ones
        torch.set_num_threads(saved_rt.threads)
    ds, x, y = load_run_data(cfg.data, cfg.model.family, datasets)
    o = loop.start(cfg, x, y, device)
    model, opt, fused, gen, perm_gen = o.model, o.opt, o.fused, o.gen, o.perm_gen
    history: list[dict[str, Any]] = []
    start = 0
    if resume and run.checkpoint.exists():
        ckpt = run.load_checkpoint()
        load_state(model, ckpt["model"], run.checkpoint)
        load_state(opt, ckpt["optimizer"], run.checkpoint)
        for g, key in ((gen, "generator"), (perm_gen, "perm_generator")):
            try:
                g.set_state(ckpt[key])
            except (RuntimeError, TypeError, ValueError) as e:
                raise UserError(f"{run.checkpoint} has an invalid {key} state "
                                f"({str(e).splitlines()[0]})") from None
        history = ckpt["history"]
        start = ckpt["epoch"]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot use {out} as a run directory: {e.strerror or e}") from None
    step = AUTOGRAD if fused is None else HAND_DIFFERENTIATED
    atomic_write_json(run.config, {**cfg.to_dict(),
                                   runtime.KEY: runtime.current(device, step).to_dict()})

    x, y = o.x, o.y
    x_eval, y_eval = evaluation_data(cfg, x, y, datasets)
    x_eval, y_eval = x_eval.to(device), None if y_eval is None else y_eval.to(device)
    bar = _Progress(progress, cfg.epochs, start)
    last_epoch = start
    try:
        for epoch in range(start, cfg.epochs):
            if stop_after is not None and epoch - start >= stop_after:
                break
            t0 = time.perf_counter()
            sums, kl_sums = loop.run_epoch(
                o, epoch, lambda what, where, e=epoch: _diverged(what, e, where, run.path),
                bar.batch)
            m = epoch_metrics(model, x_eval, y_eval, epsilon=cfg.epsilon, delta=cfg.delta,
                              seed=cfg.seed + 7919 * (epoch + 1))
            line = {"epoch": epoch + 1, **sums, "kl_total": sum(kl_sums.values()), "kl": kl_sums,
                    **m, "seconds": time.perf_counter() - t0}
            if not all(torch.isfinite(p).all() for p in model.parameters()) or not _finite(line):
                raise TrainingDiverged(_diverged("the model's weights or metrics became "
                                                 "non-finite", epoch, "its end", out))
            history.append(line)
            save_checkpoint(run.checkpoint, epoch=epoch + 1, model=model, optimizer=opt,
                            generator=gen, perm_generator=perm_gen, history=history)
            atomic_write_text(run.metrics, "".join(json.dumps(jsonable(h), allow_nan=False) + "\n"
                                                     for h in history))
            last_epoch = epoch + 1
            bar.epoch(line)
            if on_epoch:
                on_epoch(line)
    finally:
        bar.close()
    finished = last_epoch >= cfg.epochs
    if finished and (last_epoch > start or not run.diagnostics.exists()):
        write_final_diagnostics(model, cfg, x_eval, y_eval, (x, y), out)
    return history[-1] if history else {}


def _diverged(what: str, epoch: int, where: str, out: Path) -> str:
    kept = (f"the last good checkpoint (epoch {epoch}) is kept in {out}" if epoch > 0
            else "no epoch finished, so there is no checkpoint")
    return (f"{what} at epoch {epoch + 1}, {where}; {kept}. Try a smaller learning rate (lr) or "
            "a gradient clip (clip)")


def _finite(value) -> bool:
    """True when every number in a (nested) metrics record is finite."""
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def write_final_diagnostics(model: LatentModel, cfg: TrainConfig, x_eval, y_eval, train_data,
                            out: Path) -> dict:
    """Diagnostics of the finished model on its evaluation points (:func:`evaluation_data`); the
    closed-form comparison (linear models) uses the moments of all the training data
    ``train_data`` = (x, y)."""
    gen = torch.Generator(device=x_eval.device).manual_seed(cfg.seed + 31)
    model.eval()
    result = diagnose(model, x_eval, y_eval, epsilon=cfg.epsilon,
                      delta=cfg.delta, is_samples=cfg.diagnostics_is_samples, generator=gen,
                      theory_data=train_data)
    atomic_write_json(RunDir(out).diagnostics, result)
    return result


class _Progress:
    """A rich progress bar over batches, with the last epoch's loss, KL and active dimensions."""

    def __init__(self, enabled: bool, epochs: int, start: int):
        self.p = None
        if not enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # lazy: rare

        self.p = Progress(TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                          BarColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                          transient=False)
        self.p.start()
        self.task = self.p.add_task("train", total=1.0, epoch=start + 1, epochs=epochs,
                                    status="")

    def batch(self, done: int, total: int) -> None:
        if self.p:
            self.p.update(self.task, completed=done / total)

    def epoch(self, line: dict) -> None:
        if self.p:
            au = "/".join(str(v) for v in line["active_units"].values())
            self.p.update(self.task, epoch=min(line["epoch"] + 1, self.p.tasks[0].fields["epochs"]),
                          status=f"loss {line['loss']:.4g}  KL {line['kl_total']:.3g}  active {au}")

    def close(self) -> None:
        if self.p:
            self.p.stop()
