"""Properties of the theory engine, each checked against an oracle independent of the closed forms.

Oracles: the numerical minimiser of the exact population loss (critical values), torch.distributions
(KL divergences, log-densities, Monte Carlo of the β-ELBO), numpy linear algebra on the raw data
(least squares, SVD, matrix rank) and structural properties (monotonicity of collapse) checked with
hypothesis. No asserted number is a restatement of the library's own output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import lam_of, sorted_desc, svals
from torch.distributions import Normal, kl_divergence

from vaecollapse.errors import HyperparameterError
from vaecollapse.theory import (
    numerical_cvae,
    numerical_mhvae,
    numerical_vae,
    predict,
    solve,
    statistics,
    sweep,
)
from vaecollapse.theory.losses import cvae_loss, mhvae_loss, vae_loss

# ------------------------------------------------------------------------------------ helpers


def random_basis(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def separated(rng, d, lo=1.5, hi=2.5, scale=(0.1, 0.5)):
    """d positive values, descending, neighbours at least a factor ``lo`` apart."""
    return np.cumprod(rng.uniform(lo, hi, d))[::-1] * rng.uniform(*scale)


def data_with_moment(rng, S, n=60):
    """Rows z_k (n × p) whose uncentred second moment ZᵀZ/n is exactly S (up to rounding)."""
    p = S.shape[0]
    Q, _ = np.linalg.qr(rng.normal(size=(n, p)))  # orthonormal columns
    vals, vecs = np.linalg.eigh(S)
    root = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    return math.sqrt(n) * Q @ root


def vae_data(rng, theta, n=60):
    P = random_basis(rng, len(theta))
    A = (P * theta**2) @ P.T
    return data_with_moment(rng, A, n), A


def cvae_data(rng, dx, e, n=60):
    """Paired data whose residual moment E = B − CᵀA⁻¹C has eigenvalues ``e``: y = Kx + r with
    E[x rᵀ] = 0 by construction of the joint moment."""
    dy = len(e)
    G = rng.normal(size=(dx, dx))
    A = G @ G.T / dx + 0.2 * np.eye(dx)
    K = rng.normal(size=(dy, dx))
    Q = random_basis(rng, dy)
    E = (Q * e) @ Q.T
    S = np.block([[A, A @ K.T], [K @ A, K @ A @ K.T + E]])
    z = data_with_moment(rng, S, n)
    return z[:, :dx], z[:, dx:], S





# ------------------------------------------------------- 1. critical values are where collapse is

N_CRIT = 6  # instances per model; each gives 4 numerical problems (β and η_dec, 0.9× and 1.1×)


def check_flip(values, i, below, above, what):
    """Sorted singular values: index i clearly > 0 at ``below`` rows, ≈ 0 at ``above`` rows."""
    for k, (b, a) in enumerate(zip(below, above, strict=True)):
        vb, va = values[b][i[k]], values[a][i[k]]
        assert vb > 1e-2, f"{what} instance {k}: mode {i[k]} not clearly active below: {values[b]}"
        assert va < 1e-4 * vb, f"{what} instance {k}: mode {i[k]} not collapsed above: {values[a]}"


def test_vae_critical_values_are_where_collapse_happens():
    rng = np.random.default_rng(11)
    d0, d = 4, 3
    As, hps, modes = [], [], []
    for _ in range(N_CRIT):
        theta = separated(rng, d0)
        x, A = vae_data(rng, theta)
        i = int(rng.integers(d))
        eta_enc, eta_dec = rng.uniform(0.5, 1.5), rng.uniform(0.3, 1.5)
        beta = rng.uniform(0.2, 0.8) * theta[i] ** 2 / eta_dec**2  # mode i active
        pred = predict(x, model="vae", latent_dim=d, beta=beta, eta_enc=eta_enc, eta_dec=eta_dec)
        assert not pred.modes["collapsed"][i]
        cb, ce = pred.modes["critical_beta"][i], pred.modes["critical_eta_dec"][i]
        assert np.isfinite(cb) and np.isfinite(ce)
        for b, e in ((0.9 * cb, eta_dec), (1.1 * cb, eta_dec), (beta, 0.9 * ce), (beta, 1.1 * ce)):
            As.append(A)
            hps.append((b, eta_enc, e))
        modes.append(i)
    As, hp = np.stack(As), np.array(hps).T
    num = numerical_vae(As, d, *hp, starts=2)
    lam = lam_of(num.weights["W"], As)
    rows = np.arange(4 * N_CRIT).reshape(N_CRIT, 4)
    check_flip(lam, modes, rows[:, 0], rows[:, 1], "λ vs critical β")
    check_flip(lam, modes, rows[:, 2], rows[:, 3], "λ vs critical η_dec")
    # collapsed means posterior = prior: as many encoder stds at η_enc as modes with λ ≈ 0
    at_prior = np.abs(num.weights["sigma"] / hp[1][:, None] - 1) < 1e-4
    np.testing.assert_array_equal(at_prior.sum(-1), (lam < 1e-4 * hp[1][:, None]).sum(-1))


def test_cvae_critical_values_are_where_collapse_happens():
    rng = np.random.default_rng(12)
    dx, dy, d = 2, 3, 3
    mats, hps, modes = [], [], []
    for _ in range(N_CRIT):
        e = separated(rng, dy, scale=(0.05, 0.3))
        x, y, S = cvae_data(rng, dx, e)
        i = int(rng.integers(d))
        eta_enc, eta_dec = rng.uniform(0.5, 1.5), rng.uniform(0.3, 1.5)
        beta = rng.uniform(0.2, 0.8) * e[i] / eta_dec**2  # θ is on the variance scale
        pred = predict(x, y, model="cvae", latent_dim=d, beta=beta, eta_enc=eta_enc,
                       eta_dec=eta_dec)
        assert not pred.modes["collapsed"][i]
        cb, ce = pred.modes["critical_beta"][i], pred.modes["critical_eta_dec"][i]
        for b, ed in ((0.9 * cb, eta_dec), (1.1 * cb, eta_dec), (beta, 0.9 * ce), (beta, 1.1 * ce)):
            mats.append(S)
            hps.append((b, eta_enc, ed))
        modes.append(i)
    S, hp = np.stack(mats), np.array(hps).T
    A, C, B = S[:, :dx, :dx], S[:, :dx, dx:], S[:, dx:, dx:]
    num = numerical_cvae(A, B, C, d, *hp, starts=2)
    Wj = np.concatenate([num.weights["W1"], num.weights["W2"]], -1)
    lam = lam_of(Wj, S)
    rows = np.arange(4 * N_CRIT).reshape(N_CRIT, 4)
    check_flip(lam, modes, rows[:, 0], rows[:, 1], "λ vs critical β")
    check_flip(lam, modes, rows[:, 2], rows[:, 3], "λ vs critical η_dec")
    at_prior = np.abs(num.weights["sigma"] / hp[1][:, None] - 1) < 1e-4
    np.testing.assert_array_equal(at_prior.sum(-1), (lam < 1e-4 * hp[1][:, None]).sum(-1))


def _mhvae_flip(instances, d, sigma2_fixed):
    """instances: (A, β1, β2, η_enc, η_dec, σ1, mode, critical β2, critical η_dec)."""
    As, hps, s1s, modes = [], [], [], []
    for A, b1, b2, ee, ed, s1, i, cb, ce in instances:
        for bb, e in ((0.9 * cb, ed), (1.1 * cb, ed), (b2, 0.9 * ce), (b2, 1.1 * ce)):
            As.append(A)
            hps.append((b1, bb, ee, e))
            s1s.append(s1)
        modes.append(i)
    As, hp = np.stack(As), np.array(hps).T
    s1 = np.array(s1s)[:, None]
    s2 = hp[2][:, None] if sigma2_fixed else None  # σ2 = η_enc
    num = numerical_mhvae(As, d, *hp, sigma1=s1, sigma2=s2, starts=4)
    om = sorted_desc(svals(num.weights["U2"]))
    n = len(instances)
    rows = np.arange(4 * n).reshape(n, 4)
    check_flip(om, modes, rows[:, 0], rows[:, 1], "ω vs critical β2")
    check_flip(om, modes, rows[:, 2], rows[:, 3], "ω vs critical η_dec")
    if not sigma2_fixed:  # the learnt σ2 of a collapsed z2 mode is the prior's η_enc
        at_prior = np.abs(num.weights["sigma2"] / hp[2][:, None] - 1) < 1e-4
        np.testing.assert_array_equal(at_prior.sum(-1), (om < 1e-4 * hp[2][:, None]).sum(-1))


def test_mhvae_theorem3_critical_values_are_where_z2_collapses():
    rng = np.random.default_rng(13)
    d0, d = 4, 3
    inst = []
    while len(inst) < N_CRIT:
        theta = separated(rng, d0, scale=(0.3, 0.8))
        x, A = vae_data(rng, theta)
        i = int(rng.integers(d))
        beta1, eta_enc, eta_dec = rng.uniform(0.3, 3.0), rng.uniform(0.5, 1.5), rng.uniform(0.3, 1.5)
        sigma1 = rng.uniform(0.2, 0.6) * theta[i] / np.sqrt(beta1)
        # case (b) (β2 > β1σ1²/η_dec²) with mode i's z2 active (β2 < θ_i √β1 σ1/η_dec²)
        beta2 = np.sqrt(beta1 * sigma1**2 * theta[i] * np.sqrt(beta1) * sigma1) / eta_dec**2
        pred = predict(x, model="mhvae", latent_dim=d, beta1=beta1, beta2=beta2, eta_enc=eta_enc,
                       eta_dec=eta_dec, sigma1=sigma1)
        assert pred.threshold is not None  # case (b)
        assert not pred.modes["collapsed"][i]
        inst.append((A, beta1, beta2, eta_enc, eta_dec, sigma1, i,
                     pred.modes["critical_beta2"][i], pred.modes["critical_eta_dec"][i]))
    _mhvae_flip(inst, d, sigma2_fixed=False)


def test_mhvae_theorem5_critical_values_are_where_z2_collapses():
    """Both variances fixed with σ2 = η_enc (so a z2 mode can equal its prior); the library finds
    the critical values by bisection."""
    rng = np.random.default_rng(14)
    d0, d = 4, 3
    inst = []
    while len(inst) < N_CRIT:
        theta = separated(rng, d0, scale=(0.3, 0.8))
        x, A = vae_data(rng, theta)
        beta1, beta2 = rng.uniform(0.3, 3.0), rng.uniform(0.3, 3.0)
        eta_enc, eta_dec = rng.uniform(0.5, 1.5), rng.uniform(0.3, 1.5)
        sigma1 = rng.uniform(0.2, 2.0) * np.sqrt(beta2 / beta1) * eta_dec
        pred = predict(x, model="mhvae", latent_dim=d, beta1=beta1, beta2=beta2, eta_enc=eta_enc,
                       eta_dec=eta_dec, sigma1=sigma1, sigma2=eta_enc)
        cb, ce = pred.modes["critical_beta2"], pred.modes["critical_eta_dec"]
        ok = ~pred.modes["collapsed"] & np.isfinite(cb) & np.isfinite(ce)
        if not ok.any():
            continue
        i = int(rng.choice(np.flatnonzero(ok)))
        inst.append((A, beta1, beta2, eta_enc, eta_dec, sigma1, i, cb[i], ce[i]))
    _mhvae_flip(inst, d, sigma2_fixed=True)


# ------------------------------------------------------ 2. KL at the optimum, torch.distributions


def real_data(rng, n=2000, d0=5):
    """Correlated, anisotropic data with a non-zero mean (so uncentred ≠ centred moments)."""
    x = rng.normal(size=(n, d0)) * np.array([3.0, 1.6, 1.0, 0.5, 0.2])[:d0]
    return x @ random_basis(rng, d0) + rng.normal(size=d0) * 0.3


def per_latent(pred, values):
    """Mode-indexed values placed at their latent coordinates."""
    out = np.empty_like(values)
    out[pred.modes["latent_index"]] = values
    return out


def torch_kl(mean, std, eta_enc):
    """Per-sample, per-dimension KL(N(mean, std²) ‖ N(0, η_enc²)), shape (n, d)."""
    q = Normal(torch.as_tensor(mean), torch.as_tensor(std).expand(mean.shape))
    p = Normal(torch.zeros(mean.shape, dtype=torch.float64), eta_enc)
    return kl_divergence(q, p).numpy()


@pytest.mark.parametrize("sigma,collapsed_latent", [(None, [2]), ([1.3, 0.5, 0.9], [0]),
                                                    ([0.7, 1.3, 0.4], [1]), ([0.7, 1.2, 0.4], [])])
def test_vae_kl_at_optimum_matches_torch(sigma, collapsed_latent):
    """√β·η_dec is put between θ_1 and θ_2: mode 2 collapses when its σ may be learnt or is fixed
    at η_enc = 1.3 (Theorem 1 pairs the largest fixed σ with the smallest θ); never otherwise."""
    rng = np.random.default_rng(21)
    x = real_data(rng)
    theta = np.linalg.svd(x / np.sqrt(len(x)), compute_uv=False)
    beta, eta_enc = 0.7, 1.3
    eta_dec = np.sqrt(theta[1] * theta[2]) / np.sqrt(beta)
    pred = predict(x, model="vae", latent_dim=3, beta=beta, eta_enc=eta_enc, eta_dec=eta_dec,
                   sigma=sigma)
    W, s = pred.weights["W"], pred.weights["sigma"]
    kl = torch_kl(x @ W.T, s, eta_enc)  # (n, d)
    np.testing.assert_allclose(kl.mean(0), per_latent(pred, pred.modes["kl"]), rtol=1e-9, atol=1e-12)
    # a collapsed mode has posterior = prior for every single input; the others carry information
    np.testing.assert_array_equal(np.sort(pred.modes["latent_index"][pred.modes["collapsed"]]),
                                  collapsed_latent)
    assert np.all(kl[:, collapsed_latent] < 1e-12)
    assert np.all(kl.mean(0)[np.setdiff1d(np.arange(3), collapsed_latent)] > 1e-3)


@pytest.mark.parametrize("sigma", [None, [0.6, 1.1, 0.8]])
def test_cvae_kl_at_optimum_matches_torch(sigma):
    rng = np.random.default_rng(22)
    n, dx, dy = 2000, 3, 4
    x = real_data(rng, n, dx)
    y = x @ rng.normal(size=(dx, dy)) + real_data(rng, n, dy) * 0.5
    e = sorted_desc(np.linalg.eigvalsh(residual_moment(x, y)))
    beta, eta_enc = 1.4, 0.8
    eta_dec = np.sqrt(np.sqrt(e[1] * e[2]) / beta)  # modes 0, 1 active, 2 collapsed
    pred = predict(x, y, model="cvae", latent_dim=3, beta=beta, eta_enc=eta_enc, eta_dec=eta_dec,
                   sigma=sigma)
    w = pred.weights
    kl = torch_kl(x @ w["W1"].T + y @ w["W2"].T, w["sigma"], eta_enc)
    np.testing.assert_allclose(kl.mean(0), per_latent(pred, pred.modes["kl"]), rtol=1e-9, atol=1e-12)
    if sigma is None:
        assert 0 < pred.n_collapsed < 3
        assert np.all(kl[:, pred.modes["latent_index"][pred.modes["collapsed"]]] < 1e-12)


def mc_mhvae_terms(x, w, eta_dec, eta_enc, samples, seed):
    """Monte Carlo over z1 ~ q(z1|x), z2 ~ q(z2|z1) of, per latent dimension, the z2 KL
    KL(q(z2|z1) ‖ p(z2)) and the z1 term log q(z1|x) − log p(z1|z2). Returns the means and their
    standard errors (given x: the data are fixed, only the latents are random)."""
    t = {k: torch.as_tensor(v) for k, v in w.items()}
    xt = torch.as_tensor(x)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        q1 = Normal(xt @ t["W1"].T, t["sigma1"])
        z1 = q1.sample((samples,))  # (S, n, d)
        q2 = Normal(z1 @ t["W2"].T, t["sigma2"])
        z2 = q2.sample()
    kl2 = kl_divergence(q2, Normal(torch.zeros_like(z2), eta_enc))
    term1 = q1.log_prob(z1) - Normal(z2 @ t["U2"].T, eta_dec).log_prob(z1)
    out = []
    for f in (kl2, term1):
        f = f.numpy()
        se = np.sqrt(f.var(0, ddof=1).mean(0) / (f.shape[0] * f.shape[1]))
        out.append((f.mean((0, 1)), se))
    return out


@pytest.mark.parametrize("sigma2", [None, "eta_enc", 0.7])
def test_mhvae_kls_at_optimum_match_monte_carlo(sigma2):
    rng = np.random.default_rng(23)
    x = real_data(rng)
    theta = np.linalg.svd(x / np.sqrt(len(x)), compute_uv=False)
    beta1, eta_enc, eta_dec, sigma1 = 1.2, 1.1, 0.6, 0.3
    # Theorem 3's z2 threshold β2η_dec²/(√β1σ1) between θ_1 and θ_2
    beta2 = np.sqrt(theta[1] * theta[2]) * np.sqrt(beta1) * sigma1 / eta_dec**2
    s2 = eta_enc if sigma2 == "eta_enc" else sigma2
    pred = predict(x, model="mhvae", latent_dim=3, beta1=beta1, beta2=beta2, eta_enc=eta_enc,
                   eta_dec=eta_dec, sigma1=sigma1, sigma2=s2)
    if sigma2 is None:
        assert pred.threshold is not None and 0 < pred.n_collapsed < 3  # case (b), mixed
    (kl2, se2), (t1, se1) = mc_mhvae_terms(x, pred.weights, eta_dec, eta_enc, 200, 5)
    kl_cf, t1_cf = pred.modes["kl"], pred.modes["kl_z1"]  # latent_index is the identity here
    np.testing.assert_array_equal(pred.modes["latent_index"], np.arange(3))
    assert np.all(np.abs(kl2 - kl_cf) <= 4 * se2 + 1e-12), (kl2, kl_cf, se2)
    assert np.all(np.abs(t1 - t1_cf) <= 4 * se1 + 1e-12), (t1, t1_cf, se1)
    assert np.all(se2 < 0.02 * np.maximum(kl_cf, 0.05))  # the check has teeth


# ------------------------------------------------------------- 3. CVAE statistics vs lstsq


def residual_moment(x, y):
    K, *_ = np.linalg.lstsq(x, y, rcond=None)
    r = y - x @ K
    return r.T @ r / len(x)


@pytest.mark.parametrize("dx,dy", [(3, 4), (5, 2), (1, 3)])
def test_cvae_theta_is_spectrum_of_least_squares_residual(dx, dy):
    rng = np.random.default_rng(31 + dx * dy)
    n = 500
    x = real_data(rng, n, dx) if dx > 1 else rng.normal(1.0, 2.0, size=(n, 1))
    y = x @ rng.normal(size=(dx, dy)) + rng.normal(size=(n, dy)) @ rng.normal(size=(dy, dy)) * 0.4
    theta = statistics(x, y, model="cvae").theta
    np.testing.assert_allclose(theta, sorted_desc(np.linalg.eigvalsh(residual_moment(x, y))),
                               rtol=1e-9, atol=1e-12)
    # centring = a regression with an intercept
    x1 = np.hstack([np.ones((n, 1)), x])
    theta_c = statistics(x, y, model="cvae", centre=True).theta
    np.testing.assert_allclose(theta_c, sorted_desc(np.linalg.eigvalsh(residual_moment(x1, y))),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dx,dy", [(3, 2), (2, 4)])
def test_cvae_exact_linear_target_collapses_every_mode(dx, dy):
    rng = np.random.default_rng(33)
    x = real_data(rng, 300, dx)
    y = x @ rng.normal(size=(dx, dy))
    assert np.abs(np.linalg.eigvalsh(residual_moment(x, y))).max() < 1e-12 * np.abs(y).max() ** 2
    stats = statistics(x, y, model="cvae")
    assert np.all(stats.theta == 0)
    d = dy + 1
    pred = solve(stats, d, beta=0.01, eta_enc=1.0, eta_dec=0.05)  # tiny βη_dec²: still collapsed
    assert pred.n_collapsed == d
    if dy > dx:  # the minimiser converges slowly on this degenerate problem: oracle for dy ≤ dx only
        return
    # oracle: the minimiser of the loss on these moments encodes nothing either
    m = stats.moments
    num = numerical_cvae(m.A, m.B, m.C, d, 0.01, 1.0, 0.05, starts=2)
    S = np.block([[m.A, m.C], [m.C.T, m.B]])
    lam = lam_of(np.hstack([num.weights["W1"], num.weights["W2"]]), S)
    assert lam.max() < 1e-6
    np.testing.assert_allclose(num.weights["sigma"], 1.0, rtol=1e-4)


def test_cvae_independent_condition_gives_theta_of_target():
    rng = np.random.default_rng(34)
    n = 200_000
    x = rng.normal(size=(n, 3)) * [1.0, 2.0, 0.5] + 0.3
    y = rng.normal(size=(n, 3)) @ np.array([[1.0, 0.2, 0.0], [0.0, 0.7, 0.3], [0.0, 0.0, 0.4]])
    theta = statistics(x, y, model="cvae").theta
    eig_b = sorted_desc(np.linalg.eigvalsh(y.T @ y / n))
    np.testing.assert_allclose(theta, eig_b, rtol=2e-3)
    assert np.all(theta <= eig_b + 1e-12)  # regressing on x can only explain variance away


# ------------------------------------------------------------------------------ 4. statistics


def test_vae_theta_is_singular_values_of_data():
    rng = np.random.default_rng(41)
    x = real_data(rng, 700, 5)
    n = len(x)
    np.testing.assert_allclose(statistics(x, model="vae").theta,
                               np.linalg.svd(x / np.sqrt(n), compute_uv=False), rtol=1e-10)
    xc = x - x.mean(0)
    np.testing.assert_allclose(statistics(x, model="mhvae", centre=True).theta,
                               np.linalg.svd(xc / np.sqrt(n), compute_uv=False), rtol=1e-10)
    # uncentred and centred differ here (non-zero mean), so the option is not a no-op
    assert not np.allclose(statistics(x, model="vae").theta, statistics(x, model="vae", centre=True).theta)


@pytest.mark.parametrize("kind", ["zero_columns", "duplicate_column", "low_rank"])
def test_rank_of_deficient_data_matches_numpy(kind):
    """MNIST-like: 8×8 images of pixel intensities in [0, 1] with always-zero borders."""
    rng = np.random.default_rng(42)
    n = 1000
    img = np.zeros((n, 8, 8))
    img[:, 2:7, 1:6] = rng.integers(0, 256, size=(n, 5, 5)) / 255.0
    x = img.reshape(n, 64)
    if kind == "duplicate_column":
        x[:, 0] = x[:, 20] + 0.5 * x[:, 30]  # a dependent, non-zero column
    if kind == "low_rank":
        x = (rng.normal(size=(n, 7)) @ rng.normal(size=(7, 64))) * (x.std(0) > 0)
    expected = np.linalg.matrix_rank(x)
    stats = statistics(x, model="vae")
    assert stats.rank == expected
    assert np.count_nonzero(stats.theta) == expected
    # latent modes beyond the rank are collapsed
    pred = solve(stats, expected + 3, beta=1e-6, eta_enc=1.0, eta_dec=1e-3)
    np.testing.assert_array_equal(pred.modes["collapsed"], np.arange(expected + 3) >= expected)


def test_latent_dim_above_data_dimension_pads_collapsed_modes():
    rng = np.random.default_rng(43)
    x = real_data(rng, 500, 3)
    d = 5
    beta, eta_enc, eta_dec = 0.5, 0.8, 0.1  # every real mode active
    pred = predict(x, model="vae", latent_dim=d, beta=beta, eta_enc=eta_enc, eta_dec=eta_dec)
    assert pred.theta.shape == (d,)
    np.testing.assert_allclose(pred.theta[:3], np.linalg.svd(x / np.sqrt(len(x)), compute_uv=False))
    np.testing.assert_array_equal(pred.theta[3:], 0.0)
    np.testing.assert_array_equal(pred.modes["collapsed"], [False] * 3 + [True] * 2)
    kl = torch_kl(x @ pred.weights["W"].T, pred.weights["sigma"], eta_enc)
    lat = pred.modes["latent_index"][3:]
    assert np.all(kl[:, lat] < 1e-12)
    # oracle: the minimiser with 5 latents on 3-dimensional data leaves exactly 2 at the prior
    A = x.T @ x / len(x)
    num = numerical_vae(A, d, beta, eta_enc, eta_dec, starts=2)
    lam = lam_of(num.weights["W"], A)
    assert np.all(lam[:3] > 1e-2) and np.all(lam[3:] < 1e-6)
    assert np.sum(np.abs(num.weights["sigma"] - eta_enc) < 1e-6) == 2


# ------------------------------------------------------------------ 5. monotonicity of collapse


def vae_like_stats(theta, model):
    """Data whose uncentred second moment is diag(θ²) exactly (rows ±√d0·θ_i e_i)."""
    d0 = len(theta)
    D = np.diag(theta) * np.sqrt(d0)
    return statistics(np.vstack([D, -D]), model=model)


def cvae_like_stats(theta_var, dx=2):
    """Paired data with A = I, C = 0, B = diag(θ) exactly: E = B, θ_CVAE = θ (variance scale)."""
    D = np.diag(np.concatenate([np.ones(dx), np.sqrt(theta_var)])) * np.sqrt(dx + len(theta_var))
    z = np.vstack([D, -D])
    return statistics(z[:, :dx], z[:, dx:], model="cvae")


def assert_nested(preds, key="collapsed"):
    """Along an increasing grid, a collapsed mode stays collapsed (so the count never drops)."""
    flags = np.array([p.modes[key] for p in preds])
    for k in range(1, len(flags)):
        assert np.all(flags[k - 1] <= flags[k]), (k, flags[k - 1], flags[k])
    counts = [p.n_collapsed for p in preds]
    assert counts == sorted(counts)
    return flags


positive = st.floats(0.02, 20.0, allow_nan=False, allow_infinity=False)
thetas = st.lists(st.floats(0.01, 10.0), min_size=1, max_size=5)
grids = st.lists(st.floats(1e-3, 1e3), min_size=2, max_size=6).map(
    lambda v: sorted(set(v) | set(np.geomspace(1e-3, 1e3, 13).tolist())))
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)


@SETTINGS
@given(theta=thetas, d=st.integers(1, 6), beta=positive, eta_enc=positive, eta_dec=positive,
       grid=grids, fixed=st.booleans(), data=st.data())
def test_collapse_is_monotone_in_beta_and_eta_dec_vae_cvae(theta, d, beta, eta_enc, eta_dec, grid,
                                                          fixed, data):
    sigma = None
    if fixed:  # a fixed σ: only the dimensions with σ = η_enc can collapse
        sigma = data.draw(st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=d, max_size=d))
        sigma = [s * eta_enc for s in sigma]
    for stats in (vae_like_stats(np.array(theta), "vae"), cvae_like_stats(np.array(theta))):
        hp = {"beta": beta, "eta_enc": eta_enc, "eta_dec": eta_dec, "sigma": sigma}
        for param in ("beta", "eta_dec"):
            others = {k: v for k, v in hp.items() if k != param}
            assert_nested(sweep(stats, d, param, grid, **others))


@SETTINGS
@given(theta=thetas, d=st.integers(1, 6), beta=positive, eta_dec=positive,
       enc=st.lists(st.floats(0.02, 50.0), min_size=2, max_size=6))
def test_eta_enc_does_not_change_which_modes_collapse_vae_cvae(theta, d, beta, eta_dec, enc):
    for stats in (vae_like_stats(np.array(theta), "vae"), cvae_like_stats(np.array(theta))):
        flags = np.array([p.modes["collapsed"] for p in
                          sweep(stats, d, "eta_enc", enc, beta=beta, eta_dec=eta_dec)])
        assert np.all(flags == flags[0])


@SETTINGS
@given(theta=thetas, d=st.integers(1, 5), beta1=positive, beta2=positive, eta_enc=positive,
       eta_dec=positive, sigma1=st.floats(0.05, 5.0), sigma2=st.sampled_from([None, "eta_enc", 0.7]),
       grid=grids)
def test_z2_collapse_is_monotone_in_beta2_and_eta_dec_mhvae(theta, d, beta1, beta2, eta_enc, eta_dec,
                                                           sigma1, sigma2, grid):
    stats = vae_like_stats(np.array(theta), "mhvae")
    s2 = eta_enc if sigma2 == "eta_enc" else sigma2
    hp = {"beta1": beta1, "beta2": beta2, "eta_enc": eta_enc, "eta_dec": eta_dec, "sigma1": sigma1,
          "sigma2": s2}
    for param in ("beta2", "eta_dec"):
        others = {k: v for k, v in hp.items() if k != param}
        assert_nested(sweep(stats, d, param, grid, **others), "collapsed_z2")
    # Theorem 3: η_enc enters no threshold
    if s2 is None:
        others = {k: v for k, v in hp.items() if k != "eta_enc"}
        flags = np.array([p.modes["collapsed_z2"] for p in sweep(stats, d, "eta_enc", grid, **others)])
        assert np.all(flags == flags[0])


# --------------------------------------------------------- 6. the loss is 2η_dec² × (−β-ELBO)


def mc_mean(f, scale):
    """Mean over (samples, data) of f and its Monte Carlo standard error given the data."""
    f = f.numpy()
    se = np.sqrt(f.var(0, ddof=1).mean() / f.size)
    return scale * f.mean(), scale * se


def std_normal(shape, seed):
    """Standard normal draws from torch.distributions, seeded without touching the global RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return Normal(torch.zeros(shape, dtype=torch.float64), 1.0).sample()


