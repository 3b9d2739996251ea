"""What an experiment is: a typed spec (:class:`Experiment`, its :class:`Series`), one training
run of it (:class:`Variant`), a series value computed when the experiment runs
(:class:`Computed`) and a figure an analysis asks for (:class:`FigureSpec`). The entries are in
:mod:`vaecollapse.experiments.registry`; docs/experiments.md describes them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PROFILES = ("quick", "paper")
#: Training seeds per grid point and profile (an experiment may ask for fewer in ``seeds``).
SEEDS = {"quick": 3, "paper": 5}


def value_name(v) -> str:
    """How a swept value is written in run names, labels and tables (None: a learnable σ)."""
    return "learnable" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


@dataclass(frozen=True)
class Computed:
    """A series value computed from the data when the experiment runs, never pasted into the
    registry: ``of(options, cache)`` with the series' full `train` options (other values of the
    run filled in) and the analysis's :class:`~vaecollapse.runs.predicted.TheoryCache` (e.g. the
    β that `vaecollapse advise` recommends on the run's data). ``label`` describes it."""

    label: str
    of: Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class FigureSpec:
    """A figure an analysis asks for: the file ``name`` in the experiment's directory, the
    drawing ``kind`` (a function of :mod:`vaecollapse.output.experiment_figures`, called with
    ``data`` as keywords and the path) and its data (plain numbers and arrays). The analyses
    compute; the output layer draws."""

    name: str
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Series:
    """Runs of one panel: ``param`` swept over ``values`` with ``options`` on top of the base.

    ``label`` names the panel (figures, tables, claims); ``checked``: part of the claim check
    (else reported only); ``direction``: the claimed trend along this series relative to the
    check's (−1: the reverse, e.g. larger β1 mitigates what larger β2 causes); ``quick``: options
    on top of ``options`` in the quick profile only.
    """

    label: str
    param: str
    values: tuple
    options: dict[str, Any] = field(default_factory=dict)
    checked: bool = True
    direction: int = +1
    quick: dict[str, Any] = field(default_factory=dict)

    def options_for(self, profile: str) -> dict[str, Any]:
        """The series' options in a profile (``quick`` adds its own overrides)."""
        return {**self.options, **(self.quick if profile == "quick" else {})}


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """One result of the paper: what is trained, what is claimed and how the claim is judged.

    - ``name``: the output directory and the name `vaecollapse reproduce` takes; ``title``: the
      figures' and the report's heading.
    - ``claim``: the paper's claim in one sentence; ``check``: the callable that judges it (from
      :mod:`vaecollapse.experiments.claims`, e.g. ``increasing``: a one-sided Spearman test per
      series; or from :mod:`~vaecollapse.experiments.remedies` for the remedies), called by
      ``analysis`` with the runs grouped as that analysis documents.
    - ``analysis``: the function that turns the finished runs into figure specs and claims
      (:mod:`vaecollapse.experiments.analyses`: ``curves``, ``linear_sweep``, ``depth``,
      ``grid``, ``verify``; :func:`~vaecollapse.experiments.remedies.mitigation`); it declares
      the protocol ``check`` (and ``second_check``) must follow
      (:mod:`vaecollapse.experiments.checks`, checked when the registry is built).
    - ``base``: `train` options shared by every run; ``quick`` / ``paper``: the profile's options
      on top of them, plus the runner's own: ``grid`` (the β1 × β2 values: the runs are the grid's
      points) and ``instances`` (random problems of a theorem check).
    - ``series``: the swept panels (none: a grid, or one run per seed).
    - ``minutes``: per profile on 2 CPU cores (quick: measured; paper: estimated).
    - ``nominal_beta``: β, β1, β2 are the paper's nominal values, halved into β-ELBO weights for
      non-linear models (see the registry's docstring).
    - ``epsilon``, ``delta``: the (ε,δ)-collapse thresholds of the diagnostics.
    - ``decide_epochs``: with fewer epochs the claims are left undecided (null).
    - ``seeds``: training seeds per grid point and profile; ``test_eval``: evaluate on the data's
      test part (where the paper used the test set).
    - ``data_template``: the data spec with the swept ``{digit}`` or ``{corr}`` filled in.
    - ``note``: shown in meta.json and the report; ``measured_claim``: a second claim — the
      remedies' (measured on the non-linear model, beyond the theory), or one that the analysis
      has ``second_check`` judge (``linear_sweep``: two arms, ``depth``: Markov vs ladder);
      ``keep``: advise-check's K per model.
    - ``role`` / ``second_role``: what the claim and the second claim are in the counts
      (:data:`vaecollapse.experiments.verdict.ROLES`: a paper statement, a theory's agreement
      with training, a property of the theory, or measured beyond the paper).
    """

    name: str
    title: str
    claim: str
    analysis: Callable[..., tuple[list[FigureSpec], list[dict]]]
    check: Callable[..., Any]
    base: dict[str, Any]
    series: tuple[Series, ...] = ()
    quick: dict[str, Any] = field(default_factory=dict)
    paper: dict[str, Any] = field(default_factory=dict)
    minutes: dict[str, float] = field(default_factory=dict)
    nominal_beta: bool = False
    epsilon: float = 1e-2
    delta: float = 0.05
    decide_epochs: int = 0
    seeds: dict[str, int] = field(default_factory=lambda: dict(SEEDS))
    test_eval: bool = False
    data_template: str | None = None
    note: str | None = None
    measured_claim: str | None = None
    second_check: Callable[..., Any] | None = None
    keep: dict[str, int] = field(default_factory=dict)
    role: str = "paper"
    second_role: str = "beyond"

    @property
    def kind(self) -> str:
        """The analysis's name: curves | linear_sweep | depth | grid | verify | mitigation."""
        return self.analysis.__name__

    def options(self, profile: str) -> dict[str, Any]:
        """The base train options with the profile's overrides."""
        return {**self.base, **(self.quick if profile == "quick" else self.paper)}

    def n_seeds(self, profile: str) -> int:
        return self.seeds.get(profile, SEEDS[profile])


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One training run of an experiment: a grid point (``series`` and ``values``) and a seed."""

    name: str
    series: Series | None
    values: dict[str, Any]
    seed: int
    options: dict[str, Any]
