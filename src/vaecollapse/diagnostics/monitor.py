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
up to float64 rounding.

**Staging.** A training step of a small model takes a few milliseconds, and every separate tensor
operation costs microseconds whatever its size (more inside a training loop, where each call
starts with cold caches), so ``update`` does almost no tensor work: it holds each batch's posterior
parameters (by reference when they are fresh results of the forward pass, guarded by their
version counters; copied when they are parameters, buffers or views of them, see ``_hold``) for at
most ``buffer_rows`` rows per level; the float64 KL and the sums above are taken once per full
buffer (and by ``compute()``). Memory stays O(buffer_rows · d + d²), independent of the number of points;
``buffer_rows=0`` reduces every batch at once. The mutual information (an O(N²) pairwise estimator) and the
likelihood are not streamed: use ``diagnose`` for those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from vaecollapse.diagnostics.collapse import (
    DEFAULT_EPSILON,
    active_modes_of_covariance,
    active_units_of_variance,
    collapsed_from_counts,
    level_record,
)
from vaecollapse.models.base import Posterior


class _Level:
    """One latent level: its staged batches (copies of their posterior parameters, up to ``rows``
    rows in all) and the running sums over every reduced point (float64, on the device of the
    level's first batch)."""

    def __init__(self, name: str, d: int, device: torch.device, rows: int):
        self.name, self.d, self.device = name, d, device
        self.n = 0  # points reduced into the sums
        self.shift: Tensor | None = None  # K, the first reduced block's mean posterior mean
        z = {"dtype": torch.float64, "device": device}
        self.kl_sum = torch.zeros(d, **z)
        self.below = torch.zeros(d, dtype=torch.int64, device=device)
        self.active_pairs = torch.zeros((), dtype=torch.int64, device=device)
        self.s1 = torch.zeros(d, **z)
        self.s2 = torch.zeros(d, d, **z)
        self.rows, self.fill = rows, 0
        self.parts: list[tuple] = []  # (mean, logvar, prior_mean, prior_logvar) per staged batch
        self.priors: tuple | str | None = None  # the staged batches' prior numbers, or "tensor"

    def stage(self, post: Posterior, reduce) -> None:
        """Stage a batch (``_hold``: by reference or as a copy), reducing the staged batches first
        when the buffer would overflow or the prior changes; a batch larger than the buffer is
        reduced directly."""
        mean, logvar, prior_mean, prior_logvar = post.mean, post.logvar, post.prior_mean, post.prior_logvar
        rows = mean.shape[0]
        if isinstance(prior_mean, Tensor) or isinstance(prior_logvar, Tensor):
            priors, values = "tensor", (mean, logvar, prior_mean, prior_logvar)
        else:
            priors, values = (float(prior_mean), float(prior_logvar)), (mean, logvar)
        if self.fill and (self.fill + rows > self.rows or priors != self.priors):
            reduce(self, self.staged())
        if rows > self.rows:
            reduce(self, post)
            return
        self.parts.append([_hold(v) for v in values])
        self.fill += rows
        self.priors = priors

    def staged(self) -> Posterior:
        """The staged batches as one posterior (and an emptied buffer)."""
        parts, self.parts, self.fill = self.parts, [], 0
        for part in parts:
            for t, version in part:
                if version is not None and t._version != version:
                    raise RuntimeError(
                        f"level {self.name!r}: a posterior tensor given to CollapseMonitor.update was "
                        "changed in place before the monitor read it; pass tensors that are not "
                        "overwritten (e.g. .clone()) or use buffer_rows=0")
        cols = list(zip(*[[t for t, _ in part] for part in parts], strict=True))  # per parameter
        joined = [self._join(col, cols[0]) if len(parts) > 1 else col[0] for col in cols]
        prior = joined[2:] if self.priors == "tensor" else list(self.priors)
        return Posterior(self.name, joined[0], joined[1], *prior)

    def _join(self, col: tuple[Tensor, ...], means: tuple[Tensor, ...]) -> Tensor:
        """One parameter of the staged batches stacked along the rows (each broadcast to its
        batch's mean, e.g. a learnable log-variance shared by every point), in the batches' own
        dtype: one ``cat`` kernel (a ``cat`` that also converts dtype falls back to a copy per
        batch, several times slower); the reduction then widens the block to float64 in one pass
        (exact: every float dtype widens to float64 without rounding)."""
        parts = [t if t.shape == m.shape else t.expand_as(m) for t, m in zip(col, means, strict=True)]
        if any(t.device != self.device for t in parts):
            parts = [t.to(self.device) for t in parts]
        return torch.cat(parts)