def antithetic(f, *noise):
    """(f(ε) + f(−ε)) / 2: unbiased, and the terms linear in ε cancel (smaller variance)."""
    return (f(*noise) + f(*(-e for e in noise))) / 2


def gaussian_const(d_obs, eta):
    """2η_dec² × the constant of −log N(x; μ, η²I) in d_obs dimensions: d_obs η_dec² log(2πη²)."""
    return d_obs * eta**2 * math.log(2 * math.pi * eta**2)


def kl_const(d_lat, beta, prior_std, eta_dec):
    """2η_dec² × the constant of β·KL(N(μ, diag s²) ‖ N(0, v I)) = β/2 Σ[(μ² + s²)/v − 1 − log s² + log v]
    beyond the terms in the loss: β η_dec² d_lat (log v − 1)."""
    return beta * eta_dec**2 * d_lat * (math.log(prior_std**2) - 1)


S_MC = 200


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vae_loss_is_scaled_negative_beta_elbo(seed):
    rng = np.random.default_rng(60 + seed)
    n, d0, d = 400, 4, 3
    x = real_data(rng, n, d0)
    beta, eta_enc, eta_dec = rng.uniform(0.3, 3), rng.uniform(0.5, 2), rng.uniform(0.3, 1.5)
    W, U = rng.normal(size=(d, d0)) * 0.5, rng.normal(size=(d0, d))
    sigma = rng.uniform(0.2, 2.0, d)
    xt = torch.as_tensor(x)
    q = Normal(xt @ torch.as_tensor(W).T, torch.as_tensor(sigma))
    kl = kl_divergence(q, Normal(0.0, eta_enc)).sum(-1)

    def neg_elbo(eps):
        z = q.loc + q.scale * eps
        return -Normal(z @ torch.as_tensor(U).T, eta_dec).log_prob(xt).sum(-1) + beta * kl

    value, se = mc_mean(antithetic(neg_elbo, std_normal((S_MC, n, d), seed)), 2 * eta_dec**2)
    loss = float(vae_loss(W, U, sigma, x.T @ x / n, beta, eta_enc, eta_dec))
    noise = float(np.sum(U**2 * sigma**2))  # tr(UΣUᵀ): a term a wrong loss could miss
    assert se < 0.01 * noise
    const = gaussian_const(d0, eta_dec) + kl_const(d, beta, eta_enc, eta_dec)
    assert abs(value - loss - const) < 5 * se


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cvae_loss_is_scaled_negative_beta_elbo(seed):
    rng = np.random.default_rng(70 + seed)
    n, dx, dy, d = 400, 3, 4, 3
    x = real_data(rng, n, dx)
    y = x @ rng.normal(size=(dx, dy)) + real_data(rng, n, dy) * 0.5
    beta, eta_enc, eta_dec = rng.uniform(0.3, 3), rng.uniform(0.5, 2), rng.uniform(0.3, 1.5)
    W1, W2 = rng.normal(size=(d, dx)) * 0.5, rng.normal(size=(d, dy)) * 0.5
    U1, U2 = rng.normal(size=(dy, d)), rng.normal(size=(dy, dx))
    sigma = rng.uniform(0.2, 2.0, d)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    q = Normal(xt @ torch.as_tensor(W1).T + yt @ torch.as_tensor(W2).T, torch.as_tensor(sigma))
    kl = kl_divergence(q, Normal(0.0, eta_enc)).sum(-1)

    def neg_elbo(eps):
        z = q.loc + q.scale * eps
        mean = z @ torch.as_tensor(U1).T + xt @ torch.as_tensor(U2).T
        return -Normal(mean, eta_dec).log_prob(yt).sum(-1) + beta * kl

    value, se = mc_mean(antithetic(neg_elbo, std_normal((S_MC, n, d), seed)), 2 * eta_dec**2)
    loss = float(cvae_loss(W1, W2, U1, U2, sigma, x.T @ x / n, y.T @ y / n, x.T @ y / n, beta,
                           eta_enc, eta_dec))
    assert se < 0.01 * float(np.sum(U1**2 * sigma**2))
    const = gaussian_const(dy, eta_dec) + kl_const(d, beta, eta_enc, eta_dec)
    assert abs(value - loss - const) < 5 * se


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mhvae_loss_is_scaled_negative_beta_elbo(seed):
    """docs/theory.md §4: −ELBO = −E log p(x|z1) + β1 E[log q(z1|x) − log p(z1|z2)]
    + β2 E_{q(z1|x)} KL(q(z2|z1) ‖ p(z2)); general (non-diagonal) W2, U2 and per-dimension σ's.
    The β1 term is −H(q(z1|x)) + E[−log p(z1|z2)]: ×2η_dec² its constant is β1η_dec²d(log η_dec² − 1)."""
    rng = np.random.default_rng(80 + seed)
    n, d0, d = 400, 4, 3
    x = real_data(rng, n, d0)
    beta1, beta2 = rng.uniform(0.3, 3), rng.uniform(0.3, 3)
    eta_enc, eta_dec = rng.uniform(0.5, 2), rng.uniform(0.3, 1.5)
    W1, U1 = rng.normal(size=(d, d0)) * 0.5, rng.normal(size=(d0, d))
    W2, U2 = rng.normal(size=(d, d)) * 0.5, rng.normal(size=(d, d)) * 0.5
    s1, s2 = rng.uniform(0.2, 2.0, d), rng.uniform(0.2, 2.0, d)
    t = {k: torch.as_tensor(v) for k, v in dict(W1=W1, W2=W2, U1=U1, U2=U2, s1=s1, s2=s2).items()}
    xt = torch.as_tensor(x)
    q1 = Normal(xt @ t["W1"].T, t["s1"])

    def neg_elbo(eps1, eps2):
        z1 = q1.loc + q1.scale * eps1
        q2 = Normal(z1 @ t["W2"].T, t["s2"])
        z2 = q2.loc + q2.scale * eps2
        nll = -Normal(z1 @ t["U1"].T, eta_dec).log_prob(xt).sum(-1)
        level1 = (q1.log_prob(z1) - Normal(z2 @ t["U2"].T, eta_dec).log_prob(z1)).sum(-1)
        kl2 = kl_divergence(q2, Normal(0.0, eta_enc)).sum(-1)
        return nll + beta1 * level1 + beta2 * kl2

    eps = std_normal((2, 5 * S_MC, n, d), seed)
    value, se = mc_mean(antithetic(neg_elbo, eps[0], eps[1]), 2 * eta_dec**2)
    loss = float(mhvae_loss(W1, W2, U1, U2, s1, s2, x.T @ x / n, beta1, beta2, eta_enc, eta_dec))
    const = (gaussian_const(d0, eta_dec) + kl_const(d, beta1, eta_dec, eta_dec)
             + kl_const(d, beta2, eta_enc, eta_dec))
    c2 = (eta_dec / eta_enc) ** 2
    terms = [np.sum(U1**2 * s1**2), beta1 * np.sum(U2**2 * s2**2), beta2 * c2 * np.sum(W2**2 * s1**2)]
    assert 5 * se < 0.5 * min(terms), (se, terms)  # a loss missing a noise term would fail
    assert abs(value - loss - const) < 5 * se


