"""The streaming CollapseMonitor against `diagnose` (all at once) and against independent oracles
(torch.distributions' KL, numpy variances / eigenvalues, brute-force (ε, δ) counts); diagnose's
device / dtype handling and progress reports."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaecollapse.config import ModelConfig
from vaecollapse.diagnostics import diagnose
from vaecollapse.diagnostics.posteriors import evaluating, model_inputs
from vaecollapse.diagnostics.streaming import CollapseMonitor
from vaecollapse.integrations.scalars import collapse_scalars
from vaecollapse.models import Posterior, build_model

F64 = torch.float64
D1, D2 = 6, 4


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_data(n: int = 400, seed: int = 0, offset: float = 0.0) -> torch.Tensor:
    """Rows holding two levels' posterior parameters, built so that every measure is exercised:
    per-dimension spreads of the means from 0.003 to 1.2 (variances on both sides of 0.01),
    posterior variances from ≈ 1 (collapsed, KL ≈ 0) to small, and a dimension with KL < 0.01 on
    exactly 96 % of the rows (collapsed at δ = 0.05, not at δ = 0.03)."""
    g = gen(seed)
    spread = torch.tensor([0.003, 0.05, 0.09, 0.11, 0.5, 1.2], dtype=F64)
    mean1 = offset + torch.randn(n, D1, generator=g, dtype=F64) * spread
    logvar1 = torch.randn(n, D1, generator=g, dtype=F64) * 0.02 - torch.tensor(
        [0.0, 0.0, 0.1, 1.0, 2.0, 3.0], dtype=F64)
    mean1[:, 0] = 0.01 * torch.randn(n, generator=g, dtype=F64)  # KL ≈ μ²/2 ≪ 0.01
    logvar1[:, 0] = 0.0
    far = torch.randperm(n, generator=g)[: n // 25]  # 4 % of rows far from the prior
    mean1[far, 0] = 1.0
    mean2 = torch.randn(n, D2, generator=g, dtype=F64) * torch.tensor([0.001, 0.2, 0.7, 1.0])
    logvar2 = torch.randn(n, D2, generator=g, dtype=F64) * 0.01 - torch.tensor([0.0, 0.5, 1, 2])
    return torch.cat([mean1, logvar1, mean2, logvar2], 1)


def posteriors_of(rows: torch.Tensor) -> list[Posterior]:
    """Level z1 with a per-sample prior mean (as an MHVAE's p(z1|z2)), z2 with a shared tensor
    prior log-variance."""
    a, b, c = D1, 2 * D1, 2 * D1 + D2
    m1, lv1, m2, lv2 = rows[:, :a], rows[:, a:b], rows[:, b:c], rows[:, c:]
    return [Posterior("z1", m1, lv1, 0.01 * m2[:, :1], 0.0),
            Posterior("z2", m2, lv2, 0.0, torch.full((D2,), 0.05, dtype=F64))]


def fn(xb, yb=None):
    return posteriors_of(xb)


def stream(rows: torch.Tensor, sizes, **kwargs) -> list[dict]:
    mon = CollapseMonitor(**kwargs)
    start = 0
    for k in sizes:
        mon.update(posteriors_of(rows[start:start + k]))
        start += k
        assert mon.n == start
    assert start == rows.shape[0] and mon.n == start
    return mon.compute()


def assert_levels_close(got: list[dict], ref: list[dict], tol: float = 1e-6) -> None:
    assert [lv["name"] for lv in got] == [lv["name"] for lv in ref]
    for a, b in zip(got, ref, strict=True):
        assert set(a) == set(b)
        np.testing.assert_allclose(a["kl_per_dim"], b["kl_per_dim"], rtol=tol, atol=tol)
        assert a["kl_total"] == pytest.approx(b["kl_total"], rel=tol, abs=tol)
        assert a["active_units_kl_fraction"] == pytest.approx(b["active_units_kl_fraction"], abs=tol)
        for key in ("active_units", "active_modes", "collapsed_dims"):
            assert a[key] == b[key], key


# ------------------------------------------------------------------------------ monitor == diagnose


@pytest.mark.parametrize("buffer_rows", [0, 50, 1024])
@pytest.mark.parametrize("sizes", [[400], [1] * 7 + [393], [128, 128, 128, 16], [33] * 12 + [4]])
def test_batch_by_batch_equals_diagnose(sizes, buffer_rows):
    """Every staging regime: none, a buffer smaller than some batches (reduced directly) and
    filled several times, one buffer for everything."""
    rows = make_data()
    ref = diagnose(fn, rows, is_samples=0)["levels"]
    got = stream(rows, sizes, buffer_rows=buffer_rows)
    assert_levels_close(got, ref)
    # the data exercise every measure: some dimensions collapsed, some (not all) active
    z1 = got[0]
    assert z1["collapsed_dims"][:1] == [0] and 0 < z1["active_units"] < D1
    assert 0 < z1["active_modes"] < D1 and 0 < z1["active_units_kl_fraction"] < 1


@pytest.mark.parametrize("epsilon,delta,threshold", [(1e-2, 0.03, 0.01), (0.3, 0.05, 0.05),
                                                     (1e-3, 0.2, 0.5)])
def test_other_eps_delta_threshold_match_diagnose(epsilon, delta, threshold):
    rows = make_data(seed=3)
    ref = diagnose(fn, rows, epsilon=epsilon, delta=delta, is_samples=0)["levels"]
    got = stream(rows, [50] * 8, epsilon=epsilon, delta=delta, threshold=threshold)
    if threshold == 0.01:
        assert_levels_close(got, ref)
        assert 0 not in got[0]["collapsed_dims"]  # 96 % below ε is not ≥ 97 %
    else:  # diagnose's active-unit measures use τ = 0.01; the (ε, δ) sets and KLs still agree
        for a, b in zip(got, ref, strict=True):
            assert a["collapsed_dims"] == b["collapsed_dims"]
            np.testing.assert_allclose(a["kl_per_dim"], b["kl_per_dim"], rtol=1e-9)


def test_prior_changing_between_batches():
    """Numeric priors that change between batches (and a switch to tensor priors) flush the
    staged rows first: the result equals diagnose with the per-sample prior written out."""
    rows = make_data(seed=13)
    m, lv = rows[:, :D1], rows[:, D1:2 * D1]
    pm = torch.zeros(400, D1, dtype=F64)
    pm[100:200] = 0.3
    plv = torch.zeros(400, D1, dtype=F64)
    plv[200:] = torch.linspace(-0.2, 0.2, D1, dtype=F64)
    mon = CollapseMonitor(buffer_rows=256)
    mon.update([Posterior("z", m[:100], lv[:100], 0.0, 0.0)])
    mon.update([Posterior("z", m[100:200], lv[100:200], 0.3, 0)])
    mon.update([Posterior("z", m[200:300], lv[200:300], 0.0, plv[200])])
    mon.update([Posterior("z", m[300:], lv[300:], torch.zeros(()), plv[300:])])
    ref = diagnose(lambda xb, yb=None: [Posterior("z", xb[:, :D1], xb[:, D1:2 * D1],
                                                     xb[:, 2 * D1:3 * D1], xb[:, 3 * D1:])],
                      torch.cat([m, lv, pm, plv], 1), is_samples=0)["levels"]
    assert_levels_close(mon.compute(), ref)


def test_monitor_against_independent_oracles():
    """KL from torch.distributions; Burda's count from numpy's variance; active modes from numpy's
    eigenvalues of the (1/n) covariance; (ε, δ) and the KL fraction by brute-force counting."""
    rows = make_data(seed=5)
    got = stream(rows, [64] * 6 + [16])
    for level, post in zip(got, posteriors_of(rows), strict=True):
        pm = torch.as_tensor(post.prior_mean, dtype=F64)
        ps = torch.as_tensor(post.prior_logvar, dtype=F64).mul(0.5).exp()
        kl = kl_divergence(Normal(post.mean, (0.5 * post.logvar).exp()), Normal(pm, ps)).numpy()
        np.testing.assert_allclose(level["kl_per_dim"], kl.mean(0), rtol=1e-9, atol=1e-12)
        assert level["kl_total"] == pytest.approx(kl.mean(0).sum(), rel=1e-9)
        mu = post.mean.numpy()
        assert level["active_units"] == int((np.var(mu, axis=0) > 0.01).sum())
        eig = np.linalg.eigvalsh(np.cov(mu, rowvar=False, bias=True))
        assert level["active_modes"] == int((eig > 0.01).sum())
        n = kl.shape[0]
        collapsed = [i for i in range(kl.shape[1]) if sum(kl[:, i] < 0.01) >= 0.95 * n]
        assert level["collapsed_dims"] == collapsed
        assert level["active_units_kl_fraction"] == pytest.approx(float((kl >= 0.01).mean()))


def test_large_offset_small_spread_is_stable():
    """Means around 10⁴ with variances near the 0.01 threshold: the shifted sums keep Burda's
    count and the modes exact (raw second moments would cancel catastrophically)."""
    rows = make_data(seed=7, offset=1e4)
    got = stream(rows, [100] * 4)
    mu = rows[:, :D1].numpy()
    var = np.var(mu, axis=0)
    assert np.min(np.abs(var - 0.01)) < 0.005  # a variance close to the threshold
    assert got[0]["active_units"] == int((var > 0.01).sum())
    eig = np.linalg.eigvalsh(np.cov(mu, rowvar=False, bias=True))
    assert got[0]["active_modes"] == int((eig > 0.01).sum())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_any_float_dtype(dtype):
    """Lower-precision posteriors: the monitor works in float64 on the values given, so it equals
    diagnose on the same values, and the batches' dtype does not matter."""
    rows = make_data(seed=9).to(dtype)
    got = stream(rows, [100] * 4)
    ref = diagnose(fn, rows.to(F64), is_samples=0)["levels"]
    assert_levels_close(got, ref, tol=1e-9)
    assert_levels_close(diagnose(fn, rows, is_samples=0)["levels"], ref, tol=1e-9)


def test_package_model_batches_equal_diagnose():
    """A package CVAE (deterministic posterior given (x, y)), fed by training-size batches."""
    cfg = ModelConfig.of(family="cvae", backbone="mlp", dim_x=5, dim_y=7, latent_dim=4, hidden=[8],
                      eta_enc=1.5)
    torch.manual_seed(0)
    model = build_model(cfg)
    x, y = torch.randn(300, 5, generator=gen(1)), torch.randn(300, 7, generator=gen(2))
    ref = diagnose(model, x, y, is_samples=0)["levels"]
    mon = CollapseMonitor()
    with torch.no_grad():
        for i in range(0, 300, 128):
            mon.update(model.posteriors(x[i:i + 128], y[i:i + 128]))
    assert_levels_close(mon.compute(), ref)


def test_training_posteriors_are_detached_and_reset_forgets():
    mean = torch.randn(20, 3, generator=gen(0), requires_grad=True)
    logvar = torch.zeros(20, 3, requires_grad=True)
    mon = CollapseMonitor()
    mon.update([Posterior("z", mean * 2, logvar)])
    first = mon.compute()
    assert mon.compute() == first  # compute does not change the state
    mon.reset()
    assert mon.n == 0
    with pytest.raises(ValueError, match="at least one update"):
        mon.compute()
    mon.update([Posterior("z", mean[:5] * 2, logvar[:5])])
    assert mon.n == 5 and mon.compute() != first
    with pytest.raises(ValueError, match="levels changed"):
        mon.update([Posterior("w", mean, logvar)])
    assert mean.grad is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="delta"):
        CollapseMonitor(delta=1.0)
    with pytest.raises(ValueError, match="epsilon"):
        CollapseMonitor(epsilon=0)
    with pytest.raises(ValueError, match="buffer_rows"):
        CollapseMonitor(buffer_rows=-1)
    with pytest.raises(ValueError, match=r"\(n, \*event\)"):
        CollapseMonitor().update([Posterior("z", torch.zeros(3), torch.zeros(3))])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_equal_cpu():  # pragma: no cover - no GPU on CI
    rows = make_data(seed=11)
    assert_levels_close(stream(rows.cuda(), [100] * 4), stream(rows, [400]), tol=1e-9)


