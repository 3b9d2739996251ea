"""The paper's experiments: a declarative registry and a runner (`vaecollapse reproduce`)."""

from vaecollapse.experiments.registry import EXPERIMENTS, PROFILES, REGISTRY, Experiment, Series
from vaecollapse.experiments.runner import reproduce, run_experiment

__all__ = ["EXPERIMENTS", "PROFILES", "REGISTRY", "Experiment", "Series", "reproduce",
           "run_experiment"]
