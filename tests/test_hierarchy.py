"""Numerical theory of hierarchies (docs/numerical-theory.md, theory/hierarchy.py).

- The exact L-level loss against `mhvae_loss`/`vae_loss` and a Monte-Carlo estimate (ladder).
- The reduced (per-mode) solve against every closed form — Theorems 1, 2 (as the VAE of the
  residual), 3, 5, §2a, and the two derived in docs §3 — on ≥ 100 random instances each, mixed
  regimes, the closed forms evaluated by independent numpy here.
- The reduced solve against the full-matrix solve (all maps free matrices) on random small
  instances, ≤ 1e-6 relative on the optimal loss.
- Boundedness: the explicit path to −∞ when β1 > β2, the condition, and `predict`'s refusal.
- Critical β by continuation against Theorem 3's closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

from vaecollapse.errors import UnboundedError
from vaecollapse.theory import closed_form as cf
from vaecollapse.theory import solve
from vaecollapse.theory.hierarchy.assemble import predict_hierarchy
from vaecollapse.theory.hierarchy.chain import chain_moments, mode_table, solve_chain
from vaecollapse.theory.hierarchy.critical import critical_top_beta, critical_values
from vaecollapse.theory.hierarchy.optimum import full_loss, solve_full, solve_modes, weights_from_modes
from vaecollapse.theory.hierarchy.setting import boundedness, make_hierarchy
from vaecollapse.theory.losses import hierarchy_loss, mhvae_loss, vae_loss
from vaecollapse.theory.stats import Moments, Statistics, vae_statistics

N = 100
RTOL = 1e-6


def random_basis(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def random_A(rng, d0, spread=(1.3, 2.5)):
    theta = np.cumprod(rng.uniform(*spread, d0))[::-1] * rng.uniform(0.05, 0.3)
    P = random_basis(rng, d0)
    return (P * theta**2) @ P.T, theta


def stats_of(A):
    v = vae_statistics(A)
    return Statistics("mhvae", Moments(A=A, B=None, C=None, n=1, centred=False), v.theta, v.P,
                      v.rank)


def close(a, b, rtol, what):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    err = np.abs(a - b) / (np.abs(b) + 1.0)
    i = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= rtol, f"{what}: rel. error {err.max():.2e} at {i}: {a[i]} vs {b[i]}"


# ---------------------------------------------------------------- the exact loss


def test_hierarchy_loss_is_the_mhvae_and_vae_loss():
    rng = np.random.default_rng(0)
    d0, d = 5, 3
    A, _ = random_A(rng, d0)
    W1, W2 = rng.normal(size=(d, d0)), rng.normal(size=(d, d))
    U1, U2 = rng.normal(size=(d0, d)), rng.normal(size=(d, d))
    s1, s2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    want = float(mhvae_loss(W1, W2, U1, U2, s1, s2, A, 0.7, 1.3, 0.8, 1.2))
    got = float(hierarchy_loss([W1, W2], None, [U1, U2], [s1, s2], A, [0.7, 1.3], 0.8, 1.2))
    assert got == pytest.approx(want, rel=1e-12)
    want = float(vae_loss(W1, U1, s1, A, 0.7, 0.8, 1.2))
    assert float(hierarchy_loss([W1], None, [U1], [s1], A, [0.7], 0.8, 1.2)) == pytest.approx(
        want, rel=1e-12)
    # profiling the decoders out gives the minimum over them
    prof = float(hierarchy_loss([W1, W2], None, None, [s1, s2], A, [0.7, 1.3], 0.8, 1.2))
    assert prof < float(hierarchy_loss([W1, W2], None, [U1, U2], [s1, s2], A, [0.7, 1.3], 0.8,
                                       1.2))


def test_ladder_loss_against_monte_carlo():
    rng = np.random.default_rng(1)
    d0, d = 4, 3
    A, _ = random_A(rng, d0)
    W = [rng.normal(size=(d, d0)), rng.normal(size=(d, d)), rng.normal(size=(2, d))]
    V = [None, rng.normal(size=(d, d0)), rng.normal(size=(2, d0))]
    U = [rng.normal(size=(d0, d)), rng.normal(size=(d, d)), rng.normal(size=(d, 2))]
    S = [rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, 2)]
    b, ee, ed = [0.7, 1.3, 0.9], 0.8, 1.2
    n = 200_000
    x = rng.normal(size=(n, d0)) @ np.linalg.cholesky(A).T
    z1 = x @ W[0].T + rng.normal(size=(n, d)) * S[0]
    z2 = z1 @ W[1].T + x @ V[1].T + rng.normal(size=(n, d)) * S[1]
    z3 = z2 @ W[2].T + x @ V[2].T + rng.normal(size=(n, 2)) * S[2]
    sq = lambda a: (a**2).sum(1)  # noqa: E731
    terms = (sq(z1 @ U[0].T - x) + b[0] * sq(z1 - z2 @ U[1].T) + b[1] * sq(z2 - z3 @ U[2].T)
             + b[2] * (ed / ee) ** 2 * sq(z3))
    mc = terms.mean() - ed**2 * sum(bk * np.log(s**2).sum() for bk, s in zip(b, S, strict=True))
    se = terms.std() / np.sqrt(n)
    exact = float(hierarchy_loss(W, V, U, S, A, b, ee, ed))
    assert abs(mc - exact) < 5 * se, (mc, exact, se)


# ---------------------------------------------------------------- reduced solve vs closed forms


def thetas(rng, n, k=3):
    """n × k θ's, descending, spread over two orders of magnitude."""
    return np.sort(np.exp(rng.uniform(np.log(0.05), np.log(5), (n, k))), 1)[:, ::-1]


