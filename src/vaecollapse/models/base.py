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

from vaecollapse.config import ModelConfig
from vaecollapse.errors import HyperparameterError
from vaecollapse.family import Family
from vaecollapse.models.kl import kl_diagonal_gaussian

LOG_2PI = math.log(2 * math.pi)


UNITS = ("dim", "channel")


@dataclass
class Posterior:
    """q = N(mean, exp(logvar)) of one latent level for a batch, and its prior
    N(prior_mean, exp(prior_logvar)) (numbers or tensors broadcastable to ``mean``).

    ``mean`` has shape (n, *event): (n, d) for a flat latent, (n, C, H, W) for a convolutional
    one. ``unit`` says what the collapse measures count: ``"dim"`` (default) — every element of
    the event is a unit, U = prod(event); ``"channel"`` — axis 1 is the unit, U = C, and a unit's
    KL sums over the remaining P = prod(event[1:]) positions,
    KL_c(x) = Σ_p KL(q(z_cp|x) ‖ p(z_cp))."""

    name: str
    mean: Tensor
    logvar: Tensor
    prior_mean: Tensor | float = 0.0
    prior_logvar: Tensor | float = 0.0
    unit: str = "dim"

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(f"level {self.name!r}: unit must be one of {UNITS}, got {self.unit!r}")
        if getattr(self.mean, "ndim", 2) < 2:
            raise ValueError(f"level {self.name!r}: the posterior mean must have shape (n, *event), "
                             f"got {tuple(self.mean.shape)}")

    @property
    def units(self) -> int:
        """U, the number of units: prod(event) for ``unit="dim"``, the channels C for
        ``unit="channel"``."""
        return self.mean.shape[1] if self.unit == "channel" else math.prod(self.mean.shape[1:])

    def kl(self) -> Tensor:
        """Per-sample, per-element KL(q ‖ prior), the shape of ``mean`` ((n, d) for a flat level):
        ½[(s² + (μ − m)²)/v − 1 − log(s²/v)] with v = exp(prior_logvar)
        (:func:`~vaecollapse.models.kl.kl_diagonal_gaussian`)."""
        return kl_diagonal_gaussian(self.mean, self.logvar, self.prior_mean, self.prior_logvar)

    def unit_kl(self) -> Tensor:
        """Per-sample, per-unit KL, shape (n, U): :meth:`kl` itself for a flat level, flattened for
        ``unit="dim"``, summed over the positions of each channel for ``unit="channel"``."""
        return self.units_of(self.kl()).sum(-1)

    def units_of(self, t: Tensor) -> Tensor:
        """A tensor shaped like ``mean`` (or broadcastable to it) as (n, U, P): rows, units,
        positions of a unit (P = 1 for ``unit="dim"``)."""
        t = t.expand_as(self.mean) if t.shape != self.mean.shape else t
        n = t.shape[0]
        return t.reshape(n, self.mean.shape[1], -1) if self.unit == "channel" else t.reshape(n, -1, 1)


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


def gaussian_recon(squared_error: Tensor, n: int, dim: int, eta: float) -> Tensor:
    """The batch mean of −log N(t_n; t̂_n, η² I) from the summed squared error Σ_n ‖t_n − t̂_n‖²
    of n targets of ``dim`` values: Σ ‖t − t̂‖² / (2η² n) + (D/2) log(2πη²) — the reconstruction
    term of the VAE and CVAE (their forward pass and the hand-differentiated step)."""
    return squared_error * (0.5 / (eta**2 * n)) + 0.5 * dim * (LOG_2PI + 2 * math.log(eta))


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


# ------------------------------------------------------------------------------ shared by the families


def eye64(n: int) -> Tensor:
    """The n × n identity in float64."""
    return torch.eye(n, dtype=torch.float64)


def gaussian_log_prob(v: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
    """log N(v; mean, cov) per row, in float64 (exact marginals of the linear models; the
    covariance is η_dec² I plus a PSD term, hence positive definite)."""
    dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov, validate_args=False)
    return dist.log_prob(v.double())


def noise(like: Tensor, generator: torch.Generator | None, samples: int | None = None) -> Tensor:
    """Standard normal noise shaped like ``like`` (with ``samples`` after the first axis), from
    ``generator``."""
    shape = like.shape if samples is None else (like.shape[0], samples, *like.shape[1:])
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


def as_shape(s) -> tuple[int, ...] | None:
    """A saved image shape (a list) as a tuple; None stays None."""
    return None if s is None else tuple(s)


class LatentModel(nn.Module):
    """Shared parts: hyperparameters, the prior N(0, η_enc² I), the linear backbone's weights.
    Each family's class sets ``family`` (:class:`~vaecollapse.family.Family`)."""

    family: Family
    # theory name -> submodule holding it (a bias-free Linear, or a GaussianEncoder for a std)
    LINEAR_PARTS: dict[str, str] = {}

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.hp = cfg.hyperparameters
        self.prior_logvar = 2 * math.log(self.hp.eta_enc)

    @property
    def levels(self) -> list[str]:
        return ["z"]

    def target(self, x: Tensor, y: Tensor | None) -> Tensor:
        return x

    def _need_linear(self):
        if self.cfg.backbone != "linear":
            raise HyperparameterError("this quantity exists only for the linear backbone")

    def linear_weights(self) -> dict[str, Tensor]:
        """The theory's matrices and encoder stds of a linear model (names as in docs/theory.md:
        VAE W, U, sigma; CVAE W1, W2, U1, U2, sigma; MHVAE W1, W2, U1, U2, sigma1, sigma2)."""
        self._need_linear()
        out = {}
        for key, path in self.LINEAR_PARTS.items():
            part = self.get_submodule(path)
            out[key] = part.std_vector() if key.startswith("sigma") else part.weight.detach().clone()
        return out

    @torch.no_grad()
    def set_linear_weights(self, weights: dict) -> None:
        """Set a linear model's weights (e.g. to the closed-form optimum of
        ``vaecollapse.theory``); keys as :meth:`linear_weights`, missing keys are left alone."""
        self._need_linear()
        for key, value in weights.items():
            if key not in self.LINEAR_PARTS:
                raise HyperparameterError(f"unknown weight {key!r}: expected {list(self.LINEAR_PARTS)}")
            part = self.get_submodule(self.LINEAR_PARTS[key])
            target = part.logvar if key.startswith("sigma") else part.weight
            value = torch.as_tensor(value, dtype=target.dtype, device=target.device)
            target.copy_(2 * value.log() if key.startswith("sigma") else value)
