"""The remedies for collapse in `train` (vaecollapse.models.objective): the schedules against their
papers' formulas written out here, the recombined objective against the model's own loss and
against torch.distributions KLs, free bits' gradient, and — for every schedule — that an
interrupted and resumed run equals an uninterrupted one bit for bit."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaecollapse.config import TrainConfig, config_from_options, model_config_for
from vaecollapse.data import load
from vaecollapse.errors import HyperparameterError, UserError
from vaecollapse.models import build_model, objective
from vaecollapse.runs.rundir import CHECKPOINT, METRICS
from vaecollapse.runs.train import train

SPEC = "mnist:n=200"


def cfg_for(family="vae", backbone="mlp", epochs=4, **kw) -> TrainConfig:
    ds = load(SPEC if family != "cvae" else SPEC + ",split=quarter")
    hp = {"sigma1": 0.5} if family == "mhvae" else {}
    mcfg = model_config_for(ds, family, backbone, 3, hidden=[8], beta1=1.0, beta2=2.0, **hp) \
        if family == "mhvae" else model_config_for(ds, family, backbone, 3, hidden=[8], beta=2.0)
    return TrainConfig(data=ds.spec, model=mcfg, epochs=epochs, lr=5e-3, batch_size=64, seed=0,
                       device="cpu", eval_points=100, diagnostics_is_samples=3, **kw).validate()


# ------------------------------------------------------------------------------ schedules


def test_warmup_is_a_linear_ramp_from_zero():
    cfg = cfg_for(epochs=10, kl_warmup=4)
    spe = 7
    # Bowman et al.: weight t / (warm-up steps), capped at 1
    expected = [min(1.0, t / 28) for t in range(70)]
    got = [objective.kl_weight(cfg, t, 70, spe) for t in range(70)]
    assert got == pytest.approx(expected, abs=1e-15)
    assert got[0] == 0.0 and got[28] == 1.0 and got[14] == pytest.approx(0.5)


def test_cyclical_schedule_follows_fu_et_al():
    cfg = cfg_for(epochs=10, kl_cycles=4, kl_cycle_ratio=0.5)
    total = 100  # cycles of 25 steps: ramp over 12.5 steps, then 1
    for t, w in [(0, 0.0), (5, 0.4), (12, 12 / 12.5), (13, 1.0), (24, 1.0), (25, 0.0),
                 (30, 0.4), (99, 1.0), (75, 0.0), (80, 0.4)]:
        assert objective.kl_weight(cfg, t, total, 10) == pytest.approx(w, abs=1e-12), t
    plain = cfg_for()
    assert {objective.kl_weight(plain, t, total, 10) for t in range(total)} == {1.0}


@pytest.mark.parametrize("bad, match", [
    ({"kl_warmup": -1}, "kl_warmup"), ({"kl_warmup": 9}, "exceeds"),
    ({"kl_cycles": -2}, "kl_cycles"), ({"kl_warmup": 1, "kl_cycles": 2}, "not both"),
    ({"kl_cycle_ratio": 0.0}, "kl_cycle_ratio"), ({"kl_cycle_ratio": 1.5}, "kl_cycle_ratio"),
    ({"free_bits": 0.0}, "free_bits"), ({"free_bits": float("inf")}, "free_bits")])
def test_bad_settings_are_user_errors(bad, match):
    with pytest.raises(HyperparameterError, match=match):
        cfg_for(**bad)


# ------------------------------------------------------------------------------ the objective


@pytest.mark.parametrize("family", ["vae", "cvae", "mhvae"])
def test_per_dimension_terms_sum_to_the_level_terms_and_recombine_to_the_loss(family):
    cfg = cfg_for(family)
    model = build_model(cfg.model)
    ds = load(cfg.data)
    x = torch.from_numpy(ds.x[:50])
    y = None if ds.y is None else torch.from_numpy(ds.y[:50])
    o = model(x, y, generator=torch.Generator().manual_seed(1))
    for level, kl in o.kl.items():
        assert o.kl_dims[level].shape == (3,)
        assert float(o.kl_dims[level].detach().sum()) == pytest.approx(float(kl.detach()), rel=1e-5,
                                                                       abs=1e-5)
    # a floor far below every term leaves the loss, a unit weight gives the model's loss itself
    floor = min(float(v.detach().min()) for v in o.kl_dims.values()) - 10.0
    assert float(objective.objective(model, o, 1.0, floor).detach()) == pytest.approx(
        float(o.loss.detach()), rel=1e-5)
    assert objective.objective(model, o, 1.0, None) is o.loss
    # weight 0: reconstruction only
    assert float(objective.objective(model, o, 0.0, None).detach()) == pytest.approx(
        float(o.recon.detach()), rel=1e-6)


def test_vae_free_bits_against_torch_distributions():
    cfg = cfg_for("vae", "linear")
    model = build_model(cfg.model)
    x = torch.from_numpy(load(SPEC).x[:64])
    o = model(x, generator=torch.Generator().manual_seed(2))
    post = o.posteriors[0]
    kl_ref = kl_divergence(Normal(post.mean, (0.5 * post.logvar).exp()),
                           Normal(0.0, model.hp.eta_enc)).mean(0)
    lam = float(kl_ref.median())
    expected = o.recon + model.hp.beta * torch.clamp(kl_ref, min=lam).sum()
    assert float(objective.objective(model, o, 1.0, lam)) == pytest.approx(float(expected), rel=1e-5)


def test_free_bits_stop_the_kl_gradient_below_the_floor():
    """A dimension whose batch-mean KL is under λ gets no gradient from the KL term: with the
    reconstruction detached, only the dimensions above the floor move."""
    cfg = cfg_for("vae", "linear")
    model = build_model(cfg.model)
    with torch.no_grad():
        model.enc.net.weight.mul_(torch.tensor([[0.0], [1.0], [30.0]]))
        model.enc.logvar.fill_(0.5)  # away from the prior's variance, where its gradient is 0
    x = torch.from_numpy(load(SPEC).x[:64])
    o = model(x, generator=torch.Generator().manual_seed(3))
    kl = o.kl_dims["z"].detach()
    lam = float((kl[0] + kl[2]) / 2)
    assert kl[0] < lam < kl[2]
    kl_only = objective.objective(model, o, 1.0, lam) - o.recon
    kl_only.backward()
    g = model.enc.net.weight.grad
    assert g[0].abs().max() == 0 and g[2].abs().max() > 0
    assert model.enc.logvar.grad[0] == 0 and model.enc.logvar.grad[2] != 0


# ------------------------------------------------------------------------------ resume


SCHEDULES = {"warmup": {"kl_warmup": 3}, "cyclical": {"kl_cycles": 2, "kl_cycle_ratio": 0.5},
             "free-bits": {"free_bits": 0.2}, "warmup+free-bits": {"kl_warmup": 2, "free_bits": 0.1}}


def _lines(run):
    return [{k: v for k, v in json.loads(s).items() if k != "seconds"}
            for s in (run / METRICS).read_text().splitlines()]


@pytest.fixture(scope="module")
def plain_runs(tmp_path_factory):
    cache = {}

    def get(family):
        if family not in cache:
            cache[family] = tmp_path_factory.mktemp(f"plain-{family}")
            train(cfg_for(family), cache[family], progress=False)
        return cache[family]

    return get


@pytest.mark.parametrize("family, name", [*(("vae", n) for n in SCHEDULES),
                                          ("mhvae", "cyclical"), ("mhvae", "warmup+free-bits")])
def test_interrupted_and_resumed_equals_uninterrupted_bit_for_bit(tmp_path, name, family,
                                                                  plain_runs):
    ref, run = tmp_path / "ref", tmp_path / "run"
    train(cfg_for(family, **SCHEDULES[name]), ref, progress=False)
    train(cfg_for(family, **SCHEDULES[name]), run, progress=False, stop_after=2)
    train(cfg_for(family, **SCHEDULES[name]), run, resume=True, progress=False)
    a = torch.load(ref / CHECKPOINT, weights_only=True)
    b = torch.load(run / CHECKPOINT, weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert _lines(ref) == _lines(run)
    # the remedy really changed the run
    plain = plain_runs(family)
    pa = torch.load(plain / CHECKPOINT, weights_only=True)["model"]
    assert any(not torch.equal(pa[k], a["model"][k]) for k in pa)
    assert all("objective" in m and "kl_weight" in m for m in _lines(ref))
    assert not any("objective" in m for m in _lines(plain))


def test_config_from_options_and_round_trip():
    cfg = config_from_options(model="vae", backbone="linear", data=SPEC, latent_dim=2, epochs=5,
                              kl_warmup=2, free_bits=0.25)
    assert (cfg.kl_warmup, cfg.kl_cycles, cfg.free_bits) == (2, 0, 0.25)
    back = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    old = cfg.to_dict()
    for k in ("kl_warmup", "kl_cycles", "kl_cycle_ratio", "free_bits"):
        old.pop(k)  # a run directory written before the remedies existed
    assert TrainConfig.from_dict(old).free_bits is None
    with pytest.raises(UserError):
        config_from_options(model="vae", data=SPEC, latent_dim=2, epochs=2, kl_warmup=3)


def test_cli_train_options(tmp_path):
    from typer.testing import CliRunner

    from vaecollapse.cli import app

    r = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "r"), "--data", SPEC,
                                 "--latent-dim", "2", "--hidden", "4", "--epochs", "2",
                                 "--kl-cycles", "1", "--free-bits", "0.05", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (saved["kl_cycles"], saved["free_bits"]) == (1, 0.05)
    r = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "s"), "--data", SPEC,
                                 "--epochs", "2", "--kl-warmup", "1", "--kl-cycles", "2"])
    assert r.exit_code == 2 and "error:" in r.output and "not both" in r.output
    assert math.isfinite(json.loads((tmp_path / "r" / METRICS).read_text().splitlines()[-1])["objective"])
