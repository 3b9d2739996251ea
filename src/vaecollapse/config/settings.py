"""The model and training configurations (:class:`ModelConfig`, :class:`TrainConfig`) and how
a run's ``config.json`` is read back (``schema_version``; the older flat layout is migrated)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from vaecollapse import limits
from vaecollapse.config.hyperparameters import (
    HYPERPARAMETER_NAMES,
    HYPERPARAMETERS,
    Hyperparameters,
    hyperparameters,
)
from vaecollapse.errors import HyperparameterError, UserError
from vaecollapse.family import FAMILIES, Family
from vaecollapse.files.records import CorruptFile, typed
from vaecollapse.limits import HIDDEN, LATENT_DIM, check

#: version of the config.json layout (1: hyperparameters nested under model.hyperparameters;
#: files without it are the older flat layout, migrated on read)
CONFIG_SCHEMA_VERSION = 1

BACKBONES = ("linear", "mlp", "cnn", "resnet18")
SCHEDULES = ("constant", "cosine")
#: the training step: ``auto`` the hand-differentiated step where it covers the model
#: (vaecollapse.models.fast_step), else autograd; ``off`` always autograd
FAST_STEPS = ("auto", "off")


# ------------------------------------------------------------------------------ model


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model (saved in a run's config.json): the family, the
    backbone, input sizes and image shapes, the MLP hidden sizes, and the family's
    ``hyperparameters`` (None: its defaults). ``latent_dims``: the MHVAE's latent size per level
    (None: ``latent_dim`` at every level; given, its first entry is ``latent_dim``)."""

    family: Family
    backbone: str
    dim_x: int
    latent_dim: int
    dim_y: int = 0
    hidden: list[int] = field(default_factory=lambda: [256])
    x_shape: list[int] | None = None
    y_shape: list[int] | None = None
    hyperparameters: Hyperparameters | None = None
    latent_dims: list[int] | None = None

    def __post_init__(self):
        if self.family in HYPERPARAMETERS:
            self.family = Family(self.family)
            if self.hyperparameters is None:
                self.hyperparameters = HYPERPARAMETERS[self.family]()

    @classmethod
    def of(cls, family: str, backbone: str, dim_x: int, latent_dim: int, *, dim_y: int = 0,
           hidden=(256,), x_shape=None, y_shape=None, latent_dims=None,
           **hyperparameter_values) -> ModelConfig:
        """A validated ModelConfig with the hyperparameters given by name (flat)."""
        return cls(family=family, backbone=backbone, dim_x=dim_x, latent_dim=latent_dim,
                   dim_y=dim_y, hidden=list(hidden), x_shape=x_shape, y_shape=y_shape,
                   hyperparameters=hyperparameters(family, **hyperparameter_values),
                   latent_dims=None if latent_dims is None else [int(d) for d in latent_dims]
                   ).validate()

    @property
    def level_dims(self) -> list[int]:
        """The latent size of each level (one entry for the VAE and CVAE)."""
        if not self.family.hierarchical:
            return [self.latent_dim]
        return list(self.latent_dims or [self.latent_dim] * self.hyperparameters.levels)

    def validate(self) -> ModelConfig:
        self.family = Family.parse(self.family)
        if self.backbone not in BACKBONES:
            raise HyperparameterError(
                f"unknown backbone {self.backbone!r}: choose one of {', '.join(BACKBONES)}")
        if type(self.hyperparameters) is not HYPERPARAMETERS[self.family]:
            raise HyperparameterError(
                f"the {self.family.upper()} takes {HYPERPARAMETERS[self.family].__name__}, got "
                f"{type(self.hyperparameters).__name__}")
        self.family.require_target(self.dim_y > 0)
        if self.backbone == "resnet18" and self.family is not Family.VAE:
            raise HyperparameterError("the resnet18 backbone is for the VAE (the paper's Fig. 5)")
        if self.backbone in ("cnn", "resnet18") and self.x_shape is None:
            raise HyperparameterError(
                f"the {self.backbone} backbone needs image data (an mnist or idx spec)")
        if self.latent_dim < 1:
            raise HyperparameterError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if any(h < 1 for h in self.hidden):
            raise HyperparameterError(f"hidden sizes must be >= 1, got {self.hidden}")
        check("latent_dim", self.latent_dim, LATENT_DIM)
        if self.latent_dims is not None:
            self._check_latent_dims()
        for h in self.hidden:
            check("each hidden size", h, HIDDEN)
        return self

    def _check_latent_dims(self) -> None:
        dims, hp = self.latent_dims, self.hyperparameters
        if not self.family.hierarchical:
            raise HyperparameterError("latent_dims (a size per level) is for the MHVAE")
        if len(dims) != hp.levels:
            raise HyperparameterError(f"latent_dims takes one size per level ({hp.levels}), got "
                                      f"{len(dims)}")
        for d in dims:
            if isinstance(d, bool) or not isinstance(d, int) or d < 1:
                raise HyperparameterError(f"latent sizes must be whole numbers >= 1, got {d!r}")
            check("each latent size", d, LATENT_DIM)
        if dims[0] != self.latent_dim:
            raise HyperparameterError(f"latent_dims[0] (z1's size, {dims[0]}) must equal "
                                      f"latent_dim ({self.latent_dim})")

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
    # remedies for collapse (vaecollapse.models.objective): KL warm-up over kl_warmup epochs (Bowman
    # et al. 2016), kl_cycles cyclical annealing cycles ramping over kl_cycle_ratio of each (Fu
    # et al. 2019), a per-dimension KL floor of free_bits nats (Kingma et al. 2016)
    kl_warmup: int = 0
    kl_cycles: int = 0
    kl_cycle_ratio: float = 0.5
    free_bits: float | None = None
    #: FAST_STEPS: ``auto`` trains with the hand-differentiated step where it covers the model
    #: (the same objective and noise, ~2.5× faster), ``off`` always with autograd
    fast_step: str = "auto"

    @property
    def remedied(self) -> bool:
        """True when a remedy (warm-up, cycles, free bits) changes the plain β-ELBO objective."""
        return bool(self.kl_warmup or self.kl_cycles or self.free_bits)

    def _check_remedies(self) -> None:
        check_remedies(self)

    def validate(self) -> TrainConfig:
        self.model.validate()
        self._check_remedies()
        if self.fast_step not in FAST_STEPS:
            raise HyperparameterError(f"fast_step must be one of {', '.join(FAST_STEPS)}, got "
                                      f"{self.fast_step!r}")
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
        return {"schema_version": CONFIG_SCHEMA_VERSION, **asdict(self)}

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
    return {"schema_version": CONFIG_SCHEMA_VERSION, **data, "model": model}


