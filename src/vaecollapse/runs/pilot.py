"""The non-linear predictor: a short pilot of the run itself, then the non-linear theory on the
pilot's features (docs/nonlinear-theory.md).

Why a pilot: at a random initialisation the features are not those that decide — within the
first few epochs the decoder's first layer turns away from the latent directions that carry
mostly noise, and a direction it no longer reads is no longer unstable at the collapsed point
(docs/nonlinear-theory.md §3, measured). The pilot is the real run's own first
p = max(1, ⌊:data:`PILOT_FRACTION` × epochs⌋) epochs — the same seed, model, optimiser, step and
schedule (:mod:`vaecollapse.runs.loop`), without checkpoints or metrics — so its weights are the
run's after p epochs; the criterion is then evaluated on a seeded sample of :data:`POINTS`
training points and :data:`Z_SAMPLES` prior samples. Deterministic given the run's seed. On the
linear backbone no pilot is needed (the features are the inputs) and every point is used: the
closed forms exactly.

One setting for every experiment (fixed before the held-out evaluation, never per experiment):
fraction 0.08, 4,000 points, 5,000 z samples.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import torch

from vaecollapse.config import TrainConfig, config_from_options
from vaecollapse.data import Dataset, evaluation_index
from vaecollapse.errors import HyperparameterError
from vaecollapse.family import Family
from vaecollapse.models import LatentModel
from vaecollapse.models.features import (
    Feature,
    features_of_modules,
    hierarchy_features,
    model_features,
)
from vaecollapse.runs import loop, runtime
from vaecollapse.runs.predicted import TheoryCache
from vaecollapse.runs.train import load_run_data
from vaecollapse.theory import Prediction
from vaecollapse.theory import nonlinear as nl
from vaecollapse.theory.from_config import theory_hyperparameters

PILOT_FRACTION = 0.08
POINTS = 4000
Z_SAMPLES = 5000


def pilot_epochs(cfg: TrainConfig) -> int:
    """The pilot's epochs: the first ⌊PILOT_FRACTION × epochs⌋ of the run (at least one); none
    for the linear backbone."""
    return 0 if cfg.model.backbone == "linear" else max(1, math.floor(PILOT_FRACTION * cfg.epochs))


def pilot(cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor | None,
          epochs: int | None = None) -> LatentModel:
    """The run's model after its first ``epochs`` (default :func:`pilot_epochs`) epochs of
    training, exactly as the full run would have it."""
    device = runtime.resolve_device(cfg.device)
    o = loop.start(cfg, x, y, device)
    for epoch in range(pilot_epochs(cfg) if epochs is None else epochs):
        loop.run_epoch(o, epoch, lambda what, where: f"the pilot diverged: {what} ({where})")
    return o.model


def _sample(x: torch.Tensor, y: torch.Tensor | None, points: int, seed: int):
    keep = torch.from_numpy(evaluation_index(x.shape[0], points, seed)).to(x.device)
    return x[keep], None if y is None else y[keep]


def _check(cfg: TrainConfig) -> None:
    m = cfg.model
    if m.family.hierarchical and (m.hyperparameters.levels != 2 or m.hyperparameters.inference
                                  != "markov" or m.hyperparameters.sigma1 is None
                                  or m.latent_dims is not None):
        raise HyperparameterError("the non-linear theory of the MHVAE needs the two-level Markov "
                                  "MHVAE with a fixed σ1 (--sigma1), as the closed form does")


def predict_run(cfg: TrainConfig, datasets: dict[str, Dataset] | None = None, *,
                seed: int = 0) -> Prediction:
    """The non-linear theory's prediction for the run ``cfg`` (its data, model and training
    settings): the pilot, its features on a seeded sample, the criterion. ``seed``: of the
    sample and the prior draws (the pilot uses the run's own seed)."""
    cfg.validate()
    _check(cfg)
    t0 = time.perf_counter()
    ds, x, y = load_run_data(cfg.data, cfg.model.family, datasets)
    model = pilot(cfg, x, y)
    linear = cfg.model.backbone == "linear"
    xs, ys = (x, y) if linear else _sample(x, y, POINTS, seed)
    hp = theory_hyperparameters(cfg.model)
    d = cfg.model.level_dims[-1]
    family = cfg.model.family
    if family.hierarchical:
        level1, (z1, phi2), (z2, psi2) = hierarchy_features(model, xs, z_samples=Z_SAMPLES, seed=seed)
        rho = nl.canonical_correlations(z1, phi2, centre=level1.centre)
        theta = nl.mhvae_z2(level1, rho, nl.canonical_correlations(z2, psi2),
                            tuple(cfg.model.level_dims[:2]), hp)
        lam, gam = theta, np.ones_like(theta)
    else:
        f = model_features(model, xs, ys, z_samples=Z_SAMPLES, seed=seed)
        lam, gam = nl.strengths(f, d)
        if linear:
            gam = np.ones_like(gam)  # a linear decoder reads every direction: γ = 1 exactly
        theta = lam * gam
    notes = [f"pilot: {pilot_epochs(cfg)} of {cfg.epochs} epochs, features on "
             f"{xs.shape[0]} points and {Z_SAMPLES} prior samples"]
    return nl.prediction(family, theta, lam, gam, hp, rank=int(np.sum(theta > 0)),
                         seconds=time.perf_counter() - t0, notes=notes)


def predict_modules(encoder: Feature, decoder: Feature, x, y=None, *, model: str = "vae",
                    latent_dim: int, beta: float = 1.0, eta_enc: float = 1.0,
                    eta_dec: float = 1.0, sigma: float | None = None,
                    x_branch: Feature | None = None, target_encoder: Feature | None = None,
                    centre: bool = True, seed: int = 0) -> Prediction:
    """The non-linear theory for a user's own networks (a VAE, or a CVAE with ``y``): their
    feature maps (see :func:`vaecollapse.models.features.features_of_modules`; e.g. ``enc[:-1]``
    and ``dec[:2]`` of Sequentials), evaluated on the data ``x`` (numpy or torch). Pass the
    networks after a short pilot of your training (a few percent of it): the decoder's early
    turn away from weak directions is part of what decides."""
    family = Family.parse(model)
    if family.hierarchical:
        raise HyperparameterError("predict_modules takes a VAE or a CVAE")
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32)
    y = None if y is None else torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y,
                                               dtype=torch.float32)
    f = features_of_modules(encoder, decoder, x, y, x_branch=x_branch,
                            target_encoder=target_encoder, latent_dim=latent_dim,
                            eta_enc=eta_enc, centre=centre, z_samples=Z_SAMPLES, seed=seed)
    lam, gam = nl.strengths(f, latent_dim)
    hp: dict[str, Any] = {"beta": beta, "eta_enc": eta_enc, "eta_dec": eta_dec, "sigma": sigma}
    return nl.prediction(family, lam * gam, lam, gam, hp, rank=int(np.sum(lam > 0)))


