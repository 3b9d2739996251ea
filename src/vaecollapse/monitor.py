"""Streaming collapse monitor: :func:`~vaecollapse.diagnostics.diagnose`'s per-level measures,
accumulated batch by batch inside any training or evaluation loop.

Feed it the per-level :class:`~vaecollapse.models.base.Posterior` list of each batch (the same
protocol as ``diagnose``); ``compute()`` returns exactly ``diagnose(...)["levels"]`` for the union
of the batches seen since the last ``reset()``. Per level, with n points seen and d dimensions,
it keeps only O(d²) running sums, in float64 on the batches' device:

- Σ_x KL_i(x) → ``kl_per_dim`` (mean KL_i) and ``kl_total``;
- #{x : KL_i(x) < ε} → the (ε, δ)-collapsed set at ε (``collapsed_dims``);
- #{(x, i) : KL_i(x) ≥ τ} → ``active_units_kl_fraction``;
- Σ_x (μ(x) − K) and Σ_x (μ(x) − K)(μ(x) − K)ᵀ with K the first batch's mean posterior mean
  (a shift that keeps the sums well conditioned) → the covariance of the posterior means,
  Cov = S₂/n − (S₁/n)(S₁/n)ᵀ, whose diagonal gives ``active_units`` and whose eigenvalues give
  ``active_modes``.

Every count and sum is exact for the union of the batches, so batch-by-batch equals all-at-once
up to float64 rounding. The mutual information (an O(N²) pairwise estimator) and the
likelihood are not streamed: use ``diagnose`` for those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from vaecollapse.diagnostics import (
    DEFAULT_EPSILON,
    active_modes_of_covariance,
    active_units_of_variance,
    as_float64,
    collapsed_from_counts,
    level_record,
)
from vaecollapse.models.base import Posterior


class _LevelSums:
    """Running sums of one latent level (float64, on the device of its first batch)."""

    def __init__(self, name: str, mean: Tensor):
        self.name, self.device = name, mean.device
        d = mean.shape[1]
        z = {"dtype": torch.float64, "device": self.device}
        self.n = 0
        self.shift = mean.mean(0)  # K
        self.kl_sum = torch.zeros(d, **z)
        self.below = torch.zeros(d, dtype=torch.int64, device=self.device)
        self.active_pairs = torch.zeros((), dtype=torch.int64, device=self.device)
        self.s1 = torch.zeros(d, **z)
        self.s2 = torch.zeros(d, d, **z)


class CollapseMonitor:
    """Streaming (ε, δ)-collapse, per-dimension KL and active-unit measures of every latent level.

    ``epsilon``, ``delta``: the (ε, δ) pair of the collapsed set (dimension i collapsed iff
    P_x[KL_i(x) < ε] ≥ 1 − δ); ``threshold``: τ of the active-unit measures (Burda's variance
    threshold, the KL-fraction threshold and the active-mode eigenvalue threshold), 0.01 as in
    ``diagnose``. Usage::

        monitor = CollapseMonitor()
        for x in loader:
            monitor.update(model_posteriors(x))   # list[Posterior], one per level
        levels = monitor.compute()                # == diagnose(...)["levels"]
        monitor.reset()
    """

    def __init__(self, epsilon: float = DEFAULT_EPSILON, delta: float = 0.05,
                 threshold: float = 0.01):
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        if not 0 <= delta < 1:
            raise ValueError(f"delta must be in [0, 1), got {delta}")
        self.epsilon, self.delta, self.threshold = float(epsilon), float(delta), float(threshold)
        self._levels: list[_LevelSums] = []

    @property
    def n(self) -> int:
        """Points seen since the last reset."""
        return self._levels[0].n if self._levels else 0

    def reset(self) -> None:
        """Forget every batch seen."""
        self._levels = []

    def update(self, posteriors: Sequence[Posterior]) -> None:
        """Add one batch: per level, a :class:`Posterior` with mean (n_b, d) (any float dtype, any
        device; gradients are not tracked)."""
        posteriors = list(posteriors)
        if not posteriors:
            raise ValueError("update needs the posteriors of at least one latent level")
        if self._levels and [p.name for p in posteriors] != [s.name for s in self._levels]:
            raise ValueError(f"levels changed between batches: {[s.name for s in self._levels]} "
                             f"then {[p.name for p in posteriors]}")
        for k, post in enumerate(posteriors):
            post = as_float64(post)  # detached: no graph is built
            if post.mean.ndim != 2:
                raise ValueError(f"level {post.name!r}: the posterior mean must have shape "
                                 f"(n, d), got {tuple(post.mean.shape)}")
            if k == len(self._levels):
                self._levels.append(_LevelSums(post.name, post.mean))
            s = self._levels[k]
            if post.mean.device != s.device:
                post = _to(post, s.device)
            kl = post.kl()
            s.n += post.mean.shape[0]
            s.kl_sum += kl.sum(0)
            s.below += (kl < self.epsilon).sum(0)
            if self.threshold != self.epsilon:  # else #{KL ≥ τ} = n·d − Σ_i #{KL_i < ε}
                s.active_pairs += (kl >= self.threshold).sum()
            c = post.mean - s.shift
            s.s1 += c.sum(0)
            s.s2.addmm_(c.T, c)

    def compute(self) -> list[dict[str, Any]]:
        """Per level, the entries of ``diagnose(...)["levels"]``: ``name``, ``kl_per_dim``,
        ``kl_total``, ``active_units``, ``active_modes``, ``active_units_kl_fraction`` and
        ``collapsed_dims`` (at ``epsilon``), over every point seen since the last reset."""
        if not self._levels:
            raise ValueError("compute needs at least one update")
        out = []
        for s in self._levels:
            n = s.n
            m = s.s1 / n
            cov = s.s2 / n - torch.outer(m, m)
            cov = 0.5 * (cov + cov.T)
            d = s.kl_sum.shape[0]
            active_pairs = (n * d - int(s.below.sum()) if self.threshold == self.epsilon
                            else int(s.active_pairs))
            out.append(level_record(
                s.name, s.kl_sum / n,
                active_units_of_variance(cov.diagonal(), self.threshold),
                active_modes_of_covariance(cov, self.threshold),
                active_pairs / (n * d) if d else float("nan"),
                collapsed_from_counts(s.below, n, self.delta)))
        return out


def _to(post: Posterior, device: torch.device) -> Posterior:
    def move(v):
        return v.to(device) if isinstance(v, Tensor) else v

    return Posterior(post.name, move(post.mean), move(post.logvar), move(post.prior_mean),
                     move(post.prior_logvar))


def collapse_scalars(level: dict[str, Any]) -> dict[str, float]:
    """The logged names of one level's measures (Lightning callback, ``train --tensorboard``):
    ``collapse/<level>/n_collapsed``, ``…/kl_total``, ``…/active_units``, ``…/active_modes`` and
    ``…/kl_<i>`` per dimension. ``level`` is a ``levels`` entry (``collapsed_dims``) or carries
    ``n_collapsed`` directly; absent measures are left out."""
    prefix = f"collapse/{level['name']}/"
    out: dict[str, float] = {}
    if "n_collapsed" in level:
        out[prefix + "n_collapsed"] = float(level["n_collapsed"])
    elif "collapsed_dims" in level:
        out[prefix + "n_collapsed"] = float(len(level["collapsed_dims"]))
    kl = [float(v) for v in level["kl_per_dim"]]
    out[prefix + "kl_total"] = float(level.get("kl_total", sum(kl)))
    for key in ("active_units", "active_modes"):
        if level.get(key) is not None:
            out[prefix + key] = float(level[key])
    out.update({f"{prefix}kl_{i}": v for i, v in enumerate(kl)})
    return out
