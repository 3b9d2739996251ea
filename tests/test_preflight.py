"""The preflight check ("collapse or bug?") on a seeded zoo of small VAEs: one correct model and
one per bug, each bug caught with exactly its code and nothing else; the correct model (analytic
and Monte-Carlo KL, loss mean and sum over the batch) and the package's own models come out clean;
the check changes nothing (parameters, grads, buffers, modes, the caller's RNG); skips and bad
input.

Oracles: the bugs are built in by construction, so the expected code of each zoo member is known;
the measured KL weight is compared with the analytic KL of the posteriors.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from vaecollapse.config import ModelConfig
from vaecollapse.data import load
from vaecollapse.errors import UserError
from vaecollapse.models import Posterior, build_model
from vaecollapse.preflight import CODES, Finding, Preflight, bounded_op, check, check_model

D, LATENT, N = 784, 12, 64
LOG_2PI = math.log(2 * math.pi)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    data = torch.from_numpy(load("mnist").x)
    return data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:N]]


class UserVAE(nn.Module):
    """A user's MLP VAE (not a vaecollapse model); ``logvar`` and ``decoder`` select a bug."""

    def __init__(self, logvar: str = "linear", decoder: str = "z", latent: int = LATENT):
        super().__init__()
        torch.manual_seed(0)
        self.kind, self.decoder = logvar, decoder
        self.body = nn.Sequential(nn.Linear(D, 64), nn.ReLU())
        self.head = nn.Linear(64, 2 * latent)
        self.dec = nn.Sequential(nn.Linear(latent, 64), nn.ReLU(), nn.Linear(64, D))
        with torch.no_grad():  # means of a few nats of KL: a Monte-Carlo KL is informative
            self.head.weight[:latent] *= 5
        if decoder == "constant":  # the bug: decodes a learned constant, not z
            self.code = nn.Parameter(torch.randn(1, latent))

    def encode(self, x):
        mean, raw = self.head(self.body(x)).chunk(2, dim=-1)
        logvar = {"linear": lambda r: r, "tanh": torch.tanh,
                  "sigmoid": lambda r: 3 * torch.sigmoid(r) - 2,
                  "softsign": nn.functional.softsign, "clamp": lambda r: r.clamp(-4.0, 4.0),
                  "softplus": nn.functional.softplus,
                  "guard": lambda r: r.clamp(min=-10.0)}[self.kind](raw)
        return mean, logvar

    def decode(self, z):
        return self.dec(self.code.expand(len(z), -1) if self.decoder == "constant" else z)

    def posteriors(self, x):
        mean, logvar = self.encode(x)
        return [Posterior("z", mean, logvar)]

    def log_likelihood(self, x, zs):  # log N(x; dec(z), I) per sample
        return -0.5 * ((self.decode(zs[0]) - x) ** 2).sum(-1) - 0.5 * D * LOG_2PI


def make_loss(kl: str = "analytic", reduce: str = "mean", dims: str = "sum",
              use_beta: bool = True, detach_encoder: bool = False):
    """−ELBO(β) per sample, reduced over the batch; the options select the bugs."""

    def loss(model, x, beta):
        mean, logvar = model.encode(x)
        if detach_encoder:  # the bug: the encoder is cut from the graph
            mean, logvar = mean.detach(), logvar.detach()
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        recon = -model.log_likelihood(x, [z])
        if kl == "analytic":
            k = 0.5 * (mean**2 + logvar.exp() - 1 - logvar)
        else:  # Monte Carlo: log q(z|x) − log p(z) at the sample
            k = 0.5 * (z**2 - (z - mean) ** 2 / logvar.exp() - logvar)
        k = k.sum(-1) if dims == "sum" else k.mean(-1)
        per_sample = recon + (beta if use_beta else 1.0) * k
        return per_sample.mean() if reduce == "mean" else per_sample.sum()

    return loss


def run(model, loss=None, x=None, **kw) -> Preflight:
    return check(model, loss or make_loss(), x, **kw)


# ------------------------------------------------------------------------------ the zoo


