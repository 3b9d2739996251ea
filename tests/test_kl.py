"""The one diagonal-Gaussian KL (vaecollapse.models.kl) against torch.distributions' own, and the
places that use it: the posterior protocol, the models' training loss, the monitor."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaecollapse.config import ModelConfig
from vaecollapse.models import Posterior, build_model
from vaecollapse.models.kl import kl_diagonal_gaussian, kl_per_dimension


def _draw(seed: int, shape=(50, 6)):
    g = torch.Generator().manual_seed(seed)
    return (2 * torch.randn(*shape, generator=g, dtype=torch.float64),
            torch.randn(*shape, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("prior", ["numbers", "zero", "tensors"])
@pytest.mark.parametrize("grad", [False, True])
def test_kl_equals_torch_distributions(prior, grad):
    """Per element, both paths (in place without autograd, out of place with it), for number
    priors, the standard normal and per-sample tensor priors."""
    mean, logvar = _draw(0)
    if prior == "numbers":
        pm, plv = 0.4, -0.6
    elif prior == "zero":
        pm, plv = 0.0, 0.0
    else:
        pm, plv = _draw(1)
    mean = mean.clone().requires_grad_(grad)
    got = kl_diagonal_gaussian(mean, logvar, pm, plv)
    want = kl_divergence(Normal(mean.detach(), (0.5 * logvar).exp()),
                         Normal(torch.as_tensor(pm, dtype=torch.float64),
                                (0.5 * torch.as_tensor(plv, dtype=torch.float64)).exp()))
    assert got.shape == mean.shape
    assert torch.allclose(got.detach(), want, rtol=1e-12, atol=1e-12)
    assert got.requires_grad is grad


def test_the_kl_has_autograd_gradients():
    """∂KL/∂μ = (μ − m)/v and ∂KL/∂log s² = ½(s²/v − 1), by autograd through the formula."""
    mean, logvar = _draw(2)
    mean.requires_grad_()
    logvar.requires_grad_()
    kl_diagonal_gaussian(mean, logvar, 0.3, 0.5).sum().backward()
    v = math.exp(0.5)
    assert torch.allclose(mean.grad, (mean.detach() - 0.3) / v, atol=1e-12)
    assert torch.allclose(logvar.grad, 0.5 * (logvar.detach().exp() / v - 1), atol=1e-12)


@pytest.mark.parametrize("prior_logvar", [0.0, -1.2, 0.7])
def test_per_dimension_form_is_the_batch_mean(prior_logvar):
    """kl_per_dimension (three sums, the training loss's) is the batch mean of the per-element
    KL to N(0, v), with or without the caller's s²."""
    mean, logvar = _draw(3, (64, 5))
    want = kl_diagonal_gaussian(mean, logvar, 0.0, prior_logvar).mean(0)
    assert torch.allclose(kl_per_dimension(mean, logvar, prior_logvar), want, atol=1e-12)
    var = (0.5 * logvar).exp().square()
    assert torch.allclose(kl_per_dimension(mean, logvar, prior_logvar, var=var), want, atol=1e-12)


@pytest.mark.parametrize("family", ["vae", "cvae", "mhvae"])
def test_models_weigh_the_one_kl(family):
    """The models' top-level KL term is the batch mean of Posterior.kl (the one formula),
    summed over dimensions."""
    cfg = ModelConfig.of(family, "mlp", 6, 3, dim_y=5 if family == "cvae" else 0, hidden=[8],
                         eta_enc=0.7)
    torch.manual_seed(0)
    model = build_model(cfg).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 6, generator=g, dtype=torch.float64)
    y = torch.randn(32, 5, generator=g, dtype=torch.float64) if family == "cvae" else None
    out = model(x, y, generator=torch.Generator().manual_seed(2))
    top = out.posteriors[-1]
    assert isinstance(top, Posterior)
    level = top.name
    assert torch.allclose(out.kl[level], top.kl().mean(0).sum(), rtol=1e-10)
    assert torch.allclose(out.kl_dims[level], top.kl().mean(0), rtol=1e-10)
