"""The non-linear theory: which latent directions of a ReLU or CNN VAE / CVAE / MHVAE stay active,
from its own features at the collapsed stationary point (docs/nonlinear-theory.md derives it).

Write each network as *features, then a last linear map*: the encoder mean B_e φ + c_e (φ the
input of the encoder's last linear map; the CVAE's from both branches), the decoder mean
B_h χ(x) + B_k ψ(z) + c_d (χ: the CVAE x-branch's last features; ψ: the output of the first map
that reads z, after its non-linearity). At the collapsed point (B_e = 0, q = the prior, B_k = 0)
the first-order terms vanish and the second-order change of the β-ELBO, minimised over the
decoder's B_k and whitened in the encoder's features, is

    ΔL = −(1/2η_dec²) tr(P̃ᵀ G P̃ M) + (β/2η_enc²) ‖P̃‖²,

whose unstable directions are those with **θ_eff,i = λ_i γ_i > τ**, where (sorted descending,
paired by rank)

- λ = eigenvalues of Cov(P_φ r): the target's residual r (after least squares on χ; the VAE's
  target itself) projected on the span of the encoder's features — what the encoder can express;
- γ = squared canonical correlations between z ~ N(0, η_enc² I) and ψ(z) — how linearly the
  decoder reads each latent direction (1 for a linear decoder);
- τ = β η_dec² (VAE, CVAE; × σ²/η_enc² with a fixed encoder std σ); for the MHVAE's z2,
  (β2/β1) η_dec² with z1's per-mode strength composed from level 1 (:func:`mhvae_z2`).

On linear networks (identity features, raw moments) γ = 1 and λ = the closed forms' θ (the
eigenvalues of E = B − CᵀA⁺C for the CVAE, θ² for the VAE), so the criterion *is* Theorem 2 /
§2a / Theorem 1's rank condition / Theorem 3's z2 threshold; tests hold it to 1e-6. Pure: arrays
in (features evaluated elsewhere: :mod:`vaecollapse.models.features`), numbers out; only β·η_dec²
enters the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vaecollapse.family import Family
from vaecollapse.theory.advice import LEVERS, PARAMETER, Advice, Lever, Recommendation
from vaecollapse.theory.prediction import Prediction
from vaecollapse.theory.stats import default_rcond, eigh

SOLVER = "pilot-linearisation"


def _centred(a: np.ndarray, centre: bool) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a - a.mean(0) if centre else a


def _gram_eig(a: np.ndarray, rcond: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The eigenpairs of aᵀa above ``rcond`` × its largest eigenvalue (dead units, always-zero
    pixels dropped; default :func:`~vaecollapse.theory.stats.default_rcond`)."""
    values, vectors = eigh(a.T @ a)
    rc = default_rcond(a.shape[1]) if rcond is None else rcond
    keep = values > rc * max(values.max(), 0.0)
    return values[keep], vectors[:, keep]


def basis(a: np.ndarray, rcond: float | None = None) -> np.ndarray:
    """An orthonormal basis (n × k) of the span of the columns of ``a`` (n × F): a pseudo-inverse
    square root of aᵀa (:func:`_gram_eig`)."""
    values, vectors = _gram_eig(a, rcond)
    return a @ (vectors / np.sqrt(values))


def projected_spectrum(r: np.ndarray, phi: np.ndarray, *, centre: bool,
                       rcond: float | None = None) -> np.ndarray:
    """Eigenvalues, descending, of the second moment of ``r``'s least-squares projection on the
    span of ``phi`` (rows: data points; centred when ``centre``): eig Cov(P_φ r) = the squared
    singular values of Qᵀr / n for an orthonormal basis Q of span φ, computed as
    Λ^{-1/2} Vᵀ (φᵀ r) from φᵀφ = V Λ Vᵀ without forming Q (n × F)."""
    r, phi = _centred(r, centre), _centred(phi, centre)
    values, vectors = _gram_eig(phi, rcond)
    coordinates = (vectors.T @ (phi.T @ r)) / np.sqrt(values)[:, None]
    s = np.linalg.svd(coordinates, compute_uv=False)
    return np.sort(s**2 / r.shape[0])[::-1]


def canonical_correlations(z: np.ndarray, psi: np.ndarray, rcond: float | None = None, *,
                           centre: bool = True) -> np.ndarray:
    """Squared canonical correlations between ``z`` and ``psi`` (centred when ``centre``; raw
    second moments otherwise), descending: the spectrum of ``psi``'s projection of the whitened
    ``z``."""
    z, psi = _centred(z, centre), _centred(psi, centre)
    zw = basis(z, rcond) * math.sqrt(z.shape[0])
    return np.minimum(projected_spectrum(zw, psi, centre=False, rcond=rcond), 1.0)