@pytest.mark.parametrize("kl", ["analytic", "mc"])
@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_the_correct_model_has_no_finding(x, kl, reduce):
    model = UserVAE()
    opt = torch.optim.Adam(model.parameters())
    res = run(model, make_loss(kl, reduce), x, optimizer=opt, beta=0.7)
    assert res.ok and res.findings == [] and res.skipped == {}, str(res)
    ratio, mc = res.measurements["kl_ratio"], res.measurements["kl_monte_carlo"]
    assert mc == (kl == "mc")
    noise = res.measurements["kl_mc_rel_se"] if mc else 1e-3
    assert ratio == pytest.approx(1.0 if reduce == "mean" else N, rel=4 * noise)
    assert res.measurements["decoder_shuffle_change"] > 1.0
    assert str(res) == "preflight: no findings"


BUGS = {  # name -> (UserVAE options, loss options, optimiser over the decoder only)
    "kl-mean-over-dims": ({}, {"dims": "mean"}, False),
    "kl-mean-over-dims, sum over batch": ({}, {"reduce": "sum", "dims": "mean"}, False),
    "kl-mean-over-dims, Monte Carlo": ({}, {"kl": "mc", "dims": "mean"}, False),
    "beta-unused": ({}, {"use_beta": False}, False),
    "no-gradient: encoder detached": ({}, {"detach_encoder": True}, False),
    "no-gradient: optimiser lacks the encoder": ({}, {}, True),
    "logvar-bounded: tanh": ({"logvar": "tanh"}, {}, False),
    "logvar-bounded: 3 sigmoid - 2": ({"logvar": "sigmoid"}, {}, False),
    "logvar-bounded: softsign": ({"logvar": "softsign"}, {}, False),
    "logvar-bounded: clamp": ({"logvar": "clamp"}, {}, False),
    "logvar-bounded: softplus": ({"logvar": "softplus"}, {}, False),
    "decoder-ignores-z": ({"decoder": "constant"}, {}, False),
}


@pytest.mark.parametrize("name", list(BUGS))
def test_each_bug_is_caught_with_exactly_its_code(x, name):
    model_options, loss_options, decoder_only = BUGS[name]
    model = UserVAE(**model_options)
    opt = torch.optim.Adam((model.dec if decoder_only else model).parameters())
    res = run(model, make_loss(**loss_options), x, optimizer=opt)
    code = name.split(":")[0].split(",")[0]
    assert res.codes == [code], str(res)
    assert not res.ok and res.skipped == {}
    f = res.findings[0]
    assert isinstance(f, Finding) and f.fix and f.message and f.code in CODES
    assert str(f).startswith(f"{code}: ") and str(f) in str(res)
    if code == "no-gradient":
        assert "body.0.weight" in f.message and "head.bias" in f.message
        assert "dec.0.weight" not in f.message
    if code == "kl-mean-over-dims":
        assert res.measurements["kl_ratio"] * LATENT == pytest.approx(
            N if "sum" in name else 1.0, rel=1e-2 if "Monte" not in name else 0.5)
    if code == "logvar-bounded":
        op = name.split(": ")[1].split()[-1]
        lo, hi = res.measurements["logvar_min[z]"], res.measurements["logvar_max[z]"]
        assert op in f.message and f"[{lo:.3g}, {hi:.3g}]" in f.message
    if code == "decoder-ignores-z":
        assert res.measurements["decoder_shuffle_change"] == 0.0


def test_a_wide_lower_clamp_is_not_a_bounded_logvar(x):
    """clamp(min=-10) is a numerical guard, not a bound that forbids small variances."""
    assert run(UserVAE("guard"), x=x).ok


def test_zero_and_missing_gradients_are_named(x):
    model = UserVAE()
    model.unused = nn.Linear(3, 3)
    model.gate = nn.Parameter(torch.ones(2))
    model.frozen = nn.Parameter(torch.ones(2), requires_grad=False)  # skipped: not trainable
    base = make_loss()

    def loss(m, xb, beta):
        return base(m, xb, beta) + 0.0 * m.gate.sum()

    res = run(model, loss, x)
    assert res.codes == ["no-gradient"]
    msg = res.findings[0].message
    assert "unused.weight, unused.bias" in msg and "exactly 0 for gate" in msg
    assert "frozen" not in msg


