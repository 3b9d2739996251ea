"""Collapse diagnostics of trained models (theory.md §6).

Pure functions of per-level posterior parameters (:class:`~vaecollapse.models.base.Posterior`),
plus, for likelihoods and the theory comparison, of a model. Everything is vectorised over samples
(no per-sample Python loops except :func:`per_point_loop_baseline`, the deliberately naive
reference) and chunked so that memory stays bounded for any number of points.

Symbols: q(z|x) = N(μ(x), diag s²(x)) one latent level, prior N(m, v) (m, v numbers or per-sample
tensors), KL_i(x) the per-dimension KL(q(z_i|x) ‖ p(z_i)).

**User models.** Anything that maps a batch to a list of :class:`Posterior` works with
:func:`collect_posteriors` and hence with every posterior-based diagnostic: either an object with
a ``posteriors(x, y, generator)`` method (the package's models) or a plain callable
``fn(x_batch, y_batch) -> list[Posterior]``. :func:`diagnose` also accepts such a callable; the
likelihood (which needs ``log_weights``) and the theory comparison (which needs a linear model)
are then ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaecollapse.models.base import LOG_2PI, Posterior
from vaecollapse.models.likelihood import BUDGET_ELEMENTS

PosteriorFn = Callable[[Tensor, Tensor | None], list[Posterior]]

DEFAULT_EPSILON = 1e-2
MI_CHUNK_ELEMENTS = 1 << 21  # entries of one (rows × N) block of log q(z_j|x_k) in the MI estimator


def default_eps_grid() -> np.ndarray:
    """The ε grid of the (ε, δ)-collapse plots: 25 points log-spaced on [1e-5, 10]."""
    return np.logspace(-5, 1, 25)


# ------------------------------------------------------------------------------ helpers


def _as_tensor(a, dtype: torch.dtype | None = None) -> Tensor | None:
    if a is None:
        return None
    if isinstance(a, Tensor):
        return a if dtype is None else a.to(dtype)
    return torch.as_tensor(np.asarray(a), dtype=dtype or torch.get_default_dtype())


def _model_dtype(model) -> torch.dtype | None:
    params = getattr(model, "parameters", None)
    if params is None:
        return None
    for p in params():
        if p.is_floating_point():
            return p.dtype
    return None


def _model_device(model) -> torch.device | None:
    params = getattr(model, "parameters", None)
    if params is None:
        return None
    for p in params():
        return p.device
    return None


def model_inputs(model, x, y=None) -> tuple[Tensor, Tensor | None]:
    """``x`` and ``y`` as tensors on the model's device in its floating dtype (any float or integer
    input dtype, numpy arrays too); for a parameter-free callable, x keeps a floating dtype and y
    follows x."""
    dtype = _model_dtype(model)
    x = _as_tensor(x, dtype)
    if dtype is None and not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    device = _model_device(model)
    if device is not None:
        x = x.to(device)
    y = _as_tensor(y, x.dtype)
    return x, None if y is None else y.to(x.device)


@contextmanager
def _evaluating(model):
    """``torch.no_grad()`` and, for an ``nn.Module``, eval mode, so that diagnostics neither build
    graphs nor update e.g. batch-norm running statistics. On exit every submodule gets back its
    own train/eval flag (a frozen submodule kept in eval mode stays so)."""
    modes = ([(m, m.training) for m in model.modules()]
             if isinstance(model, torch.nn.Module) and model.training else [])
    if modes:
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training


def _batches(n: int, size: int):
    size = max(int(size), 1)
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _is_per_sample(t, rows: int, ndim: int) -> bool:
    return isinstance(t, Tensor) and t.ndim == ndim and t.shape[0] == rows and rows > 1


def _concat_prior(parts: list, means: list[Tensor]):
    """Concatenate one prior parameter over chunks. Numbers, or the same broadcastable tensor in
    every chunk, are kept as they are; per-sample tensors are broadcast to each chunk's (n_b, d)
    and concatenated."""
    if not any(isinstance(p, Tensor) for p in parts):
        return parts[0]
    per_sample = any(_is_per_sample(p, m.shape[0], m.ndim) for p, m in zip(parts, means, strict=True))
    if not per_sample and all(isinstance(p, Tensor) and p.shape == parts[0].shape
                              and torch.equal(p, parts[0]) for p in parts):
        return parts[0]
    return torch.cat([torch.as_tensor(p, dtype=m.dtype, device=m.device).expand_as(m)
                      for p, m in zip(parts, means, strict=True)])


def _to_float(v) -> float | None:
    """A plain float, or None when not finite (JSON has no NaN)."""
    v = float(v)
    return v if math.isfinite(v) else None


# ------------------------------------------------------------------------------ posteriors


def collect_posteriors(model_or_fn, x, y=None, *, batch_size: int = 1024,
                       generator: torch.Generator | None = None) -> list[Posterior]:
    """Per-level posteriors of the whole dataset, computed in chunks of ``batch_size`` rows.

    ``model_or_fn`` is a model with ``posteriors(x, y, generator) -> list[Posterior]`` or any
    callable ``fn(x_batch, y_batch) -> list[Posterior]`` (the user-model protocol). Runs under
    ``torch.no_grad()`` (and eval mode for modules); per level, the means and log-variances
    (n_b, d) are concatenated to (n, d), and so are per-sample prior parameters (e.g. the MHVAE's
    p(z1|z2) mean); scalar / shared priors are kept as they are.
    """
    x, y = model_inputs(model_or_fn, x, y)
    is_model = hasattr(model_or_fn, "posteriors")
    chunks: list[list[Posterior]] = []
    with _evaluating(model_or_fn):
        for sl in _batches(x.shape[0], batch_size):
            xb, yb = x[sl], None if y is None else y[sl]
            if is_model:
                chunks.append(list(model_or_fn.posteriors(xb, yb, generator=generator)))
            else:
                chunks.append(list(model_or_fn(xb, yb)))
    if not chunks:
        raise ValueError("collect_posteriors needs at least one data point")
    out = []
    for level in range(len(chunks[0])):
        parts = [c[level] for c in chunks]
        means = [p.mean.detach() for p in parts]
        out.append(Posterior(
            parts[0].name, torch.cat(means), torch.cat([p.logvar.detach() for p in parts]),
            _concat_prior([p.prior_mean for p in parts], means),
            _concat_prior([p.prior_logvar for p in parts], means)))
    return out


def kl_per_sample(post: Posterior) -> Tensor:
    """KL_i(x) = ½[(s_i² + (μ_i − m_i)²)/v_i − 1 − log(s_i²/v_i)] per sample and dimension, (n, d),
    computed in float64 whatever the posterior's dtype (so half-precision models get exact
    diagnostics, and the streaming monitor and :func:`diagnose` agree)."""
    return as_float64(post).kl()


def as_float64(post: Posterior) -> Posterior:
    """A detached float64 copy of a posterior (on its device), prior parameters included."""
    def f64(v):
        return v.detach().to(torch.float64) if isinstance(v, Tensor) else v

    return Posterior(post.name, f64(post.mean), f64(torch.as_tensor(post.logvar)),
                     f64(post.prior_mean), f64(post.prior_logvar))


# ------------------------------------------------------------------------------ collapse measures


def eps_delta_collapse(kl, eps=None, delta: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(ε, δ)-collapse (Lucas et al. 2019) of every dimension at every ε of a grid.

    Dimension i is (ε, δ)-collapsed iff P_x[KL_i(x) < ε] ≥ 1 − δ, with P_x the empirical
    distribution of the n rows of ``kl`` (n, d). Returns ``(fraction, mask)``: ``fraction[e]`` the
    fraction of the d dimensions collapsed at ``eps[e]`` (shape (E,)), ``mask[e, i]`` whether
    dimension i is (shape (E, d), bool). Each column is sorted once; the count below each ε is a
    binary search (O(n d log n + E d log n)).
    """
    eps = default_eps_grid() if eps is None else np.atleast_1d(np.asarray(eps, dtype=np.float64))
    if not 0 <= delta < 1:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    kl = _as_tensor(kl, torch.float64).detach()
    if kl.ndim != 2:
        raise ValueError(f"kl must have shape (n, d), got {tuple(kl.shape)}")
    n, d = kl.shape
    cols = torch.sort(kl.T.contiguous(), dim=1).values  # (d, n) ascending
    e = torch.as_tensor(eps, dtype=torch.float64).expand(d, -1).contiguous()  # (d, E)
    below = torch.searchsorted(cols, e, side="left")  # #{x : KL_i(x) < ε}
    mask = collapsed_from_counts(below, n, delta).T.cpu().numpy()
    return mask.mean(axis=1) if d else np.zeros(len(eps)), mask