def residual(t: np.ndarray, chi: np.ndarray | None, *, centre: bool,
             rcond: float | None = None) -> np.ndarray:
    """``t`` less its least-squares fit on ``chi`` (with an intercept when ``centre``)."""
    t = _centred(t, centre)
    if chi is None:
        return t
    chi = _centred(chi, centre)
    if not np.any(chi):
        return t
    q = basis(chi, rcond)
    return t - q @ (q.T @ t)


def _pad(v: np.ndarray, d: int) -> np.ndarray:
    v = np.sort(np.asarray(v, dtype=np.float64))[::-1][:d]
    return np.pad(v, (0, d - len(v)))


@dataclass(frozen=True)
class Features:
    """A model's features on data, as arrays (rows: points): ``phi`` the encoder's (its last
    linear map's input), ``target`` what it reconstructs (x, or y for the CVAE), ``chi`` the CVAE
    x-branch's (None otherwise), ``z`` prior samples N(0, η_enc² I) and ``psi`` the decoder's
    first features of them; ``centre``: whether the networks have biases (second moments are then
    covariances; raw for the theory's bias-free linear model)."""

    phi: np.ndarray
    target: np.ndarray
    z: np.ndarray
    psi: np.ndarray
    chi: np.ndarray | None = None
    centre: bool = True


