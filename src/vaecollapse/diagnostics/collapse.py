"""Collapse measures of one latent level, from its posteriors or from running sums of them.

A level's units u (:class:`~vaecollapse.models.base.Posterior`: every element of a flat latent,
or the channels of a convolutional one, ``unit="channel"``, each with P positions). With
KL_u(x) = Σ_p KL(q(z_up|x) ‖ p(z_up)), KL(q ‖ p) = ½[(s² + (μ − m)²)/v − 1 − log(s²/v)] per
element (``as_float64(post).unit_kl()``: float64 whatever the model's dtype):

- (ε, δ)-collapse (Lucas et al. 2019): unit u is collapsed iff P_x[KL_u(x) < ε] ≥ 1 − δ;
- active units (Burda et al. 2015): #{u : Σ_p Var_x E_q[z_up|x] > τ};
- active modes: #{k : eig_k(Σ_p Cov_x E_q[z_·p|x]) > τ}, active units in the principal basis;
- the paper scripts' "AU": the fraction of pairs (x, u) with KL_u(x) ≥ τ;
- NVAE's group rule: a level is active when Σ_u E_x KL_u(x) > 0.1 nats (``group_active``);
- near-deterministic units: the posterior std stays below a small fraction of the prior's
  everywhere, max_{x,p} s_up(x)/√v_up < 10⁻³ (``near_deterministic``).

Each measure has a form that takes its sufficient statistic (counts below ε, variances,
covariance, the largest log-variance), which the streaming
:class:`~vaecollapse.diagnostics.streaming.CollapseMonitor` accumulates, so the monitor and
:func:`~vaecollapse.diagnostics.diagnose` agree exactly.
"""

from __future__ import annotations

import math
import warnings
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


MODES_MAX_UNITS = 2048  # above this many units the (U, U) covariance is not kept: active_modes None
GROUP_THRESHOLD = 0.1  # NVAE's rule: a group (level) is active when its mean KL exceeds 0.1 nats
DETERMINISTIC_FRACTION = 1e-3  # a unit whose posterior std never exceeds this × the prior's


def _unit_means(post: Posterior | Tensor) -> Tensor:
    """The posterior means as (n, U, P) float64: a Posterior's :meth:`~Posterior.units_of`, a
    tensor of means (n, d) as d units of one position."""
    if isinstance(post, Posterior):
        return post.units_of(post.mean.detach()).to(torch.float64)
    mean = as_tensor(post).detach().to(torch.float64)
    return mean.reshape(mean.shape[0], -1, 1)


def mean_covariance(post: Posterior | Tensor) -> Tensor:
    """The (U, U) covariance of the posterior means summed over each unit's positions,
    Σ_p Cov_x(μ_·p(x)) with the (1/n) population covariance — for a flat level (P = 1) the
    plain covariance of the means; its diagonal is Σ_p Var_x μ_up, its trace the total variance."""
    return _covariance(_unit_means(post))


def _covariance(m: Tensor) -> Tensor:
    """:func:`mean_covariance` of means given as (n, U, P)."""
    n, units, _ = m.shape
    if n == 0 or units == 0:
        return torch.zeros(units, units, dtype=torch.float64)
    c = (m - m.mean(0)).permute(0, 2, 1).reshape(-1, units)  # (n·P, U)
    return c.T @ c / n


def active_units(post: Posterior | Tensor, threshold: float = 0.01) -> int:
    """Active units (Burda et al. 2015): #{u : Var_x(E_q[z_u|x]) > threshold}.

    E_q[z_u|x] is the posterior mean μ_u(x), so the statistic is the (population, 1/n) variance
    over the n samples of each unit's mean — summed over the unit's positions for
    ``unit="channel"`` (Σ_p Var_x μ_up); a tensor of means (n, d) is accepted too.
    """
    m = _unit_means(post)
    return active_units_of_variance(m.var(dim=0, correction=0).sum(-1), threshold)


def active_units_of_variance(var: Tensor, threshold: float = 0.01) -> int:
    """Burda's count from the per-unit variances of the posterior means: #{u : var_u > threshold}."""
    return int((var > threshold).sum())


def active_modes(post: Posterior | Tensor, threshold: float = 0.01) -> int | None:
    """Active modes: #{k : eig_k(Σ_p Cov_x μ_·p) > threshold} — active units in the principal basis.

    Burda's count looks at each latent coordinate; when the model spreads a small amount of
    signal over many coordinates (a rotation among near-collapsed modes, which a rotation-
    invariant loss such as the linear VAE's cannot see), every coordinate can pass the threshold
    while few directions carry any signal. The eigenvalues of the (1/n) covariance of the
    posterior means (:func:`mean_covariance`) do not depend on the basis; on axis-aligned means
    the two counts agree. None when the level has more than ``MODES_MAX_UNITS`` units.
    """
    m = _unit_means(post)
    if m.shape[1] > MODES_MAX_UNITS:
        return None
    if m.shape[0] == 0 or m.shape[1] == 0:
        return 0
    return active_modes_of_covariance(_covariance(m), threshold)


