"""Importance-sampling likelihood: the fast path (models.likelihood) against independent formulas.

- the linear-last-layer expansion against the direct Gaussian formula in float64 (≤ 1e-5 nats);
- the models' vectorised IS against the public scripts' per-point loop
  (``benchmarks/reference.py``: MultivariateNormal per point, S copies of x, logsumexp), with the
  same noise (per point) and with independent noise (Monte-Carlo error only);
- the fallback for decoders without a linear last layer; the user-model ``log_weights`` protocol.
(Exact Gaussian likelihoods of linear models: tests/test_diagnostics.py.)
"""

from __future__ import annotations

import copy
import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from vaecollapse.config import ModelConfig
from vaecollapse.diagnostics.likelihood import importance_log_likelihood
from vaecollapse.models import build_model
from vaecollapse.models.decoder_likelihood import gaussian_log_lik, split_last_linear

F64 = torch.float64


def _reference():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "reference.py"
    spec = importlib.util.spec_from_file_location("bench_reference_impl", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def direct_log_lik(net, z, r, eta):
    """log N(r; net(z), η² I) by the textbook formula, float64 (independent of the expansion)."""
    with torch.no_grad():
        mu = net.double()(z.double())
    D = r.shape[-1]
    return (-((r.double()[:, None] - mu) ** 2).sum(-1) / (2 * eta**2)
            - 0.5 * D * math.log(2 * math.pi * eta**2))


def mlp_model(family, hidden=(16,), dim_x=30, dim_y=40, latent=4, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    cfg = ModelConfig.of(family=family, backbone="mlp", dim_x=dim_x, latent_dim=latent,
                      dim_y=dim_y if family == "cvae" else 0, hidden=list(hidden),
                      eta_enc=1.0, eta_dec=0.5)
    return build_model(cfg).to(dtype).eval()


def data(family, n, seed, dim_x=30, dim_y=40, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, dim_x, generator=g, dtype=dtype)  # pixel-like values in [0, 1]
    y = torch.rand(n, dim_y, generator=g, dtype=dtype) if family == "cvae" else None
    return x, y


def _decoder(widths, out):
    layers = []
    for w0, w1 in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(w0, w1), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], out))


@pytest.mark.parametrize("widths", [(16, 16), (16, 8, 16), (16, 128)])
def test_expansion_matches_direct_formula(widths):
    """MNIST-scale target (D = 588, values in [0, 1]), samples in several blocks: in float64 the
    expansion equals the direct formula to rounding; with a float32 network it is within 1e-5
    nats (hidden ≤ 64: float64 after the hidden layer) or within the float32 direct formula's
    own rounding (wider hidden: float32 per-sample terms), both at the same hidden values."""
    torch.manual_seed(1)
    net = _decoder(widths, 588)
    assert split_last_linear(net) is not None
    z, r = torch.randn(3, 700, 16), torch.rand(3, 588)
    with torch.no_grad():
        fast = gaussian_log_lik(net, z, r, 0.5, budget=3 * 100 * 128)  # 7 blocks of samples
        body, last = net[:-1], net[-1]
        h = body(z)
        direct32 = (-(r[:, None] - last(h)).square().sum(-1, dtype=F64) / 0.5
                    - 294 * math.log(2 * math.pi * 0.25))
    exact = direct_log_lik(last, h, r, 0.5)  # float64 from the same hidden values
    assert fast.dtype == F64 and fast.shape == (3, 700)
    assert float(exact.abs().mean()) > 10  # not a trivially small quantity
    err, err32 = float((fast - exact).abs().max()), float((direct32 - exact).abs().max())
    assert err < (1e-5 if widths[-1] <= 64 else max(2 * err32, 1e-5))
    z64, r64 = z.double(), r.double()
    with torch.no_grad():
        fast64 = gaussian_log_lik(net.double(), z64, r64, 0.5, budget=3 * 100 * 128)
    assert float((fast64 - direct_log_lik(net, z64, r64, 0.5)).abs().max()) < 1e-9


def test_expansion_rank_deficient_last_layer():
    """A last layer of rank < H (two equal columns): the expansion works on W's column space."""
    torch.manual_seed(3)
    net = _decoder((4, 6), 30).double()
    with torch.no_grad():
        net[-1].weight[:, 1] = net[-1].weight[:, 0]
    z, r = torch.randn(2, 40, 4, dtype=F64), torch.rand(2, 30, dtype=F64)
    with torch.no_grad():
        fast = gaussian_log_lik(net, z, r, 0.3)
    assert float((fast - direct_log_lik(net, z, r, 0.3)).abs().max()) < 1e-9


def test_expansion_cache_follows_weight_changes():
    """The decomposition of WᵀW is cached per layer; every way the weight can change (in place
    through a view that bypasses the version counter, as the trainer's flat optimiser does;
    load_state_dict; a dtype cast) gives the direct formula's value for the new weight."""
    torch.manual_seed(5)
    net = _decoder((4, 8), 40)
    z, r = torch.randn(2, 60, 4), torch.rand(2, 40)
    direct = lambda m: direct_log_lik(copy.deepcopy(m), z, r, 0.5)  # noqa: E731 (.double() casts)
    with torch.no_grad():
        first = gaussian_log_lik(net, z, r, 0.5)
        assert torch.equal(gaussian_log_lik(net, z, r, 0.5), first)  # cached: same numbers
        alias = net[-1].weight.detach().view(-1)  # shares storage, not the version counter
        alias.mul_(1.5)
        changed = gaussian_log_lik(net, z, r, 0.5)
        assert float((changed - direct(net)).abs().max()) < 1e-4
        assert float((changed - first).abs().min()) > 1e-3
        other = _decoder((4, 8), 40)
        net.load_state_dict(other.state_dict())
        loaded = gaussian_log_lik(net, z, r, 0.5)
        assert float((loaded - direct(other)).abs().max()) < 1e-4
        net64 = net.double()
        cast = gaussian_log_lik(net64, z.double(), r.double(), 0.5)
        assert float((cast - direct_log_lik(net64, z, r, 0.5)).abs().max()) < 1e-9


