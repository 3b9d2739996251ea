"""Collapse diagnostics of trained models: pure functions of per-level posterior parameters
(:class:`~vaecollapse.models.base.Posterior`), plus, for likelihoods and the theory comparison,
of a model. Everything is vectorised over samples and chunked, so memory stays bounded for any
number of points.

Symbols: q(z|x) = N(μ(x), diag s²(x)) one latent level, prior N(m, v) (m, v numbers or per-sample
tensors), KL_i(x) the per-dimension KL(q(z_i|x) ‖ p(z_i)).

Modules, by what they hold:

- :mod:`~vaecollapse.diagnostics.posteriors`: posteriors of a whole dataset
  (:func:`~vaecollapse.diagnostics.posteriors.collect_posteriors`), device / dtype handling;
- :mod:`~vaecollapse.diagnostics.collapse`: KL per dimension, (ε, δ)-collapse, active units and
  active modes;
- :mod:`~vaecollapse.diagnostics.information`: the mutual information I(x; z) under q;
- :mod:`~vaecollapse.diagnostics.likelihood`: importance-sampled and exact log-likelihoods;
- :mod:`~vaecollapse.diagnostics.theory_comparison`: a trained linear model against its closed
  form;
- :mod:`~vaecollapse.diagnostics.diagnosis`: :func:`diagnose`, all of them as one JSON document.

**User models.** Anything that maps a batch to a list of :class:`Posterior` works with
``collect_posteriors`` and hence with every posterior-based diagnostic: either an object with
a ``posteriors(x, y, generator)`` method (the package's models) or a plain callable
``fn(x_batch, y_batch) -> list[Posterior]``. :func:`diagnose` also accepts such a callable; the
likelihood (which needs ``log_weights``) and the theory comparison (which needs a linear model)
are then ``null``.
"""

from vaecollapse.diagnostics.diagnosis import diagnose

__all__ = ["diagnose"]