def collapsed_from_counts(below: Tensor, n: int, delta: float) -> Tensor:
    """The (ε, δ) decision from counts: ``below`` = #{x : KL_i(x) < ε} out of n points; collapsed
    iff below / n ≥ 1 − δ, compared on counts with a relative tolerance (e.g. 95/100 vs 1 − 0.05)."""
    if not 0 <= delta < 1:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    return below.to(torch.float64) >= (1.0 - delta) * n * (1 - 1e-12)


def active_units(post: Posterior | Tensor, threshold: float = 0.01) -> int:
    """Active units (Burda et al. 2015): #{i : Var_x(E_q[z_i|x]) > threshold}.

    E_q[z_i|x] is the posterior mean μ_i(x), so the statistic is the (population, 1/n) variance
    over the n samples of each column of ``post.mean``; a tensor of means (n, d) is accepted too.
    """
    mean = post.mean if isinstance(post, Posterior) else _as_tensor(post)
    return active_units_of_variance(mean.detach().to(torch.float64).var(dim=0, correction=0),
                                    threshold)


def active_units_of_variance(var: Tensor, threshold: float = 0.01) -> int:
    """Burda's count from the per-dimension variances of the posterior means: #{i : var_i > threshold}."""
    return int((var > threshold).sum())


def active_modes(post: Posterior | Tensor, threshold: float = 0.01) -> int:
    """Active modes: #{k : eig_k(Cov_x E_q[z|x]) > threshold} — active units in the principal basis.

    Burda's count looks at each latent coordinate; when the model spreads a small amount of
    signal over many coordinates (a rotation among near-collapsed modes, which a rotation-
    invariant loss such as the linear VAE's cannot see), every coordinate can pass the threshold
    while few directions carry any signal. The eigenvalues of the (1/n) covariance of the
    posterior means do not depend on the basis; on axis-aligned means the two counts agree.
    """
    mean = post.mean if isinstance(post, Posterior) else _as_tensor(post)
    mean = mean.detach().to(torch.float64)
    if mean.shape[0] == 0 or mean.shape[1] == 0:
        return 0
    centred = mean - mean.mean(0)
    return active_modes_of_covariance(centred.T @ centred / mean.shape[0], threshold)