def chain(theta, betas, sigmas, *, prior, eta_dec, ladder=False):
    sol = solve_chain(theta, betas, sigmas, ladder=ladder, prior=prior, eta_dec=eta_dec)
    return sol, mode_table(theta, sol, prior, eta_dec)


def test_one_level_is_the_vae_learnable_and_fixed_sigma_theorem1():
    rng = np.random.default_rng(10)
    th = thetas(rng, N)
    beta, ee, ed = (rng.uniform(0.2, 3, (N, 1)) for _ in range(3))
    thr = np.sqrt(beta) * ed  # mixed: put the threshold inside the spectrum
    th = th / th[:, 1:2] * thr * rng.uniform(0.7, 1.4, (N, 1))
    flat = lambda a: np.broadcast_to(a, th.shape).ravel()  # noqa: E731
    sol, t = chain(th.ravel(), flat(beta)[:, None], (None,), prior=flat(ee), eta_dec=flat(ed))
    ref = cf.vae_learnable(th.ravel(), flat(beta), flat(ee), flat(ed))
    close(t["lambda"][:, 0], ref["lambda"], 1e-5, "λ (§2a)")
    close(t["sigma"][:, 0], ref["sigma"], 1e-5, "σ (§2a)")
    coll = t["collapsed"][:, 0].reshape(N, 3).sum(1)
    assert ((coll > 0) & (coll < 3)).sum() >= 20
    assert np.array_equal(t["collapsed"][:, 0], ref["lambda"] == 0)
    # Theorem 1, one fixed σ (the pairing is then trivial); the CVAE (Theorem 2) is this VAE on
    # the residual's θ_v = √θ_cvae, so it is covered by the same per-mode problem.
    sigma = rng.uniform(0.3, 2, (N, 1)) * ee
    sol, t = chain(th.ravel(), flat(beta)[:, None], (flat(sigma),), prior=flat(ee),
                   eta_dec=flat(ed))
    ref = cf.vae_fixed(th.ravel(), flat(sigma), flat(beta), flat(ee), flat(ed))
    close(t["lambda"][:, 0], ref["lambda"], 1e-5, "λ (Theorem 1)")
    close(t["omega"][:, 0], ref["omega"], 1e-5, "ω (Theorem 1)")


@pytest.mark.parametrize("both_fixed", [False, True])
def test_two_levels_sigma1_fixed_theorems_3_and_5(both_fixed):
    rng = np.random.default_rng(20 + both_fixed)
    th = thetas(rng, N)
    b1, b2, ee, ed = (rng.uniform(0.2, 3, (N, 1)) for _ in range(4))
    bound = np.sqrt(b2 / b1) * ed
    s1 = rng.uniform(0.2, 2.0, (N, 1)) * bound
    s2 = rng.uniform(0.3, 2.0, (N, 1)) * ee
    flat = lambda a: np.broadcast_to(a, th.shape).ravel()  # noqa: E731
    betas = np.stack([flat(b1), flat(b2)], 1)
    sig = (flat(s1), flat(s2) if both_fixed else None)
    sol, t = chain(th.ravel(), betas, sig, prior=flat(ee), eta_dec=flat(ed))
    if both_fixed:
        ref = cf.mhvae_both_fixed(th.ravel(), flat(b1), flat(b2), flat(ee), flat(ed), flat(s1),
                                  flat(s2))
    else:
        ref = cf.mhvae_sigma1_fixed(th.ravel(), flat(b1), flat(b2), flat(ee), flat(ed), flat(s1))
        close(t["sigma"][:, 1], ref["sigma2"], 1e-5, "σ2")
        coll = t["collapsed"][:, 1].reshape(N, 3).sum(1)
        assert ((coll > 0) & (coll < 3)).sum() >= 10 and (coll == 0).any()
    close(t["lambda"][:, 0], ref["lambda"], 1e-5, "λ")
    close(t["omega"][:, 1], ref["omega"], 1e-5, "ω")


