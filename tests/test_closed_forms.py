"""Every closed form against the numerical minimiser of the exact population loss.

Instances are random: second moments from random orthogonal bases with θ spread over two orders
of magnitude, hyperparameters drawn so that thresholds fall between the θ's (mixed regimes, some
modes collapsed and others not). The oracle sees only the raw moment matrices (no whitening, no
closed-form code) and minimises the loss written in `theory.losses` by damped Newton from several
starts. Agreement is asked to 1e-4 relative on the optimal loss and on the sorted singular values
λ (√eig(W A Wᵀ)), ω (svd U) and the encoder stds σ, for at least 100 instances per theorem.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracles import lam_of, sorted_desc, svals

from vaecollapse.theory import numerical_cvae, numerical_mhvae, numerical_vae, solve
from vaecollapse.theory.stats import Moments, Statistics, cvae_statistics, vae_statistics

N = 100  # instances per theorem and configuration
RTOL = 1e-4


def random_basis(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def random_theta(rng, d0, rank=None):
    """θ (std scale) descending, ratios between neighbours in [1.25, 2.2] (well separated)."""
    theta = np.cumprod(rng.uniform(1.25, 2.2, d0))[::-1] * rng.uniform(0.05, 0.4)
    if rank is not None:
        theta[rank:] = 0.0
    return theta


def vae_stats(A, model="vae"):
    v = vae_statistics(A)
    return Statistics(model, Moments(A=A, B=None, C=None, n=1, centred=False), v.theta, v.P,
                      v.rank)


def between(rng, theta):
    """A value strictly between two neighbouring θ's (or below all / above all)."""
    k = rng.integers(-1, len(theta))
    if k == -1:
        return theta[0] * 1.6
    if k == len(theta) - 1 or theta[k + 1] == 0:
        return theta[k] / 1.6
    return np.sqrt(theta[k] * theta[k + 1])





def assert_close(num, cf, what):
    num, cf = np.asarray(num), np.asarray(cf)
    if num.shape[-1] < cf.shape[-1]:  # fewer singular values than latent modes: the rest are 0
        num = np.concatenate([num, np.zeros(num.shape[:-1] + (cf.shape[-1] - num.shape[-1],))], -1)
    scale = np.maximum(np.abs(cf).max(axis=-1, keepdims=True), 1.0) if cf.ndim > 1 else 1.0
    err = np.abs(num - cf) / (np.abs(cf) + scale)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= RTOL, (
        f"{what}: rel. error {err.max():.2e} at {worst}: {num[worst[0]]} vs {cf[worst[0]]}")


def assert_loss_close(num, cf):
    num, cf = np.asarray(num), np.asarray(cf)
    err = np.abs(num - cf) / np.maximum(np.abs(cf), 1.0)
    assert err.max() <= RTOL, f"loss: rel. error {err.max():.2e}: {num[err.argmax()]} vs {cf[err.argmax()]}"


def assert_mixed(counts, d, floor=0):
    """The instances cover every active-but-null mode (``floor`` null modes always collapse),
    and at least 20 mixed regimes where some modes collapse and others do not."""
    counts = np.asarray(counts)
    mixed = ((counts > floor) & (counts < d)).sum()
    assert (counts == floor).any() and mixed >= 20, np.bincount(counts)


# ------------------------------------------------------------------------------------- VAE


@pytest.mark.parametrize("d0,d,rank", [(5, 3, None), (4, 4, 3), (3, 4, None)])
def test_vae_learnable_sigma(d0, d, rank):
    rng = np.random.default_rng(100 + d0 * 10 + d)
    As, hps, preds = [], [], []
    for _ in range(N):
        theta = random_theta(rng, d0, rank)
        P = random_basis(rng, d0)
        A = (P * theta**2) @ P.T
        beta, eta_enc = rng.uniform(0.2, 3.0), rng.uniform(0.4, 1.6)
        eta_dec = between(rng, theta[theta > 0]) / np.sqrt(beta)  # √β η_dec between two θ's
        As.append(A)
        hps.append((beta, eta_enc, eta_dec))
        preds.append(solve(vae_stats(A), d, beta=beta, eta_enc=eta_enc, eta_dec=eta_dec))
    As, hp = np.stack(As), np.array(hps).T
    num = numerical_vae(As, d, *hp, starts=3)
    assert_loss_close(num.loss, [p.optimal_loss for p in preds])
    assert_close(lam_of(num.weights["W"], As), [p.modes["lambda"] for p in preds], "λ")
    assert_close(svals(num.weights["U"]), [p.modes["omega"] for p in preds], "ω")
    assert_close(sorted_desc(num.weights["sigma"]),
                 sorted_desc([p.modes["sigma"] for p in preds]), "σ")
    assert_mixed([p.n_collapsed for p in preds], d, floor=d - min(d, rank or d0))