def test_loss_differs_from_negative_elbo_by_a_constant():
    """Simplest form of the check, free of any hand-derived constant: for two random parameter
    sets on the same data and hyperparameters, 2η_dec²·(−β-ELBO) − vae_loss is the same."""
    rng = np.random.default_rng(65)
    n, d0, d = 400, 4, 3
    x = real_data(rng, n, d0)
    xt = torch.as_tensor(x)
    beta, eta_enc, eta_dec = 0.7, 1.6, 0.6
    diffs = []
    for k in range(2):
        W, U, sigma = rng.normal(size=(d, d0)) * 0.5, rng.normal(size=(d0, d)), rng.uniform(0.2, 2, d)
        q = Normal(xt @ torch.as_tensor(W).T, torch.as_tensor(sigma))
        kl = kl_divergence(q, Normal(0.0, eta_enc)).sum(-1)

        def neg_elbo(eps, q=q, U=U, kl=kl):
            z = q.loc + q.scale * eps
            return -Normal(z @ torch.as_tensor(U).T, eta_dec).log_prob(xt).sum(-1) + beta * kl

        value, se = mc_mean(antithetic(neg_elbo, std_normal((S_MC, n, d), k)), 2 * eta_dec**2)
        diffs.append((value - float(vae_loss(W, U, sigma, x.T @ x / n, beta, eta_enc, eta_dec)), se))
    (a, sa), (b, sb) = diffs
    assert abs(a - b) < 5 * math.hypot(sa, sb)


