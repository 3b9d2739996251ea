"""Deeper and ladder hierarchies, by training: linear L-level MHVAEs (Markov and ladder inference,
fixed and learnable encoder variances) trained by the project's trainer (Adam, reparameterised
samples, minibatches) reach the numerical theory's global optimum level by level — λ, ω and σ per
mode, and which modes collapse — in regimes where some modes of a level collapse and others do
not. The oracle is the numerical theory (itself checked against the closed forms and the
full-matrix solve in test_hierarchy.py); what is tested here is that the L-level model, its loss
and the trainer implement the objective the theory minimises. The MLP (ReLU) backbones train
with the same options.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vaecollapse.config import TrainConfig, config_from_options, model_config_for
from vaecollapse.data import load
from vaecollapse.models import build_model
from vaecollapse.runs.train import train
from vaecollapse.theory import solve, statistics

# data_spec (tests/conftest.py): x with a known spectrum in a random basis (the MHVAE ignores y)

# Each a mixed regime by the numerical theory (collapsed modes of 4 per level, from predict):
CASES = {
    # 3 Markov levels, Σ1 = Σ2 = 0.6² I fixed, Σ3 learnable: z3 keeps 1 mode of 4  → [0, 0, 3]
    "markov3": (dict(levels=3, sigma1=0.6, sigma2=0.6), [0, 0, 3]),
    # 2 ladder levels, both learnable, β1 < β2: z1 loses its weakest mode, z2 all  → [1, 4]
    "ladder2": (dict(levels=2, inference="ladder", beta1=1.0, beta2=2.0), [1, 4]),
    # 3 ladder levels, Σ1 fixed, β = 1, 0.5, 2: z2 loses one mode, z3 all           → [0, 1, 4]
    "ladder3": (dict(levels=3, inference="ladder", sigma1=0.5, beta2=0.5, beta3=2.0), [0, 1, 4]),
}


def run(case, spec, out, epochs=150):
    hp, _ = CASES[case]
    mc = model_config_for(load(spec), "mhvae", "linear", 4, **hp)
    cfg = TrainConfig(data=spec, model=mc, epochs=epochs, lr=0.02, batch_size=100, seed=0,
                      schedule="cosine", diagnostics_is_samples=0)
    train(cfg, out, progress=False)
    return json.loads((out / "diagnostics.json").read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_theory_itself_is_a_mixed_regime(case, data_spec):
    """The cases test something: the prediction has a partly collapsed level (fixes CASES)."""
    hp, expected = CASES[case]
    pred = solve(statistics(load(data_spec).x, model="mhvae"), 4, critical=False, **hp)
    got = [int(pred.modes[f"collapsed_z{k}"].sum()) for k in range(1, pred.levels + 1)]
    assert got == expected
    assert any(0 < c < 4 for c in got)


def population_loss(model, x: np.ndarray) -> float:
    """The exact population loss (theory/losses.py::hierarchy_loss) at a model's weights."""
    from vaecollapse.theory.losses import hierarchy_loss

    w = {k: v.double().numpy() for k, v in model.linear_weights().items()}
    hp, L = model.hp, model.hp.levels
    get = lambda p: [w.get(f"{p}{k}") for k in range(1, L + 1)]  # noqa: E731
    A = x.T @ x / len(x)
    return float(hierarchy_loss(get("W"), get("V") if hp.inference == "ladder" else None,
                                get("U"), get("sigma"), A, hp.betas, hp.eta_enc, hp.eta_dec))


@pytest.mark.parametrize("case", sorted(CASES))
def test_trained_linear_hierarchy_reaches_the_numerical_optimum(case, data_spec, tmp_path):
    """Per level: λ, ω, σ within a mean absolute error of 6 % of their scale (the issue's MAE;
    a mode close to its threshold sits in a flat valley and converges slowly, so the maximum
    error is larger), the active modes equal to the predicted uncollapsed ones, and the exact
    population loss at the trained weights within 1e-3 (relative) of the optimum's."""
    from vaecollapse.runs.rundir import load_model

    _, expected = CASES[case]
    diag = run(case, data_spec, tmp_path / case)
    th = diag["theory"]
    assert th is not None and sorted(th["levels"]) == [f"z{k}" for k in range(1, len(expected) + 1)]
    for k, level in enumerate(diag["levels"]):
        t = th["levels"][level["name"]]
        assert t["n_collapsed_predicted"] == expected[k]
        for key in ("lambda", "omega", "sigma"):
            scale = max(max(t[f"{key}_theory"]), 1.0)
            assert t[f"{key}_mae"] <= 0.06 * scale, (
                f"{level['name']} {key}: trained {t[key]} vs numerical {t[f'{key}_theory']}")
        # what a user sees: the level's active modes (rotation-invariant) are the uncollapsed ones
        assert level["active_modes"] == 4 - expected[k], level["name"]
    x = load(data_spec).x.astype(np.float64)
    hp, _ = CASES[case]
    optimum = solve(statistics(x, model="mhvae"), 4, critical=False, **hp).optimal_loss
    trained = population_loss(load_model(tmp_path / case)[1], x)
    assert optimum <= trained + 1e-9 * abs(optimum)  # the theory's optimum is not beaten …
    assert trained - optimum <= 1e-3 * abs(optimum)  # … and training gets there


