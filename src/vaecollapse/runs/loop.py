"""One run's optimisation, epoch by epoch: what :func:`vaecollapse.runs.train.train` runs between
its checkpoints, and what the non-linear predictor's pilot (:mod:`vaecollapse.runs.pilot`) runs
alone — the same seeds, model, optimiser, step and schedule, so a pilot of p epochs holds the
weights the real run has after p epochs.

Reproducibility: the parameters are initialised under ``torch.manual_seed(seed)``; every random
draw of training (batch order, reparameterisation noise) comes from the generators
``perm_gen`` (seed + 1, CPU) and ``gen`` (seed, the run's device), whose states the trainer
checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vaecollapse.config import TrainConfig
from vaecollapse.errors import UserError
from vaecollapse.models import LatentModel, build_model, objective
from vaecollapse.models.fast_step import FusedStep, fused_step
from vaecollapse.runs.flat_adam import FlatAdam


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def learning_rate(cfg: TrainConfig, step: int, total: int) -> float:
    """The learning rate at optimiser step ``step`` of ``total`` (a pure function of the step,
    so a resumed run follows the same schedule)."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
    return cfg.lr


@dataclass
class Optimisation:
    """A run's model, optimiser, training step and generators, on its data ``x``, ``y``."""

    cfg: TrainConfig
    model: LatentModel
    opt: FlatAdam
    fused: FusedStep | None
    gen: torch.Generator
    perm_gen: torch.Generator
    x: torch.Tensor
    y: torch.Tensor | None

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.x.shape[0] // self.cfg.batch_size)


def start(cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor | None,
          device: torch.device) -> Optimisation:
    """The run's optimisation before its first step: the model initialised under its seed, fused
    Adam over one flat buffer (one kernel per step, one-tensor clip), the hand-differentiated step
    where it covers the model and ``cfg.fast_step`` allows (else autograd), the generators."""
    torch.manual_seed(cfg.seed)  # parameter initialisation
    model = build_model(cfg.model).to(device)
    opt = FlatAdam(model.parameters(), lr=cfg.lr)
    fused = fused_step(model, cfg.free_bits, cfg.fast_step)
    return Optimisation(cfg, model, opt, fused, torch.Generator(device=device).manual_seed(cfg.seed),
                        torch.Generator().manual_seed(cfg.seed + 1), x.to(device),
                        None if y is None else y.to(device))


def run_epoch(o: Optimisation, epoch: int, diverged: Callable[[str, str], str],
              on_batch: Callable[[int, int], None] | None = None
              ) -> tuple[dict[str, float], dict[str, float]]:
    """One epoch of optimiser steps (epoch index ``epoch`` of ``cfg.epochs``: it sets the step's
    place in the learning-rate and KL-weight schedules). Returns the epoch's sums (loss, recon and,
    under a remedy, the objective and KL weight; weighted by batch share) and the KL per level.
    A non-finite loss raises :class:`TrainingDiverged` with ``diverged(what, where)``'s message."""
    cfg, model, opt, x, y = o.cfg, o.model, o.opt, o.x, o.y
    n, spe = x.shape[0], o.steps_per_epoch
    order = torch.randperm(n, generator=o.perm_gen).to(x.device)
    sums = {"loss": 0.0, "recon": 0.0}
    if cfg.remedied:
        sums["objective"] = 0.0
    kl_sums: dict[str, float] = {}
    for b, i in enumerate(range(0, n, cfg.batch_size)):
        idx = order[i:i + cfg.batch_size]
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, epoch * spe + b, cfg.epochs * spe)
        # index_select: the same rows as x[idx], without advanced indexing's slow path
        xb, yb = x.index_select(0, idx), None if y is None else y.index_select(0, idx)
        kl_w = objective.kl_weight(cfg, epoch * spe + b, cfg.epochs * spe, spe)
        if o.fused is None:
            out = model(xb, yb, generator=o.gen)
            target = objective.objective(model, out, kl_w, cfg.free_bits)
        else:  # the same objective and noise, gradient by hand (models/fast_step.py)
            with torch.no_grad():
                out = o.fused(xb, yb, o.gen, kl_w)
            target = out.objective
        value = target.item()  # one read serves the check and the epoch's sums
        if not math.isfinite(value):
            raise TrainingDiverged(diverged(f"the loss became {value}", f"batch {b + 1}"))
        if o.fused is None:
            opt.zero_grad()
            target.backward()
        if cfg.clip is not None:
            opt.clip_grad_norm_(cfg.clip)
        opt.step()
        w = len(idx) / n
        sums["loss"] += (value if target is out.loss else out.loss.item()) * w
        sums["recon"] += out.recon.item() * w
        if "objective" in sums:
            sums["objective"] += value * w
            sums["kl_weight"] = kl_w
        for k, v in out.kl.items():
            kl_sums[k] = kl_sums.get(k, 0.0) + v.item() * w
        if on_batch is not None:
            on_batch(i + len(idx), n)
    return sums, kl_sums