# --------------------------------------------------------------------- 7. bad hyperparameters


@pytest.fixture(scope="module")
def small_stats():
    rng = np.random.default_rng(90)
    x = real_data(rng, 200, 4)
    y = x[:, :2] @ rng.normal(size=(2, 3)) + rng.normal(size=(200, 3))
    return {"x": x, "y": y, "vae": statistics(x, model="vae"), "mhvae": statistics(x, model="mhvae"),
            "cvae": statistics(x, y, model="cvae")}


BAD_SCALARS = [0.0, -1.0, float("nan"), float("inf"), -float("inf"), None, [1.0, 2.0]]
GOOD = {"vae": {"beta": 1.0, "eta_enc": 1.0, "eta_dec": 1.0},
        "cvae": {"beta": 1.0, "eta_enc": 1.0, "eta_dec": 1.0},
        "mhvae": {"beta1": 1.0, "beta2": 1.0, "eta_enc": 1.0, "eta_dec": 1.0, "sigma1": 0.5}}


def test_good_hyperparameters_are_accepted(small_stats):
    for model, hp in GOOD.items():
        assert solve(small_stats[model], 3, **hp).latent_dim == 3


@pytest.mark.parametrize("model,name", [(m, k) for m, hp in GOOD.items() for k in hp])
@pytest.mark.parametrize("bad", BAD_SCALARS, ids=repr)
def test_bad_scalar_hyperparameter_raises(small_stats, model, name, bad):
    if model == "mhvae" and name == "sigma1" and bad is None:  # learnable Σ1: numerical theory
        assert solve(small_stats[model], 3, **{**GOOD[model], name: bad}).solver == "numerical"
        return
    with pytest.raises(HyperparameterError):
        solve(small_stats[model], 3, **{**GOOD[model], name: bad})
    x, y = small_stats["x"], small_stats["y"] if model == "cvae" else None
    with pytest.raises(HyperparameterError):
        predict(x, y, model=model, latent_dim=3, **{**GOOD[model], name: bad})