def test_both_learnable_is_a_vae_on_z1_and_z2_collapses():
    """docs §3: β1 < β2, Σ1 and Σ2 learnable — z1 is the VAE(β1) with prior std η_dec, z2
    collapses in every mode; the optimal loss is that VAE's plus constants."""
    rng = np.random.default_rng(30)
    th = thetas(rng, N)
    b1 = rng.uniform(0.2, 2, (N, 1))
    b2 = b1 * rng.uniform(1.05, 3, (N, 1))
    ee, ed = rng.uniform(0.3, 1.5, (N, 1)), rng.uniform(0.3, 1.5, (N, 1))
    th = th / th[:, 1:2] * np.sqrt(b1) * ed * rng.uniform(0.7, 1.4, (N, 1))
    flat = lambda a: np.broadcast_to(a, th.shape).ravel()  # noqa: E731
    sol, t = chain(th.ravel(), np.stack([flat(b1), flat(b2)], 1), (None, None), prior=flat(ee),
                   eta_dec=flat(ed))
    ref = cf.vae_learnable(th.ravel(), flat(b1), flat(ed), flat(ed))
    close(t["lambda"][:, 0], ref["lambda"], 1e-5, "λ1")
    close(t["sigma"][:, 0], ref["sigma"], 1e-5, "σ1")
    assert t["collapsed"][:, 1].all()
    close(t["sigma"][:, 1], flat(ee), 1e-8, "σ2 = η_enc")
    z1 = t["collapsed"][:, 0].reshape(N, 3).sum(1)
    assert ((z1 > 0) & (z1 < 3)).sum() >= 20


def test_sigma1_learnable_sigma2_fixed_same_r_in_every_mode():
    """docs §3: r = σ2²/E z2² = min(1, β2σ2²/(β1η_enc²)) whatever θ."""
    rng = np.random.default_rng(31)
    th = thetas(rng, N)
    b1, b2, ee, ed = (rng.uniform(0.3, 2, (N, 1)) for _ in range(4))
    s2 = ee * np.sqrt(b1 / b2) * rng.uniform(0.5, 1.5, (N, 1))
    flat = lambda a: np.broadcast_to(a, th.shape).ravel()  # noqa: E731
    sol, t = chain(th.ravel(), np.stack([flat(b1), flat(b2)], 1), (None, flat(s2)),
                   prior=flat(ee), eta_dec=flat(ed))
    m, _, _ = chain_moments(th.ravel(), sol)
    r = flat(s2) ** 2 / m[:, 1]
    r_ref = np.minimum(1, flat(b2) * flat(s2) ** 2 / (flat(b1) * flat(ee) ** 2))
    close(r, r_ref, 1e-6, "r")
    # z1: the VAE(β1, η_dec)'s noise fraction q1, its scale E z1² = η_dec²/r
    ref = cf.vae_learnable(th.ravel(), flat(b1), flat(ed), flat(ed))
    close(t["lambda"][:, 0], ref["lambda"] / np.sqrt(r_ref), 1e-5, "λ1")
    assert ((r_ref < 1) & (t["lambda"][:, 1] > 0)).any() and (r_ref == 1).any()


def test_total_loss_equals_the_closed_form_optimum_theorem3():
    """Through `predict`: the numerical Prediction (forced) and the closed form agree on the
    optimal loss of the full model and on every mode."""
    rng = np.random.default_rng(40)
    for _ in range(5):
        A, theta = random_A(rng, 6)
        st = stats_of(A)
        hp = dict(beta1=rng.uniform(0.5, 2), beta2=rng.uniform(0.5, 2), eta_enc=1.0,
                  eta_dec=rng.uniform(0.3, 1), sigma1=rng.uniform(0.2, 0.8))
        cf_pred = solve(st, 4, **hp)
        num = predict_hierarchy(st, make_hierarchy(2, [hp["beta1"], hp["beta2"]], 4,
                                                       [hp["sigma1"], None], "markov",
                                                       hp["eta_enc"], hp["eta_dec"]))
        assert num.solver == "numerical" and cf_pred.solver == "closed-form"
        assert num.optimal_loss == pytest.approx(cf_pred.optimal_loss, rel=RTOL)
        assert np.array_equal(num.modes["collapsed"], cf_pred.modes["collapsed"])
        close(num.modes["critical_beta2"], cf_pred.modes["critical_beta2"], 1e-6, "critical β2")