def test_collapse_scalars_names():
    rows = make_data()
    z1 = stream(rows, [400])[0]
    s = collapse_scalars(z1)
    assert set(s) == {"collapse/z1/n_collapsed", "collapse/z1/kl_total", "collapse/z1/active_units",
                      "collapse/z1/active_modes"} | {f"collapse/z1/kl_{i}" for i in range(D1)}
    assert s["collapse/z1/n_collapsed"] == len(z1["collapsed_dims"])
    assert s["collapse/z1/kl_3"] == z1["kl_per_dim"][3]


# ------------------------------------------------------------------------------ shared pieces


def test_standard_prior_fast_path_is_bit_identical():
    """Posterior.kl skips the identities of an N(0, I) prior given as numbers: same bits (values
    and gradients) as the general formula with tensor priors."""
    for dtype in (torch.float32, F64):
        mean = torch.randn(64, 5, generator=gen(1), dtype=dtype, requires_grad=True)
        logvar = torch.randn(64, 5, generator=gen(2), dtype=dtype, requires_grad=True)
        fast = Posterior("z", mean, logvar, 0.0, 0.0).kl()
        general = Posterior("z", mean, logvar, torch.zeros((), dtype=dtype),
                            torch.zeros((), dtype=dtype)).kl()
        assert torch.equal(fast, general)
        g_fast = torch.autograd.grad(fast.sum(), (mean, logvar))
        g_general = torch.autograd.grad(general.sum(), (mean, logvar))
        assert all(torch.equal(a, b) for a, b in zip(g_fast, g_general, strict=True))