def from_json(data: Any, where: str) -> TrainConfig:
    """A validated TrainConfig from a config.json object (its ``runtime`` entry ignored; an old
    layout migrated); every key and type is checked, a wrong one is a UserError naming ``where``
    (see :func:`vaecollapse.files.records.typed`)."""

    data = migrate(data)
    if not isinstance(data, dict):
        raise CorruptFile(f"{where}: the file must be a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version != CONFIG_SCHEMA_VERSION:
        raise CorruptFile(f"{where}: schema_version {version!r} is not one this version reads "
                          f"({CONFIG_SCHEMA_VERSION})")
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
        hp_obj = typed(HYPERPARAMETERS[Family(family)], hp, where, prefix="model.hyperparameters.")
        cfg = typed(TrainConfig, {**data, "model": model}, where)
        cfg.model.hyperparameters = hp_obj
        return cfg.validate()
    except CorruptFile:
        raise
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


def check_remedies(cfg) -> None:
    """A run's (TrainConfig's or TextTrainConfig's) kl_warmup, kl_cycles, kl_cycle_ratio and
    free_bits in range, and not two schedules."""
    warm, cycles, ratio, fb = cfg.kl_warmup, cfg.kl_cycles, cfg.kl_cycle_ratio, cfg.free_bits
    if isinstance(warm, bool) or not isinstance(warm, int) or warm < 0:
        raise HyperparameterError(f"kl_warmup must be a whole number of epochs >= 0, got {warm!r}")
    if warm > cfg.epochs:
        raise HyperparameterError(f"kl_warmup ({warm} epochs) exceeds the run's {cfg.epochs} "
                                  "epochs: the KL weight would never reach its value")
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 0:
        raise HyperparameterError(f"kl_cycles must be a whole number >= 0, got {cycles!r}")
    if warm and cycles:
        raise HyperparameterError("choose either a KL warm-up or cyclical annealing, not both")
    if not (isinstance(ratio, int | float) and 0 < ratio <= 1):
        raise HyperparameterError(f"kl_cycle_ratio must be in (0, 1], got {ratio!r}")
    if fb is not None and not (isinstance(fb, int | float) and math.isfinite(fb) and fb > 0):
        raise HyperparameterError(f"free_bits must be a finite number of nats > 0, got {fb!r}")