# ---------------------------------------------------------------- reduced vs full matrices

FULL_CASES = [
    (2, [0.5, 1.0], [None, None], "markov", [2, 2]),
    (2, [1.0, 0.7], [None, 0.6], "markov", [2, 2]),
    (3, [0.6, 1.0, 0.8], [None, 0.7, None], "markov", [2, 2, 1]),
    (2, [0.8, 0.6], [0.5, None], "ladder", [2, 2]),
    (3, [0.4, 0.9, 1.5], [None, None, None], "ladder", [2, 2, 1]),
]


@pytest.mark.parametrize("case", FULL_CASES[:3] + FULL_CASES[3:], ids=lambda c: f"{c[0]}{c[3]}")
def test_reduced_solve_equals_the_full_matrix_solve(case):
    L, b, s, inference, dims = case
    rng = np.random.default_rng(50 + L)
    As = np.stack([random_A(rng, 3)[0] for _ in range(2)])
    h = make_hierarchy(L, b, dims, s, inference, 0.9, 0.8)
    full, _ = solve_full(As, h, starts=4)
    for A, f in zip(As, full, strict=True):
        st = stats_of(A)
        red = solve_modes(st.theta, h)
        assembled = full_loss(weights_from_modes(red, st.basis), A, h)
        assert red.loss == pytest.approx(assembled, rel=1e-10)
        assert red.loss <= f + RTOL * abs(f)  # the full solve finds nothing lower …
        assert red.loss == pytest.approx(f, rel=RTOL)  # … and the reduction reaches it


# ---------------------------------------------------------------- boundedness


def test_unbounded_path_when_beta1_exceeds_beta2():
    """docs §2: σ1 = 1/ε, W2 = εI, σ2 = ε, U2 = I/ε, U1 = W1 = 0 — the loss falls by
    2(β1 − β2)η_dec² log(1/ε) per mode."""
    rng = np.random.default_rng(60)
    A, _ = random_A(rng, 4)
    d, b1, b2, ee, ed = 2, 1.5, 1.0, 0.8, 0.7
    vals = []
    for eps in (1e-2, 1e-4):
        I = np.eye(d)
        vals.append(float(mhvae_loss(np.zeros((d, 4)), eps * I, np.zeros((4, d)), I / eps,
                                     np.full(d, 1 / eps), np.full(d, eps), A, b1, b2, ee, ed)))
    slope = (vals[0] - vals[1]) / np.log(1e-2 / 1e-4)
    assert slope == pytest.approx(2 * (b1 - b2) * ed**2 * d, rel=1e-3)


@pytest.mark.parametrize("betas,sigmas,bounded", [
    ([1.0, 2.0], [None, None], True),
    ([2.0, 1.0], [None, None], False),
    ([2.0, 1.0], [None, 0.5], True),
    ([2.0, 1.0], [0.5, None], True),
    ([1.0, 1.0], [None, None], True),
    ([2.0, 3.0, 1.0], [None, 0.4, None], False),  # learnable levels 1 and 3 decrease
    ([2.0, 1.0, 3.0], [None, 0.4, None], True),
])
def test_boundedness_condition(betas, sigmas, bounded):
    h = make_hierarchy(len(betas), betas, 2, sigmas, "markov", 1.0, 1.0)
    assert boundedness(h)[0] is bounded


def test_predict_refuses_unbounded_and_flags_flat():
    st = stats_of(random_A(np.random.default_rng(61), 4)[0])
    with pytest.raises(UnboundedError, match="unbounded below"):
        solve(st, 2, beta1=2.0, beta2=1.0)
    pred = solve(st, 2, beta1=1.0, beta2=1.0)
    assert pred.bounded and any("not unique" in n for n in pred.notes)


# ---------------------------------------------------------------- critical values


def test_critical_beta2_both_learnable_is_beta1():
    st = stats_of(random_A(np.random.default_rng(70), 5)[0])
    pred = solve(st, 3, beta1=0.6, beta2=1.5)
    close(pred.modes["critical_beta2"], np.full(3, 0.6), 1e-8, "critical β2")
    assert pred.next_collapse() is None and pred.n_collapsed == 3


@pytest.mark.slow
def test_critical_beta_of_a_deeper_level_by_bisection_agrees():
    st = stats_of(random_A(np.random.default_rng(71), 4)[0])
    h = make_hierarchy(3, [0.5, 0.8, 1.0], 2, [0.5, None, None], "markov", 1.0, 0.8)
    sol = solve_modes(st.theta, h)
    cont = critical_top_beta(sol, check=False)
    bis = critical_values(sol, "beta3").value
    close(cont, bis, 1e-5, "critical β3")
