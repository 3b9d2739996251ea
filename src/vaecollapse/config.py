"""The one home of a run's settings: typed hyperparameters per family, the model and training
configurations, and how they are built from options (the `train` command's, a sweep's, an
experiment's) and read back from a run's ``config.json``.

Hyperparameters (the β-ELBO's, per family; :data:`HYPERPARAMETERS`):

- VAE and CVAE: loss = −log p(target | z) + β · KL(q(z | ·) ‖ N(0, η_enc² I)) with
  p(target | z) = N(dec(z), η_dec² I); ``sigma`` fixes the encoder std (Σ = σ² I), None makes it
  learnable.
- MHVAE (x → z1 → z2): β1 weighs the z1 term E[log q(z1|x) − log p(z1|z2)], β2 the KL of z2
  against p(z2) = N(0, η_enc² I); p(z1|z2) and p(x|z1) have std η_dec; ``sigma1`` / ``sigma2``
  fix the encoder std of each level (None: learnable).

Each class is a frozen dataclass, validated once when it is built. Adding a hyperparameter means
adding a field to its class (and using it where it acts): every list of names (the CLI's, the
theory's, the sweeps') is derived from these classes.

No torch, matplotlib or pydantic here: `vaecollapse predict` stays quick to start.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from vaecollapse.errors import HyperparameterError, UserError, check_cvae_target
from vaecollapse.limits import HIDDEN, LATENT_DIM, WEIGHT, check

#: version of the config.json layout (1: hyperparameters nested under model.hyperparameters;
#: files without it are the older flat layout, migrated on read)
SCHEMA_VERSION = 1

BACKBONES = ("linear", "mlp", "cnn", "resnet18")
SCHEDULES = ("constant", "cosine")


# ------------------------------------------------------------------------------ hyperparameters


def _check_hyperparameters(hp) -> None:
    """Weights (β's, η's) finite and > 0; encoder stds None or finite and > 0; all within
    :data:`vaecollapse.limits.WEIGHT`."""
    for f in fields(hp):
        v = getattr(hp, f.name)
        if v is None and f.name in hp.STDS:
            continue
        if not (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                and v > 0):
            raise HyperparameterError(f"{f.name} must be a finite number > 0, got {v!r}")
        check(f.name, v, WEIGHT)


class _Hyperparameters:
    """What every family's hyperparameter class shares (its fields are the hyperparameters)."""

    #: the weight (field name) on each latent level's KL term
    LEVEL_WEIGHTS: ClassVar[dict[str, str]] = {}
    #: the encoder stds (None = learnable)
    STDS: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        _check_hyperparameters(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def level_weight(self, level: str) -> float:
        """The β on latent level ``level``'s KL term."""
        if level not in self.LEVEL_WEIGHTS:
            raise HyperparameterError(f"no KL weight known for the latent level {level!r}")
        return getattr(self, self.LEVEL_WEIGHTS[level])


@dataclass(frozen=True)
class _SingleLevel(_Hyperparameters):
    beta: float = 1.0
    eta_enc: float = 1.0
    eta_dec: float = 1.0
    sigma: float | None = None

    LEVEL_WEIGHTS: ClassVar[dict[str, str]] = {"z": "beta"}
    STDS: ClassVar[tuple[str, ...]] = ("sigma",)


@dataclass(frozen=True)
class VAEHyperparameters(_SingleLevel):
    """VAE: ``beta`` β, the weight of KL(q(z|x) ‖ p(z)) in the β-ELBO (1: the ELBO);
    ``eta_enc`` η_enc, the prior's std, p(z) = N(0, η_enc² I); ``eta_dec`` η_dec, the decoder's
    std, p(x|z) = N(dec(z), η_dec² I); ``sigma`` σ, a fixed encoder std (unlearnable Σ = σ² I),
    or None for a learnable encoder variance."""


@dataclass(frozen=True)
class CVAEHyperparameters(_SingleLevel):
    """CVAE (condition x, target y): as the VAE's, with KL(q(z|x,y) ‖ N(0, η_enc² I)) weighted by
    ``beta`` and p(y|x,z) = N(h(x) + k(z), η_dec² I); ``sigma``: fixed encoder std or None
    (learnable)."""


@dataclass(frozen=True)
class MHVAEHyperparameters(_Hyperparameters):
    """Two-latent Markovian hierarchical VAE: ``beta1`` β1 weighs the z1 term
    E[log q(z1|x) − log p(z1|z2)], ``beta2`` β2 the KL of q(z2|z1) against p(z2) =
    N(0, η_enc² I); ``eta_enc`` η_enc is the top prior's std, ``eta_dec`` η_dec the std of
    p(z1|z2) and p(x|z1); ``sigma1``, ``sigma2``: fixed encoder stds of z1 and z2, or None
    (learnable)."""

    beta1: float = 1.0
    beta2: float = 1.0
    eta_enc: float = 1.0
    eta_dec: float = 1.0
    sigma1: float | None = None
    sigma2: float | None = None

    LEVEL_WEIGHTS: ClassVar[dict[str, str]] = {"z1": "beta1", "z2": "beta2"}
    STDS: ClassVar[tuple[str, ...]] = ("sigma1", "sigma2")


Hyperparameters = VAEHyperparameters | CVAEHyperparameters | MHVAEHyperparameters

#: family → its hyperparameter class (the families' one list)
HYPERPARAMETERS: dict[str, type] = {"vae": VAEHyperparameters, "cvae": CVAEHyperparameters,
                                    "mhvae": MHVAEHyperparameters}
FAMILIES = tuple(HYPERPARAMETERS)
#: every family's hyperparameter names, each once
HYPERPARAMETER_NAMES = tuple(dict.fromkeys(n for c in HYPERPARAMETERS.values() for n in c.names()))


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise UserError(f"unknown model {family!r}: choose one of {', '.join(FAMILIES)}")
    return family


def _and(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def hyperparameter_options(family: str, options: dict[str, Any],
                           name: Callable[[str], str] = str) -> dict[str, Any]:
    """The family's hyperparameters from ``options`` (None or absent: the default), in its
    class's order, unchecked (the theory accepts per-dimension σ's). A value given for another
    family's hyperparameter is an error naming whose it is (``name(n)`` spells the name ``n``
    in it: e.g. the CLI's flag)."""
    cls = HYPERPARAMETERS[check_family(family)]
    given = {k for k, v in options.items() if v is not None}
    unknown = sorted(given - set(HYPERPARAMETER_NAMES))
    if unknown:
        raise HyperparameterError(f"unknown hyperparameter(s) {', '.join(map(name, unknown))}")
    foreign = [n for n in HYPERPARAMETER_NAMES if n in given and n not in cls.names()]
    if foreign:
        owners = _and(f.upper() for f, c in HYPERPARAMETERS.items() if foreign[0] in c.names())
        raise HyperparameterError(f"the {family.upper()} takes {_and(map(name, cls.names()))}, "
                                  f"not {_and(map(name, foreign))} ({name(foreign[0])} is for "
                                  f"the {owners})")
    defaults = {f.name: f.default for f in fields(cls)}
    return {n: defaults[n] if options.get(n) is None else options[n] for n in cls.names()}


def hyperparameters(family: str, **options) -> Hyperparameters:
    """The validated hyperparameters of ``family`` (see :func:`hyperparameter_options`)."""
    return HYPERPARAMETERS[check_family(family)](**hyperparameter_options(family, options))


# ------------------------------------------------------------------------------ model


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model (saved in a run's config.json): the family, the
    backbone, input sizes and image shapes, the MLP hidden sizes, and the family's
    ``hyperparameters`` (None: its defaults)."""

    family: str
    backbone: str
    dim_x: int
    latent_dim: int
    dim_y: int = 0
    hidden: list[int] = field(default_factory=lambda: [256])
    x_shape: list[int] | None = None
    y_shape: list[int] | None = None
    hyperparameters: Hyperparameters | None = None

    def __post_init__(self):
        if self.hyperparameters is None and self.family in HYPERPARAMETERS:
            self.hyperparameters = HYPERPARAMETERS[self.family]()

    @classmethod
    def of(cls, family: str, backbone: str, dim_x: int, latent_dim: int, *, dim_y: int = 0,
           hidden=(256,), x_shape=None, y_shape=None, **hyperparameter_values) -> ModelConfig:
        """A validated ModelConfig with the hyperparameters given by name (flat)."""
        return cls(family=family, backbone=backbone, dim_x=dim_x, latent_dim=latent_dim,
                   dim_y=dim_y, hidden=list(hidden), x_shape=x_shape, y_shape=y_shape,
                   hyperparameters=hyperparameters(family, **hyperparameter_values)).validate()

    def validate(self) -> ModelConfig:
        if self.family not in FAMILIES:
            raise HyperparameterError(f"unknown model {self.family!r}: choose one of {', '.join(FAMILIES)}")
        if self.backbone not in BACKBONES:
            raise HyperparameterError(
                f"unknown backbone {self.backbone!r}: choose one of {', '.join(BACKBONES)}")
        if type(self.hyperparameters) is not HYPERPARAMETERS[self.family]:
            raise HyperparameterError(
                f"the {self.family.upper()} takes {HYPERPARAMETERS[self.family].__name__}, got "
                f"{type(self.hyperparameters).__name__}")
        check_cvae_target(self.family, self.dim_y > 0)
        if self.backbone == "resnet18" and self.family != "vae":
            raise HyperparameterError("the resnet18 backbone is for the VAE (the paper's Fig. 5)")
        if self.backbone in ("cnn", "resnet18") and self.x_shape is None:
            raise HyperparameterError(
                f"the {self.backbone} backbone needs image data (an mnist or idx spec)")
        if self.latent_dim < 1:
            raise HyperparameterError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if any(h < 1 for h in self.hidden):
            raise HyperparameterError(f"hidden sizes must be >= 1, got {self.hidden}")
        check("latent_dim", self.latent_dim, LATENT_DIM)
        for h in self.hidden:
            check("each hidden size", h, HIDDEN)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------ training


@dataclass
class TrainConfig:
    """Training settings. ``clip``: maximum gradient norm (None = no clipping). ``schedule``:
    ``constant`` learning rate, or ``cosine`` annealing from ``lr`` to 0 over all steps (lets
    stochastic training settle on the optimum, e.g. to check a closed form).

    Evaluation (per-epoch metrics and the final diagnostics) uses ``eval_points`` points drawn
    at random from ``eval_data`` (default: the training data, e.g. ``mnist:part=test`` for a
    held-out part) with ``eval_seed`` — the same points for every run that shares them, whatever
    its training seed (:func:`vaecollapse.data.evaluation_index`)."""

    data: str
    model: ModelConfig
    epochs: int = 20
    lr: float = 1e-3
    schedule: str = "constant"
    batch_size: int = 128
    clip: float | None = None
    seed: int = 0
    device: str = "auto"
    eval_points: int = 2000
    eval_data: str | None = None
    eval_seed: int = 0
    epsilon: float = 1e-2
    delta: float = 0.05
    diagnostics_is_samples: int = 100
    # remedies for collapse (vaecollapse.mitigations): KL warm-up over kl_warmup epochs (Bowman
    # et al. 2016), kl_cycles cyclical annealing cycles ramping over kl_cycle_ratio of each (Fu
    # et al. 2019), a per-dimension KL floor of free_bits nats (Kingma et al. 2016)
    kl_warmup: int = 0
    kl_cycles: int = 0
    kl_cycle_ratio: float = 0.5
    free_bits: float | None = None

    def validate(self) -> TrainConfig:
        from vaecollapse import limits, mitigations

        self.model.validate()
        mitigations.validate(self)
        if self.epochs < 1:
            raise HyperparameterError(f"epochs must be >= 1, got {self.epochs}")
        if not (0 < self.lr < 1e30):
            raise HyperparameterError(f"lr must be a finite number > 0, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise HyperparameterError(f"schedule must be one of {', '.join(SCHEDULES)}, got "
                                      f"{self.schedule!r}")
        if self.batch_size < 1:
            raise HyperparameterError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.clip is not None and not (self.clip > 0 and math.isfinite(self.clip)):
            raise HyperparameterError(f"clip must be a finite number > 0, got {self.clip}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise HyperparameterError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if not (0 < self.delta < 1):
            raise HyperparameterError(f"delta must be in (0, 1), got {self.delta}")
        limits.check("epochs", self.epochs, limits.EPOCHS)
        limits.check("batch_size", self.batch_size, limits.BATCH_SIZE)
        limits.check("seed", self.seed, limits.SEED)
        limits.check("eval_points", self.eval_points, limits.POINTS)
        limits.check("diagnostics_is_samples", self.diagnostics_is_samples, limits.IS_SAMPLES)
        return self

    def to_dict(self) -> dict[str, Any]:
        """config.json's content (without its runtime entry), with ``schema_version``."""
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """From :meth:`to_dict`'s form, or an older config.json's (migrated)."""
        return from_json(d, "run configuration")


# ------------------------------------------------------------------------------ from JSON


def migrate(data: Any) -> Any:
    """A config.json object in the current layout: files without ``schema_version`` (flat
    ``beta``, ``beta1``, … keys in ``model``) get their family's hyperparameters nested under
    ``model.hyperparameters`` (the other family's keys, which the old layout always wrote, are
    dropped) and the current schema_version. Anything else is returned unchanged."""
    if not isinstance(data, dict) or "schema_version" in data or not isinstance(
            data.get("model"), dict) or "hyperparameters" in data["model"]:
        return data
    model = dict(data["model"])
    flat = {n: model.pop(n) for n in HYPERPARAMETER_NAMES if n in model}
    family = model.get("family")
    if family in HYPERPARAMETERS:
        model["hyperparameters"] = {n: flat[n] for n in HYPERPARAMETERS[family].names() if n in flat}
    return {"schema_version": SCHEMA_VERSION, **data, "model": model}


def from_json(data: Any, where: str) -> TrainConfig:
    """A validated TrainConfig from a config.json object (its ``runtime`` entry ignored; an old
    layout migrated); every key and type is checked, a wrong one is a UserError naming ``where``
    (see :func:`vaecollapse.records.typed`)."""
    from vaecollapse.records import CorruptFile, typed

    data = migrate(data)
    if not isinstance(data, dict):
        raise CorruptFile(f"{where}: the file must be a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CorruptFile(f"{where}: schema_version {version!r} is not one this version reads "
                          f"({SCHEMA_VERSION})")
    data = {k: v for k, v in data.items() if k not in ("runtime", "schema_version")}
    model = data.get("model")
    if not isinstance(model, dict):
        raise CorruptFile(f"{where}: model must be a JSON object, got {model!r}")
    family = model.get("family")
    if family not in FAMILIES:
        raise CorruptFile(f"{where}: model.family must be one of {', '.join(FAMILIES)}, got "
                          f"{family!r}")
    model = dict(model)
    hp = model.pop("hyperparameters", {})
    try:
        hp_obj = typed(HYPERPARAMETERS[family], hp, where, prefix="model.hyperparameters.")
        cfg = typed(TrainConfig, {**data, "model": model}, where)
        cfg.model.hyperparameters = hp_obj
        return cfg.validate()
    except CorruptFile:
        raise
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


# ------------------------------------------------------------------------------ from options


def load_dataset(spec: str, datasets: dict | None = None):
    """The data set of ``spec``, loaded once per ``datasets`` (a dict shared by the steps of one
    run or one sweep check: spec → Dataset); without it, loaded afresh."""
    from vaecollapse.data import load

    if datasets is None:
        return load(spec)
    if spec not in datasets:
        datasets[spec] = load(spec)
    return datasets[spec]


def run_dataset(spec: str, family: str, datasets: dict | None = None):
    """The data set of ``spec`` for ``family`` (the CVAE needs its target y)."""
    ds = load_dataset(spec, datasets)
    check_cvae_target(family, ds.y is not None, spec)
    return ds


def y_shape_for(split: str | None) -> list[int] | None:
    """Image shape of the CVAE target: the three quarters as channels, or the bottom half."""
    return {"quarter": [3, 14, 14], "half": [14, 28]}.get(split or "")


def model_config_for(dataset, family: str, backbone: str, latent_dim: int, *, hidden=(256,),
                     **hyperparameter_values) -> ModelConfig:
    """A ModelConfig whose input sizes and image shapes match ``dataset``; hyperparameters by
    name (flat)."""
    cvae = family == "cvae"
    return ModelConfig.of(family, backbone, dataset.dim_x, latent_dim,
                          dim_y=dataset.dim_y if cvae else 0, hidden=hidden,
                          x_shape=list(dataset.x_shape) if dataset.x_shape else None,
                          y_shape=y_shape_for(dataset.split) if cvae else None,
                          **hyperparameter_values)


def parse_hidden(hidden) -> list[int]:
    """'256' or '256,128' (or a list) → hidden layer sizes."""
    if isinstance(hidden, list | tuple):
        sizes = [int(h) for h in hidden]
    else:
        try:
            sizes = [int(t) for t in str(hidden).split(",") if t.strip()]
        except ValueError:
            raise UserError(f"hidden takes layer sizes separated by commas, got {hidden!r}") from None
    if not sizes or any(h < 1 for h in sizes):
        raise UserError(f"hidden sizes must be whole numbers >= 1, got {hidden!r}")
    return sizes


EVALUATION_OPTIONS = ("eval_points", "eval_data", "eval_seed", "epsilon", "delta",
                      "diagnostics_is_samples")


def config_from_options(*, model: str = "vae", backbone: str = "mlp", data: str = "mnist",
                        latent_dim: int = 16, hidden="256", epochs: int | None = None,
                        lr: float = 1e-3, schedule: str = "constant", batch_size: int = 128,
                        clip=None, seed: int = 0, device: str = "auto", kl_warmup: int = 0,
                        kl_cycles: int = 0, kl_cycle_ratio: float = 0.5, free_bits=None,
                        datasets: dict | None = None, **options) -> TrainConfig:
    """A validated TrainConfig from the `train` command's options (one mapping for the CLI, sweeps
    and the paper's experiments). Loads the data spec to size the model (into ``datasets``, when
    given, so that the run reuses it). ``options`` holds the family's hyperparameters by name
    (:data:`HYPERPARAMETERS`; None = default) and may set TrainConfig's evaluation settings
    (:data:`EVALUATION_OPTIONS`)."""
    check_family(model)
    hp_values = {k: options.pop(k) for k in HYPERPARAMETER_NAMES if k in options}
    hp = hyperparameters(model, **hp_values)
    unknown = set(options) - set(EVALUATION_OPTIONS)
    if unknown:
        raise UserError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    ds = run_dataset(data, model, datasets)
    if options.get("eval_data"):
        ev = run_dataset(options["eval_data"], model, datasets)
        if (ds.dim_x, ds.dim_y) != (ev.dim_x, ev.dim_y):
            raise UserError(f"the evaluation data {ev.spec!r} has dimensions (x {ev.dim_x}, "
                            f"y {ev.dim_y}) unlike the training data {ds.spec!r} (x {ds.dim_x}, "
                            f"y {ds.dim_y})")
    mcfg = model_config_for(ds, model, backbone, int(latent_dim), hidden=parse_hidden(hidden),
                            **hp.to_dict())
    return TrainConfig(data=data, model=mcfg, epochs=20 if epochs is None else int(epochs), lr=lr,
                       schedule=schedule, batch_size=int(batch_size), clip=clip, seed=int(seed),
                       device=device, kl_warmup=int(kl_warmup), kl_cycles=int(kl_cycles),
                       kl_cycle_ratio=float(kl_cycle_ratio),
                       free_bits=None if free_bits is None else float(free_bits),
                       **options).validate()
