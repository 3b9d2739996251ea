"""The trainer's flat-buffer Adam (runs/flat_adam.py) against torch.optim.Adam and
torch.nn.utils.clip_grad_norm_ on the same model copies (the oracle), and its state format."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from vaecollapse.runs.flat_adam import FlatAdam


def net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 2))


def batches(k, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(16, 7, generator=g), torch.randn(16, 2, generator=g)) for _ in range(k)]


def loss(m, xb, yb):
    return ((m(xb) - yb) ** 2).sum()


def run_flat(m, data, clip=None, opt=None):
    opt = opt or FlatAdam(m.parameters(), lr=1e-2)
    for xb, yb in data:
        opt.zero_grad()
        loss(m, xb, yb).backward()
        if clip is not None:
            opt.clip_grad_norm_(clip)
        opt.step()
    return opt


def run_torch(m, data, clip=None, opt=None):
    opt = opt or torch.optim.Adam(m.parameters(), lr=1e-2, fused=True)
    for xb, yb in data:
        opt.zero_grad(set_to_none=True)
        loss(m, xb, yb).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
        opt.step()
    return opt


def test_same_updates_as_torch_adam():
    """Adam is elementwise: one fused kernel over the flat buffer = the per-parameter kernels (to
    float rounding: the kernel's vectorised body and scalar tail round differently)."""
    a, b = net(), net()
    run_flat(a, batches(6))
    run_torch(b, batches(6))
    for (k, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7, msg=k)
    assert not torch.equal(a[0].weight, net()[0].weight)


def test_direct_kernel_is_adams_step_bit_for_bit():
    """After the first step FlatAdam calls the fused kernel itself: the same bits as
    ``torch.optim.Adam(fused=True).step()`` on the same flat tensor and gradients (the oracle),
    with a learning rate changed between steps as the trainer's schedule does."""
    a = net()
    opt = FlatAdam(a.parameters(), lr=1e-2)
    flat = opt.flat.detach().clone().requires_grad_()
    ref = torch.optim.Adam([flat], lr=1e-2, fused=True)
    calls, inner_step = [], opt.opt.step
    opt.opt.step = lambda: (calls.append(1), inner_step())[1]
    for k, (xb, yb) in enumerate(batches(8)):
        opt.zero_grad()
        loss(a, xb, yb).backward()
        flat.grad = opt.grad.clone()
        for group in (*opt.param_groups, *ref.param_groups):
            group["lr"] = 1e-2 / (1 + k)
        opt.step()
        ref.step()
        assert torch.equal(opt.flat, flat), k
        assert torch.equal(opt.opt.state[opt.flat]["exp_avg_sq"], ref.state[flat]["exp_avg_sq"])
    assert float(opt.opt.state[opt.flat]["step"]) == 8
    assert len(calls) == 1  # Adam.step created the state; the kernel was called directly after


def test_same_seed_same_bits():
    a, b = net(), net()
    run_flat(a, batches(6), clip=0.05)
    run_flat(b, batches(6), clip=0.05)
    assert all(torch.equal(pa, pb) for pa, pb in zip(a.parameters(), b.parameters(), strict=True))


def test_clip_matches_clip_grad_norm():
    """Clipped (the clip is active: norm ≫ 0.05) — equal to torch's clip up to the rounding of
    the norm (summed in another order)."""
    a, b = net(), net()
    run_flat(a, batches(6), clip=0.05)
    run_torch(b, batches(6), clip=0.05)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
    assert not torch.equal(a[0].weight, net()[0].weight)


def test_parameters_are_views_and_state_dict_is_unchanged():
    m = net()
    before = copy.deepcopy(m.state_dict())
    opt = FlatAdam(m.parameters(), lr=1e-2)
    after = m.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert all(p.data_ptr() >= opt.flat.data_ptr() for p in m.parameters())
    assert sum(p.numel() for p in m.parameters()) == opt.flat.numel()


def test_state_dict_is_torch_adams_and_loads_both_ways():
    """state_dict() has torch.optim.Adam's per-parameter format and values (to rounding); a torch
    Adam state loads into FlatAdam and a FlatAdam state into torch Adam, and both continue as
    the uninterrupted torch Adam does."""
    a, b = net(), net()
    fa = run_flat(a, batches(4))
    tb = run_torch(b, batches(4))
    sa, sb = fa.state_dict(), tb.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for i in sb["state"]:
        assert sa["state"][i].keys() == sb["state"][i].keys()
        for key in sb["state"][i]:
            got, want = sa["state"][i][key], sb["state"][i][key]
            assert got.shape == want.shape and got.dtype == want.dtype
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9, msg=f"{i} {key}")

    c, d = copy.deepcopy(b), copy.deepcopy(a)  # cross over: flat from torch's state and back
    fc = FlatAdam(c.parameters(), lr=1e-2)
    fc.load_state_dict(sb)
    td = torch.optim.Adam(d.parameters(), lr=1e-2, fused=True)
    td.load_state_dict(sa)
    more = batches(3, seed=2)
    for opt in (fc, td, tb):  # a schedule after loading: param_groups is the live list
        opt.param_groups[0]["lr"] = 3e-3
    run_flat(c, more, opt=fc)
    run_torch(d, more, opt=td)
    run_torch(b, more, opt=tb)
    for pb, pc, pd in zip(b.parameters(), c.parameters(), d.parameters(), strict=True):
        torch.testing.assert_close(pc, pb, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(pd, pb, rtol=1e-6, atol=1e-7)


def test_mismatched_state_is_a_value_error():
    small = FlatAdam(net().parameters(), lr=1e-2)
    other = nn.Linear(7, 2)
    t = torch.optim.Adam(other.parameters(), lr=1e-2, fused=True)
    loss(other, *batches(1)[0]).backward()
    t.step()
    with pytest.raises(ValueError):
        small.load_state_dict(t.state_dict())


def test_grads_replaced_outside_are_still_used():
    """model.zero_grad() (set_to_none) between steps: backward creates new .grad tensors, which
    the next step copies into the buffer instead of silently ignoring them."""
    a, b = net(), net()
    opt = FlatAdam(a.parameters(), lr=1e-2)
    tb = torch.optim.Adam(b.parameters(), lr=1e-2, fused=True)
    for xb, yb in batches(3):
        a.zero_grad(set_to_none=True)
        loss(a, xb, yb).backward()
        opt.step()
        tb.zero_grad()
        loss(b, xb, yb).backward()
        tb.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)