def strengths(f: Features, latent_dim: int, rcond: float | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """(λ, γ), each of ``latent_dim`` values, descending (module docstring)."""
    r = residual(f.target, f.chi, centre=f.centre, rcond=rcond)
    lam = _pad(projected_spectrum(r, f.phi, centre=f.centre, rcond=rcond), latent_dim)
    gam = _pad(canonical_correlations(f.z, f.psi, rcond), latent_dim)
    return lam, gam


def _threshold(family: Family, hp: dict) -> float:
    """τ of the criterion for the level whose collapse is counted."""
    if family.hierarchical:
        tau = hp["beta2"] / hp["beta1"] * hp["eta_dec"] ** 2
        sigma = hp.get("sigma2")
    else:
        tau = hp["beta"] * hp["eta_dec"] ** 2
        sigma = hp.get("sigma")
    return tau * (sigma / hp["eta_enc"]) ** 2 if sigma is not None else tau


def mhvae_z2(level1: Features, rho: np.ndarray, gamma2: np.ndarray, latent_dims: tuple[int, int],
             hp: dict, rcond: float | None = None) -> np.ndarray:
    """θ_eff of the MHVAE's z2 (Σ1 = σ1² I fixed): level 1 at the z2-collapsed point is a VAE with
    a fixed encoder std σ1, prior N(0, η_dec²) and weight β1 (Theorem 1 with c = 1), so z1's
    per-mode strength is s_i = max(σ1 √θ1_i / √β1, σ1²) with θ1 = λ1 γ1 from level 1's own
    features; z2 is a VAE on z1 with reconstruction weight β1: θ_eff,i = s_i ρ_i γ2_i, where ρ are
    the squared canonical correlations between z1 ~ q(z1|x) and enc2's features and γ2 dec2's
    readability of z2 ~ N(0, η_enc² I). On linear networks: Theorem 3's z2 threshold."""
    d1, d2 = latent_dims
    lam1, gam1 = strengths(level1, d1, rcond)
    s1 = hp["sigma1"]
    s = np.maximum(s1 * np.sqrt(lam1 * gam1) / math.sqrt(hp["beta1"]), s1**2)
    k = min(d1, d2)
    theta = np.zeros(d2)
    theta[:k] = (np.sort(s)[::-1] * _pad(rho, d1))[:k] * _pad(gamma2, d2)[:k]
    return theta


def prediction(family: Family, theta: np.ndarray, lam: np.ndarray, gam: np.ndarray,
               hp: dict, *, rank: int, seconds: float | None = None,
               notes: list[str] | None = None) -> Prediction:
    """The non-linear theory's :class:`~vaecollapse.theory.prediction.Prediction`: mode i
    (θ_eff descending) is inactive — the encoder's mean leaves its direction — iff θ_eff,i ≤ τ,
    and collapsed (its posterior the prior) when inactive with a learnable encoder std (or
    σ = η_enc); critical β (β2) and η_dec are the values at which θ_eff,i = τ with the features
    held (null where a fixed σ ≠ η_enc keeps the posterior off the prior)."""
    family = Family.parse(family)
    d = len(theta)
    order = np.argsort(-theta, kind="stable")
    theta, lam, gam = theta[order], lam[order], gam[order]
    tau = _threshold(family, hp)
    inactive = theta <= tau
    sigma = hp.get("sigma2" if family.hierarchical else "sigma")
    can_collapse = sigma is None or math.isclose(sigma, hp["eta_enc"], rel_tol=1e-12)
    collapsed = inactive & can_collapse
    unit = tau / hp["eta_dec"] ** 2  # τ per unit of η_dec²
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = "beta2" if family.hierarchical else "beta"
        crit_beta = np.where(can_collapse, hp[weight] * theta / tau, np.nan)
        crit_eta = np.where(can_collapse, np.sqrt(theta / unit), np.nan)
    nan = np.full(d, np.nan)
    modes = {"latent_index": np.arange(d), "lambda": nan, "omega": nan, "sigma": nan, "kl": nan,
             "collapsed": collapsed, "inactive": inactive, "strength": lam, "readability": gam,
             "critical_beta": nan if family.hierarchical else crit_beta,
             "critical_eta_dec": crit_eta}
    if family.hierarchical:
        modes.update({"sigma2": nan, "kl_z1": nan, "collapsed_z1": np.zeros(d, bool),
                      "collapsed_z2": collapsed, "critical_beta2": crit_beta})
    label = "β2·η_dec²/β1" if family.hierarchical else "β·η_dec²"
    hp = {"latent_dim": d, **{k: v for k, v in hp.items() if k != "latent_dim"}}
    pred = Prediction(family, "non-linear theory: collapsed-point instability in the pilot's "
                      "features (docs/nonlinear-theory.md)", hp, theta, modes, {},
                      float("nan"), rank, np.full(d, tau), label, list(notes or []),
                      solver=SOLVER)
    pred.seconds = seconds
    return pred


def n_inactive(pred: Prediction) -> int:
    """The modes a non-linear prediction leaves inactive (comparable with a trained model's
    latent_dim − active modes)."""
    return int(np.sum(pred.modes["inactive"]))


def keep_levers(pred: Prediction, keep: int) -> dict[str, float | None]:
    """How far β (the MHVAE's β2) and η_dec may go, the others and the pilot's features held,
    while ``keep`` modes stay active: the K-th largest θ_eff meets the threshold there,
    max_beta = β · θ_eff,K / τ and max_eta_dec = η_dec · √(θ_eff,K / τ) (suprema: at the value
    itself mode K is inactive). None where no mode can collapse (a fixed σ ≠ η_enc) or K exceeds
    the modes with any strength."""
    theta = np.sort(pred.theta)[::-1]
    hp = pred.hyperparameters
    weight = "beta2" if pred.model.hierarchical else "beta"
    if not 1 <= keep <= len(theta) or theta[keep - 1] <= 0 or \
            np.all(np.isnan(pred.modes["critical_eta_dec"])):
        return {f"max_{weight}": None, "max_eta_dec": None}
    tau = _threshold(pred.model, hp)
    ratio = theta[keep - 1] / tau
    return {f"max_{weight}": hp[weight] * ratio, "max_eta_dec": hp["eta_dec"] * math.sqrt(ratio)}


def advice(pred_now: Prediction, pred_at: Prediction, keep: int, value: float, kept: float,
           margin: float) -> Advice:
    """The non-linear advice as an :class:`~vaecollapse.theory.advice.Advice`: the lever β (the
    MHVAE's β2) whose largest value found to keep ``keep`` modes is ``kept``, the recommendation
    ``value`` (``margin`` inside it, judged by its own pilot ``pred_at``); ``pred_now`` is the
    prediction at the given hyperparameters. η_dec and β1 are not advised (each value would need
    its own pilot search)."""
    mh = pred_now.model.hierarchical
    weight = "beta2" if mh else "beta"
    lever = f"max_{weight}"
    why = ("the non-linear advice moves one weight, judging every value by its own pilot; "
           "move η_dec through β·η_dec² (only the product matters)")
    own = {"max_eta_dec", "min_beta1", "max_beta2"} if mh else {"max_eta_dec", "max_beta"}
    levers = {n: Lever(n, None, reason=why if n in own
                       else f"the {pred_now.model.upper()} has no {PARAMETER[n]}")
              for n in LEVERS}
    levers[lever] = Lever(lever, kept, keep - 1, attained=True,
                          reason="the largest value found whose own pilot keeps K modes active")
    hp = {k: v for k, v in pred_now.hyperparameters.items() if k != "latent_dim"}
    d = pred_now.latent_dim
    now = d - n_inactive(pred_now)
    rec = Recommendation(margin, now, {n: lv.reason for n, lv in levers.items() if lv.value is None},
                         lever, weight, value, d - n_inactive(pred_at), {**hp, weight: value})
    return Advice(pred_now.model, keep, d, pred_now.rank, hp, pred_now.theta, levers, now,
                  margin, rec)
