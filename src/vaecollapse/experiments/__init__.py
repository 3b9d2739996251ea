"""The paper's experiments: a declarative registry (:mod:`~vaecollapse.experiments.registry`),
the analyses and claim checks that judge them, and the runner (`vaecollapse reproduce`;
:func:`reproduce` takes the figure drawer, :func:`vaecollapse.output.experiment_figures.draw`).
"""

from vaecollapse.experiments.registry import EXPERIMENTS, PROFILES, REGISTRY, Experiment, Series
from vaecollapse.experiments.runner import reproduce, run_experiment

__all__ = ["EXPERIMENTS", "PROFILES", "REGISTRY", "Experiment", "Series", "reproduce",
           "run_experiment"]
