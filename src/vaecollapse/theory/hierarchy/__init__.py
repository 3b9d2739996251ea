"""Numerical theory of linear hierarchical VAEs where no closed form exists
(docs/numerical-theory.md): L = 1…5 levels, Markov or ladder inference, per-level β, latent
sizes and fixed or learnable encoder variances — the MHVAE with Σ1 learnable among them.

Pipeline, one module per step:

1. :mod:`~vaecollapse.theory.hierarchy.setting` — the setting (:class:`Hierarchy`) and its exact
   boundedness condition (docs §2): the loss is bounded below iff the β's of the levels with a
   *learnable* encoder variance are non-decreasing in level order. Unbounded settings have no
   optimum and are reported as such, never solved.
2. :mod:`~vaecollapse.theory.hierarchy.chain` — the loss reduced by its symmetry: with every map
   diagonal in the eigenbasis of A = E[xxᵀ] the loss is a sum of independent one-dimensional
   problems, one chain of levels per mode θ_i (docs §4), each solved by
   :mod:`~vaecollapse.theory.hierarchy.newton` (batched saddle-free Newton, exact autograd
   Hessian, float64) from a fixed set of starts; the decoders are profiled out.
3. :mod:`~vaecollapse.theory.hierarchy.optimum` — the global optimum of every mode, the full
   weight matrices assembled from it, and the check of the reduction: the same loss minimised
   over full matrices on small instances.
4. :mod:`~vaecollapse.theory.hierarchy.critical` — per mode, the β of a level (or η_dec) at
   which the top level collapses: continuation from the collapsed branch, bisection as fallback.
5. :mod:`~vaecollapse.theory.hierarchy.assemble` — the result as a
   :class:`~vaecollapse.theory.prediction.Prediction` for ``predict``.

The setting is numpy only; every other step imports torch, so :mod:`vaecollapse.theory.dispatch`
imports them only for settings that need them.
"""

__all__: list[str] = []
