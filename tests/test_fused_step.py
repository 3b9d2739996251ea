"""The hand-differentiated training step (runs/fused_step.py) against autograd (the oracle): the
same objective, terms and noise, and the gradient of ``loss.backward()`` on a copy of the model,
in float64 so that the comparison is sharp; the trainer's runs with and without it."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from vaecollapse.config import ModelConfig, TrainConfig
from vaecollapse.errors import HyperparameterError
from vaecollapse.models import build_model
from vaecollapse.models import objective as remedy_objective
from vaecollapse.models.fast_step import fused_step
from vaecollapse.runs import loop as train_module
from vaecollapse.runs.rundir import METRICS, load_model
from vaecollapse.runs.train import train

DX, DY = 9, 7


def model_for(family: str, hidden, seed: int = 0, **hp):
    torch.manual_seed(seed)
    dim_y = DY if family == "cvae" else 0
    return build_model(ModelConfig.of(family, "mlp", DX, 4, dim_y=dim_y, hidden=hidden,
                                      **hp)).double()


def batch(n: int = 11, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, DX, generator=g, dtype=torch.float64),
            torch.randn(n, DY, generator=g, dtype=torch.float64))


CASES = [
    ("vae", [6], {}),
    ("vae", [5, 3], {"beta": 2.5, "eta_enc": 0.7, "eta_dec": 0.3}),
    ("cvae", [6], {}),
    ("cvae", [6], {"beta": 0.4, "eta_enc": 1.3, "eta_dec": 0.5}),
    ("cvae", [5, 4], {"sigma": 0.6, "beta": 1.7}),
    ("cvae", [], {"eta_dec": 0.8}),
]


@pytest.mark.parametrize("family,hidden,hp", CASES)
@pytest.mark.parametrize("kl_weight", [1.0, 0.3])
def test_gradient_and_terms_equal_autograd(family, hidden, hp, kl_weight):
    auto = model_for(family, hidden, **hp)
    hand = copy.deepcopy(auto)
    x, y = batch()
    y = y if family == "cvae" else None
    out = auto(x, y, generator=torch.Generator().manual_seed(7))
    objective = remedy_objective.objective(auto, out, kl_weight, None)
    objective.backward()
    for p in hand.parameters():
        p.grad = torch.full_like(p, float("nan"))  # every gradient must be written
    step = fused_step(hand)
    assert step is not None
    with torch.no_grad():
        terms = step(x, y, torch.Generator().manual_seed(7), kl_weight)
    for got, want in ((terms.loss, out.loss), (terms.recon, out.recon),
                      (terms.kl["z"], out.kl["z"]), (terms.objective, objective)):
        torch.testing.assert_close(got, want.detach(), rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(auto.named_parameters(), hand.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-12, msg=name)
        assert p.grad.abs().max() > 0, name  # the case exercises every parameter


def test_same_noise_stream_as_the_model():
    model = model_for("cvae", [6])
    x, y = batch()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    with torch.no_grad():
        fused_step(model)(x, y, g1)
        model(x, y, generator=g2)
    assert torch.equal(g1.get_state(), g2.get_state())


@pytest.mark.parametrize("family,backbone,kw", [
    ("cvae", "linear", {}), ("vae", "linear", {}), ("mhvae", "mlp", {}),
])
def test_not_covered_falls_back(family, backbone, kw):
    cfg = ModelConfig.of(family, backbone, DX, 4, dim_y=DY if family == "cvae" else 0,
                         hidden=[5], **kw)
    assert fused_step(build_model(cfg)) is None


def test_free_bits_fall_back():
    assert fused_step(model_for("vae", [5]), free_bits=0.1) is None
    assert fused_step(model_for("vae", [5])) is not None


def _run(tmp_path, name, monkeypatch=None, **kw):
    cfg = TrainConfig(data="synthetic:corr=gaussian-0.5,n=300,dim=8",
                      model=ModelConfig.of("vae", "mlp", 8, 4, hidden=[8]), epochs=3,
        batch_size=64, lr=3e-3, clip=1.0, seed=0, device="cpu", eval_points=200, **kw)
    if monkeypatch is not None:
        monkeypatch.setattr(train_module, "fused_step", lambda *a, **k: None)
    train(cfg, tmp_path / name, progress=False)
    if monkeypatch is not None:
        monkeypatch.undo()
    lines = [json.loads(s) for s in (tmp_path / name / METRICS).read_text().splitlines()]
    return lines, load_model(tmp_path / name)[1]


@pytest.mark.parametrize("kw", [{}, {"kl_warmup": 2}])
def test_trainer_with_and_without_the_fused_step(tmp_path, monkeypatch, kw):
    """The trainer takes the fused step for an MLP VAE: its run follows the autograd run (the
    same batches and noise; gradients equal up to float32 rounding), and is deterministic."""
    fused, m_fused = _run(tmp_path, "fused", **kw)
    again, m_again = _run(tmp_path, "again", **kw)
    auto, m_auto = _run(tmp_path, "auto", monkeypatch, **kw)
    for a, b in zip(m_fused.state_dict().values(), m_again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for key in ("loss", "recon", "kl_total"):
        for f, a in zip(fused, auto, strict=True):
            assert f[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
    for a, b in zip(m_fused.state_dict().values(), m_auto.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------------------ the switch


def _runtime(tmp_path, name):
    return json.loads((tmp_path / name / "config.json").read_text())["runtime"]["training_step"]


def test_fast_step_off_trains_by_autograd_and_says_so(tmp_path):
    """``fast_step="off"`` is the autograd run itself (bit for bit the same as the trainer with
    the fast step removed) and records ``autograd``; ``auto`` records the hand-differentiated
    step where it covers the model, ``autograd`` where it does not (a linear model)."""
    off, m_off = _run(tmp_path, "off", fast_step="off")
    auto, m_auto = _run(tmp_path, "auto")
    assert _runtime(tmp_path, "off") == "autograd"
    assert _runtime(tmp_path, "auto") == "hand-differentiated"
    for key in ("loss", "recon", "kl_total"):
        for f, a in zip(auto, off, strict=True):
            assert f[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
    cfg = TrainConfig(data="synthetic:corr=gaussian-0.5,n=200,dim=8",
                      model=ModelConfig.of("vae", "linear", 8, 4), epochs=1, seed=0,
                      device="cpu", eval_points=100)
    train(cfg, tmp_path / "linear", progress=False)
    assert _runtime(tmp_path, "linear") == "autograd"


def test_fast_step_off_equals_the_trainer_without_it(tmp_path, monkeypatch):
    off, m_off = _run(tmp_path, "off", fast_step="off")
    ref, m_ref = _run(tmp_path, "ref", monkeypatch)
    for a, b in zip(m_off.state_dict().values(), m_ref.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_fast_step_setting_is_checked():
    with pytest.raises(HyperparameterError, match="fast_step must be one of auto, off"):
        TrainConfig(data="mnist", model=ModelConfig.of("vae", "mlp", 8, 4), fast_step="on"
                    ).validate()
    assert fused_step(model_for("vae", [5]), fast_step="off") is None


def test_public_relu_backward_equals_the_private_operator():
    """The fallback for ``aten.threshold_backward`` (feature-detected) gives the same values."""
    from vaecollapse.models import fast_step as fs

    g = torch.Generator().manual_seed(5)
    grad, a = torch.randn(64, 9, generator=g), torch.randn(64, 9, generator=g).relu()
    assert torch.equal(fs._public_relu_grad(grad, a, 0), torch.ops.aten.threshold_backward(grad, a, 0))
