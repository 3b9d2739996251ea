"""Convolutional and grouped latents: ``Posterior`` of shape (n, *event) with ``unit="dim"`` or
``unit="channel"``, NVAE's active groups and near-deterministic units — against independent
oracles (torch.distributions' KL, numpy variances and eigenvalues, brute-force (ε, δ) counts),
the flat case they must reduce to, and the streaming monitor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaecollapse.diagnostics import collapse, diagnose, streaming
from vaecollapse.diagnostics.collapse import NearDeterministicWarning, active_groups
from vaecollapse.diagnostics.streaming import CollapseMonitor
from vaecollapse.integrations.scalars import collapse_scalars
from vaecollapse.models import Posterior

F64 = torch.float64
C, H, W = 5, 3, 4


def conv_rows(n: int = 300, seed: int = 0) -> torch.Tensor:
    """Rows of flattened (C, H, W) means and log-variances: channel 0 collapsed (μ ≈ 0, s² = 1),
    channel 1 weakly used, channels 2-4 carrying signal of growing strength."""
    g = torch.Generator().manual_seed(seed)
    spread = torch.tensor([0.0005, 0.02, 0.3, 0.8, 1.5], dtype=F64).view(1, C, 1, 1)
    mean = torch.randn(n, C, H, W, generator=g, dtype=F64) * spread
    logvar = (torch.randn(n, C, H, W, generator=g, dtype=F64) * 0.05
              - torch.tensor([0.0, 0.05, 1.0, 2.0, 3.0], dtype=F64).view(1, C, 1, 1))
    logvar[:, 0] = 0.0
    return torch.cat([mean.flatten(1), logvar.flatten(1)], 1)


def conv_posts(rows: torch.Tensor, unit: str = "channel") -> list[Posterior]:
    k = C * H * W
    return [Posterior("z", rows[:, :k].reshape(-1, C, H, W), rows[:, k:].reshape(-1, C, H, W),
                      unit=unit)]


def oracle(mean: np.ndarray, logvar: np.ndarray, eps=0.01, delta=0.05, tau=0.01) -> dict:
    """The channel measures by hand: KL per element from torch.distributions, summed over (H, W);
    Burda's statistic Σ_p Var_x μ; eigenvalues of Σ_p Cov_x μ_·p."""
    q = Normal(torch.as_tensor(mean), torch.as_tensor(np.exp(0.5 * logvar)))
    kl = kl_divergence(q, Normal(0.0, 1.0)).numpy().sum(axis=(2, 3))  # (n, C)
    flat = mean.reshape(mean.shape[0], C, -1)  # (n, C, P)
    var = flat.var(axis=0).sum(-1)
    cov = sum(np.cov(flat[:, :, p].T, bias=True) for p in range(flat.shape[2]))
    below = (kl < eps).mean(0)
    return {"kl_per_dim": kl.mean(0), "active_units": int((var > tau).sum()),
            "active_modes": int((np.linalg.eigvalsh(cov) > tau).sum()),
            "active_units_kl_fraction": float((kl >= tau).mean()),
            "collapsed_dims": [int(i) for i in np.flatnonzero(below >= 1 - delta)]}


def channel_fn(xb, yb=None):
    return conv_posts(xb)


def test_channel_units_against_independent_oracle():
    rows = conv_rows()
    (post,) = conv_posts(rows)
    assert post.units == C and post.unit_kl().shape == (300, C)
    got = diagnose(channel_fn, rows, is_samples=0)["levels"][0]
    ref = oracle(post.mean.numpy(), post.logvar.numpy())
    assert got["unit"] == "channel" and len(got["kl_per_dim"]) == C
    np.testing.assert_allclose(got["kl_per_dim"], ref["kl_per_dim"], rtol=1e-9)
    for key in ("active_units", "active_modes", "collapsed_dims"):
        assert got[key] == ref[key], key
    assert got["active_units_kl_fraction"] == pytest.approx(ref["active_units_kl_fraction"])
    assert got["collapsed_dims"] == [0] and got["active_units"] == 3  # channels 2-4 vary enough


def test_dim_units_of_a_conv_latent_equal_the_flattened_level():
    rows = conv_rows(seed=1)
    (post,) = conv_posts(rows, unit="dim")
    flat = diagnose(lambda xb, yb=None: [Posterior("z", xb[:, :C * H * W], xb[:, C * H * W:])], rows,
                    is_samples=0)
    got = diagnose(lambda xb, yb=None: conv_posts(xb, "dim"), rows, is_samples=0)
    assert post.units == C * H * W
    a, b = got["levels"][0], flat["levels"][0]
    assert a["collapsed_dims"] == b["collapsed_dims"] and a["active_modes"] == b["active_modes"]
    np.testing.assert_allclose(a["kl_per_dim"], b["kl_per_dim"], rtol=1e-12)
    assert got["mutual_information"] == pytest.approx(flat["mutual_information"], rel=1e-9)


def test_channel_unit_of_a_flat_latent_is_the_dim_unit():
    rows = conv_rows(seed=2)[:, :C * H]
    a = diagnose(lambda xb, yb=None: [Posterior("z", xb[:, :6], xb[:, 6:12], unit="channel")], rows,
                 is_samples=0)["levels"][0]
    b = diagnose(lambda xb, yb=None: [Posterior("z", xb[:, :6], xb[:, 6:12])], rows,
                 is_samples=0)["levels"][0]
    assert {**a, "unit": "dim"} == b


