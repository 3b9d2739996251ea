"""The registry: every experiment of `vaecollapse reproduce`, by topic — the paper's results
(:mod:`~.paper_results`), the remedies (:mod:`~.remedy_experiments`) and the linear hierarchies
of the numerical theory (:mod:`~.hierarchy_experiments`) and the non-linear theory beyond the
paper (:mod:`~.nonlinear_experiments`), the sentence VAE (:mod:`~.text_experiments`); their shared settings in
:mod:`~.shared_settings`.

Each :class:`~vaecollapse.experiments.definition.Experiment` names its data and model (shared `train`
options), the series of runs, the claim and the check that judges it, the analysis, the seeds
per grid point and its minutes per profile on 2 CPU cores. Building the registry checks every
entry's checks against its analysis's protocol (:func:`~vaecollapse.experiments.checks.check_experiment`)
and that names are unique: a wrong entry fails at import, before any training.
"""

from __future__ import annotations

from vaecollapse.experiments.checks import check_experiment
from vaecollapse.experiments.definition import PROFILES, SEEDS, Experiment, Series, Variant
from vaecollapse.experiments.registry.hierarchy_experiments import HIERARCHY_EXPERIMENTS
from vaecollapse.experiments.registry.nonlinear_experiments import NONLINEAR_EXPERIMENTS
from vaecollapse.experiments.registry.paper_results import PAPER_RESULTS
from vaecollapse.experiments.registry.remedy_experiments import REMEDY_EXPERIMENTS
from vaecollapse.experiments.registry.text_experiments import TEXT_EXPERIMENTS

__all__ = ["EXPERIMENTS", "PROFILES", "REGISTRY", "SEEDS", "Experiment", "Series", "Variant",
           "build_registry"]


def build_registry(experiments: list[Experiment]) -> dict[str, Experiment]:
    """Name → experiment, each checked (:func:`check_experiment`; a duplicate name is an error)."""
    registry: dict[str, Experiment] = {}
    for exp in experiments:
        if exp.name in registry:
            raise TypeError(f"two experiments are named {exp.name}")
        check_experiment(exp)
        registry[exp.name] = exp
    return registry


EXPERIMENTS: list[Experiment] = [*PAPER_RESULTS, *REMEDY_EXPERIMENTS, *HIERARCHY_EXPERIMENTS,
                                 *NONLINEAR_EXPERIMENTS, *TEXT_EXPERIMENTS]
REGISTRY: dict[str, Experiment] = build_registry(EXPERIMENTS)