@pytest.mark.parametrize("model,name", [(m, k) for m, hp in GOOD.items() for k in hp if k != "sigma1"])
def test_non_numeric_scalar_hyperparameter_raises(small_stats, model, name):
    with pytest.raises(HyperparameterError):
        solve(small_stats[model], 3, **{**GOOD[model], name: "abc"})


@pytest.mark.parametrize("model", list(GOOD))
@pytest.mark.parametrize("latent_dim", [0, -1, 2.5, True])
def test_bad_latent_dim_raises(small_stats, model, latent_dim):
    with pytest.raises(HyperparameterError):
        solve(small_stats[model], latent_dim, **GOOD[model])
    x, y = small_stats["x"], small_stats["y"] if model == "cvae" else None
    with pytest.raises(HyperparameterError):
        predict(x, y, model=model, latent_dim=latent_dim, **GOOD[model])


@pytest.mark.parametrize("model,name", [("vae", "sigma"), ("cvae", "sigma"), ("mhvae", "sigma1"),
                                        ("mhvae", "sigma2")])
@pytest.mark.parametrize("bad", [[0.5, 0.5], [0.5] * 4, [], [0.5, 0.0, 0.5], [0.5, -0.1, 0.5],
                                 [0.5, float("nan"), 0.5], [0.5, float("inf"), 0.5], 0.0, -0.3])
