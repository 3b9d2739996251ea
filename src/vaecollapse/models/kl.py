"""The one home of the diagonal-Gaussian KL divergence — in the spirit of torch.distributions'
``kl.py`` (one formula per pair of distributions, the source of truth), for the one pair this
package needs: a diagonal Gaussian posterior q = N(μ, diag s²) against a diagonal Gaussian prior
p = N(m, diag v).

- :func:`kl_diagonal_gaussian`: per sample and dimension,
  KL_i = ½[(s_i² + (μ_i − m_i)²)/v_i − 1 − log(s_i²/v_i)], s² = exp(logvar), v = exp(prior_logvar)
  — used by :class:`~vaecollapse.models.base.Posterior` (hence the models, the diagnostics) and
  the streaming monitor;
- :func:`kl_per_dimension`: its batch mean per dimension for the prior N(0, v), from sums,
  (1/n) Σ_n KL_ni = Σ_n (s_ni² + μ_ni²)/(2vn) − Σ_n log s_ni²/(2n) + ½(log v − 1) — the term the
  models' training loss and the hand-differentiated step (:mod:`~vaecollapse.models.fast_step`)
  weigh by β.

Both are tested against ``torch.distributions.kl_divergence`` of Normal distributions.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _is_zero(v) -> bool:
    """True for the plain number 0 (a prior parameter given as a number, not a tensor)."""
    return isinstance(v, int | float) and v == 0


def kl_diagonal_gaussian(mean: Tensor, logvar: Tensor, prior_mean: Tensor | float = 0.0,
                         prior_logvar: Tensor | float = 0.0) -> Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(prior_mean, exp(prior_logvar))) per element, shape of
    ``mean`` (priors: numbers or tensors broadcastable to it):
    ½[((s² + (μ − m)²)/v − 1) − log s² + log v].

    Where autograd needs no intermediate (no gradient recorded, number priors) the same
    floating-point operations run in the same order in place, on two temporaries instead of six
    (the monitor's hot path): the result is the same, bit for bit."""
    diff = mean if _is_zero(prior_mean) else mean - prior_mean
    tensors = isinstance(prior_mean, Tensor) or isinstance(prior_logvar, Tensor)
    if tensors or (torch.is_grad_enabled() and (mean.requires_grad or logvar.requires_grad)):
        if _is_zero(prior_logvar):  # v = 1: the division by v and the + log v are identities,
            return 0.5 * (logvar.exp() + diff**2 - 1.0 - logvar)  # skipped (same bits)
        plv = torch.as_tensor(prior_logvar, dtype=mean.dtype, device=mean.device)
        return 0.5 * ((logvar.exp() + diff**2) / plv.exp() - 1.0 - logvar + plv)
    kl = logvar.exp()
    kl = kl.add_(diff.square()) if kl.shape == diff.shape else kl + diff.square()
    if prior_logvar != 0:
        kl.div_(torch.as_tensor(prior_logvar, dtype=kl.dtype, device=kl.device).exp())
    kl.sub_(1.0).sub_(logvar)
    if prior_logvar != 0:
        kl.add_(prior_logvar)
    return kl.mul_(0.5)


def kl_per_dimension(mean: Tensor, logvar: Tensor, prior_logvar: float,
                     var: Tensor | None = None) -> Tensor:
    """The batch mean per dimension of :func:`kl_diagonal_gaussian` for a prior N(0, v),
    v = exp(``prior_logvar``), shape (d,), from three sums over the n rows (few, fused
    operations: training speed):

        Σ_n (s_n² + μ_n²) / (2 v n) − Σ_n log s_n² / (2n) + ½(log v − 1).

    ``var``: s² when the caller has it already (the hand-differentiated step: exp(½ logvar)²),
    else exp(logvar)."""
    n = mean.shape[0]
    v = math.exp(prior_logvar)
    s2 = logvar.exp() if var is None else var
    return ((s2 + mean.square()).sum(0) * (0.5 / (v * n)) - logvar.sum(0) * (0.5 / n)
            + 0.5 * (prior_logvar - 1.0))
