"""Exact population losses of the linear models, written from raw second moments (docs/theory.md).

Each loss is (negative β-ELBO) × 2η_dec², averaged over the data, additive constants dropped;
it depends on the data only through A = E[xxᵀ] (and B = E[yyᵀ], C = E[xyᵀ] for the CVAE), so it
is exact, not a Monte-Carlo estimate. Written in torch (float64) so that the numerical minimiser
can differentiate them; numpy inputs are accepted and converted. Encoder variances enter as
standard deviations σ (Σ = diag σ²).

Every function also accepts leading batch dimensions on all arrays (instances or random starts
evaluated at once) and hyperparameters that are tensors of the batch shape; it then returns one
loss per batch element.
"""

from __future__ import annotations

import numpy as np
import torch

Tensor = torch.Tensor


def as_tensor(a) -> Tensor:
    """float64 tensor view of a numpy array, tensor or scalar."""
    if isinstance(a, Tensor):
        return a.to(torch.float64)
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _hp(v) -> Tensor | float:
    """A hyperparameter: a float, or a float64 tensor with the batch shape."""
    return v if isinstance(v, float | int) else as_tensor(v)


def _sum2(M: Tensor) -> Tensor:
    """Sum over the last two (matrix) dimensions."""
    return M.sum((-2, -1))


def _trace(M: Tensor) -> Tensor:
    return torch.diagonal(M, dim1=-2, dim2=-1).sum(-1)


def _quad(M: Tensor, S: Tensor) -> Tensor:
    """tr(M S Mᵀ)."""
    return _sum2((M @ S) * M)


def _noise(U: Tensor, s2: Tensor) -> Tensor:
    """tr(U diag(s2) Uᵀ)."""
    return _sum2(U**2 * s2.unsqueeze(-2))


def _eye(n: int) -> Tensor:
    return torch.eye(n, dtype=torch.float64)


def _recon(U: Tensor, W: Tensor, A: Tensor) -> Tensor:
    """E‖UWx − x‖² = tr A − 2 tr(WAU) + tr(UᵀU · WAWᵀ), without forming the d0×d0 product UW."""
    WA = W @ A
    return _trace(A) - 2 * _sum2(WA * U.mT) + _sum2((U.mT @ U) * (WA @ W.mT))


def vae_loss(W, U, sigma, A, beta, eta_enc, eta_dec) -> Tensor:
    """L(W,U,Σ) = E‖UWx − x‖² + tr(UΣUᵀ) + βc²(E‖Wx‖² + tr Σ) − βη_dec² log|Σ|  (docs/theory.md §2)."""
    W, U, sigma, A = (as_tensor(v) for v in (W, U, sigma, A))
    beta, eta_enc, eta_dec = _hp(beta), _hp(eta_enc), _hp(eta_dec)
    c2 = (eta_dec / eta_enc) ** 2
    s2 = sigma**2
    return (_recon(U, W, A) + _noise(U, s2)
            + beta * c2 * (_quad(W, A) + s2.sum(-1))
            - beta * eta_dec**2 * torch.log(s2).sum(-1))


def cvae_loss(W1, W2, U1, U2, sigma, A, B, C, beta, eta_enc, eta_dec) -> Tensor:
    """Theorem 2's objective:
    L = E‖U1(W1x + W2y) + U2x − y‖² + tr(U1ΣU1ᵀ) + βc²(E‖W1x + W2y‖² + tr Σ) − βη_dec² log|Σ|,
    with E[xxᵀ] = A, E[yyᵀ] = B, E[xyᵀ] = C."""
    W1, W2, U1, U2, sigma, A, B, C = (as_tensor(v) for v in (W1, W2, U1, U2, sigma, A, B, C))
    beta, eta_enc, eta_dec = _hp(beta), _hp(eta_enc), _hp(eta_dec)
    c2 = (eta_dec / eta_enc) ** 2
    s2 = sigma**2
    P = U1 @ W1 + U2
    Q = U1 @ W2 - _eye(B.shape[-1])
    recon = _quad(P, A) + 2 * _sum2((P @ C) * Q) + _quad(Q, B)
    mean_sq = _quad(W1, A) + 2 * _sum2((W1 @ C) * W2) + _quad(W2, B)
    return (recon + _noise(U1, s2) + beta * c2 * (mean_sq + s2.sum(-1))
            - beta * eta_dec**2 * torch.log(s2).sum(-1))


