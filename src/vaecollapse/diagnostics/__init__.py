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
- :mod:`~vaecollapse.diagnostics.diagnosis`: :func:`diagnose`, all of them as one JSON document;
- :mod:`~vaecollapse.diagnostics.streaming`: :class:`CollapseMonitor`, the per-level measures of
  ``diagnose`` streamed batch by batch inside a training loop.

**User models.** Anything that maps a batch to a list of :class:`Posterior` works with
``collect_posteriors`` and hence with every posterior-based diagnostic: either an object with
a ``posteriors(x, y, generator)`` method (the package's models) or a plain callable
``fn(x_batch, y_batch) -> list[Posterior]``. :func:`diagnose` also accepts such a callable; the
likelihood (which needs ``log_weights``) and the theory comparison (which needs a linear model)
are then ``null``.
"""

from vaecollapse.diagnostics.collapse import (
    active_modes,
    active_units,
    active_units_kl_fraction,
    default_eps_grid,
    eps_delta_collapse,
)
from vaecollapse.diagnostics.diagnosis import diagnose
from vaecollapse.diagnostics.information import mutual_information
from vaecollapse.diagnostics.likelihood import exact_log_likelihood, importance_log_likelihood
from vaecollapse.diagnostics.posteriors import collect_posteriors
from vaecollapse.diagnostics.streaming import CollapseMonitor
from vaecollapse.diagnostics.theory_comparison import theory_comparison
from vaecollapse.models.base import Posterior

__all__ = ["CollapseMonitor", "Posterior", "active_modes", "active_units",
           "active_units_kl_fraction", "collect_posteriors", "default_eps_grid", "diagnose",
           "eps_delta_collapse", "exact_log_likelihood", "importance_log_likelihood",
           "mutual_information", "theory_comparison"]