def test_evaluating_restores_each_submodule_mode():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    net.train()
    net[1].eval()  # a frozen batch-norm
    with evaluating(net):
        assert not net.training and not net[0].training
        assert not torch.is_grad_enabled()
    assert net.training and net[0].training and not net[1].training


# ------------------------------------------------------------------------------ diagnose inputs


def small_vae():
    cfg = ModelConfig.of(family="vae", backbone="mlp", dim_x=6, latent_dim=3, hidden=[8])
    torch.manual_seed(0)
    return build_model(cfg)


@pytest.mark.parametrize("kind", ["float64", "float16", "numpy", "int"])
def test_diagnose_accepts_any_input_dtype(kind):
    model = small_vae()
    x = torch.randint(0, 4, (80, 6), generator=gen(3)).to(torch.float32)
    ref = diagnose(model, x, is_samples=20)
    given = {"float64": x.double(), "float16": x.half(), "numpy": x.numpy(),
             "int": x.to(torch.int64)}[kind]
    got = diagnose(model, given, is_samples=20)
    assert got == ref  # small integers are exact in every dtype: the same numbers


def test_diagnose_float64_model():
    model = small_vae().double()
    x = torch.randn(50, 6, generator=gen(4))
    got = diagnose(model, x, is_samples=10)
    ref = diagnose(model, x.double(), is_samples=10)
    assert got == ref and math.isfinite(got["log_likelihood"]["estimate"])