class CollapseMonitor:
    """Streaming (ε, δ)-collapse, per-dimension KL and active-unit measures of every latent level.

    ``epsilon``, ``delta``: the (ε, δ) pair of the collapsed set (dimension i collapsed iff
    P_x[KL_i(x) < ε] ≥ 1 − δ); ``threshold``: τ of the active-unit measures (Burda's variance
    threshold, the KL-fraction threshold and the active-mode eigenvalue threshold), 0.01 as in
    ``diagnose``; ``buffer_rows``: rows staged per level before they are reduced (see the module
    docstring; 0 = none). Usage::

        monitor = CollapseMonitor()
        for x in loader:
            monitor.update(model_posteriors(x))   # list[Posterior], one per level
        levels = monitor.compute()                # == diagnose(...)["levels"]
        monitor.reset()
    """

    def __init__(self, epsilon: float = DEFAULT_EPSILON, delta: float = 0.05,
                 threshold: float = 0.01, buffer_rows: int = 4096):
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        if not 0 <= delta < 1:
            raise ValueError(f"delta must be in [0, 1), got {delta}")
        if buffer_rows < 0:
            raise ValueError(f"buffer_rows must be >= 0, got {buffer_rows}")
        self.epsilon, self.delta, self.threshold = float(epsilon), float(delta), float(threshold)
        self.buffer_rows = int(buffer_rows)
        self._levels: list[_Level] = []

    @property
    def n(self) -> int:
        """Points seen since the last reset."""
        return self._levels[0].n + self._levels[0].fill if self._levels else 0

    def reset(self) -> None:
        """Forget every batch seen."""
        self._levels = []

    def update(self, posteriors: Sequence[Posterior]) -> None:
        """Add one batch: per level, a :class:`Posterior` with mean (n_b, d) (any float dtype, any
        device; gradients are not tracked; fresh forward results are held by reference until the
        next reduction, everything else is copied: see ``_hold``)."""
        if not isinstance(posteriors, list | tuple):
            posteriors = list(posteriors)
        if not posteriors:
            raise ValueError("update needs the posteriors of at least one latent level")
        levels = self._levels
        if levels and (len(posteriors) != len(levels)
                       or any(p.name != s.name for p, s in zip(posteriors, levels, strict=True))):
            raise ValueError(f"levels changed between batches: {[s.name for s in levels]} "
                             f"then {[p.name for p in posteriors]}")
        for k, post in enumerate(posteriors):
            mean = post.mean
            if mean.ndim != 2:
                raise ValueError(f"level {post.name!r}: the posterior mean must have shape "
                                 f"(n, d), got {tuple(mean.shape)}")
            if k == len(levels):
                levels.append(_Level(post.name, mean.shape[1], mean.device, self.buffer_rows))
            levels[k].stage(post, self._reduce)

    def _reduce(self, s: _Level, post: Posterior) -> None:
        """Add a block of points to the level's running sums (the KL in float64)."""
        post = _to(post, s.device)
        kl = post.kl()  # in place on its own temporaries (models/kl.py): no gradient here
        if s.shift is None:
            s.shift = post.mean.mean(0)
        s.n += post.mean.shape[0]
        s.kl_sum += kl.sum(0)
        s.below += (kl < self.epsilon).sum(0)
        if self.threshold != self.epsilon:  # else #{KL ≥ τ} = n·d − Σ_i #{KL_i < ε}
            s.active_pairs += (kl >= self.threshold).sum()
        c = post.mean - s.shift
        s.s1 += c.sum(0)
        s.s2 += _gram(c)

    def compute(self) -> list[dict[str, Any]]:
        """Per level, the entries of ``diagnose(...)["levels"]``: ``name``, ``kl_per_dim``,
        ``kl_total``, ``active_units``, ``active_modes``, ``active_units_kl_fraction`` and
        ``collapsed_dims`` (at ``epsilon``), over every point seen since the last reset."""
        if not self._levels:
            raise ValueError("compute needs at least one update")
        out = []
        for s in self._levels:
            if s.fill:
                self._reduce(s, s.staged())
            n, d = s.n, s.d
            m = s.s1 / n
            cov = s.s2 / n - torch.outer(m, m)
            cov = 0.5 * (cov + cov.T)
            active_pairs = (n * d - int(s.below.sum()) if self.threshold == self.epsilon
                            else int(s.active_pairs))
            out.append(level_record(
                s.name, s.kl_sum / n,
                active_units_of_variance(cov.diagonal(), self.threshold),
                active_modes_of_covariance(cov, self.threshold),
                active_pairs / (n * d) if d else float("nan"),
                collapsed_from_counts(s.below, n, self.delta)))
        return out


def _hold(v) -> tuple[Tensor, int | None]:
    """A staged tensor that later in-place changes of the caller's tensors cannot alter, and the
    version to check when it is read. An intermediate result of a differentiable computation
    (the forward pass makes fresh ones every batch) is held by a detached reference, no copy:
    should it be overwritten in place anyway, its version counter tells, and the monitor refuses
    to read it. A leaf tensor or a view of one (a parameter, a buffer, a learnable log-variance
    expanded from a parameter that the optimiser updates in place, anything computed under
    ``no_grad``) is copied."""
    if not isinstance(v, Tensor):
        v = torch.as_tensor(v)
    if v.is_leaf or (v._base is not None and v._base.is_leaf):
        return v.detach().clone(), None
    return v.detach(), v._version


def _gram(c: Tensor) -> Tensor:
    """cᵀc in float64; on the CPU through numpy, whose ``a.T @ a`` is a symmetric rank-k update
    (BLAS ``syrk``: half the multiplications of the general product, 2.6× faster at 4096 × 16)."""
    if c.device.type != "cpu":
        return c.T @ c
    a = c.numpy()
    return torch.from_numpy(a.T @ a)


def _to(post: Posterior, device: torch.device) -> Posterior:
    """A detached float64 copy of ``post`` on ``device`` (no copy for what already is)."""
    def move(v):
        return v.detach().to(device=device, dtype=torch.float64) if isinstance(v, Tensor) else v

    return Posterior(post.name, move(post.mean), move(post.logvar), move(post.prior_mean),
                     move(post.prior_logvar))