def nonlinear_collapse(options: dict[str, Any], cache: TheoryCache) -> int | None:
    """The non-linear theory's inactive modes (comparable with a trained run's latent_dim −
    active modes) for a run's `train` options, its data loaded once per ``cache``; None where
    the theory does not answer (a hierarchy other than the two-level Markov MHVAE with a fixed
    σ1)."""
    cfg = config_from_options(**options, datasets=cache.datasets)
    try:
        return nl.n_inactive(predict_run(cfg, cache.datasets))
    except HyperparameterError:
        return None


def advise_run(cfg: TrainConfig, keep: int, *, margin: float = 0.9, steps: int = 8,
               datasets: dict[str, Dataset] | None = None) -> tuple[float, Prediction, float]:
    """The β (the MHVAE's β2) at which the non-linear theory keeps ``keep`` modes active in the
    run ``cfg``, all else held. The pilot depends on the β it trains at (its features move with
    it: holding them fixed and reading the threshold off them oscillates), so each β is judged by
    its own pilot: a bracket [β with ≥ K active, β with < K] is found by steps of ×/÷4 from the
    current β, narrowed by ``steps`` bisections in log β; the advice is ``margin`` × the bracket's
    kept end, stepped down by ``margin`` again while its own prediction keeps fewer than K
    (non-monotone pilots). Returns (β, the prediction there, the bracket's kept end: the largest
    β found to keep K)."""
    if not 0 < margin < 1:
        raise HyperparameterError(f"--margin must be in (0, 1), got {margin!r}")
    weight = "beta2" if cfg.model.family.hierarchical else "beta"
    d = cfg.model.level_dims[-1]
    if not 1 <= keep <= d:
        raise HyperparameterError(f"--keep must be in [1, {d}] (the latent size), got {keep!r}")

    def active(value: float) -> tuple[int, Prediction]:
        pred = predict_run(_with_weight(cfg, weight, value), datasets)
        return d - nl.n_inactive(pred), pred

    start = float(getattr(cfg.model.hyperparameters, weight))
    lo = hi = None
    value = start
    for _ in range(12):
        if active(value)[0] >= keep:
            lo, value = value, value * 4
            if hi is not None:
                break
        else:
            hi, value = value, value / 4
            if lo is not None:
                break
        if lo is not None and hi is not None:
            break
    if lo is None:
        raise HyperparameterError(f"the non-linear theory keeps fewer than {keep} modes active "
                                  f"at every {weight} down to {value:.3g}")
    if hi is not None:
        for _ in range(steps):
            mid = math.sqrt(lo * hi)
            if active(mid)[0] >= keep:
                lo = mid
            else:
                hi = mid
    value = margin * lo
    count, pred = active(value)
    for _ in range(5):
        if count >= keep:
            break
        value *= margin
        count, pred = active(value)
    return value, pred, lo


def _with_weight(cfg: TrainConfig, weight: str, value: float) -> TrainConfig:
    """``cfg`` with its KL weight ``weight`` set to ``value`` (a copy)."""
    hp = dataclasses.replace(cfg.model.hyperparameters, **{weight: value})
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, hyperparameters=hp))