def mhvae_loss(W1, W2, U1, U2, sigma1, sigma2, A, beta1, beta2, eta_enc, eta_dec) -> Tensor:
    """Theorem 3/5's objective (docs/theory.md §4), with M := E[z1 z1ᵀ] = W1AW1ᵀ + Σ1:
    L = E‖U1W1x − x‖² + tr(U1Σ1U1ᵀ) + β1[tr((U2W2 − I) M (U2W2 − I)ᵀ) + tr(U2Σ2U2ᵀ)]
        + β2c²[tr(W2 M W2ᵀ) + tr Σ2] − β1η_dec² log|Σ1| − β2η_dec² log|Σ2|."""
    W1, W2, U1, U2, sigma1, sigma2, A = (
        as_tensor(v) for v in (W1, W2, U1, U2, sigma1, sigma2, A))
    beta1, beta2, eta_enc, eta_dec = _hp(beta1), _hp(beta2), _hp(eta_enc), _hp(eta_dec)
    c2 = (eta_dec / eta_enc) ** 2
    s1, s2 = sigma1**2, sigma2**2
    M = W1 @ A @ W1.mT + torch.diag_embed(s1)
    R = U2 @ W2 - _eye(U2.shape[-1])
    return (_recon(U1, W1, A) + _noise(U1, s1)
            + beta1 * (_quad(R, M) + _noise(U2, s2))
            + beta2 * c2 * (_quad(W2, M) + s2.sum(-1))
            - beta1 * eta_dec**2 * torch.log(s1).sum(-1)
            - beta2 * eta_dec**2 * torch.log(s2).sum(-1))


def hierarchy_loss(W, V, U, sigma, A, betas, eta_enc, eta_dec) -> Tensor:
    """L-level linear hierarchical VAE, Markov or ladder inference (docs/numerical-theory.md §3).

    Inference: z_1 = W_1 x + ε_1 and z_l = W_l z_{l−1} + V_l x + ε_l (l ≥ 2; ``V[l] = None`` or
    ``V = None`` for the Markov chain), ε_l ~ N(0, Σ_l = diag σ_l²). Generation:
    p(z_L) = N(0, η_enc² I), p(z_l | z_{l+1}) = N(U_{l+1} z_{l+1}, η_dec² I), p(x | z_1) =
    N(U_1 z_1, η_dec² I). With the second moments under q (M_ab = E[z_a z_bᵀ], X_a = E[z_a xᵀ])

        L = E‖U_1 z_1 − x‖² + Σ_{l<L} β_l E‖z_l − U_{l+1} z_{l+1}‖² + β_L c² E‖z_L‖²
            − Σ_l β_l η_dec² log|Σ_l|,

    (negative β-ELBO) × 2η_dec², constants dropped; L = 2 Markov is :func:`mhvae_loss`.
    Lists are indexed from 0 (``W[0]`` = W_1). ``U = None`` (or an entry None) profiles that
    decoder out at its optimum, the regression of the level below on z_l: E‖a − U b‖² becomes
    tr E[aaᵀ] − tr(E[bbᵀ]⁻¹ E[ba ᵀ] E[abᵀ]). Batch dimensions lead, as elsewhere."""
    L = len(W)
    W = [as_tensor(w) for w in W]
    V = [None] * L if V is None else [None if v is None else as_tensor(v) for v in V]
    U = [None] * L if U is None else [None if u is None else as_tensor(u) for u in U]
    s2 = [as_tensor(s) ** 2 for s in sigma]
    A = as_tensor(A)
    betas = [_hp(b) for b in betas]
    eta_enc, eta_dec = _hp(eta_enc), _hp(eta_dec)
    c2 = (eta_dec / eta_enc) ** 2

    def fit(aa, ba, bb, Ub):
        """min_U E‖a − U b‖² (U = None) or its value at U, from E[aaᵀ] (trace), E[baᵀ], E[bbᵀ]."""
        if Ub is None:
            return aa - _trace(torch.linalg.solve(bb, ba @ ba.mT))
        return aa - 2 * _trace(Ub @ ba) + _quad(Ub, bb)

    X = W[0] @ A  # E[z_1 xᵀ]
    M = X @ W[0].mT + torch.diag_embed(s2[0])  # E[z_1 z_1ᵀ]
    if U[0] is None:
        total = fit(_trace(A), X, M, None)
    else:
        total = _recon(U[0], W[0], A) + _noise(U[0], s2[0])
    for k in range(1, L):
        Wk, Vk = W[k], V[k]
        C = Wk @ M  # E[z_k z_{k−1}ᵀ]
        Xk = Wk @ X
        Mk = C @ Wk.mT + torch.diag_embed(s2[k])
        if Vk is not None:
            C = C + Vk @ X.mT  # + E[V_k x z_{k−1}ᵀ]
            Xk = Xk + Vk @ A
            cross = Wk @ X @ Vk.mT
            Mk = Mk + cross + cross.mT + Vk @ A @ Vk.mT
        total = total + betas[k - 1] * fit(_trace(M), C, Mk, U[k])
        X, M = Xk, Mk
    total = total + betas[-1] * c2 * _trace(M)
    for k in range(L):
        total = total - betas[k] * eta_dec**2 * torch.log(s2[k]).sum(-1)
    return total