def test_direct_fallback_without_linear_last_layer():
    torch.manual_seed(2)
    nets = [nn.Sequential(nn.Linear(4, 20), nn.Sigmoid()),  # last op not Linear
            nn.Linear(40, 20)]  # Linear wider in than out: the expansion would not pay
    for net in nets:
        d = net[0].in_features if isinstance(net, nn.Sequential) else net.in_features
        assert (split_last_linear(net) is None) == isinstance(net, nn.Sequential)
        z, r = torch.randn(2, 50, d), torch.rand(2, 20)
        with torch.no_grad():
            fast = gaussian_log_lik(net, z, r, 0.7, budget=2 * 20 * 8)
        assert float((fast - direct_log_lik(net, z, r, 0.7)).abs().max()) < 1e-5


@pytest.mark.parametrize("family", ["vae", "cvae"])
def test_is_equals_reference_loop_same_noise(family):
    """Per point, with the same standard-normal draws, the vectorised estimate equals the public
    scripts' loop (MultivariateNormal q, S copies of x, float32 throughout) to float32 rounding."""
    ref = _reference()
    model = mlp_model(family)
    x, y = data(family, 6, 3)
    for i in range(6):
        xi, yi = x[i:i + 1], None if y is None else y[i:i + 1]
        torch.manual_seed(100 + i)
        want = ref.reference_log_likelihood(model, xi, yi, samples=200)
        got = importance_log_likelihood(model, xi, yi, samples=200,
                                           generator=torch.Generator().manual_seed(100 + i))
        assert float(got["per_point"][0]) == pytest.approx(float(want[0]), abs=2e-3)


@pytest.mark.parametrize("family", ["vae", "cvae"])
def test_is_matches_reference_loop_independent_noise(family):
    """Independent noise, S = 30, 80 points: both estimators have the same bias at the same S,
    so the mean paired difference is within 4 standard errors of zero."""
    ref = _reference()
    model = mlp_model(family, seed=4)
    x, y = data(family, 80, 5)
    torch.manual_seed(6)
    loop = ref.reference_log_likelihood(model, x, y, samples=30)
    vec = importance_log_likelihood(model, x, y, samples=30,
                                       generator=torch.Generator().manual_seed(7))["per_point"]
    diff = vec.double() - loop
    assert float(diff.std()) > 0  # independent noise really is independent
    assert abs(float(diff.mean())) < 4 * float(diff.std() / math.sqrt(len(diff)))


def test_log_weights_float32_within_1e5_of_float64():
    """The whole fast ``log_weights`` of a float32 ReLU CVAE at MNIST quarter-split sizes vs the
    textbook log p(y|x,z) + log p(z) − log q(z|x,y) in float64 at the same samples z: the
    per-point estimate differs by < 1e-5 nats."""
    m32 = mlp_model("cvae", dim_x=196, dim_y=588, latent=16)
    m64 = mlp_model("cvae", dim_x=196, dim_y=588, latent=16, dtype=F64)  # same weights, cast
    x, y = data("cvae", 8, 8, dim_x=196, dim_y=588)
    with torch.no_grad():
        w = m32.log_weights(x, y, 500, generator=torch.Generator().manual_seed(9))
        mean, logvar = m32.encode(x, y)
        eps = torch.randn((8, 500, 16), generator=torch.Generator().manual_seed(9))
        z = (mean[:, None] + (0.5 * logvar).exp()[:, None] * eps).double()  # the samples used
        mean, logvar = mean.double(), logvar.double()
        mu = m64.dec_x(x.double())[:, None] + m64.dec(z)
        log_py = (-((y.double()[:, None] - mu) ** 2).sum(-1) / (2 * 0.25)
                  - 294 * math.log(2 * math.pi * 0.25))
        log_pz = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
        log_qz = -0.5 * ((z - mean[:, None]) ** 2 / logvar.exp()[:, None]
                         + logvar[:, None] + math.log(2 * math.pi)).sum(-1)
        want = log_py + log_pz - log_qz
    assert w.dtype == F64 and w.shape == (8, 500)
    ll = lambda v: torch.logsumexp(v, 1) - math.log(500)  # noqa: E731
    assert float((ll(w) - ll(want)).abs().max()) < 1e-5


def test_user_model_log_weights_protocol():
    """Any object with ``log_weights(x, y, S, generator)`` works (no cfg, no nn.Module)."""

    class Known:
        def log_weights(self, x, y, samples, generator=None):
            # w_ns = log(s + 1) − n: logmeanexp_s = log(mean(1..S)) − n
            s = torch.arange(1, samples + 1, dtype=F64)
            return s.log()[None, :] - torch.arange(x.shape[0], dtype=F64)[:, None]

    res = importance_log_likelihood(Known(), torch.zeros(5, 3), samples=9)
    torch.testing.assert_close(res["per_point"], math.log(5.0) - torch.arange(5, dtype=F64))