def test_bounded_op_walks_shape_and_affine_ops_only():
    h = nn.Linear(5, 8)(torch.randn(4, 5))
    lo, hi = nn.Parameter(torch.tensor(-2.0)), nn.Parameter(torch.tensor(1.0))
    bounded = [("tanh", torch.tanh(h)[:, 4:].reshape(2, 8).t().clone()),
               ("sigmoid", lo + (hi - lo) * torch.sigmoid(h).unbind(0)[1]),
               ("hardtanh(-2, 3)", nn.functional.hardtanh(h, -2.0, 3.0).split(4, -1)[0] / 2),
               ("tanh", torch.cat([torch.tanh(h), torch.sigmoid(h)], -1).expand(2, 4, 16)),
               ("clamp(min=0)", h.clamp(min=0.0).view(-1)), ("exp", h.exp())]
    for name, t in bounded:
        assert name in bounded_op(t.grad_fn), name
    free = [h, h + torch.tanh(h), torch.tanh(h) * h, h.exp() - 3, nn.functional.relu(h) * 2,
            nn.Parameter(torch.zeros(8)).expand(4, 8), torch.tanh(h) / h.abs(),
            h.clamp(max=3.0), torch.log(torch.sigmoid(h))]
    for t in free:
        assert bounded_op(t.grad_fn) is None, t.grad_fn.name()


# ------------------------------------------------------------------------------ the package's models


@pytest.mark.parametrize("family,backbone,options", [
    ("vae", "linear", {}), ("vae", "mlp", {}), ("vae", "linear", {"sigma": 0.5}),
    ("cvae", "linear", {}), ("cvae", "mlp", {}),
    ("mhvae", "linear", {}), ("mhvae", "mlp", {}), ("mhvae", "mlp", {"inference": "ladder"}),
    ("mhvae", "linear", {"levels": 3, "beta1": 0.5, "beta2": 2.0}),
])
def test_the_package_models_pass_clean(family, backbone, options):
    g = torch.Generator().manual_seed(1)
    xb, yb = torch.randn(128, 10, generator=g) * 2, torch.randn(128, 5, generator=g)
    torch.manual_seed(2)
    model = build_model(ModelConfig.of(family, backbone, 10, 4, hidden=(16,),
                                       dim_y=5 if family == "cvae" else 0, **options))
    hp = model.hp
    res = check_model(model, xb, yb if family == "cvae" else None,
                      optimizer=torch.optim.Adam(model.parameters()))
    assert res.ok, str(res)
    fixed = "sigma" in options
    assert set(res.skipped) == ({"logvar-bounded"} if fixed else set())
    # exact for the VAE and CVAE; the MHVAE's lower levels are Monte-Carlo terms
    mc = res.measurements["kl_monte_carlo"] == 1.0
    assert mc == (family == "mhvae")
    noise = res.measurements["kl_mc_rel_se"] if mc else 1e-4
    assert res.measurements["kl_ratio"] == pytest.approx(1.0, rel=4 * noise)
    assert res.measurements["decoder_shuffle_change"] > 0.01
    assert model.hp is hp  # β restored


def test_check_model_finds_a_missing_optimiser_group():
    model = build_model(ModelConfig.of("vae", "mlp", 10, 4, hidden=(16,)))
    res = check_model(model, torch.randn(40, 10), optimizer=torch.optim.SGD(model.dec.parameters()))
    assert res.codes == ["no-gradient"] and "enc.net.0.weight" in res.findings[0].message


# ------------------------------------------------------------------------------ side effects


def test_the_check_changes_nothing(x):
    model = UserVAE()
    model.norm = nn.BatchNorm1d(D)
    model.eval()
    base = make_loss(kl="mc")

    def loss(m, xb, beta):
        m.train()  # a loss that flips the mode and updates the batch-norm statistics
        return base(m, m.norm(xb), beta)

    for p in model.parameters():
        p.grad = torch.full_like(p, 0.25)
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    stats = model.norm.running_mean.clone()
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    def posteriors(m, xb):
        m.train()
        return m.posteriors(m.norm(xb))

    def log_likelihood(m, xb, zs):
        m.train()
        return m.log_likelihood(m.norm(xb), zs)

    res = run(model, loss, x, optimizer=opt, posteriors=posteriors, log_likelihood=log_likelihood)
    assert res.ok, str(res)
    assert torch.equal(torch.get_rng_state(), rng)
    assert not any(m.training for m in model.modules())
    assert torch.equal(model.norm.running_mean, stats)
    for n, p in model.named_parameters():
        assert torch.equal(p, params[n]), n
        assert torch.equal(p.grad, torch.full_like(p, 0.25)), n


