"""PyTorch Lightning callbacks: collapse measures of every latent level
(:class:`CollapseMonitorCallback`) and code usage of discrete latents
(:class:`CodebookMonitorCallback`), logged each epoch and merged across DDP processes.

Needs the optional extra: ``pip install 'vaecollapse[lightning]'`` (PyTorch Lightning, imported
as ``pytorch_lightning``; the unified ``lightning`` package's ``lightning.pytorch`` is used when
``pytorch_lightning`` is not installed).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from vaecollapse.diagnostics.codebook import CodebookMonitor, codebook_scalars
from vaecollapse.diagnostics.collapse import DEFAULT_EPSILON, GROUP_THRESHOLD, active_groups
from vaecollapse.diagnostics.distributed import process_group_active
from vaecollapse.diagnostics.posteriors import evaluating
from vaecollapse.diagnostics.streaming import CollapseMonitor
from vaecollapse.integrations.scalars import collapse_scalars
from vaecollapse.models.base import Posterior

try:
    import pytorch_lightning as pl
except ImportError:  # pragma: no cover - depends on what is installed
    try:
        import lightning.pytorch as pl
    except ImportError:
        raise ImportError("vaecollapse.integrations.lightning needs PyTorch Lightning: "
                          "pip install 'vaecollapse[lightning]'") from None

PosteriorsFn = Callable[[Any, Any], Sequence[Posterior]]


def log_merged(pl_module, metrics: dict[str, float]) -> None:
    """Log values that are already the same on every rank (merged by the monitor): each rank logs
    them without Lightning's reduction, so they stay available to every rank's callbacks
    (``ModelCheckpoint(monitor=...)``), and the loggers, which write from rank 0, write them once.
    Lightning's advice to ``sync_dist=True`` epoch-level values does not apply to them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
        pl_module.log_dict(metrics, on_step=False, on_epoch=True, sync_dist=False)


class CollapseWarning(UserWarning):
    """More latent dimensions are (ε, δ)-collapsed than the callback's ``warn_above``."""


class _EpochMonitorCallback(pl.Callback):
    """Feeds a streaming monitor (``update`` / ``compute`` / ``reset``) with the validation
    batches in epochs where Lightning validates, else the training batches, every
    ``every_n_epochs`` epochs, and logs its merged result once per measured epoch. Subclasses
    say what a batch gives the monitor (``_measure``) and what is logged (``_scalars``)."""

    monitor: Any

    def __init__(self, every_n_epochs: int):
        if int(every_n_epochs) < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.every_n_epochs = int(every_n_epochs)
        self.last: list[dict[str, Any]] | None = None
        self._source: str | None = None  # "val" or "train" while batches are being collected

    def _measure(self, pl_module, batch):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _scalars(self, result: list[dict[str, Any]]) -> dict[str, float]:  # pragma: no cover
        raise NotImplementedError

    def _after(self, trainer) -> None:
        """Anything to do with ``last`` once it is logged (the collapse warning)."""

    def _call(self, fn, arg: str, method: str, pl_module, batch, returns: str):
        """``fn(pl_module, batch)`` when the user gave ``fn`` (the constructor's ``arg``), else
        ``pl_module.<method>(batch)``; a clear error when neither exists."""
        if fn is not None:
            return fn(pl_module, batch)
        if callable(getattr(pl_module, method, None)):
            return getattr(pl_module, method)(batch)
        raise AttributeError(
            f"{type(pl_module).__name__} has no {method}(batch) method: define one returning "
            f"{returns}, or pass {type(self).__name__}({arg}=fn) with fn(pl_module, batch)")

    # ---------------------------------------------------------------------------- helpers

    def _due(self, trainer) -> bool:
        return (trainer.current_epoch + 1) % self.every_n_epochs == 0

    @staticmethod
    def _validates(trainer) -> bool:
        """Whether Lightning runs the validation loop in the current epoch."""
        every = trainer.check_val_every_n_epoch
        return bool(trainer.enable_validation) and (
            every is None or (trainer.current_epoch + 1) % every == 0)

    def _feed(self, pl_module, batch) -> None:
        with evaluating(pl_module):
            self.monitor.update(self._measure(pl_module, batch))

    def _start(self, source: str) -> None:
        self._source = source
        self.monitor.reset()

    def _finish(self, trainer, pl_module) -> None:
        self._source = None
        if not self.monitor.n and not process_group_active():  # (a rank without data still merges)
            return
        self.last = self.monitor.compute()
        log_merged(pl_module, self._scalars(self.last))
        self._after(trainer)

    # ---------------------------------------------------------------------------- hooks

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self._due(trainer) and not self._validates(trainer):
            self._start("train")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._source == "train":
            self._feed(pl_module, batch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._source == "train":
            self._finish(trainer, pl_module)

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and self._due(trainer):
            self._start("val")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                                dataloader_idx: int = 0) -> None:
        if self._source == "val":
            self._feed(pl_module, batch)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self._source == "val":
            self._finish(trainer, pl_module)