def active_modes_of_covariance(cov: Tensor | None, threshold: float = 0.01) -> int | None:
    """Active modes from the (U, U) covariance of the posterior means: #{k : eig_k > threshold}
    (None passes through: a level too wide to keep its covariance)."""
    if cov is None:
        return None
    if cov.numel() == 0:
        return 0
    return int((torch.linalg.eigvalsh(cov) > threshold).sum())


def relative_logvar_max(post: Posterior) -> Tensor:
    """Per unit, the largest posterior log-variance relative to the prior's over the data and the
    unit's positions, max_{x,p} (log s²_up(x) − log v_up), shape (U,), float64: the posterior std
    never exceeds exp(½ · this) times the prior's."""
    rel = torch.as_tensor(post.logvar).detach().to(torch.float64)
    prior = post.prior_logvar
    rel = rel - (prior.detach().to(torch.float64) if isinstance(prior, Tensor) else float(prior))
    return post.units_of(rel).amax(dim=(0, 2))


def near_deterministic(rel_logvar_max: Tensor,
                       fraction: float = DETERMINISTIC_FRACTION) -> list[int]:
    """Units whose posterior std stays below ``fraction`` × the prior's everywhere in the data,
    from :func:`relative_logvar_max`: {u : exp(½ max_{x,p} (log s²_up − log v_up)) < fraction}.
    The opposite failure to collapse — near-deterministic latents, e.g. a log-variance sitting on
    a floor — whose KL is large but whose noise no longer regularises anything."""
    bound = 2 * math.log(fraction)
    return [int(i) for i in torch.nonzero(rel_logvar_max < bound).flatten().tolist()]


def active_units_kl_fraction(kl, threshold: float = 0.01) -> float:
    """The paper scripts' "AU": the fraction of (sample, dimension) pairs with KL_i(x) ≥ threshold."""
    kl = as_tensor(kl).detach()
    return float((kl >= threshold).to(torch.float64).mean())


def level_record(name: str, kl_mean: Tensor, active_units: int, active_modes: int | None,
                 active_units_kl_fraction: float, collapsed: Tensor | np.ndarray, *,
                 unit: str = "dim", rel_logvar_max: Tensor | None = None,
                 group_threshold: float = GROUP_THRESHOLD,
                 deterministic_fraction: float = DETERMINISTIC_FRACTION) -> dict[str, Any]:
    """One entry of ``diagnose(...)["levels"]`` (and of ``CollapseMonitor.compute()``) from its
    measures: ``kl_mean`` the (U,) mean KL_u, ``collapsed`` the (U,) (ε, δ) mask at the chosen ε.

    Besides the measures: ``unit`` ("dim" or "channel"; the per-unit lists have length U),
    ``group_active`` (NVAE's rule: the level's mean KL Σ_u E_x KL_u > ``group_threshold``) and,
    from :func:`relative_logvar_max`, ``near_deterministic`` (:func:`near_deterministic`)."""
    kl_mean = kl_mean.detach().to(torch.float64).cpu()
    collapsed = collapsed.cpu().numpy() if isinstance(collapsed, Tensor) else np.asarray(collapsed)
    kl_total = float(kl_mean.sum())
    record = {
        "name": name,
        "unit": unit,
        "kl_per_dim": [float(v) for v in kl_mean.tolist()],
        "kl_total": kl_total,
        "active_units": int(active_units),
        "active_modes": None if active_modes is None else int(active_modes),
        "active_units_kl_fraction": float(active_units_kl_fraction),
        "collapsed_dims": [int(i) for i in np.flatnonzero(collapsed)],
        "group_active": kl_total > group_threshold,
    }
    if rel_logvar_max is not None:
        record["near_deterministic"] = near_deterministic(rel_logvar_max.cpu(), deterministic_fraction)
    return record


def active_groups(levels: list[dict[str, Any]]) -> int:
    """How many levels (groups, NVAE's sense) are active: #{level : group_active}."""
    return sum(bool(level.get("group_active")) for level in levels)


def warn_near_deterministic(levels: list[dict[str, Any]], fraction: float) -> None:
    """One :class:`NearDeterministicWarning` naming each level's near-deterministic units."""
    found = {lv["name"]: lv["near_deterministic"] for lv in levels if lv.get("near_deterministic")}
    if found:
        where = "; ".join(f"{name}: units {units}" for name, units in found.items())
        warnings.warn(f"near-deterministic latents: the posterior std stays below {fraction:g} × "
                      f"the prior's on all the data ({where}); a log-variance on a floor or clamp?",
                      NearDeterministicWarning, stacklevel=3)


class NearDeterministicWarning(UserWarning):
    """Latent units whose posterior std stays below a small fraction of the prior's everywhere."""
