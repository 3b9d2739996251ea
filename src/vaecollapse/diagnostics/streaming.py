"""Streaming collapse monitor: :func:`~vaecollapse.diagnostics.diagnose`'s per-level measures,
accumulated batch by batch inside any training or evaluation loop.

Feed it the per-level :class:`~vaecollapse.models.base.Posterior` list of each batch (the same
protocol as ``diagnose``, flat (n, d) or convolutional (n, C, H, W) with ``unit="channel"``);
``compute()`` returns exactly ``diagnose(...)["levels"]`` for the union of the batches seen since
the last ``reset()``. Per level, with n points seen, U units of P positions each (P = 1 for a flat
level), it keeps only O(U² + U·P) running sums, in float64 on the batches' device:

- Σ_x KL_u(x) → ``kl_per_dim`` (mean KL_u) and ``kl_total``, and NVAE's ``group_active``;
- #{x : KL_u(x) < ε} → the (ε, δ)-collapsed set at ε (``collapsed_dims``);
- #{(x, u) : KL_u(x) ≥ τ} → ``active_units_kl_fraction``;
- S₁ = Σ_x (μ(x) − K) (U, P) and S₂ = Σ_x Σ_p (μ_·p(x) − K_·p)(μ_·p(x) − K_·p)ᵀ (U, U) with K the
  first batch's mean posterior mean (a shift that keeps the sums well conditioned) → the
  covariance of the posterior means summed over positions, Cov = S₂/n − Σ_p (S₁/n)_·p (S₁/n)_·pᵀ,
  whose diagonal gives ``active_units`` and whose eigenvalues give ``active_modes`` (S₂ is kept
  only up to ``MODES_MAX_UNITS`` units; wider levels keep the diagonal and report no modes);
- max_{x,p} (log s²_up(x) − log v_up) → ``near_deterministic``.

Every count and sum is exact for the union of the batches, so batch-by-batch equals all-at-once
up to float64 rounding.

**Several processes (DDP).** When a ``torch.distributed`` process group of more than one process
is initialised, ``compute()`` first gathers every rank's state — per level n, the KL sums and
counts, the mean posterior mean m_r and the covariance Cov_r about it, the largest log-variance —
as one flat buffer (:mod:`~vaecollapse.diagnostics.distributed`) and merges them, in rank order,
with the pairwise rule n = Σ n_r, m = Σ n_r m_r / n, Cov = Σ_r n_r [Cov_r + (m_r − m)(m_r − m)ᵀ] / n:
every rank gets the measures of the union of all ranks' data (``sync_dist=False`` or
``compute(sync=False)``: this rank's own).

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

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from vaecollapse.diagnostics.collapse import (
    DEFAULT_EPSILON,
    DETERMINISTIC_FRACTION,
    GROUP_THRESHOLD,
    MODES_MAX_UNITS,
    active_modes_of_covariance,
    active_units_of_variance,
    collapsed_from_counts,
    level_record,
    relative_logvar_max,
    warn_near_deterministic,
)
from vaecollapse.diagnostics.distributed import all_gather_flat, process_group_active
from vaecollapse.models.base import UNITS, Posterior


class _Level:
    """One latent level: its staged batches (copies of their posterior parameters, up to ``rows``
    rows in all) and the running sums over every reduced point (float64, on the device of the
    level's first batch)."""

    def __init__(self, post: Posterior, rows: int):
        mean = post.mean
        self.name, self.unit, self.event, self.device = post.name, post.unit, mean.shape[1:], mean.device
        self.d = d = post.units  # U
        positions = math.prod(mean.shape[1:]) // d if d else 1  # P
        self.n = 0  # points reduced into the sums
        self.shift: Tensor | None = None  # K, the first reduced block's mean posterior mean (U, P)
        z = {"dtype": torch.float64, "device": self.device}
        self.kl_sum = torch.zeros(d, **z)
        self.below = torch.zeros(d, dtype=torch.int64, device=self.device)
        self.active_pairs = torch.zeros((), dtype=torch.int64, device=self.device)
        self.s1 = torch.zeros(d, positions, **z)
        self.s2 = torch.zeros(d, d, **z) if d <= MODES_MAX_UNITS else None
        self.sq = None if self.s2 is not None else torch.zeros(d, **z)  # diag of S₂ when S₂ is not kept
        self.rel_max = torch.full((d,), -math.inf, **z)
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
        return Posterior(self.name, joined[0], joined[1], *prior, self.unit)

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
    """Streaming (ε, δ)-collapse, per-unit KL and active-unit measures of every latent level.

    ``epsilon``, ``delta``: the (ε, δ) pair of the collapsed set (unit u collapsed iff
    P_x[KL_u(x) < ε] ≥ 1 − δ); ``threshold``: τ of the active-unit measures (Burda's variance
    threshold, the KL-fraction threshold and the active-mode eigenvalue threshold), 0.01 as in
    ``diagnose``; ``buffer_rows``: rows staged per level before they are reduced (see the module
    docstring; 0 = none); ``group_threshold``: NVAE's rule for ``group_active`` (0.1 nats);
    ``deterministic_fraction``: the std ratio below which a unit is ``near_deterministic``
    (10⁻³); ``sync_dist``: merge across the processes of an initialised ``torch.distributed``
    group in ``compute()`` (every rank must call it). Usage::

        monitor = CollapseMonitor()
        for x in loader:
            monitor.update(model_posteriors(x))   # list[Posterior], one per level
        levels = monitor.compute()                # == diagnose(...)["levels"]
        monitor.reset()
    """

    def __init__(self, epsilon: float = DEFAULT_EPSILON, delta: float = 0.05,
                 threshold: float = 0.01, buffer_rows: int = 4096, *,
                 group_threshold: float = GROUP_THRESHOLD,
                 deterministic_fraction: float = DETERMINISTIC_FRACTION, sync_dist: bool = True):
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        if not 0 <= delta < 1:
            raise ValueError(f"delta must be in [0, 1), got {delta}")
        if buffer_rows < 0:
            raise ValueError(f"buffer_rows must be >= 0, got {buffer_rows}")
        if not 0 < deterministic_fraction < 1:
            raise ValueError(f"deterministic_fraction must be in (0, 1), got {deterministic_fraction}")
        self.epsilon, self.delta, self.threshold = float(epsilon), float(delta), float(threshold)
        self.buffer_rows = int(buffer_rows)
        self.group_threshold = float(group_threshold)
        self.deterministic_fraction = float(deterministic_fraction)
        self.sync_dist = bool(sync_dist)
        self._levels: list[_Level] = []

    @property
    def n(self) -> int:
        """Points seen by this process since the last reset."""
        return self._levels[0].n + self._levels[0].fill if self._levels else 0

    def reset(self) -> None:
        """Forget every batch seen."""
        self._levels = []

    def update(self, posteriors: Sequence[Posterior]) -> None:
        """Add one batch: per level, a :class:`Posterior` with mean (n_b, *event) (any float
        dtype, any device; gradients are not tracked; fresh forward results are held by reference
        until the next reduction, everything else is copied: see ``_hold``)."""
        if not isinstance(posteriors, list | tuple):
            posteriors = list(posteriors)
        if not posteriors:
            raise ValueError("update needs the posteriors of at least one latent level")
        if posteriors[0].mean.shape[0] == 0:
            return  # an empty batch (e.g. the tail of an uneven shard) adds nothing
        levels = self._levels
        if levels and (len(posteriors) != len(levels)
                       or any(p.name != s.name for p, s in zip(posteriors, levels, strict=True))):
            raise ValueError(f"levels changed between batches: {[s.name for s in levels]} "
                             f"then {[p.name for p in posteriors]}")
        for k, post in enumerate(posteriors):
            if k == len(levels):
                levels.append(_Level(post, self.buffer_rows))
            s = levels[k]
            if post.mean.shape[1:] != s.event or post.unit != s.unit:
                raise ValueError(f"level {post.name!r}: each batch's posterior must have the first "
                                 f"one's event shape and unit, {tuple(s.event)} ({s.unit}); got "
                                 f"{tuple(post.mean.shape[1:])} ({post.unit})")
            s.stage(post, self._reduce)

    def _reduce(self, s: _Level, post: Posterior) -> None:
        """Add a block of points to the level's running sums (the KL in float64)."""
        post = _to(post, s.device)
        flat = post.mean.ndim == 2 and post.unit == "dim"
        kl = post.kl() if flat else post.unit_kl()  # in place on its own temporaries (models/kl.py)
        mean = post.mean.unsqueeze(-1) if flat else post.units_of(post.mean)  # (b, U, P)
        if s.shift is None:
            s.shift = mean.mean(0)
        s.n += mean.shape[0]
        s.kl_sum += kl.sum(0)
        s.below += (kl < self.epsilon).sum(0)
        if self.threshold != self.epsilon:  # else #{KL ≥ τ} = n·d − Σ_i #{KL_i < ε}
            s.active_pairs += (kl >= self.threshold).sum()
        c = mean - s.shift
        s.s1 += c.sum(0)
        if s.s2 is not None:
            s.s2 += _gram(c.squeeze(-1) if flat else c.permute(0, 2, 1).reshape(-1, s.d))
        else:
            s.sq += c.square().sum((0, 2))
        torch.maximum(s.rel_max, relative_logvar_max(post), out=s.rel_max)

    def compute(self, sync: bool | None = None) -> list[dict[str, Any]]:
        """Per level, the entries of ``diagnose(...)["levels"]``: ``name``, ``unit``,
        ``kl_per_dim``, ``kl_total``, ``active_units``, ``active_modes``,
        ``active_units_kl_fraction``, ``collapsed_dims`` (at ``epsilon``), ``group_active`` and
        ``near_deterministic``, over every point seen since the last reset — by every process of
        an initialised process group when ``sync`` (default: the constructor's ``sync_dist``)."""
        for s in self._levels:
            if s.fill:
                self._reduce(s, s.staged())
        states = [_moments(s) for s in self._levels]
        if (self.sync_dist if sync is None else sync) and process_group_active():
            states = _merge_ranks(states)
        if not states:
            raise ValueError("compute needs at least one update")
        out = []
        for st in states:
            n, d = st["n"], st["d"]
            active_pairs = (n * d - int(st["below"].sum()) if self.threshold == self.epsilon
                            else int(st["active_pairs"]))
            out.append(level_record(
                st["name"], st["kl_sum"] / n,
                active_units_of_variance(st["var"], self.threshold),
                active_modes_of_covariance(st["cov"], self.threshold),
                active_pairs / (n * d) if d else float("nan"),
                collapsed_from_counts(st["below"], n, self.delta), unit=st["unit"],
                rel_logvar_max=st["rel_max"], group_threshold=self.group_threshold,
                deterministic_fraction=self.deterministic_fraction))
        warn_near_deterministic(out, self.deterministic_fraction)
        return out


def _moments(s: _Level) -> dict[str, Any]:
    """A level's reduced state as n, the KL sums and counts, the mean posterior mean (U, P), the
    (U, U) covariance of the means about it summed over positions (None above
    ``MODES_MAX_UNITS`` units) and its diagonal ``var``: Cov = S₂/n − Σ_p (S₁/n)_·p (S₁/n)_·pᵀ."""
    n = s.n
    m = s.s1 / n
    cov = None
    if s.s2 is not None:
        cov = s.s2 / n - m @ m.T
        cov = 0.5 * (cov + cov.T)
        var = cov.diagonal()
    else:
        var = s.sq / n - m.square().sum(-1)
    return {"name": s.name, "unit": s.unit, "d": s.d, "positions": s.s1.shape[1], "n": n,
            "kl_sum": s.kl_sum, "below": s.below, "active_pairs": s.active_pairs,
            "mean": s.shift + m, "cov": cov, "var": var, "rel_max": s.rel_max}


_ARRAYS = ("kl_sum", "below", "active_pairs", "mean", "cov", "var", "rel_max")


def _encode(states: list[dict[str, Any]]) -> Tensor:
    """Every level's moments as one flat float64 buffer: per level a header (U, P, has-covariance,
    unit, name length, the name's code points, n), then the arrays of ``_ARRAYS`` (counts are
    exact in float64 below 2⁵³)."""
    parts: list[Tensor] = []
    for st in states:
        head = [st["d"], st["positions"], st["cov"] is not None, UNITS.index(st["unit"]),
                len(st["name"]), *map(ord, st["name"]), st["n"]]
        dev = st["kl_sum"].device
        parts.append(torch.tensor(head, dtype=torch.float64, device=dev))
        parts += [st[k].to(torch.float64).reshape(-1) for k in _ARRAYS if st[k] is not None]
    if not parts:
        return torch.zeros(0, dtype=torch.float64)
    return torch.cat([p.to(parts[0].device) for p in parts])


def _decode(buf: Tensor) -> list[dict[str, Any]]:
    """The inverse of :func:`_encode`."""
    states, i, vals = [], 0, buf
    while i < vals.numel():
        d, positions, has_cov, unit, length = (int(v) for v in vals[i:i + 5].tolist())
        name = "".join(map(chr, (int(v) for v in vals[i + 5:i + 5 + length].tolist())))
        i += 5 + length
        st = {"name": name, "unit": UNITS[unit], "d": d, "positions": positions, "n": int(vals[i])}
        i += 1
        sizes = {"kl_sum": (d,), "below": (d,), "active_pairs": (), "mean": (d, positions),
                 "cov": (d, d) if has_cov else None, "var": (d,), "rel_max": (d,)}
        for key in _ARRAYS:
            shape = sizes[key]
            if shape is None:
                st[key] = None
                continue
            k = math.prod(shape)
            st[key] = vals[i:i + k].reshape(shape)
            i += k
        states.append(st)
    return states


def _merge_ranks(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every rank's moments (one all-gather of :func:`_encode`'s buffer) merged in rank order:
    n = Σ n_r, m = Σ n_r m_r / n, Cov = Σ_r n_r [Cov_r + Σ_p (m_r − m)_·p (m_r − m)_·pᵀ] / n, the
    sums and counts added, the largest log-variances maxed. Ranks that saw no data send nothing."""
    device = states[0]["kl_sum"].device if states else torch.device("cpu")
    ranks = [_decode(b) for b in all_gather_flat(_encode(states).to(device))]
    ranks = [r for r in ranks if r]
    if not ranks:
        return []
    layout = [(st["name"], st["unit"], st["d"], st["positions"]) for st in ranks[0]]
    if any([(st["name"], st["unit"], st["d"], st["positions"]) for st in r] != layout for r in ranks):
        raise ValueError("CollapseMonitor.compute: the processes saw different latent levels "
                         f"(names, units or shapes); rank 0 of those with data: {layout}")
    merged = []
    for k in range(len(layout)):
        parts = [r[k] for r in ranks]
        n = sum(p["n"] for p in parts)
        mean = sum(p["n"] * p["mean"] for p in parts) / n
        st = dict(parts[0], n=n, mean=mean)
        for key in ("kl_sum", "below", "active_pairs"):
            st[key] = sum(p[key] for p in parts)
        st["rel_max"] = torch.stack([p["rel_max"] for p in parts]).amax(0)
        gaps = [p["mean"] - mean for p in parts]
        pairs = list(zip(parts, gaps, strict=True))
        st["var"] = sum(p["n"] * (p["var"] + g.square().sum(-1)) for p, g in pairs) / n
        if st["cov"] is not None:
            cov = sum(p["n"] * (p["cov"] + g @ g.T) for p, g in pairs) / n
            st["cov"] = 0.5 * (cov + cov.T)
            st["var"] = st["cov"].diagonal()
        merged.append(st)
    return merged


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
                     move(post.prior_logvar), post.unit)