def active_modes_of_covariance(cov: Tensor, threshold: float = 0.01) -> int:
    """Active modes from the (d, d) covariance of the posterior means: #{k : eig_k > threshold}."""
    if cov.numel() == 0:
        return 0
    return int((torch.linalg.eigvalsh(cov) > threshold).sum())


def active_units_kl_fraction(kl, threshold: float = 0.01) -> float:
    """The paper scripts' "AU": the fraction of (sample, dimension) pairs with KL_i(x) ≥ threshold."""
    kl = _as_tensor(kl).detach()
    return float((kl >= threshold).to(torch.float64).mean())


def level_record(name: str, kl_mean: Tensor, active_units: int, active_modes: int,
                 active_units_kl_fraction: float, collapsed: Tensor | np.ndarray) -> dict[str, Any]:
    """One entry of ``diagnose(...)["levels"]`` (and of ``CollapseMonitor.compute()``) from its
    measures: ``kl_mean`` the (d,) mean KL_i, ``collapsed`` the (d,) (ε, δ) mask at the chosen ε."""
    kl_mean = kl_mean.detach().to(torch.float64).cpu()
    collapsed = collapsed.cpu().numpy() if isinstance(collapsed, Tensor) else np.asarray(collapsed)
    return {
        "name": name,
        "kl_per_dim": [float(v) for v in kl_mean.tolist()],
        "kl_total": float(kl_mean.sum()),
        "active_units": int(active_units),
        "active_modes": int(active_modes),
        "active_units_kl_fraction": float(active_units_kl_fraction),
        "collapsed_dims": [int(i) for i in np.flatnonzero(collapsed)],
    }