@pytest.mark.parametrize("d0,d", [(5, 3), (4, 4)])
def test_vae_fixed_sigma_theorem1(d0, d):
    rng = np.random.default_rng(200 + d0)
    As, hps, sigmas, preds = [], [], [], []
    for i in range(N):
        theta = random_theta(rng, d0)
        P = random_basis(rng, d0)
        A = (P * theta**2) @ P.T
        beta, eta_enc = rng.uniform(0.2, 3.0), rng.uniform(0.4, 1.6)
        sigma = rng.uniform(0.3, 1.5, d) * eta_enc
        if i % 3 == 0:
            sigma[rng.integers(d)] = eta_enc  # a dimension that can truly collapse
        # √β c σ_i between two θ's for the median σ: a mix of λ = 0 and λ > 0 modes
        eta_dec = between(rng, theta) / (np.sqrt(beta) * np.median(sigma) / eta_enc)
        As.append(A)
        hps.append((beta, eta_enc, eta_dec))
        sigmas.append(sigma)
        preds.append(solve(vae_stats(A), d, beta=beta, eta_enc=eta_enc, eta_dec=eta_dec,
                           sigma=sigma))
    As, hp = np.stack(As), np.array(hps).T
    num = numerical_vae(As, d, *hp, sigma=np.stack(sigmas), starts=4)
    assert_loss_close(num.loss, [p.optimal_loss for p in preds])
    assert_close(lam_of(num.weights["W"], As), sorted_desc([p.modes["lambda"] for p in preds]), "λ")
    assert_close(svals(num.weights["U"]), sorted_desc([p.modes["omega"] for p in preds]), "ω")
    inactive = np.array([(p.modes["lambda"] == 0).sum() for p in preds])
    assert ((inactive > 0) & (inactive < d)).sum() >= 20
    # Fixed σ ≠ η_enc never collapses; σ = η_enc with λ = 0 does.
    assert sum(p.n_collapsed for p in preds) > 0
    for p in preds:
        s = np.asarray(p.hyperparameters["sigma"])[p.modes["latent_index"]]
        expected = (p.modes["lambda"] == 0) & np.isclose(s, p.hyperparameters["eta_enc"])
        np.testing.assert_array_equal(p.modes["collapsed"], expected)


# ------------------------------------------------------------------------------------ CVAE


def random_cvae(rng, dx, dy):
    """Joint second moment of (x, y) with a controlled residual spectrum; E computed here by
    solving the normal equations (independent of the library's pseudo-inverse code)."""
    G = rng.normal(size=(dx + dy, dx + dy)) * rng.uniform(0.2, 1.0, dx + dy)
    S = G @ G.T / (dx + dy)
    A, C, B = S[:dx, :dx], S[:dx, dx:], S[dx:, dx:]
    E = B - C.T @ np.linalg.solve(A, C)
    return A, B, C, np.sort(np.linalg.eigvalsh(E))[::-1]


