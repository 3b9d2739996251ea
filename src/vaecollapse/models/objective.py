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

Their settings are fields of :class:`~vaecollapse.config.TrainConfig` (checked there;
``TrainConfig.remedied`` tells whether any applies). The objective is recombined from the terms
the model returns: −log p(target|z) (``Output.recon``)
plus, per level, w(t) · β_level · Σ_i floor(KL_i) with the per-dimension batch means
``Output.kl_dims``. Without any remedy the model's own loss is used unchanged.

Theory (the linear models, docs/theory.md §2–§3): the global optimum of the β-ELBO does not depend on
the path taken to it, so warm-up and cyclical schedules — which end at the full weight — end at
the same collapsed modes as plain training. Free bits change the objective itself: a mode whose
plain optimum is collapsed keeps exactly λ nats (more would cost β per nat, less gains nothing).
"""

from __future__ import annotations

from torch import Tensor


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
    # the level's β: the model's own (the sentence VAE) or its family's LEVEL_WEIGHTS
    level_weight = getattr(model, "level_weight", None) or model.cfg.hyperparameters.level_weight
    for level, kl in out.kl.items():
        beta = level_weight(level)
        if free_bits is not None:
            kl = out.kl_dims[level].clamp(min=free_bits).sum()
        loss = loss + (weight * beta) * kl
    return loss
