"""Closed-form predictions: per-mode tables, full optimal weights and the optimal loss.

``statistics(x, y, model)`` computes the data statistics once (the only O(n) step);
``solve(stats, latent_dim, **hyperparameters)`` then evaluates the closed form in microseconds
to milliseconds, which is what sweeps over β or η_dec reuse.

Collapse is judged on the optimum itself: a mode is *collapsed* when its posterior equals the
prior for every input — VAE/CVAE: λ_i = 0 and σ_i = η_enc; MHVAE z2: ω_i = 0 (so W2's row is 0)
and σ2_i = η_enc; MHVAE z1: λ_i = ω_i = 0 and σ1 = η_dec (q(z1|x) = p(z1|z2) = N(0, η_dec²)).
*Critical* β (β2 for the MHVAE) and η_dec are the values at and beyond which the mode collapses,
with the other hyperparameters held; NaN (JSON null) when no finite value exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vaecollapse.config import HYPERPARAMETERS
from vaecollapse.errors import HyperparameterError, check_cvae_target
from vaecollapse.limits import LATENT_DIM, WEIGHT, check
from vaecollapse.theory import closed_form as cf
from vaecollapse.theory.mode_loss import mhvae_mode_loss, vae_mode_loss
from vaecollapse.theory.stats import (
    CvaeStatistics,
    Moments,
    VaeStatistics,
    cvae_statistics,
    second_moments,
    vae_statistics,
)

MODELS = ("vae", "cvae", "mhvae")
# sweepable hyperparameter -> models it applies to
SWEEPABLE = {"beta": ("vae", "cvae"), "beta1": ("mhvae",), "beta2": ("mhvae",),
             "eta_dec": MODELS, "eta_enc": MODELS}


@dataclass(frozen=True)
class Statistics:
    """What the closed forms need from the data: θ (VAE/MHVAE: √eig A, std scale; CVAE: eig E,
    variance scale), their eigenvectors, the moments, and for the CVAE the regression K = CᵀA⁺."""

    model: str
    moments: Moments
    theta: np.ndarray
    basis: np.ndarray
    rank: int
    K: np.ndarray | None = None
    rank_x: int | None = None


def statistics(x, y=None, *, model: str, centre: bool = False,
               rcond: float | None = None) -> Statistics:
    """Second moments (float64, uncentred unless ``centre``) and θ for ``model``."""
    _check_model(model)
    if model == "cvae":
        check_cvae_target(model, y is not None)
        m = second_moments(x, y, centre=centre)
        s: CvaeStatistics = cvae_statistics(m.A, m.B, m.C, rcond)
        return Statistics(model, m, s.theta, s.Q, s.rank, K=s.K, rank_x=s.rank_x)
    m = second_moments(x, centre=centre)
    v: VaeStatistics = vae_statistics(m.A, rcond)
    return Statistics(model, m, v.theta, v.P, v.rank)


@dataclass
class Prediction:
    """The closed-form global optimum of one linear model for one set of hyperparameters.

    ``modes`` holds per-mode arrays (mode i = i-th largest θ), ``weights`` the optimal matrices
    (latent coordinates as trained, i.e. with Theorem 1's σ pairing applied), ``optimal_loss`` the
    exact population loss at the optimum ((negative β-ELBO) × 2η_dec², constants dropped).
    ``threshold`` is the per-mode θ below which the mode collapses (None where no such θ exists).
    """

    model: str
    theorem: str
    hyperparameters: dict[str, Any]
    theta: np.ndarray
    modes: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    optimal_loss: float
    rank: int
    threshold: np.ndarray | None = None
    threshold_label: str = ""
    notes: list[str] = field(default_factory=list)
    # "closed-form" or "numerical" (docs/numerical-theory.md); numerical settings may be
    # unbounded below (then no Prediction exists: see theory.hierarchy.UnboundedError).
    solver: str = "closed-form"
    bounded: bool = True
    critical: str | None = None  # critical parameter when not β / β2 (e.g. "beta3")
    levels: int | None = None  # latent levels of a numerical hierarchical setting

    @property
    def latent_dim(self) -> int:
        return int(self.theta.shape[0])

    @property
    def n_collapsed(self) -> int:
        """Modes whose posterior equals the prior (MHVAE: z2 modes)."""
        return int(np.sum(self.modes["collapsed"]))

    @property
    def critical_parameter(self) -> str:
        if self.critical:
            return self.critical
        return "beta2" if self.model == "mhvae" else "beta"

    def next_collapse(self, parameter: str | None = None) -> float | None:
        """Smallest critical value above the current one among modes not yet collapsed."""
        parameter = parameter or self.critical_parameter
        crit = self.modes[f"critical_{parameter}"]
        current = self.hyperparameters[parameter]
        ok = ~self.modes["collapsed"] & np.isfinite(crit) & (crit > current)
        return float(np.min(crit[ok])) if ok.any() else None


# ---------------------------------------------------------------- validation


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise HyperparameterError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")


def _positive(name: str, value) -> float:
    try:
        if isinstance(value, bool | np.bool_):
            raise TypeError
        v = float(value)
    except (TypeError, ValueError):
        raise HyperparameterError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise HyperparameterError(f"{name} must be a finite number > 0, got {value!r}")
    return float(check(name, v, WEIGHT))


def _sigma_vector(name: str, sigma, latent_dim: int) -> np.ndarray:
    try:
        s = np.atleast_1d(np.asarray(sigma, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        raise HyperparameterError(f"{name} (an encoder standard deviation) must be numbers, "
                                  f"got {sigma!r}") from None
    if s.size not in (1, latent_dim):
        raise HyperparameterError(
            f"{name} takes one value or one per latent dimension ({latent_dim}), got {s.size}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise HyperparameterError(f"{name} (an encoder standard deviation) must be > 0 and finite")
    for v in s:
        check(name, float(v), WEIGHT)
    return np.broadcast_to(s, (latent_dim,)).copy()


def _latent_dim(latent_dim) -> int:
    ok = (isinstance(latent_dim, int | np.integer | float | np.floating)
          and not isinstance(latent_dim, bool) and np.isfinite(latent_dim)
          and latent_dim == int(latent_dim) and latent_dim >= 1)
    if not ok:
        raise HyperparameterError(f"latent_dim must be a whole number >= 1, got {latent_dim!r}")
    return int(check("latent_dim", int(latent_dim), LATENT_DIM))


ACCEPTED = {family: cls.names() for family, cls in HYPERPARAMETERS.items()}  # vaecollapse.config
# Numerical theory of hierarchies (theory/hierarchy.py): more levels, ladder inference,
# per-level sizes, variances and β's; sigma1=None there means a learnable Σ1.
HIERARCHY_ACCEPTED = ("levels", "betas", "latent_dims", "inference", "sigmas", "critical",
                      "beta3", "beta4", "beta5", "sigma3", "sigma4", "sigma5")


def _check_names(model: str, hyperparameters: dict) -> None:
    accepted = set(ACCEPTED[model]) | (set(HIERARCHY_ACCEPTED) if model == "mhvae" else set())
    unknown = sorted(set(hyperparameters) - accepted)
    if unknown:
        raise HyperparameterError(
            f"the {model.upper()} does not take {', '.join(unknown)}; it takes "
            f"{', '.join(ACCEPTED[model])}")


def _top(values: np.ndarray, d: int) -> np.ndarray:
    """First d entries, zero-padded when d exceeds the data dimension."""
    out = np.zeros(d)
    k = min(d, values.shape[0])
    out[:k] = values[:k]
    return out


def _top_columns(basis: np.ndarray, d: int) -> np.ndarray:
    out = np.zeros((basis.shape[0], d))
    k = min(d, basis.shape[1])
    out[:, :k] = basis[:, :k]
    return out


def _present(basis: np.ndarray) -> np.ndarray:
    """‖column‖² of a ``_top_columns`` basis: 1 for an eigenvector, 0 for zero padding."""
    return np.square(basis).sum(0)


def _kl_gauss(mean_sq, var, prior_var) -> np.ndarray:
    """E KL(N(m, s²) ‖ N(0, v)) = ½[(E m² + s²)/v − 1 − log(s²/v)], per dimension."""
    return 0.5 * ((mean_sq + var) / prior_var - 1.0 - np.log(var / prior_var))


# ---------------------------------------------------------------- solvers


def solve(stats: Statistics, latent_dim: int, **hyperparameters) -> Prediction:
    """Closed-form optimum for ``stats.model``; hyperparameters as in :func:`predict`."""
    _check_names(stats.model, hyperparameters)
    if stats.model == "mhvae" and needs_numerical(hyperparameters):
        return solve_numerical(stats, latent_dim, **hyperparameters)
    if stats.model == "vae":
        return solve_vae(stats, latent_dim, **hyperparameters)
    if stats.model == "cvae":
        return solve_cvae(stats, latent_dim, **hyperparameters)
    return solve_mhvae(stats, latent_dim, **hyperparameters)


def _check_vae_hp(latent_dim, beta, eta_enc, eta_dec, sigma):
    """Validated (d, β, η_enc, η_dec, σ vector or None) of the VAE and CVAE."""
    d = _latent_dim(latent_dim)
    beta, eta_enc, eta_dec = (_positive(n, v) for n, v in
                              (("beta", beta), ("eta_enc", eta_enc), ("eta_dec", eta_dec)))
    return d, beta, eta_enc, eta_dec, None if sigma is None else _sigma_vector("sigma", sigma, d)


def _vae_hp_record(d, beta, eta_enc, eta_dec, sig) -> dict[str, Any]:
    return {"latent_dim": d, "beta": beta, "eta_enc": eta_enc, "eta_dec": eta_dec,
            "sigma": None if sig is None else sig.tolist()}


def _to_latent_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Per-mode values placed at the latent coordinates that carry the modes."""
    out = np.empty_like(values)
    out[order] = values
    return out


def _vae_modes(theta_v: np.ndarray, beta: float, eta_enc: float, eta_dec: float,
               sigma: np.ndarray | None):
    """Per-mode VAE table on std-scale θ, shared by the VAE and the CVAE (a VAE on y − Kx).
    Returns (modes, latent order, theorem-independent threshold on θ_v)."""
    d = theta_v.shape[0]
    if sigma is None:
        modes = cf.vae_learnable(theta_v, beta, eta_enc, eta_dec)
        order = np.arange(d)
        collapse_possible = np.ones(d, dtype=bool)
        threshold = np.full(d, np.sqrt(beta) * eta_dec)
    else:
        order = cf.pair_fixed_sigma(sigma)
        s = sigma[order]
        modes = cf.vae_fixed(theta_v, s, beta, eta_enc, eta_dec)
        collapse_possible = np.isclose(s, eta_enc, rtol=1e-12, atol=0.0)
        threshold = np.sqrt(beta) * (eta_dec / eta_enc) * s
    modes["collapsed"] = (modes["lambda"] == 0) & (
        np.isclose(modes["sigma"], eta_enc, rtol=1e-12, atol=0.0))
    modes["kl"] = _kl_gauss(modes["lambda"] ** 2, modes["sigma"] ** 2, eta_enc**2)
    # Collapse iff θ_v ≤ √β η_dec (learnable, or fixed σ = η_enc); never otherwise.
    modes["critical_beta"] = np.where(collapse_possible, theta_v**2 / eta_dec**2, np.nan)
    modes["critical_eta_dec"] = np.where(collapse_possible, theta_v / np.sqrt(beta), np.nan)
    return modes, order, threshold


def solve_vae(stats: Statistics, latent_dim: int, *, beta: float = 1.0, eta_enc: float = 1.0,
              eta_dec: float = 1.0, sigma=None) -> Prediction:
    """Linear VAE: learnable Σ (theory §2a) or fixed Σ (Theorem 1)."""
    d, beta, eta_enc, eta_dec, sig = _check_vae_hp(latent_dim, beta, eta_enc, eta_dec, sigma)
    theta = _top(stats.theta, d)
    modes, order, threshold = _vae_modes(theta, beta, eta_enc, eta_dec, sig)
    P = _top_columns(stats.basis, d)
    W = np.zeros((d, P.shape[0]))
    U = np.zeros((P.shape[0], d))
    safe = np.where(theta > 0, theta, 1.0)
    W[order] = (modes["lambda"] / safe)[:, None] * P.T
    U[:, order] = P * modes["omega"]
    sigma_latent = _to_latent_order(modes["sigma"], order)
    loss = vae_mode_loss(np.trace(stats.moments.A), theta, modes["lambda"], modes["omega"],
                         modes["sigma"], _present(P), beta, eta_enc, eta_dec)
    modes["latent_index"] = order
    hp = _vae_hp_record(d, beta, eta_enc, eta_dec, sig)
    theorem = ("linear VAE, learnable encoder variance (theory §2a)" if sig is None
               else "linear VAE, fixed encoder variance (Theorem 1)")
    label = "√β·η_dec" if sig is None else "√β·c·σ_i (λ_i = 0 below)"
    return Prediction("vae", theorem, hp, theta, modes, {"W": W, "U": U, "sigma": sigma_latent},
                      loss, stats.rank, threshold, label)


def solve_cvae(stats: Statistics, latent_dim: int, *, beta: float = 1.0, eta_enc: float = 1.0,
               eta_dec: float = 1.0, sigma=None) -> Prediction:
    """Linear CVAE (Theorem 2, corrected σ switch θ ≥ βη_dec²): a linear VAE on the residual
    y − Kx with K = CᵀA⁺, so θ_vae = √θ_cvae; U2 = K, W1 = −W2 K. A fixed ``sigma`` applies
    Theorem 1 to that residual VAE."""
    d, beta, eta_enc, eta_dec, sig = _check_vae_hp(latent_dim, beta, eta_enc, eta_dec, sigma)
    theta = _top(stats.theta, d)
    theta_v = np.sqrt(theta)
    modes, order, threshold = _vae_modes(theta_v, beta, eta_enc, eta_dec, sig)
    Q = _top_columns(stats.basis, d)
    K = stats.K
    W2 = np.zeros((d, Q.shape[0]))
    U1 = np.zeros((Q.shape[0], d))
    safe = np.where(theta_v > 0, theta_v, 1.0)
    W2[order] = (modes["lambda"] / safe)[:, None] * Q.T
    U1[:, order] = Q * modes["omega"]
    W1 = -W2 @ K
    sigma_latent = _to_latent_order(modes["sigma"], order)
    m = stats.moments
    trace_e = np.trace(m.B) - np.sum(K * m.C.T)  # tr E = tr(B − K C)
    loss = vae_mode_loss(trace_e, theta_v, modes["lambda"], modes["omega"], modes["sigma"],
                         _present(Q), beta, eta_enc, eta_dec)
    modes["latent_index"] = order
    hp = _vae_hp_record(d, beta, eta_enc, eta_dec, sig)
    theorem = ("linear CVAE, learnable encoder variance (Theorem 2)" if sig is None
               else "linear CVAE, fixed encoder variance (Theorem 1 on the residual y − Kx)")
    label = "β·η_dec²" if sig is None else "β·c²·σ_i² (λ_i = 0 below)"
    return Prediction("cvae", theorem, hp, theta, modes,
                      {"W1": W1, "W2": W2, "U1": U1, "U2": K.copy(), "sigma": sigma_latent},
                      loss, stats.rank, threshold**2, label)


def solve_mhvae(stats: Statistics, latent_dim: int, *, beta1: float = 1.0, beta2: float = 1.0,
                eta_enc: float = 1.0, eta_dec: float = 1.0, sigma1=None,
                sigma2=None) -> Prediction:
    """Two-latent MHVAE, d1 = d2: Σ1 = σ1²I fixed with Σ2 learnable (Theorem 3) or both fixed
    (Theorem 5, corrected). U1 and W2 are the conditional optima given the other blocks:
    U1 = A W1ᵀ (W1AW1ᵀ + Σ1)⁻¹ and W2 = β1 (β1 U2ᵀU2 + β2c² I)⁻¹ U2ᵀ."""
    d = _latent_dim(latent_dim)
    beta1, beta2, eta_enc, eta_dec = (
        _positive(n, v) for n, v in (("beta1", beta1), ("beta2", beta2), ("eta_enc", eta_enc),
                                     ("eta_dec", eta_dec)))
    if sigma1 is None:
        raise HyperparameterError(
            "the MHVAE closed forms need a fixed z1 encoder std: pass sigma1 (e.g. 0.5); a "
            "learnable Σ1 has no closed form (see theory.md §5)")
    s1 = _sigma_vector("sigma1", sigma1, d)
    if not np.allclose(s1, s1[0], rtol=1e-12, atol=0):
        raise HyperparameterError("the MHVAE closed forms take one sigma1 for all dimensions")
    s1 = float(s1[0])
    s2 = None
    if sigma2 is not None:
        s2v = _sigma_vector("sigma2", sigma2, d)
        if not np.allclose(s2v, s2v[0], rtol=1e-12, atol=0):
            raise HyperparameterError("the MHVAE closed forms take one sigma2 for all dimensions")
        s2 = float(s2v[0])
    theta = _top(stats.theta, d)
    c2 = (eta_dec / eta_enc) ** 2

    def modes_at(b2, ed):
        if s2 is None:
            return cf.mhvae_sigma1_fixed(theta, beta1, b2, eta_enc, ed, s1)
        return cf.mhvae_both_fixed(theta, beta1, b2, eta_enc, ed, s1, s2)

    def collapsed_z2(m):
        return (m["omega"] == 0) & np.isclose(m["sigma2"], eta_enc, rtol=1e-12, atol=0.0)

    modes = modes_at(beta2, eta_dec)
    modes["sigma"] = np.full(d, s1)
    modes["collapsed_z2"] = collapsed_z2(modes)
    modes["collapsed_z1"] = ((modes["lambda"] == 0) & (modes["omega"] == 0)
                             & bool(np.isclose(s1, eta_dec, rtol=1e-12, atol=0.0)))
    modes["collapsed"] = modes["collapsed_z2"]
    if s2 is None:
        # Theorem 3: z2 collapses iff σ1² < (β2/β1)η_dec² and θ < β2η_dec²/(√β1 σ1).
        modes["critical_beta2"] = np.maximum(beta1 * s1**2, theta * np.sqrt(beta1) * s1) / eta_dec**2
        modes["critical_eta_dec"] = np.sqrt(
            np.maximum(beta1 * s1**2, theta * np.sqrt(beta1) * s1) / beta2)
        case_b = s1**2 < (beta2 / beta1) * eta_dec**2
        threshold = np.full(d, beta2 * eta_dec**2 / (np.sqrt(beta1) * s1)) if case_b else None
        theorem = "linear MHVAE, Σ1 fixed, Σ2 learnable (Theorem 3)"
    else:
        modes["critical_beta2"] = cf.bisect_critical(
            lambda v: collapsed_z2(modes_at(v, eta_dec)), shape=(d,))
        modes["critical_eta_dec"] = cf.bisect_critical(
            lambda v: collapsed_z2(modes_at(beta2, v)), shape=(d,))
        threshold = None
        theorem = "linear MHVAE, Σ1 and Σ2 fixed (Theorem 5, corrected threshold)"
    modes["critical_beta"] = np.full(d, np.nan)

    P = _top_columns(stats.basis, d)
    A = stats.moments.A
    safe = np.where(theta > 0, theta, 1.0)
    W1 = (modes["lambda"] / safe)[:, None] * P.T
    U2 = np.diag(modes["omega"])
    Sigma1 = np.full(d, s1)
    Sigma2 = modes["sigma2"]
    M = W1 @ A @ W1.T + np.diag(Sigma1**2)  # E[z1 z1ᵀ]
    U1 = np.linalg.solve(M, W1 @ A).T  # A W1ᵀ M⁻¹ (M symmetric)
    W2 = beta1 * np.linalg.solve(beta1 * U2.T @ U2 + beta2 * c2 * np.eye(d), U2.T)
    R = np.eye(d) - U2 @ W2
    mean_sq_z2 = np.diag(W2 @ M @ W2.T)
    modes["kl"] = _kl_gauss(mean_sq_z2, Sigma2**2, eta_enc**2)
    # β1 term per mode: E[log q(z1|x) − log p(z1|z2)] = ½[E(z1 − U2 z2)²/η_dec² − 1 − log(σ1²/η_dec²)]
    resid = np.diag(R @ M @ R.T) + np.diag(U2 @ np.diag(Sigma2**2) @ U2.T)
    modes["kl_z1"] = _kl_gauss(resid - Sigma1**2, Sigma1**2, eta_dec**2)
    loss = mhvae_mode_loss(np.trace(A), theta, modes["lambda"], modes["omega"], s1, Sigma2,
                           _present(P), beta1, beta2, eta_enc, eta_dec)
    modes["latent_index"] = np.arange(d)
    hp = {"latent_dim": d, "beta1": beta1, "beta2": beta2, "eta_enc": eta_enc,
          "eta_dec": eta_dec, "sigma1": s1, "sigma2": s2}
    weights = {"W1": W1, "W2": W2, "U1": U1, "U2": U2, "sigma1": Sigma1, "sigma2": Sigma2}
    return Prediction("mhvae", theorem, hp, theta, modes, weights, loss, stats.rank, threshold,
                      "β2·η_dec²/(√β1·σ1)" if threshold is not None else "")


def needs_numerical(hp: dict) -> bool:
    """MHVAE settings without a closed form: Σ1 learnable (no sigma1), more than two levels,
    ladder inference, unequal latent sizes or per-level lists."""
    if any(hp.get(k) is not None for k in ("betas", "latent_dims", "sigmas")):
        return True
    if any(hp.get(k) is not None for k in HIERARCHY_ACCEPTED[6:]):
        return True
    return (hp.get("sigma1") is None or int(hp.get("levels") or 2) != 2
            or (hp.get("inference") or "markov") != "markov")


def hierarchy_setting(latent_dim, *, levels=None, betas=None, latent_dims=None,
                      inference=None, sigmas=None, eta_enc=1.0, eta_dec=1.0, **per_level):
    """The :class:`~vaecollapse.theory.hierarchy.Hierarchy` named by MHVAE-style
    hyperparameters: ``betas``/``sigmas``/``latent_dims`` lists (one value broadcasts), overridden
    per level by beta<l> / sigma<l> (sigma<l> = None: learnable)."""
    from vaecollapse.theory.hierarchy import make_hierarchy

    L = 2 if levels is None else levels
    if isinstance(L, float) and L.is_integer():
        L = int(L)
    if not isinstance(L, int) or isinstance(L, bool) or not 1 <= L <= 5:
        raise HyperparameterError(f"levels must be a whole number from 1 to 5, got {levels!r}")
    b = list(betas) if betas is not None else [1.0] * L
    s = list(sigmas) if sigmas is not None else [None] * L
    if len(b) == 1:
        b = b * L
    if len(s) == 1:
        s = s * L
    for k in range(1, 6):
        if per_level.get(f"beta{k}") is not None:
            if k > L or k > len(b):
                raise HyperparameterError(f"beta{k} given but the hierarchy has {L} levels")
            b[k - 1] = per_level[f"beta{k}"]
        if per_level.get(f"sigma{k}") is not None:
            if k > L or k > len(s):
                raise HyperparameterError(f"sigma{k} given but the hierarchy has {L} levels")
            s[k - 1] = per_level[f"sigma{k}"]
    dims = latent_dims if latent_dims is not None else [_latent_dim(latent_dim)]
    return make_hierarchy(L, b, dims, s, inference or "markov", _positive("eta_enc", eta_enc),
                          _positive("eta_dec", eta_dec))


def solve_numerical(stats: Statistics, latent_dim: int, *, critical: bool = True,
                    **hyperparameters) -> Prediction:
    """Numerical theory (theory/hierarchy.py) for MHVAE settings without a closed form."""
    from vaecollapse.theory.hierarchy import predict_hierarchy

    return predict_hierarchy(stats, hierarchy_setting(latent_dim, **hyperparameters),
                             critical=critical)


def predict(x, y=None, *, model: str, latent_dim: int, centre: bool = False,
            **hyperparameters) -> Prediction:
    """Closed-form prediction from data arrays: ``statistics`` then ``solve``.

    VAE/CVAE hyperparameters: beta, eta_enc, eta_dec, sigma (fixed encoder std, one value or one
    per latent dimension; None = learnable). MHVAE: beta1, beta2, eta_enc, eta_dec, sigma1
    (required), sigma2 (None = learnable).
    """
    return solve(statistics(x, y, model=model, centre=centre), latent_dim, **hyperparameters)


def sweep(stats: Statistics, latent_dim: int, parameter: str, values,
          **hyperparameters) -> list[Prediction]:
    """Predictions along a grid of one hyperparameter (a phase diagram), others held."""
    numerical = stats.model == "mhvae" and needs_numerical(hyperparameters)
    if numerical and parameter in ("beta3", "beta4", "beta5"):
        pass  # a deeper level's β
    elif parameter not in SWEEPABLE or stats.model not in SWEEPABLE[parameter]:
        ok = [p for p, ms in SWEEPABLE.items() if stats.model in ms]
        raise HyperparameterError(
            f"cannot sweep {parameter!r} for the {stats.model.upper()}: choose one of "
            f"{', '.join(ok)}")
    if numerical:  # a phase diagram needs collapse per value, not each value's critical β
        from vaecollapse.theory.hierarchy import unbounded_point

        hyperparameters = {**hyperparameters, "critical": False}
        out = []
        for v in values:
            try:
                out.append(solve(stats, latent_dim, **{**hyperparameters, parameter: v}))
            except HyperparameterError as e:
                if not hasattr(e, "hyperparameters"):  # not an UnboundedError
                    raise
                out.append(unbounded_point(stats, e))
        return out
    return [solve(stats, latent_dim, **{**hyperparameters, parameter: v}) for v in values]