@pytest.mark.parametrize("dx,dy,d,fixed", [(3, 4, 3, False), (2, 3, 4, False), (3, 4, 3, True)])
def test_cvae_theorem2(dx, dy, d, fixed):
    rng = np.random.default_rng(300 + dx * 10 + dy + d + fixed)
    mats, hps, sigmas, preds = [], [], [], []
    for _ in range(N):
        A, B, C, e = random_cvae(rng, dx, dy)
        beta, eta_enc = rng.uniform(0.2, 3.0), rng.uniform(0.4, 1.6)
        sigma = rng.uniform(0.3, 1.5, d) * eta_enc if fixed else None
        # β η_dec² between two eigenvalues of E (θ is on the variance scale)
        eta_dec = np.sqrt(between(rng, np.sqrt(e)) ** 2 / beta)
        st = cvae_statistics(A, B, C)
        stats = Statistics("cvae", Moments(A=A, B=B, C=C, n=1, centred=False), st.theta, st.Q,
                           st.rank, K=st.K, rank_x=st.rank_x)
        np.testing.assert_allclose(st.theta, e, rtol=1e-9, atol=1e-12)
        mats.append((A, B, C))
        hps.append((beta, eta_enc, eta_dec))
        sigmas.append(sigma)
        preds.append(solve(stats, d, beta=beta, eta_enc=eta_enc, eta_dec=eta_dec, sigma=sigma))
    A, B, C = (np.stack(m) for m in zip(*mats, strict=True))
    hp = np.array(hps).T
    num = numerical_cvae(A, B, C, d, *hp, sigma=np.stack(sigmas) if fixed else None, starts=4)
    assert_loss_close(num.loss, [p.optimal_loss for p in preds])
    assert_close(svals(num.weights["U1"]), sorted_desc([p.modes["omega"] for p in preds]), "ω")
    if not fixed:
        assert_close(sorted_desc(num.weights["sigma"]),
                     sorted_desc([p.modes["sigma"] for p in preds]), "σ")
        assert_mixed([p.n_collapsed for p in preds], d, floor=max(0, d - dy))
    # λ: singular values of W2 E^{1/2}; the optimal latent mean is W2 (y − Kx), so
    # E‖latent mean‖² per direction = eig(W_joint S W_jointᵀ) with W_joint = [W1, W2].
    S = np.concatenate([np.concatenate([A, C], -1),
                        np.concatenate([np.swapaxes(C, -1, -2), B], -1)], -2)
    Wj = np.concatenate([num.weights["W1"], num.weights["W2"]], -1)
    assert_close(lam_of(Wj, S), sorted_desc([p.modes["lambda"] for p in preds]), "λ")
    # U2 = K (the regression of y on x) at the optimum
    K = np.swapaxes(np.linalg.solve(A, C), -1, -2)
    err = np.abs(num.weights["U2"] - K).max() / np.abs(K).max()
    assert err < 1e-4


def test_cvae_sigma_switch_is_the_corrected_one():
    """σ switches at θ = βη_dec² (variance scale), not at √β η_dec (the reference script's slip):
    pick β η_dec² ≠ 1 and a θ between √β η_dec and β η_dec²."""
    rng = np.random.default_rng(7)
    A, B, C, e = random_cvae(rng, 2, 3)
    beta, eta_enc = 2.0, 1.0
    eta_dec = np.sqrt(e[0] * 1.3 / beta)  # β η_dec² = 1.3 θ_0 > θ_0
    st = cvae_statistics(A, B, C)
    stats = Statistics("cvae", Moments(A=A, B=B, C=C, n=1, centred=False), st.theta, st.Q,
                       st.rank, K=st.K, rank_x=st.rank_x)
    pred = solve(stats, 3, beta=beta, eta_enc=eta_enc, eta_dec=eta_dec)
    num = numerical_cvae(A, B, C, 3, beta, eta_enc, eta_dec, starts=4)
    assert pred.n_collapsed == 3
    np.testing.assert_allclose(np.sort(num.weights["sigma"]), np.sort(pred.modes["sigma"]),
                               rtol=1e-5)


# ----------------------------------------------------------------------------------- MHVAE


def mhvae_instances(rng, d0, d, case, both_fixed):
    """Random MHVAE instances. ``case``: 'a' (σ1² ≥ (β2/β1)η_dec²) or 'b' for Theorem 3."""
    out = []
    for _ in range(N):
        theta = np.cumprod(rng.uniform(1.4, 3.0, d0))[::-1] * rng.uniform(0.02, 0.2)
        P = random_basis(rng, d0)
        A = (P * theta**2) @ P.T
        beta1, beta2 = rng.uniform(0.2, 3.0), rng.uniform(0.2, 3.0)
        eta_enc, eta_dec = rng.uniform(0.3, 1.5), rng.uniform(0.3, 1.5)
        bound = np.sqrt(beta2 / beta1) * eta_dec
        if both_fixed:
            sigma1 = rng.uniform(0.2, 2.0) * bound
            sigma2 = rng.uniform(0.3, 2.0) * eta_enc
        else:
            sigma1 = bound * (rng.uniform(1.05, 2.0) if case == "a" else rng.uniform(0.2, 0.95))
            sigma2 = None
        out.append((A, beta1, beta2, eta_enc, eta_dec, sigma1, sigma2))
    return out


