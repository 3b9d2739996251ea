"""Posteriors of a whole dataset, and the device / dtype / eval-mode handling every diagnostic
shares.

Symbols: q(z|x) = N(μ(x), diag s²(x)) one latent level, prior N(m, v) (m, v numbers or per-sample
tensors). A model is anything that yields per-level :class:`~vaecollapse.models.base.Posterior`
lists for a batch: an object with ``posteriors(x, y, generator)`` (the package's models) or a
plain callable ``fn(x_batch, y_batch) -> list[Posterior]`` (the user-model protocol).
:func:`collect_posteriors` runs it over the data in chunks, so memory stays bounded for any
number of points, and concatenates the (n_b, *event) parameters to (n, *event).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor

from vaecollapse.models.base import Posterior


def as_tensor(a, dtype: torch.dtype | None = None) -> Tensor | None:
    """``a`` (tensor, numpy array or nested numbers; None passes through) as a tensor, cast to
    ``dtype`` when given (numpy input: the default floating dtype otherwise)."""
    if a is None:
        return None
    if isinstance(a, Tensor):
        return a if dtype is None else a.to(dtype)
    return torch.as_tensor(np.asarray(a), dtype=dtype or torch.get_default_dtype())


def _parameters(model) -> list[Tensor]:
    """A model's parameters; none for a parameter-free callable."""
    params = getattr(model, "parameters", None)
    return [] if params is None else list(params())


def model_dtype(model) -> torch.dtype | None:
    """The dtype of a model's first floating parameter; None for a parameter-free callable."""
    return next((p.dtype for p in _parameters(model) if p.is_floating_point()), None)


def _model_device(model) -> torch.device | None:
    """The device of a model's first parameter; None for a parameter-free callable."""
    return next((p.device for p in _parameters(model)), None)


def model_inputs(model, x, y=None) -> tuple[Tensor, Tensor | None]:
    """``x`` and ``y`` as tensors on the model's device in its floating dtype (any float or integer
    input dtype, numpy arrays too); for a parameter-free callable, x keeps a floating dtype and y
    follows x."""
    dtype = model_dtype(model)
    x = as_tensor(x, dtype)
    if dtype is None and not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    device = _model_device(model)
    if device is not None:
        x = x.to(device)
    y = as_tensor(y, x.dtype)
    return x, None if y is None else y.to(x.device)


@contextmanager
def evaluating(model):
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


def batches(n: int, size: int):
    """Slices of ``range(n)`` of ``size`` rows each (the last one shorter)."""
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


def collect_posteriors(model_or_fn, x, y=None, *, batch_size: int = 1024,
                       generator: torch.Generator | None = None) -> list[Posterior]:
    """Per-level posteriors of the whole dataset, computed in chunks of ``batch_size`` rows.

    ``model_or_fn`` is a model with ``posteriors(x, y, generator) -> list[Posterior]`` or any
    callable ``fn(x_batch, y_batch) -> list[Posterior]`` (the user-model protocol). Runs under
    ``torch.no_grad()`` (and eval mode for modules); per level, the means and log-variances
    (n_b, *event) are concatenated to (n, *event), and so are per-sample prior parameters (e.g. the MHVAE's
    p(z1|z2) mean); scalar / shared priors are kept as they are.
    """
    x, y = model_inputs(model_or_fn, x, y)
    is_model = hasattr(model_or_fn, "posteriors")
    chunks: list[list[Posterior]] = []
    with evaluating(model_or_fn):
        for sl in batches(x.shape[0], batch_size):
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
            _concat_prior([p.prior_logvar for p in parts], means), parts[0].unit))
    return out


def as_float64(post: Posterior) -> Posterior:
    """A detached float64 copy of a posterior (on its device), prior parameters included;
    ``as_float64(post).unit_kl()`` is the per-sample, per-unit KL_u(x) (n, U) in float64 whatever
    the model's dtype (so half-precision models get exact diagnostics)."""
    def f64(v):
        return v.detach().to(torch.float64) if isinstance(v, Tensor) else v

    return Posterior(post.name, f64(post.mean), f64(torch.as_tensor(post.logvar)),
                     f64(post.prior_mean), f64(post.prior_logvar), post.unit)