class CollapseMonitorCallback(_EpochMonitorCallback):
    """Feeds a :class:`~vaecollapse.diagnostics.streaming.CollapseMonitor` during ``fit`` and logs, through
    ``pl_module.log`` (so CSVLogger, TensorBoardLogger, wandb… receive them), per level:
    ``collapse/<level>/n_collapsed``, ``collapse/<level>/kl_total``,
    ``collapse/<level>/active_units``, ``collapse/<level>/active_modes`` and
    ``collapse/<level>/kl_<i>`` (the mean KL of dimension i).

    Source of the batches: the validation batches in epochs where Lightning validates, else the
    training batches. Each batch is passed to ``posteriors(pl_module, batch)`` or, by default,
    ``pl_module.posteriors(batch)``, which returns one :class:`Posterior` per latent level; the
    call runs under ``torch.no_grad()`` in eval mode, and every submodule's train/eval mode is
    restored afterwards. Measured every ``every_n_epochs`` epochs (epochs counted from 1, as
    Lightning's ``check_val_every_n_epoch``); not during the sanity check. ``warn_above``: warn
    (:class:`CollapseWarning`, once per callback) when a level has more collapsed dimensions.
    ``epsilon``, ``delta``, ``threshold``: the monitor's (ε, δ) and active-unit threshold.
    ``last`` holds the latest ``compute()`` result (the ``levels`` of ``diagnose``).

    With several processes (DDP) each process measures its own share of the batches and
    ``compute()`` merges the shares (:class:`~vaecollapse.diagnostics.streaming.CollapseMonitor`,
    ``sync_dist``): every rank holds the measures of all the data in ``last``, and the loggers
    write them once. With several levels (groups) ``collapse/active_groups`` counts those
    active by NVAE's rule (``group_threshold``, 0.1 nats).
    """

    def __init__(self, posteriors: PosteriorsFn | None = None, every_n_epochs: int = 1,
                 warn_above: int | None = None, *, epsilon: float = DEFAULT_EPSILON,
                 delta: float = 0.05, threshold: float = 0.01,
                 group_threshold: float = GROUP_THRESHOLD, sync_dist: bool = True):
        super().__init__(every_n_epochs)
        if warn_above is not None and warn_above < 0:
            raise ValueError(f"warn_above must be >= 0, got {warn_above}")
        self.posteriors = posteriors
        self.warn_above = warn_above
        self.monitor = CollapseMonitor(epsilon, delta, threshold, group_threshold=group_threshold,
                                       sync_dist=sync_dist)
        self._warned = False

    def _measure(self, pl_module, batch) -> Sequence[Posterior]:
        return self._call(self.posteriors, "posteriors", "posteriors", pl_module, batch,
                          "a list of vaecollapse Posterior")

    def _scalars(self, result: list[dict[str, Any]]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for level in result:
            metrics.update(collapse_scalars(level))
        if len(result) > 1:
            metrics["collapse/active_groups"] = float(active_groups(result))
        return metrics

    def _after(self, trainer) -> None:
        if self.warn_above is None or self._warned or not trainer.is_global_zero:
            return
        for level in self.last:
            k = len(level["collapsed_dims"])
            if k > self.warn_above:
                self._warned = True
                warnings.warn(
                    f"posterior collapse: {k} of {len(level['kl_per_dim'])} dimensions of "
                    f"{level['name']} are (ε={self.monitor.epsilon:g}, δ={self.monitor.delta:g})-"
                    f"collapsed at epoch {trainer.current_epoch + 1}, more than warn_above="
                    f"{self.warn_above} (dimensions {level['collapsed_dims']})",
                    CollapseWarning, stacklevel=2)
                return

    def state_dict(self) -> dict[str, Any]:
        return {"warned": self._warned}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._warned = bool(state_dict.get("warned", False))


IndicesFn = Callable[[Any, Any], Any]


class CodebookMonitorCallback(_EpochMonitorCallback):
    """Feeds a :class:`~vaecollapse.diagnostics.codebook.CodebookMonitor` during ``fit`` (the same
    batches, epochs and DDP merge as :class:`CollapseMonitorCallback`) and logs, per quantiser
    level, ``codebook/<level>/perplexity``, ``codebook/<level>/dead_codes`` and
    ``codebook/<level>/used_fraction``: epoch-level values, not batch-level ones.

    Each batch is passed to ``indices(pl_module, batch)`` or, by default,
    ``pl_module.code_indices(batch)``, which returns the integer code indices the quantiser
    selects (any shape; the last axis is the level when ``levels > 1``). ``last`` holds the latest
    ``compute()`` result.
    """

    def __init__(self, num_codes: int, levels: int = 1, indices: IndicesFn | None = None,
                 every_n_epochs: int = 1, *, sync_dist: bool = True):
        super().__init__(every_n_epochs)
        self.indices = indices
        self.monitor = CodebookMonitor(num_codes, levels, sync_dist=sync_dist)

    def _measure(self, pl_module, batch):
        return self._call(self.indices, "indices", "code_indices", pl_module, batch,
                          "the quantiser's integer code indices")

    def _scalars(self, result: list[dict[str, Any]]) -> dict[str, float]:
        return codebook_scalars(result)