def run_mhvae(instances, d):
    preds = []
    for A, b1, b2, ee, ed, s1, s2 in instances:
        preds.append(solve(vae_stats(A, "mhvae"), d, beta1=b1, beta2=b2, eta_enc=ee, eta_dec=ed,
                           sigma1=s1, sigma2=s2))
    A = np.stack([i[0] for i in instances])
    hp = np.array([i[1:5] for i in instances]).T
    s1 = np.array([i[5] for i in instances])[:, None]
    s2 = None if instances[0][6] is None else np.array([i[6] for i in instances])[:, None]
    num = numerical_mhvae(A, d, *hp, sigma1=s1, sigma2=s2, starts=4)
    assert_loss_close(num.loss, [p.optimal_loss for p in preds])
    assert_close(lam_of(num.weights["W1"], A), sorted_desc([p.modes["lambda"] for p in preds]),
                 "λ")
    assert_close(svals(num.weights["U2"]), sorted_desc([p.modes["omega"] for p in preds]), "ω")
    assert_close(sorted_desc(num.weights["sigma2"]),
                 sorted_desc([p.modes["sigma2"] for p in preds]), "σ2")
    return preds


@pytest.mark.parametrize("case", ["a", "b"])
def test_mhvae_theorem3(case):
    rng = np.random.default_rng(400 + (case == "b"))
    preds = run_mhvae(mhvae_instances(rng, 4, 3, case, both_fixed=False), 3)
    counts = [p.n_collapsed for p in preds]
    if case == "a":
        assert sum(counts) == 0  # case (a): z2 never collapses
    else:
        assert_mixed(counts, 3)
        # the branch λ > 0, ω = 0 (z1 encodes, z2 collapsed) occurs
        assert any(((p.modes["lambda"] > 0) & (p.modes["omega"] == 0)).any() for p in preds)


def test_mhvae_theorem5_all_cases():
    rng = np.random.default_rng(500)
    preds = run_mhvae(mhvae_instances(rng, 4, 3, None, both_fixed=True), 3)
    lam = np.concatenate([p.modes["lambda"] for p in preds])
    om = np.concatenate([p.modes["omega"] for p in preds])
    assert ((lam > 0) & (om > 0)).any(), "case 1"
    assert ((lam == 0) & (om > 0)).any(), "case 2"
    assert ((lam == 0) & (om == 0)).any(), "case 3"
    assert ((lam > 0) & (om == 0)).any(), "case 4"


def test_mhvae_theorem5_threshold_is_the_corrected_one():
    """With β1 < 1 the reference script's threshold √β1 β2 c²σ2²/σ1 differs from the correct
    β2c²σ2²/(√β1 σ1); place θ between the two and check the closed form against the oracle."""
    beta1, beta2, eta_enc, eta_dec, s1, s2 = 0.25, 1.0, 1.0, 1.0, 1.0, 1.0
    wrong = np.sqrt(beta1) * beta2 * s2**2 / s1  # 0.5
    right = beta2 * s2**2 / (np.sqrt(beta1) * s1)  # 2.0
    theta = np.array([1.2, 0.9, 0.3])  # first two between the thresholds
    assert wrong < theta[1] < theta[0] < right
    A = np.diag(theta**2)
    pred = solve(vae_stats(A, "mhvae"), 3, beta1=beta1, beta2=beta2, eta_enc=eta_enc, eta_dec=eta_dec,
                 sigma1=s1, sigma2=s2)
    assert np.all(np.isfinite(pred.modes["lambda"])) and np.all(np.isfinite(pred.modes["omega"]))
    num = numerical_mhvae(A, 3, beta1, beta2, eta_enc, eta_dec, sigma1=s1, sigma2=s2, starts=6)
    assert abs(num.loss - pred.optimal_loss) <= RTOL * max(1, abs(pred.optimal_loss))
    np.testing.assert_allclose(svals(num.weights["U2"]), sorted_desc(pred.modes["omega"]),
                               atol=1e-4)
