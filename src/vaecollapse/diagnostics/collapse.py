"""Collapse measures of one latent level, from its posteriors or from running sums of them.

With KL_i(x) = KL(q(z_i|x) ‖ p(z_i)) = ½[(s_i² + (μ_i − m_i)²)/v_i − 1 − log(s_i²/v_i)] the
per-dimension KL of a sample (``as_float64(post).kl()``: float64 whatever the model's dtype):

- (ε, δ)-collapse (Lucas et al. 2019): dimension i is collapsed iff P_x[KL_i(x) < ε] ≥ 1 − δ;
- active units (Burda et al. 2015): #{i : Var_x E_q[z_i|x] > τ};
- active modes: #{k : eig_k(Cov_x E_q[z|x]) > τ}, active units in the principal basis;
- the paper scripts' "AU": the fraction of pairs (x, i) with KL_i(x) ≥ τ.

Each measure has a form that takes its sufficient statistic (counts below ε, variances,
covariance), which the streaming :class:`~vaecollapse.diagnostics.monitor.CollapseMonitor` accumulates, so
the monitor and :func:`~vaecollapse.diagnostics.diagnose` agree exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaecollapse.diagnostics.posteriors import as_tensor
from vaecollapse.models.base import Posterior

DEFAULT_EPSILON = 1e-2
DIRECT_COUNT_EPS = 8  # up to this many ε values, eps_delta_collapse counts without sorting


def default_eps_grid() -> np.ndarray:
    """The ε grid of the (ε, δ)-collapse plots: 25 points log-spaced on [1e-5, 10]."""
    return np.logspace(-5, 1, 25)


def eps_delta_collapse(kl, eps=None, delta: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(ε, δ)-collapse (Lucas et al. 2019) of every dimension at every ε of a grid.

    Dimension i is (ε, δ)-collapsed iff P_x[KL_i(x) < ε] ≥ 1 − δ, with P_x the empirical
    distribution of the n rows of ``kl`` (n, d). Returns ``(fraction, mask)``: ``fraction[e]`` the
    fraction of the d dimensions collapsed at ``eps[e]`` (shape (E,)), ``mask[e, i]`` whether
    dimension i is (shape (E, d), bool). For a grid of more than ``DIRECT_COUNT_EPS`` values each
    column is sorted once and the count below each ε is a binary search (O(n d log n + E d log n));
    for a few values (the trainer's one ε per epoch) the counts are direct comparisons (O(n d E)),
    the same counts without the sort.
    """
    eps = default_eps_grid() if eps is None else np.atleast_1d(np.asarray(eps, dtype=np.float64))
    if not 0 <= delta < 1:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    kl = as_tensor(kl, torch.float64).detach()
    if kl.ndim != 2:
        raise ValueError(f"kl must have shape (n, d), got {tuple(kl.shape)}")
    n, d = kl.shape
    if 0 < len(eps) <= DIRECT_COUNT_EPS:
        e = torch.as_tensor(eps, dtype=torch.float64, device=kl.device)
        below = torch.stack([(kl < v).sum(0) for v in e], 1)  # (d, E): #{x : KL_i(x) < ε}
    else:
        cols = torch.sort(kl.T.contiguous(), dim=1).values  # (d, n) ascending
        e = torch.as_tensor(eps, dtype=torch.float64).expand(d, -1).contiguous()  # (d, E)
        below = torch.searchsorted(cols, e, side="left")  # #{x : KL_i(x) < ε}
    mask = collapsed_from_counts(below, n, delta).T.cpu().numpy()
    return mask.mean(axis=1) if d else np.zeros(len(eps)), mask


def collapsed_from_counts(below: Tensor, n: int, delta: float) -> Tensor:
    """The (ε, δ) decision from counts: ``below`` = #{x : KL_i(x) < ε} out of n points; collapsed
    iff below / n ≥ 1 − δ, compared on counts with a relative tolerance (e.g. 95/100 vs 1 − 0.05)."""
    if not 0 <= delta < 1:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    return below.to(torch.float64) >= (1.0 - delta) * n * (1 - 1e-12)


def active_units(post: Posterior | Tensor, threshold: float = 0.01) -> int:
    """Active units (Burda et al. 2015): #{i : Var_x(E_q[z_i|x]) > threshold}.

    E_q[z_i|x] is the posterior mean μ_i(x), so the statistic is the (population, 1/n) variance
    over the n samples of each column of ``post.mean``; a tensor of means (n, d) is accepted too.
    """
    mean = post.mean if isinstance(post, Posterior) else as_tensor(post)
    return active_units_of_variance(mean.detach().to(torch.float64).var(dim=0, correction=0),
                                    threshold)


def active_units_of_variance(var: Tensor, threshold: float = 0.01) -> int:
    """Burda's count from the per-dimension variances of the posterior means: #{i : var_i > threshold}."""
    return int((var > threshold).sum())


def active_modes(post: Posterior | Tensor, threshold: float = 0.01) -> int:
    """Active modes: #{k : eig_k(Cov_x E_q[z|x]) > threshold} — active units in the principal basis.

    Burda's count looks at each latent coordinate; when the model spreads a small amount of
    signal over many coordinates (a rotation among near-collapsed modes, which a rotation-
    invariant loss such as the linear VAE's cannot see), every coordinate can pass the threshold
    while few directions carry any signal. The eigenvalues of the (1/n) covariance of the
    posterior means do not depend on the basis; on axis-aligned means the two counts agree.
    """
    mean = post.mean if isinstance(post, Posterior) else as_tensor(post)
    mean = mean.detach().to(torch.float64)
    if mean.shape[0] == 0 or mean.shape[1] == 0:
        return 0
    centred = mean - mean.mean(0)
    return active_modes_of_covariance(centred.T @ centred / mean.shape[0], threshold)


def active_modes_of_covariance(cov: Tensor, threshold: float = 0.01) -> int:
    """Active modes from the (d, d) covariance of the posterior means: #{k : eig_k > threshold}."""
    if cov.numel() == 0:
        return 0
    return int((torch.linalg.eigvalsh(cov) > threshold).sum())


def active_units_kl_fraction(kl, threshold: float = 0.01) -> float:
    """The paper scripts' "AU": the fraction of (sample, dimension) pairs with KL_i(x) ≥ threshold."""
    kl = as_tensor(kl).detach()
    return float((kl >= threshold).to(torch.float64).mean())


def level_record(name: str, kl_mean: Tensor, active_units: int, active_modes: int,
                 active_units_kl_fraction: float, collapsed: Tensor | np.ndarray) -> dict[str, Any]:
    """One entry of ``diagnose(...)["levels"]`` (and of ``CollapseMonitor.compute()``) from its
    measures: ``kl_mean`` the (d,) mean KL_i, ``collapsed`` the (d,) (ε, δ) mask at the chosen ε."""
    kl_mean = kl_mean.detach().to(torch.float64).cpu()
    collapsed = collapsed.cpu().numpy() if isinstance(collapsed, Tensor) else np.asarray(collapsed)
    return {
        "name": name,
        "kl_per_dim": [float(v) for v in kl_mean.tolist()],
        "kl_total": float(kl_mean.sum()),
        "active_units": int(active_units),
        "active_modes": int(active_modes),
        "active_units_kl_fraction": float(active_units_kl_fraction),
        "collapsed_dims": [int(i) for i in np.flatnonzero(collapsed)],
    }