def test_bad_sigma_raises(small_stats, model, name, bad):
    with pytest.raises(HyperparameterError):
        solve(small_stats[model], 3, **{**GOOD[model], name: bad})


def test_mhvae_sigma_requirements(small_stats):
    hp = {k: v for k, v in GOOD["mhvae"].items() if k != "sigma1"}
    # no sigma1: a learnable Σ1, answered by the numerical theory (docs/numerical-theory.md)
    assert solve(small_stats["mhvae"], 3, **hp).solver == "numerical"
    with pytest.raises(HyperparameterError, match="unbounded"):
        predict(small_stats["x"], model="mhvae", latent_dim=3, **{**hp, "beta1": 2.0})
    for name in ("sigma1", "sigma2"):  # the closed forms take one value for all dimensions
        with pytest.raises(HyperparameterError):
            solve(small_stats["mhvae"], 3, **{**GOOD["mhvae"], name: [0.5, 0.6, 0.5]})
    # one value per dimension, all equal, is accepted
    solve(small_stats["mhvae"], 3, **{**GOOD["mhvae"], "sigma1": [0.5] * 3, "sigma2": [0.7] * 3})


def test_cvae_without_target_raises(small_stats):
    with pytest.raises(HyperparameterError):
        predict(small_stats["x"], model="cvae", latent_dim=2, **GOOD["cvae"])
    with pytest.raises(HyperparameterError):
        statistics(small_stats["x"], model="cvae")


