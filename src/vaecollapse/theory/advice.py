"""From diagnosis to cure: how far each lever may go while K modes stay uncollapsed.

Every threshold is read off the theorems' collapse conditions (docs/theory.md §2–§4), mode by mode,
then combined by counting: if mode i is uncollapsed exactly when a lever v is on one side of its
own critical value v_i, the number of uncollapsed modes at v is #{i : v on the good side of v_i},
so the extreme v that keeps at least K modes is the K-th best of the v_i. Per model (θ sorted
descending, mode K − 1 the K-th largest; c = η_dec / η_enc):

- **VAE** (learnable Σ, §2a): mode i collapses iff θ_i ≤ √β η_dec, so
  ``max_beta`` = θ_K² / η_dec² and ``max_eta_dec`` = θ_K / √β (suprema: at the value itself the
  mode is already collapsed). With a fixed encoder std (Theorem 1) a posterior equals the prior
  only where σ_(i) = η_enc; modes with σ_(i) ≠ η_enc never collapse and count for free.
- **CVAE** (Theorem 2, θ = eigenvalues of E, variance scale): collapse iff θ_i ≤ β η_dec², so
  ``max_beta`` = θ_K / η_dec² and ``max_eta_dec`` = √(θ_K / β).
- **MHVAE**, Σ1 = σ1² I fixed, Σ2 learnable (Theorem 3): z2 mode i collapses iff
  σ1² < (β2/β1) η_dec² and θ_i < β2 η_dec² / (√β1 σ1), i.e. iff
  β2 > max(β1 σ1², √β1 σ1 θ_i) / η_dec² — so ``max_beta2`` = max(β1 σ1², √β1 σ1 θ_K) / η_dec²
  — and iff β1 < min(β2 η_dec² / σ1², (β2 η_dec² / (σ1 θ_i))²), so
  ``min_beta1`` = min(β2 η_dec² / σ1², (β2 η_dec² / (σ1 θ_K))²); likewise
  ``max_eta_dec`` = √(max(β1 σ1², √β1 σ1 θ_K) / β2). None is attained: ω_i falls continuously
  to 0 at the threshold itself, where σ2_i = η_enc — the mode is collapsed there.
- **MHVAE**, both variances fixed (Theorem 5): with σ2 ≠ η_enc no z2 posterior ever equals its
  prior (every lever is unbounded); with σ2 = η_enc the thresholds have no closed form and are
  bisected on the closed-form optimum.

``recommendation``: the primary lever (β; the MHVAE's β2, else β1) set a ``margin`` inside its
threshold — ``margin × max`` or ``min / margin`` — with the other hyperparameters held. (The
advise document, with the `vaecollapse train` line that trains it, is
:func:`vaecollapse.output.documents.advice_to_dict`; the phase diagram is
:func:`vaecollapse.output.figures.plot_phase_diagram`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vaecollapse.errors import HyperparameterError
from vaecollapse.family import Family
from vaecollapse.theory import closed_form as cf
from vaecollapse.theory.dispatch import solve
from vaecollapse.theory.stats import Statistics

LEVERS = ("max_beta", "max_eta_dec", "max_beta2", "min_beta1")
#: the hyperparameter each lever moves
PARAMETER = {"max_beta": "beta", "max_eta_dec": "eta_dec", "max_beta2": "beta2",
             "min_beta1": "beta1"}
DEFAULT_MARGIN = 0.9


@dataclass
class Lever:
    """The extreme value of one hyperparameter that keeps ≥ K modes uncollapsed (None: the lever
    does not exist or is unbounded, see ``reason``), the mode that sets it (0-based, θ order) and
    whether the value itself is allowed (``attained``: a maximum/minimum, else a supremum)."""

    name: str
    value: float | None
    mode: int | None = None
    attained: bool = False
    reason: str = ""


@dataclass
class Recommendation:
    """The primary lever set ``margin`` inside its threshold: its ``lever`` and the
    hyperparameter it moves (``parameter``), the ``value``, the predicted uncollapsed modes there
    (``active_modes``) and now (``active_modes_now``), the full ``hyperparameters`` at the
    recommendation; ``null_reasons``: why each absent lever is absent; ``why``: set when no lever
    has a finite threshold (then the other fields are None)."""

    margin: float
    active_modes_now: int
    null_reasons: dict[str, str]
    lever: str | None = None
    parameter: str | None = None
    value: float | None = None
    active_modes: int | None = None
    hyperparameters: dict[str, Any] | None = None
    why: str | None = None


@dataclass
class Advice:
    model: Family
    keep: int
    latent_dim: int
    rank: int
    hyperparameters: dict[str, Any]
    theta: np.ndarray
    levers: dict[str, Lever]
    active_now: int
    margin: float
    recommendation: Recommendation | None = None

    @property
    def limiting_mode(self) -> int | None:
        modes = [lv.mode for lv in self.levers.values() if lv.value is not None]
        return modes[0] if modes else None


# ------------------------------------------------------------------------------ counting


def kth_best(critical: np.ndarray, k: int, largest: bool = True) -> tuple[float, int]:
    """The k-th largest (``largest``) or smallest critical value and its mode; NaN counts as a
    mode that never collapses (+∞ for a maximum, 0 for a minimum)."""
    c = np.asarray(critical, dtype=np.float64)
    never = np.isnan(c)
    key = np.where(never, np.inf, c) if largest else np.where(never, -np.inf, c)
    order = np.argsort(-key if largest else key, kind="stable")
    i = int(order[k - 1])
    return float(key[i]), i


def _lever(name: str, critical: np.ndarray, keep: int, *, largest: bool, attained: bool,
           unbounded: str) -> Lever:
    value, mode = kth_best(critical, keep, largest)
    if not np.isfinite(value) or value <= 0:
        return Lever(name, None, None, attained, unbounded)
    return Lever(name, value, mode, attained)


def _absent(name: str, model: Family) -> Lever:
    takes = "β1 and β2" if model.hierarchical else "β (β1, β2 are the MHVAE's)"
    return Lever(name, None, reason=f"the {model.upper()} has no {PARAMETER[name]}: it takes {takes}")


# ------------------------------------------------------------------------------ thresholds


def _vae_levers(stats: Statistics, d: int, keep: int, hp: dict) -> dict[str, Lever]:
    beta, eta_enc, eta_dec, sigma = hp["beta"], hp["eta_enc"], hp["eta_dec"], hp.get("sigma")
    theta = np.zeros(d)
    theta[:min(d, stats.theta.size)] = stats.theta[:d]
    theta_v = np.sqrt(theta) if stats.model.conditional else theta  # std scale
    if sigma is None:
        possible = np.ones(d, dtype=bool)
    else:
        s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (d,))
        possible = np.isclose(np.sort(s, kind="stable"), eta_enc, rtol=1e-12, atol=0.0)
    never = ("a fixed encoder std σ ≠ η_enc keeps at least K posteriors away from the prior at any "
             "value (Theorem 1): no finite threshold")
    crit_beta = np.where(possible, theta_v**2 / eta_dec**2, np.nan)
    crit_eta = np.where(possible, theta_v / np.sqrt(beta), np.nan)
    return {"max_beta": _lever("max_beta", crit_beta, keep, largest=True, attained=False,
                               unbounded=never),
            "max_eta_dec": _lever("max_eta_dec", crit_eta, keep, largest=True, attained=False,
                                  unbounded=never),
            "max_beta2": _absent("max_beta2", stats.model),
            "min_beta1": _absent("min_beta1", stats.model)}


def _mhvae_levers(stats: Statistics, d: int, keep: int, hp: dict) -> dict[str, Lever]:
    b1, b2, eta_enc, eta_dec, s1, s2 = (hp[k] for k in ("beta1", "beta2", "eta_enc", "eta_dec",
                                                         "sigma1", "sigma2"))
    theta = np.zeros(d)
    theta[:min(d, stats.theta.size)] = stats.theta[:d]
    if s2 is None:  # Theorem 3, closed form
        upper = np.maximum(b1 * s1**2, np.sqrt(b1) * s1 * theta)  # β2 η_dec² below which z2 lives
        with np.errstate(divide="ignore"):
            crit_b1 = np.minimum(b2 * eta_dec**2 / s1**2, (b2 * eta_dec**2 / (s1 * theta)) ** 2)
        return {
            "max_beta": _absent("max_beta", Family.MHVAE),
            "max_eta_dec": _lever("max_eta_dec", np.sqrt(upper / b2), keep, largest=True,
                                  attained=False, unbounded=""),
            "max_beta2": _lever("max_beta2", upper / eta_dec**2, keep, largest=True,
                                attained=False, unbounded=""),
            "min_beta1": _lever("min_beta1", crit_b1, keep, largest=False, attained=False,
                                unbounded="")}
    if not np.isclose(s2, eta_enc, rtol=1e-12, atol=0.0):
        why = (f"a fixed z2 encoder std σ2 = {s2:g} ≠ η_enc = {eta_enc:g}: no z2 posterior equals "
               "its prior at any value (Theorem 5), so every lever is unbounded")
        return {"max_beta": _absent("max_beta", Family.MHVAE),
                **{n: Lever(n, None, reason=why) for n in ("max_eta_dec", "max_beta2", "min_beta1")}}

    def collapsed(m):
        return (m["omega"] == 0) & np.isclose(m["sigma2"], eta_enc, rtol=1e-12, atol=0.0)

    def at(**kw):
        p = {"beta1": b1, "beta2": b2, "eta_dec": eta_dec, **kw}
        return collapsed(cf.mhvae_both_fixed(theta, p["beta1"], p["beta2"], eta_enc,
                                             p["eta_dec"], s1, s2))

    crit_b2 = cf.bisect_critical(lambda v: at(beta2=v), shape=(d,))
    crit_eta = cf.bisect_critical(lambda v: at(eta_dec=v), shape=(d,))
    # collapse grows as β1 falls: bisect in u = 1/β1
    crit_u = cf.bisect_critical(lambda u: at(beta1=1.0 / u), shape=(d,))
    note = "bisection of Theorem 5's optimum (no closed-form threshold)"
    levers = {"max_beta": _absent("max_beta", Family.MHVAE),
              "max_eta_dec": _lever("max_eta_dec", crit_eta, keep, largest=True, attained=False,
                                    unbounded=note),
              "max_beta2": _lever("max_beta2", crit_b2, keep, largest=True, attained=False,
                                  unbounded=note),
              "min_beta1": _lever("min_beta1", 1.0 / crit_u, keep, largest=False, attained=False,
                                  unbounded=note)}
    for lv in levers.values():
        if lv.value is not None:
            lv.reason = note
    return levers


# ------------------------------------------------------------------------------ advice


def _uncollapsed(stats: Statistics, d: int, hp: dict) -> int:
    return d - solve(stats, d, **hp).n_collapsed


def advise(stats: Statistics, latent_dim: int, keep: int, *, margin: float = DEFAULT_MARGIN,
           **hyperparameters) -> Advice:
    """The levers' thresholds that keep ≥ ``keep`` modes uncollapsed, hyperparameters as in
    :func:`vaecollapse.theory.dispatch.solve` (held fixed except the lever), and a recommendation
    ``margin`` inside the primary lever's threshold."""
    pred = solve(stats, latent_dim, **hyperparameters)  # validates the hyperparameters
    hp = {k: v for k, v in pred.hyperparameters.items() if k != "latent_dim"}
    d = pred.latent_dim
    if isinstance(keep, bool) or not isinstance(keep, int | np.integer) or keep < 1:
        raise HyperparameterError(f"--keep must be a whole number >= 1, got {keep!r}")
    if keep > d:
        raise HyperparameterError(f"--keep {keep} exceeds the latent size {d}: at most {d} modes "
                                  "can be kept")
    if keep > stats.rank:
        what = "E (the CVAE's residual moment)" if stats.model.conditional else "A = E[xxᵀ]"
        raise HyperparameterError(f"--keep {keep} exceeds the data's rank {stats.rank} (of {what}): "
                                  f"only {stats.rank} modes carry any signal")
    if not (0 < margin < 1):
        raise HyperparameterError(f"--margin must be in (0, 1), got {margin!r}")
    levers = (_mhvae_levers if stats.model.hierarchical else _vae_levers)(stats, d, keep, hp)
    advice = Advice(stats.model, int(keep), d, stats.rank, hp, pred.theta, levers,
                    d - pred.n_collapsed, margin)
    advice.recommendation = recommend(advice, stats)
    return advice