def test_beta_zero_is_measured_at_one_and_two(x):
    res = run(UserVAE(), x=x, beta=0.0)
    assert res.ok and res.measurements["kl_ratio"] == pytest.approx(1.0, rel=1e-2)


# ------------------------------------------------------------------------------ skips, bad input


class Bare(nn.Module):
    """Only a network: no posteriors, no log_likelihood."""

    def __init__(self):
        super().__init__()
        self.vae = UserVAE()


def test_skips_without_posteriors_and_log_likelihood(x):
    loss = make_loss()
    res = check(Bare(), lambda m, xb, beta: loss(m.vae, xb, beta), x)
    assert res.ok and set(res.skipped) == {"kl-mean-over-dims", "logvar-bounded",
                                           "decoder-ignores-z"}
    assert all(f"skipped {c}: no posteriors given" in str(res) for c in res.skipped)
    unused = check(Bare(), lambda m, xb, beta: loss(m.vae, xb, 1.0), x)
    assert unused.codes == ["beta-unused"]  # measured without posteriors
    res = check(Bare(), lambda m, xb, beta: loss(m.vae, xb, beta), x,
                posteriors=lambda m, xb: m.vae.posteriors(xb))
    assert res.ok and set(res.skipped) == {"decoder-ignores-z"}


def test_skips_a_zero_kl_one_dimension_n_close_to_d_and_a_batch_of_one(x):
    prior = [Posterior("z", torch.zeros(N, LATENT), torch.zeros(N, LATENT))]  # q = p: KL = 0
    res = run(UserVAE(), x=x, posteriors=lambda m, xb: prior)
    assert res.ok and set(res.skipped) == {"kl-mean-over-dims", "beta-unused", "logvar-bounded"}
    one = run(UserVAE(latent=1), x=x)
    assert one.ok and set(one.skipped) == {"kl-mean-over-dims"}
    close = run(UserVAE(), x=x[:LATENT])  # n = d: a batch-mean K equals nK/d
    assert close.ok and "coincide" in close.skipped["kl-mean-over-dims"]
    single = run(UserVAE(), x=x[:1])
    assert single.ok and set(single.skipped) == {"decoder-ignores-z"}


def test_skips_a_logvar_without_grad_fn(x):
    def detached(m, xb):
        return [Posterior(p.name, p.mean, p.logvar.detach()) for p in m.posteriors(xb)]

    res = run(UserVAE(), x=x, posteriors=detached)
    assert res.ok and set(res.skipped) == {"logvar-bounded"}


@pytest.mark.parametrize("kw,match", [
    ({"loss": lambda m, xb, beta: torch.zeros(3, requires_grad=True)}, "scalar float tensor"),
    ({"loss": lambda m, xb, beta: 1.0}, "scalar float tensor"),
    ({"loss": lambda m, xb, beta: torch.tensor(math.nan)}, "not finite"),
    ({"posteriors": lambda m, xb: {"z": m.posteriors(xb)[0]}}, "list of"),
    ({"posteriors": lambda m, xb: [m.encode(xb)]}, "list of"),
    ({"posteriors": lambda m, xb: [Posterior("z", torch.zeros(N, 3), torch.zeros(N, 2))]},
     "must both be \\(n, \\*event\\)"),
    ({"log_likelihood": lambda m, xb, zs: torch.zeros(N, 1)}, r"shape \(64,\)"),
    ({"beta": -1.0}, "beta must be"),
])
def test_bad_input_raises_a_user_error(x, kw, match):
    kw = dict(kw)
    loss = kw.pop("loss", make_loss())
    with pytest.raises(UserError, match=match):
        check(UserVAE(), loss, x, **kw)


def test_bad_models_raise_a_user_error(x):
    with pytest.raises(UserError, match="nn.Module"):
        check(lambda v: v, make_loss(), x)
    with pytest.raises(UserError, match="vaecollapse model"):
        check_model(UserVAE(), x)


# ------------------------------------------------------------------------------ the example


def test_the_example_finds_its_two_bugs():
    path = Path(__file__).resolve().parents[1] / "examples" / "preflight_zoo.py"
    spec = importlib.util.spec_from_file_location("preflight_zoo", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    results = mod.main()
    assert {name: r.codes for name, r in results.items()} == {
        "correct": [], "kl mean over dims": ["kl-mean-over-dims"],
        "tanh log-variance": ["logvar-bounded"]}