def test_unknown_model_raises(small_stats):
    with pytest.raises(HyperparameterError):
        predict(small_stats["x"], model="ae", latent_dim=2)


@pytest.mark.parametrize("model,parameter", [("vae", "beta1"), ("vae", "beta2"), ("cvae", "beta2"),
                                             ("mhvae", "beta"), ("vae", "sigma"), ("mhvae", "sigma1"),
                                             ("vae", "latent_dim"), ("vae", "gamma")])
def test_sweep_of_a_parameter_the_model_lacks_raises(small_stats, model, parameter):
    hp = {k: v for k, v in GOOD[model].items() if k != parameter}
    with pytest.raises(HyperparameterError):
        sweep(small_stats[model], 2, parameter, [0.5, 1.0], **hp)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_sweep_through_a_bad_value_raises(small_stats, bad):
    with pytest.raises(HyperparameterError):
        sweep(small_stats["vae"], 2, "beta", [0.5, bad, 1.0], **{**GOOD["vae"], "beta": 1.0})


# ------------------------------------- malformed hyperparameters are user errors too
# errors.py: HyperparameterError is "a hyperparameter outside its valid range or an unsupported
# combination", and the CLI maps only UserError to a one-line message and exit code 2.


@pytest.mark.parametrize("latent_dim", [None, float("nan"), float("inf")], ids=repr)
def test_non_numeric_latent_dim_raises_hyperparameter_error(small_stats, latent_dim):
    with pytest.raises(HyperparameterError):
        solve(small_stats["vae"], latent_dim, **GOOD["vae"])


@pytest.mark.parametrize("model,name", [("vae", "sigma"), ("cvae", "sigma"), ("mhvae", "sigma1"),
                                        ("mhvae", "sigma2")])
def test_non_numeric_sigma_raises_hyperparameter_error(small_stats, model, name):
    with pytest.raises(HyperparameterError):
        solve(small_stats[model], 3, **{**GOOD[model], name: "abc"})


def test_sweep_non_numeric_value_raises_hyperparameter_error(small_stats):
    with pytest.raises(HyperparameterError):
        sweep(small_stats["vae"], 2, "beta", [0.5, "abc"], **GOOD["vae"])


@pytest.mark.parametrize("model,extra", [("vae", {"beta1": 1.0}), ("cvae", {"sigma1": 0.5}),
                                         ("mhvae", {"beta": 1.0}), ("mhvae", {"sigma": 0.5})])
def test_hyperparameter_of_another_model_raises_hyperparameter_error(small_stats, model, extra):
    with pytest.raises(HyperparameterError):
        solve(small_stats[model], 2, **GOOD[model], **extra)