def recommend(advice: Advice, stats: Statistics) -> Recommendation:
    """The primary lever set ``margin`` inside its threshold and the predicted uncollapsed modes
    there; ``null_reasons`` for every null lever."""
    order = ("max_beta2", "min_beta1", "max_eta_dec") if advice.model.hierarchical else (
        "max_beta", "max_eta_dec")
    rec = Recommendation(margin=advice.margin, active_modes_now=advice.active_now,
                         null_reasons={n: lv.reason for n, lv in advice.levers.items()
                                       if lv.value is None})
    for name in order:
        lv = advice.levers[name]
        if lv.value is None:
            continue
        value = lv.value / advice.margin if name.startswith("min") else lv.value * advice.margin
        hp = {**advice.hyperparameters, PARAMETER[name]: value}
        rec.lever, rec.parameter, rec.value, rec.hyperparameters = name, PARAMETER[name], value, hp
        rec.active_modes = _uncollapsed(stats, advice.latent_dim, hp)
        return rec
    rec.why = ("no lever has a finite threshold: at least K modes stay uncollapsed whatever "
               "the value, so the current setting already keeps them")
    return rec


# ------------------------------------------------------------------------------ phase diagram


def active_grid(stats: Statistics, latent_dim: int, hp: dict, x_name: str, xs, y_name: str,
                ys) -> np.ndarray:
    """Uncollapsed modes of the closed-form optimum on the grid ``ys`` × ``xs`` (rows: y) of two
    hyperparameters, the others held — vectorised over the grid (docs/theory.md §2–§4)."""
    d = latent_dim
    theta = np.zeros(d)
    theta[:min(d, stats.theta.size)] = stats.theta[:d]
    X, Y = np.meshgrid(np.asarray(xs, float), np.asarray(ys, float))
    p = {**hp, x_name: X[..., None], y_name: Y[..., None]}
    e = hp["eta_enc"]
    if stats.model.hierarchical:
        args = (theta, p["beta1"], p["beta2"], e, p["eta_dec"], hp["sigma1"])
        m = (cf.mhvae_sigma1_fixed(*args) if hp.get("sigma2") is None
             else cf.mhvae_both_fixed(*args, hp["sigma2"]))
        collapsed = (m["omega"] == 0) & np.isclose(m["sigma2"], e, rtol=1e-12, atol=0.0)
    else:
        tv = np.sqrt(theta) if stats.model.conditional else theta
        if hp.get("sigma") is None:
            m = cf.vae_learnable(tv, p["beta"], e, p["eta_dec"])
        else:
            s = np.sort(np.broadcast_to(np.asarray(hp["sigma"], float), (d,)), kind="stable")
            m = cf.vae_fixed(tv, s, p["beta"], e, p["eta_dec"])
        collapsed = (m["lambda"] == 0) & np.isclose(m["sigma"], e, rtol=1e-12, atol=0.0)
    return d - collapsed.sum(-1)