def test_model_inputs_follow_the_model_device():
    """Without a GPU, the meta device stands in: inputs land on the model's device and dtype."""
    model = torch.nn.Linear(6, 3, device="meta", dtype=torch.float64)
    x, y = model_inputs(model, np.ones((4, 6), dtype=np.float32), torch.ones(4, 2))
    assert x.device.type == "meta" and y.device.type == "meta"
    assert x.dtype == y.dtype == torch.float64
    x, y = model_inputs(fn, torch.ones(4, 2, dtype=torch.int32))
    assert x.dtype == torch.get_default_dtype() and y is None


def test_diagnose_reports_progress():
    model = small_vae()
    x = torch.randn(40, 6, generator=gen(5))
    calls = []
    diagnose(model, x, is_samples=5, progress=lambda *a: calls.append(a))
    stages = [c[0] for c in calls]
    assert stages[0] == "posteriors" and "mutual information" in stages
    ll = [c for c in calls if c[0] == "log-likelihood"]
    done = [c[1] for c in ll]  # points done, chunk by chunk (chunks sized by a memory budget)
    assert done and done[-1] == 40 and done == sorted(done) and all(c[2] == 40 for c in ll)


def test_inputs_changed_in_place_after_update():
    """Staged batches are not altered by the caller's later in-place changes: a parameter (and
    an expanded view of one) is copied, so the result equals diagnose on the values at update
    time; an intermediate result overwritten in place before it is read is refused, not used."""
    torch.manual_seed(3)
    mean = torch.randn(40, 4)
    logvar = torch.nn.Parameter(torch.randn(4))
    expected = CollapseMonitor()
    expected.update([Posterior("z", mean.clone(), logvar.detach().clone().expand(40, -1))])
    mon = CollapseMonitor()
    mon.update([Posterior("z", mean, logvar.expand(40, -1))])
    with torch.no_grad():
        logvar.add_(5.0)  # an optimiser step
        mean.mul_(3.0)  # mean is a leaf (no grad): copied too
    assert mon.compute() == expected.compute()

    w = torch.randn(4, 4, requires_grad=True)
    hidden = torch.randn(40, 4) @ w  # an intermediate result: held by reference
    mon = CollapseMonitor()
    mon.update([Posterior("z", hidden, torch.zeros(40, 4))])
    with torch.no_grad():
        hidden.mul_(2.0)
    with pytest.raises(RuntimeError, match="changed in place"):
        mon.compute()


@pytest.mark.parametrize("prior", [(0.0, 0.0), (0.3, 0.0), (0.0, -0.7), (1.5, 2.0)])
@pytest.mark.parametrize("logvar_shape", [(300, 7), (7,)])
def test_in_place_kl_is_posterior_kl_bit_for_bit(prior, logvar_shape):
    """The KL's in-place path (no gradient: the monitor's) equals its autograd path exactly (so
    the monitor's ε counts equal those of a KL computed with gradients)."""
    g = torch.Generator().manual_seed(11)
    mean = 3 * torch.randn(300, 7, generator=g, dtype=torch.float64)
    logvar = 2 * torch.randn(*logvar_shape, generator=g, dtype=torch.float64)
    with torch.no_grad():
        got = Posterior("z", mean, logvar, *prior).kl()
    want = Posterior("z", mean.requires_grad_(), logvar, *prior).kl().detach()
    assert got.shape == (300, 7)
    assert torch.equal(got, want.expand(300, 7))