@pytest.mark.parametrize("sizes", [[300], [1, 299], [64] * 4 + [44], [7, 150, 143]])
@pytest.mark.parametrize("buffer_rows", [0, 100, 4096])
def test_streamed_channels_equal_diagnose(sizes, buffer_rows):
    rows = conv_rows(seed=3)
    ref = diagnose(channel_fn, rows, is_samples=0)["levels"]
    mon, start = CollapseMonitor(buffer_rows=buffer_rows), 0
    for k in sizes:
        mon.update(conv_posts(rows[start:start + k]))
        start += k
    got = mon.compute()
    for a, b in zip(got, ref, strict=True):
        assert set(a) == set(b)
        np.testing.assert_allclose(a["kl_per_dim"], b["kl_per_dim"], rtol=1e-9, atol=1e-12)
        for key in ("unit", "active_units", "active_modes", "collapsed_dims", "group_active",
                    "near_deterministic"):
            assert a[key] == b[key], key


def test_wide_level_keeps_no_covariance(monkeypatch):
    """Above MODES_MAX_UNITS units neither diagnose nor the monitor forms the (U, U) covariance:
    active_modes is None, the other measures are unchanged."""
    rows = conv_rows(seed=4)
    ref = diagnose(lambda xb, yb=None: conv_posts(xb, "dim"), rows, is_samples=0)["levels"][0]
    monkeypatch.setattr(collapse, "MODES_MAX_UNITS", 10)
    monkeypatch.setattr(streaming, "MODES_MAX_UNITS", 10)
    got = diagnose(lambda xb, yb=None: conv_posts(xb, "dim"), rows, is_samples=0)["levels"][0]
    mon = CollapseMonitor(buffer_rows=50)
    for part in rows.split(70):
        mon.update(conv_posts(part, "dim"))
    streamed = mon.compute()[0]
    assert got["active_modes"] is None and streamed["active_modes"] is None
    assert ref["active_modes"] is not None
    for key in ("active_units", "collapsed_dims"):
        assert got[key] == ref[key] == streamed[key]
    np.testing.assert_allclose(streamed["kl_per_dim"], ref["kl_per_dim"], rtol=1e-9)
    assert "collapse/z/active_modes" not in collapse_scalars(streamed)


def test_near_deterministic_units_are_named_and_warned():
    rows = conv_rows(seed=5)
    k = C * H * W
    lv = rows[:, k:].reshape(-1, C, H, W).clone()
    lv[:, 3] = -20.0  # channel 3: std e^-10 ≈ 4.5e-5 of the prior's everywhere
    lv[0, 4, 0, 0] = -20.0  # channel 4: on the floor at one point only, not near-deterministic
    data = torch.cat([rows[:, :k], lv.flatten(1)], 1)
    with pytest.warns(NearDeterministicWarning, match=r"z: units \[3\]"):
        out = diagnose(channel_fn, data, is_samples=0)
    assert out["levels"][0]["near_deterministic"] == [3]
    mon = CollapseMonitor()
    mon.update(conv_posts(data))
    with pytest.warns(NearDeterministicWarning):
        assert mon.compute()[0]["near_deterministic"] == [3]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NearDeterministicWarning)
        assert diagnose(channel_fn, rows, is_samples=0)["levels"][0]["near_deterministic"] == []


def test_near_deterministic_is_relative_to_the_prior():
    """A posterior std of 1e-4 under a prior of std 1e-2 is 1e-2 of the prior's: not flagged; the
    same std under the unit prior is."""
    mean = torch.randn(200, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    logvar = torch.full((200, 3), 2 * np.log(1e-4), dtype=F64)
    tight = Posterior("z", mean * 1e-2, logvar, 0.0, 2 * np.log(1e-2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NearDeterministicWarning)
        assert diagnose(lambda xb, yb=None: [tight], mean, is_samples=0)["levels"][0][
            "near_deterministic"] == []
        assert diagnose(lambda xb, yb=None: [Posterior("z", mean, logvar)], mean, is_samples=0)[
            "levels"][0]["near_deterministic"] == [0, 1, 2]


def nvae_groups(x, yb=None):
    """Three groups of conv latents (as NVAE's): g0 unused, g1 weakly used, g2 carrying signal."""
    n = x.shape[0]
    g = torch.Generator().manual_seed(7)
    out = []
    for k, scale in enumerate([1e-3, 0.2, 1.0]):
        mean = scale * torch.randn(n, 2, 2, 2, generator=g, dtype=F64) * x[:, :1].view(n, 1, 1, 1)
        out.append(Posterior(f"g{k}", mean, torch.zeros_like(mean), unit="channel"))
    return out


def test_active_groups_follow_nvae_rule():
    x = torch.randn(400, 1, generator=torch.Generator().manual_seed(1), dtype=F64)
    out = diagnose(nvae_groups, x, is_samples=0)
    kls = [lv["kl_total"] for lv in out["levels"]]
    assert kls[0] < 0.1 < kls[2]
    assert [lv["group_active"] for lv in out["levels"]] == [k > 0.1 for k in kls]
    assert out["active_groups"] == {"threshold": 0.1, "active": sum(k > 0.1 for k in kls),
                                    "groups": 3}
    strict = diagnose(nvae_groups, x, is_samples=0, group_threshold=1e6)
    assert strict["active_groups"]["active"] == 0
    mon = CollapseMonitor(group_threshold=0.1)
    mon.update(nvae_groups(x))
    assert active_groups(mon.compute()) == out["active_groups"]["active"]


def test_bad_units_and_changing_shapes():
    with pytest.raises(ValueError, match="unit must be one of"):
        Posterior("z", torch.zeros(3, 2), torch.zeros(3, 2), unit="pixel")
    mon = CollapseMonitor()
    mon.update(conv_posts(conv_rows(10)))
    with pytest.raises(ValueError, match="event shape and unit"):
        mon.update(conv_posts(conv_rows(10), unit="dim"))
