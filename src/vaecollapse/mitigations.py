"""The classic remedies for posterior collapse, as training-time changes of the objective.

Each is a pure function of the optimiser step (like the learning rate), so a resumed run
follows exactly the schedule an uninterrupted one would:

- **KL warm-up** (Bowman et al. 2016, "Generating sentences from a continuous space"): every
  KL weight (β; the MHVAE's β1 and β2) is multiplied by w(t) = min(1, t / (E_w · S)), rising
  linearly from 0 over the first E_w epochs of S steps.
- **Cyclical annealing** (Fu et al. 2019, "Cyclical annealing schedule"): the T steps of the run
  are split into M cycles of length P = T / M; within a cycle, with τ = (t mod P) / P,
  w(t) = min(1, τ / R) — a linear ramp over the first fraction R of each cycle, then 1.
- **Free bits** (Kingma et al. 2016, "Improved variational inference with inverse
  autoregressive flow"): each latent dimension's KL term, averaged over the batch, is floored,
  Σ_i max(λ, E_batch KL_i): below λ nats a dimension's information costs nothing.

The objective is recombined from the terms the model returns: −log p(target|z) (``Output.recon``)
plus, per level, w(t) · β_level · Σ_i floor(KL_i) with the per-dimension batch means
``Output.kl_dims``. Without any remedy the model's own loss is used unchanged.

Theory (the linear models, docs/theory.md §2–§3): the global optimum of the β-ELBO does not depend on
the path taken to it, so warm-up and cyclical schedules — which end at the full weight — end at
the same collapsed modes as plain training. Free bits change the objective itself: a mode whose
plain optimum is collapsed keeps exactly λ nats (more would cost β per nat, less gains nothing).
"""

from __future__ import annotations

import math

from torch import Tensor

from vaecollapse.errors import HyperparameterError


def validate(cfg) -> None:
    """Check a TrainConfig's kl_warmup, kl_cycles, kl_cycle_ratio and free_bits."""
    warm, cycles, ratio, fb = cfg.kl_warmup, cfg.kl_cycles, cfg.kl_cycle_ratio, cfg.free_bits
    if isinstance(warm, bool) or not isinstance(warm, int) or warm < 0:
        raise HyperparameterError(f"kl_warmup must be a whole number of epochs >= 0, got {warm!r}")
    if warm > cfg.epochs:
        raise HyperparameterError(f"kl_warmup ({warm} epochs) exceeds the run's {cfg.epochs} "
                                  "epochs: the KL weight would never reach its value")
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 0:
        raise HyperparameterError(f"kl_cycles must be a whole number >= 0, got {cycles!r}")
    if warm and cycles:
        raise HyperparameterError("choose either a KL warm-up or cyclical annealing, not both")
    if not (isinstance(ratio, int | float) and 0 < ratio <= 1):
        raise HyperparameterError(f"kl_cycle_ratio must be in (0, 1], got {ratio!r}")
    if fb is not None and not (isinstance(fb, int | float) and math.isfinite(fb) and fb > 0):
        raise HyperparameterError(f"free_bits must be a finite number of nats > 0, got {fb!r}")


def active(cfg) -> bool:
    """True when the run changes the plain β-ELBO objective."""
    return bool(cfg.kl_warmup or cfg.kl_cycles or cfg.free_bits)


def kl_weight(cfg, step: int, total: int, steps_per_epoch: int) -> float:
    """The factor w(t) ∈ [0, 1] on every KL weight at optimiser step ``step`` of ``total``."""
    if cfg.kl_warmup:
        return min(1.0, step / (cfg.kl_warmup * steps_per_epoch))
    if cfg.kl_cycles:
        period = total / cfg.kl_cycles
        tau = (step % period) / period
        return min(1.0, tau / cfg.kl_cycle_ratio)
    return 1.0


def objective(model, out, weight: float, free_bits: float | None) -> Tensor:
    """recon + Σ_level weight · β_level · Σ_i max(λ, KL_i) (no floor when ``free_bits`` is None);
    the model's own loss when neither applies."""
    if weight == 1.0 and free_bits is None:
        return out.loss
    loss = out.recon
    for level, kl in out.kl.items():
        beta = model.cfg.hyperparameters.level_weight(level)  # its family's LEVEL_WEIGHTS
        if free_bits is not None:
            kl = out.kl_dims[level].clamp(min=free_bits).sum()
        loss = loss + (weight * beta) * kl
    return loss
