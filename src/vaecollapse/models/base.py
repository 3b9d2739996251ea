"""What every model yields: per-level diagonal-Gaussian posteriors and the loss terms.

The loss convention, one for every family and backbone, is the **negative β-ELBO per sample**
(averaged over a batch), with the Gaussian decoder's normalising constant included so that the
reconstruction term is exactly −log p(target | z):

- VAE:   ‖x − μ(z)‖²/(2η_dec²) + (D/2)·log(2πη_dec²) + β · KL(q(z|x) ‖ N(0, η_enc² I))
- CVAE:  same with target y, decoder mean h(x) + k(z), q(z|x, y), prior N(0, η_enc² I)
- MHVAE: −log p(x|z1) + β1 · E[log q(z1|x) − log p(z1|z2)] + β2 · KL(q(z2|z1) ‖ N(0, η_enc² I)),
         p(z1|z2) = N(μ(z2), η_dec² I), z1 ~ q(z1|x), z2 ~ q(z2|z1)

(docs/theory.md's population losses are this × 2η_dec², constants dropped: same optimum.)

**Protocol for diagnostics** (works for any user model too): a callable that maps a batch to a
list of :class:`Posterior` — per latent level the posterior mean and log-variance, and the prior it
is compared with (default N(0, η_enc² I)). See ``vaecollapse.diagnostics``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

LOG_2PI = math.log(2 * math.pi)


@dataclass
class Posterior:
    """q = N(mean, exp(logvar)) of one latent level for a batch (n, d), and its prior
    N(prior_mean, exp(prior_logvar)) (numbers or tensors broadcastable to (n, d))."""

    name: str
    mean: Tensor
    logvar: Tensor
    prior_mean: Tensor | float = 0.0
    prior_logvar: Tensor | float = 0.0

    def kl(self) -> Tensor:
        """Per-sample, per-dimension KL(q ‖ prior), shape (n, d):
        ½[(s² + (μ − m)²)/v − 1 − log(s²/v)] with v = exp(prior_logvar)."""
        diff = self.mean if _is_zero(self.prior_mean) else self.mean - self.prior_mean
        if _is_zero(self.prior_logvar):  # v = 1: the division by v and the + log v are identities,
            return 0.5 * (self.logvar.exp() + diff**2 - 1.0 - self.logvar)  # skipped (same bits)
        plv = torch.as_tensor(self.prior_logvar, dtype=self.mean.dtype, device=self.mean.device)
        return 0.5 * ((self.logvar.exp() + diff**2) / plv.exp() - 1.0 - self.logvar + plv)


def _is_zero(v) -> bool:
    """True for the plain number 0 (a prior parameter given as a number, not a tensor)."""
    return isinstance(v, int | float) and v == 0


@dataclass
class Output:
    """One forward pass: the loss (scalar, mean over the batch) and its parts.

    ``recon`` is the mean −log p(target | z); ``kl`` maps each level to its mean (over the batch)
    KL-like term, summed over dimensions, before weighting by β; ``kl_dims`` the same per
    dimension (batch means, shape (d,); ``kl`` is their sum), for per-dimension free bits."""

    loss: Tensor
    recon: Tensor
    kl: dict[str, Tensor]
    posteriors: list[Posterior] = field(default_factory=list)
    kl_dims: dict[str, Tensor] = field(default_factory=dict)


def gaussian_nll(target: Tensor, mean: Tensor, eta: float) -> Tensor:
    """−log N(target; mean, η² I) per sample, summed over the last dimension."""
    d = target.shape[-1]
    return ((target - mean) ** 2).sum(-1) / (2 * eta**2) + 0.5 * d * (LOG_2PI + 2 * math.log(eta))


def gaussian_log_density(z: Tensor, mean: Tensor, logvar: Tensor | float) -> Tensor:
    """log N(z; mean, diag exp(logvar)), summed over the last dimension."""
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return -0.5 * (((z - mean) ** 2) / logvar.exp() + logvar + LOG_2PI).expand_as(z).sum(-1)


class GaussianEncoder(nn.Module):
    """q(z|·) = N(mean, diag exp(logvar)) from a network ``net`` applied to the inputs.

    Encoder variance: ``sigma`` fixed → log σ² everywhere; learnable with the ``linear`` backbone
    → a free vector independent of the input (the theory's Σ); learnable otherwise → an
    input-dependent head: ``net`` then has 2d outputs, the second half being the log-variance."""

    def __init__(self, net: nn.Module, dim: int, sigma: float | None, input_dependent: bool,
                 init_sigma: float = 1.0):
        super().__init__()
        self.net, self.dim = net, dim
        self.head = sigma is None and input_dependent
        if sigma is not None:
            self.register_buffer("logvar", torch.full((dim,), 2 * math.log(sigma)))
        elif not self.head:
            self.logvar = nn.Parameter(torch.full((dim,), 2 * math.log(init_sigma)))

    @staticmethod
    def out_dim(dim: int, sigma: float | None, input_dependent: bool) -> int:
        """Outputs ``net`` must have: 2d with an input-dependent variance head, else d."""
        return 2 * dim if sigma is None and input_dependent else dim

    def forward(self, *inputs: Tensor) -> tuple[Tensor, Tensor]:
        h = self.net(*inputs)
        if self.head:
            return h[:, :self.dim], h[:, self.dim:]
        return h, self.logvar.expand(h.shape[0], -1)

    def std_vector(self) -> Tensor:
        """The input-independent encoder std (linear backbone or fixed σ)."""
        return (0.5 * self.logvar).exp().detach()