def mutual_information(post: Posterior, *, generator: torch.Generator | None = None,
                       max_points: int = 2000) -> float:
    """I(x; z) under q, the estimator of He et al. 2019 (their ``calc_mi``), in float64.

    On N ≤ ``max_points`` points (all of them, or a fixed random sample of ``max_points``:
    :func:`vaecollapse.data.evaluation_index` with seed 0, never the first N), draw one
    z_j ~ q(z|x_j) per point; then

        I = E_x[−H(q(z|x))] − E_j[log q_agg(z_j)],
        −H(q(z|x)) = −½ Σ_i (log 2π + 1 + log s_i²(x)),
        log q_agg(z_j) = logsumexp_k log q(z_j|x_k) − log N.

    The N × N × d block of log q(z_j|x_k) terms is never materialised: with both z and μ shifted
    by the mean of μ (translation invariance, less cancellation), the quadratic form is expanded as
    Σ_i (z_ji − μ_ki)²/s_ki² = (z_j²)·(1/s_k²) − 2 z_j·(μ_k/s_k²) + Σ_i μ_ki²/s_ki², i.e. two matrix
    products per chunk of rows j (at most ``MI_CHUNK_ELEMENTS / N`` rows at a time).
    """
    from vaecollapse.data import evaluation_index

    keep = torch.from_numpy(evaluation_index(post.mean.shape[0], max_points)).to(post.mean.device)
    mu = post.mean.detach()[keep].to(torch.float64)
    logvar = torch.as_tensor(post.logvar).detach().expand_as(post.mean)[keep].to(torch.float64)
    n, d = mu.shape
    if n == 0:
        raise ValueError("mutual_information needs at least one point")
    noise = torch.randn(mu.shape, generator=generator, dtype=post.mean.dtype, device=mu.device)
    z = mu + (0.5 * logvar).exp() * noise.to(torch.float64)
    neg_entropy = (-0.5 * (LOG_2PI + 1.0 + logvar).sum(-1)).mean()
    shift = mu.mean(0)
    z, mu = z - shift, mu - shift
    inv_var = (-logvar).exp()  # (N, d)
    mu_iv = mu * inv_var
    # log q(z_j|x_k) = −½ quad_jk − ½ (d log 2π + Σ_i log s_ki²); the k-only terms first:
    const_k = -0.5 * ((mu * mu_iv).sum(-1) + d * LOG_2PI + logvar.sum(-1))  # (N,)
    rows = max(1, MI_CHUNK_ELEMENTS // n)
    log_qagg = []
    for sl in _batches(n, rows):
        zc = z[sl]
        log_density = -0.5 * (zc.square() @ inv_var.T) + zc @ mu_iv.T + const_k  # (rows, N)
        log_qagg.append(torch.logsumexp(log_density, dim=1) - math.log(n))
    return float(neg_entropy - torch.cat(log_qagg).mean())


# ------------------------------------------------------------------------------ likelihood


def importance_log_likelihood(model, x, y=None, *, samples: int = 1000, chunk: int | None = None,
                              generator: torch.Generator | None = None,
                              on_progress: Callable[[int, int], None] | None = None
                              ) -> dict[str, Any]:
    """Importance-sampled log-likelihood with the encoder as proposal (theory.md §6):

        log p(t_n) ≈ logmeanexp_s w_ns = logsumexp_s w_ns − log S,
        w_ns = log p(t_n, z_s) − log q(z_s | ·),   z_s ~ q,

    t = x (VAE, MHVAE) or y given x (CVAE); w comes from ``model.log_weights`` (n, S). Points are
    processed ``chunk`` at a time with all S samples at once, under ``torch.no_grad()``; by default
    ``chunk`` is set by a memory budget (``models.likelihood.BUDGET_ELEMENTS`` entries of the
    (chunk, S, d) latent samples, which stays in cache).

    Returns ``per_point`` (n,) tensor, ``estimate`` (its mean), ``stderr`` (sample std of the
    per-point values / √n; NaN for n = 1) and ``samples`` (S). ``on_progress(done, n)`` is
    called after each chunk of points.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    x = _as_tensor(x, _model_dtype(model))
    y = _as_tensor(y, x.dtype)
    if chunk is None:
        width = getattr(getattr(model, "cfg", None), "latent_dim", 16)
        chunk = max(1, BUDGET_ELEMENTS // (samples * width))
    parts = []
    with _evaluating(model):
        for sl in _batches(x.shape[0], chunk):
            w = model.log_weights(x[sl], None if y is None else y[sl], samples, generator=generator)
            parts.append(torch.logsumexp(w, dim=1) - math.log(samples))
            if on_progress:
                on_progress(sl.stop, x.shape[0])
    per_point = torch.cat(parts)
    n = per_point.shape[0]
    pp = per_point.to(torch.float64)
    stderr = float(pp.std(correction=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"per_point": per_point, "estimate": float(pp.mean()), "stderr": stderr,
            "samples": int(samples)}


def per_point_loop_baseline(model, x, y=None, samples: int = 1000,
                            generator: torch.Generator | None = None) -> Tensor:
    """The same per-point estimate as :func:`importance_log_likelihood`, computed naively: a Python
    loop over points and, inside it, over samples, one ``log_weights(x_n, y_n, 1)`` call each,
    then logmeanexp. Kept (correct but slow) as the benchmark's baseline."""
    x = _as_tensor(x, _model_dtype(model))
    y = _as_tensor(y, x.dtype)
    out = []
    with _evaluating(model):
        for i in range(x.shape[0]):
            xi, yi = x[i:i + 1], None if y is None else y[i:i + 1]
            ws = [float(model.log_weights(xi, yi, 1, generator=generator)[0, 0])
                  for _ in range(samples)]
            top = max(ws)
            out.append(top + math.log(sum(math.exp(w - top) for w in ws)) - math.log(samples))
    return torch.tensor(out, dtype=torch.float64)


def exact_log_likelihood(model, x, y=None) -> float | None:
    """Mean exact log-likelihood of a linear-Gaussian model (its marginal is Gaussian, e.g.
    x ~ N(0, η_enc² UUᵀ + η_dec² I) for the VAE), or None when the backbone is not linear."""
    cfg = getattr(model, "cfg", None)
    if cfg is None or getattr(cfg, "backbone", None) != "linear" or not hasattr(
            model, "exact_log_likelihood"):
        return None
    x = _as_tensor(x, _model_dtype(model))
    y = _as_tensor(y, x.dtype)
    with _evaluating(model):
        return float(model.exact_log_likelihood(x, y).to(torch.float64).mean())


# ------------------------------------------------------------------------------ theory


def _np64(t) -> np.ndarray:
    if isinstance(t, Tensor):
        t = t.detach().cpu().numpy()
    return np.asarray(t, dtype=np.float64)


def _desc(values, length: int) -> np.ndarray:
    """Sorted descending, zero-padded (or cut) to ``length``."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())[::-1]
    out = np.zeros(length)
    out[:min(length, v.size)] = v[:length]
    return out


def _encoder_singular_values(W: np.ndarray, S: np.ndarray) -> np.ndarray:
    """λ_i = √eig(W S Wᵀ) (= singular values of W P Φ^{1/2} for S = P Φ Pᵀ)."""
    M = W @ S @ W.T
    return np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (M + M.T)), 0.0, None))


def theory_comparison(model, x, y=None) -> dict[str, Any] | None:
    """Trained linear model vs the closed-form optimum for its data and hyperparameters.

    Prediction: ``vaecollapse.theory`` on float64, uncentred copies of the data (the linear
    models have no bias). Empirical, with A = XᵀX/n and S the joint second moment of [x, y]:

    - VAE:   λ = √eig(W A Wᵀ), ω = svd(U), σ = encoder std;
    - CVAE:  λ = √eig(W_j S W_jᵀ) with W_j = [W1, W2], ω = svd(U1), σ = encoder std;
    - MHVAE: λ = √eig(W1 A W1ᵀ), ω = svd(U2), σ = σ2 (the z2 encoder std).

    All sorted descending (zero-padded to latent_dim) and compared with the prediction's modes
    by mean absolute difference. None for a non-linear backbone, or for an MHVAE whose loss is
    unbounded below (learnable σ1 and σ2 with β1 > β2: docs/numerical-theory.md §2); a learnable
    σ1 otherwise uses the numerical theory.
    """
    from vaecollapse.errors import UserError
    from vaecollapse.theory import solve, statistics

    cfg = getattr(model, "cfg", None)
    if cfg is None or cfg.backbone != "linear":
        return None
    family = cfg.family
    xn = _np64(x)
    yn = None if y is None else _np64(y)
    d = cfg.latent_dim
    stats = statistics(xn, yn if family == "cvae" else None, model=family)
    hp = cfg.hyperparameters.to_dict()
    try:  # a learnable σ1 is answered by the numerical theory (docs/numerical-theory.md) …
        pred = solve(stats, d, **hp)
    except UserError:  # … unless the loss is unbounded below there: no optimum to compare
        return None
    w = {k: _np64(v) for k, v in model.linear_weights().items()}
    m = stats.moments
    if family == "vae":
        lam = _encoder_singular_values(w["W"], m.A)
        omega = np.linalg.svd(w["U"], compute_uv=False)
        sigma = w["sigma"]
        sigma_th = pred.modes["sigma"]
    elif family == "cvae":
        S = np.block([[m.A, m.C], [m.C.T, m.B]])
        lam = _encoder_singular_values(np.hstack([w["W1"], w["W2"]]), S)
        omega = np.linalg.svd(w["U1"], compute_uv=False)
        sigma = w["sigma"]
        sigma_th = pred.modes["sigma"]
    else:
        lam = _encoder_singular_values(w["W1"], m.A)
        omega = np.linalg.svd(w["U2"], compute_uv=False)
        sigma = w["sigma2"]
        sigma_th = pred.modes["sigma2"]
    emp = {"lambda": _desc(lam, d), "omega": _desc(omega, d), "sigma": _desc(sigma, d)}
    th = {"lambda": _desc(pred.modes["lambda"], d), "omega": _desc(pred.modes["omega"], d),
          "sigma": _desc(sigma_th, d)}
    out: dict[str, Any] = {f"{k}_mae": float(np.mean(np.abs(emp[k] - th[k]))) for k in emp}
    out["n_collapsed_predicted"] = int(pred.n_collapsed)
    out.update({k: emp[k].tolist() for k in emp})
    out.update({f"{k}_theory": th[k].tolist() for k in th})
    return out


# ------------------------------------------------------------------------------ report


def diagnose(model, x, y=None, *, epsilon: float | None = None, delta: float = 0.05,
             is_samples: int = 1000, generator: torch.Generator | None = None,
             eps_grid: Sequence[float] | np.ndarray | None = None,
             theory_data: tuple | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """All diagnostics of a model on data, as plain JSON-able values (the diagnostics contract)::

        {"levels": [{"name", "kl_per_dim", "kl_total", "active_units", "active_modes",
                     "active_units_kl_fraction", "collapsed_dims"}, ...],
         "mutual_information", "eps_delta": {"delta", "eps", "collapsed_fraction"},
         "n_collapsed", "log_likelihood": {"estimate", "stderr", "samples", "exact"} | null,
         "theory": {...} | null}

    Per level: KL_i averaged over samples, its sum, the active-unit measures, and the indices of
    the dimensions (ε, δ)-collapsed at ``epsilon`` (default 1e-2). ``eps_delta``, ``n_collapsed``
    and ``mutual_information`` refer to the last level (z2 for the MHVAE, as the paper plots).
    ``is_samples`` = 0 skips the likelihood. ``model`` may also be a posterior callable (user
    model): the likelihood and theory entries are then null. Noise comes from ``generator``
    (default: a fresh generator seeded 0, so repeated calls agree). ``theory_data`` = (x, y):
    the data whose moments define the closed form (default: ``x, y``) — pass the full training
    set when the other diagnostics run on a subset. Inputs of any dtype (numpy too) are moved to
    the model's device and floating dtype. ``progress(stage, done, total)`` is told of the work:
    stages ``posteriors``, ``mutual information`` and ``log-likelihood`` (points done).
    """
    epsilon = DEFAULT_EPSILON if epsilon is None else float(epsilon)
    eps_grid = default_eps_grid() if eps_grid is None else np.asarray(eps_grid, dtype=np.float64)
    x, y = model_inputs(model, x, y)
    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(0)
    n = x.shape[0]
    if progress:
        progress("posteriors", 0, n)
    posts = collect_posteriors(model, x, y, generator=generator)
    levels = []
    for post in posts:
        kl = kl_per_sample(post)
        _, mask = eps_delta_collapse(kl, np.array([epsilon]), delta)
        levels.append(level_record(post.name, kl.mean(0), active_units(post), active_modes(post),
                                   active_units_kl_fraction(kl), mask[0]))
    last = posts[-1]
    if progress:
        progress("mutual information", n, n)
    frac, _ = eps_delta_collapse(kl_per_sample(last), eps_grid, delta)
    result: dict[str, Any] = {
        "levels": levels,
        "mutual_information": _to_float(mutual_information(last, generator=generator)),
        "eps_delta": {"delta": float(delta), "eps": [float(e) for e in eps_grid],
                      "collapsed_fraction": [float(f) for f in frac]},
        "n_collapsed": len(levels[-1]["collapsed_dims"]),
        "log_likelihood": None,
        "theory": None,
    }
    if is_samples and hasattr(model, "log_weights"):
        ll = importance_log_likelihood(
            model, x, y, samples=is_samples, generator=generator,
            on_progress=(lambda done, total: progress("log-likelihood", done, total)) if progress
            else None)
        result["log_likelihood"] = {"estimate": _to_float(ll["estimate"]),
                                    "stderr": _to_float(ll["stderr"]), "samples": ll["samples"],
                                    "exact": exact_log_likelihood(model, x, y)}
    if hasattr(model, "linear_weights"):
        result["theory"] = theory_comparison(model, *(theory_data or (x, y)))
    return result