@pytest.mark.parametrize("inference", ["markov", "ladder"])
def test_mlp_hierarchies_train_and_resume_exactly(inference, data_spec, tmp_path):
    """ReLU backbones at 3 levels with unequal sizes: finite loss, a posterior per level, and an
    interrupted run resumed equals the uninterrupted one (bit for bit)."""
    opts = dict(model="mhvae", backbone="mlp", hidden="16", data=data_spec, latent_dims="4,3,2",
                levels=3, inference=inference, betas="0.5,1,2", lr=1e-3, batch_size=100,
                eval_points=200, diagnostics_is_samples=4)
    full = tmp_path / "full"
    train(config_from_options(epochs=2, **opts), full, progress=False)
    part = tmp_path / "part"
    train(config_from_options(epochs=1, **opts), part, progress=False)
    cfg = config_from_options(epochs=2, **opts)
    train(cfg, part, resume=True, progress=False)
    a = json.loads((full / "diagnostics.json").read_text())
    b = json.loads((part / "diagnostics.json").read_text())
    assert [lv["name"] for lv in a["levels"]] == ["z1", "z2", "z3"]
    assert [len(lv["kl_per_dim"]) for lv in a["levels"]] == [4, 3, 2]
    assert a["levels"] == b["levels"]
    model = build_model(cfg.model)
    names = {n.split(".")[0] for n, _ in model.named_parameters()}
    assert names == {"enc1", "enc2", "enc3", "dec1", "dec2", "dec3"}
    if inference == "ladder":  # every level above z1 has its own map from x
        assert model.enc3.net.g[0].in_features == 6 and model.enc2.net.g[0].in_features == 6


def test_linear_hierarchy_exact_likelihood_matches_importance_sampling(data_spec):
    """The L-level marginal x ~ N(0, C_0), C_{l−1} = U_l C_l U_lᵀ + η_dec² I, equals
    torch.distributions on a covariance built by hand; the importance-sampled estimate with the
    model's own proposal meets it within Monte-Carlo error at the numerical optimum's weights (a
    ladder with Σ1 fixed), and stays below it (Jensen) on
    average for random weights."""
    import torch

    hp = dict(levels=3, inference="ladder", sigma1=0.5, beta2=0.5, beta3=2.0)
    cfg = config_from_options(model="mhvae", backbone="linear", data=data_spec, latent_dim=4,
                              **hp)
    model = build_model(cfg.model).double()
    x64 = load(data_spec).x.astype(np.float64)
    x = torch.as_tensor(x64[np.random.default_rng(1).choice(len(x64), 5, replace=False)])
    e2 = cfg.model.hyperparameters.eta_dec ** 2

    def reference(m):
        U = [getattr(m, f"dec{k}").weight.detach() for k in (1, 2, 3)]
        C = torch.eye(4, dtype=torch.float64)  # η_enc = 1
        for u in reversed(U):
            C = u @ C @ u.T + e2 * torch.eye(u.shape[0], dtype=torch.float64)
        return torch.distributions.MultivariateNormal(torch.zeros(6, dtype=torch.float64),
                                                      C).log_prob(x)

    def estimate(m, S, chunks=1):
        with torch.no_grad():
            lw = torch.cat([m.log_weights(x, None, S // chunks,
                                          generator=torch.Generator().manual_seed(c))
                            for c in range(chunks)], 1)
        return torch.logsumexp(lw, 1) - np.log(lw.shape[1]), lw.mean(1)

    assert torch.allclose(model.exact_log_likelihood(x), reference(model), atol=1e-10)
    _, elbo = estimate(model, 2000)
    assert (elbo < model.exact_log_likelihood(x)).all()
    pred = solve(statistics(x64, model="mhvae"), 4, critical=False, **hp)
    model.set_linear_weights(pred.weights)
    exact = model.exact_log_likelihood(x)
    assert torch.allclose(exact, reference(model), atol=1e-10)
    # the weights are heavy-tailed (measured: |error| 0.26 at S = 10³, 0.06 at 10⁴, 0.03 at 10⁵,
    # 0.007 at 4·10⁵), so S = 2·10⁵
    est, _ = estimate(model, 200_000, chunks=4)
    assert torch.allclose(est, exact, atol=0.05), (est, exact)


@pytest.mark.slow
def test_trained_linear_hierarchy_on_mnist_reaches_the_numerical_optimum(tmp_path):
    """The same check on real data: a seeded sample of 2,000 embedded MNIST digits, 3 Markov
    levels, Σ1 = Σ2 fixed, latent 4: per-level λ MAE within 10 % of its scale, active modes as
    predicted, and the exact population loss within 1e-3 (relative) of the optimum's."""
    from vaecollapse.runs.rundir import load_model

    spec = "mnist:n=2000,seed=0"
    hp = dict(levels=3, sigma1=0.3, sigma2=0.3, eta_dec=0.5, eta_enc=0.5)
    mc = model_config_for(load(spec), "mhvae", "linear", 4, **hp)
    cfg = TrainConfig(data=spec, model=mc, epochs=300, lr=0.01, batch_size=100, seed=0,
                      schedule="cosine", diagnostics_is_samples=0)
    train(cfg, tmp_path / "m", progress=False)
    diag = json.loads((tmp_path / "m" / "diagnostics.json").read_text())
    for level in diag["levels"]:
        t = diag["theory"]["levels"][level["name"]]
        scale = max(max(t["lambda_theory"]), 1.0)
        assert t["lambda_mae"] <= 0.1 * scale, (level["name"], t["lambda"], t["lambda_theory"])
        assert level["active_modes"] == 4 - t["n_collapsed_predicted"], level["name"]
    x = load(spec).x.astype(np.float64)
    optimum = solve(statistics(x, model="mhvae"), 4, critical=False, **hp).optimal_loss
    trained = population_loss(load_model(tmp_path / "m")[1], x)
    assert trained - optimum <= 1e-3 * abs(optimum), (trained, optimum)
