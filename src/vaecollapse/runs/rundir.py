"""The run directory: its layout, its readers and its lock — the one place that knows the names.

A run directory holds:

- ``config.json``: data spec, model config and training settings (enough to rebuild the run),
  with its ``schema_version`` and the ``runtime`` (threads, device, library versions);
- ``metrics.jsonl``: one JSON line per epoch — loss, reconstruction, KL total and per level,
  per-dimension mean KL, active units, number of (ε,δ)-collapsed dimensions, seconds;
- ``checkpoint.pt``: model, optimiser and RNG states after the last finished epoch (written
  atomically every epoch, so an interruption loses at most the epoch in progress; its format:
  :mod:`vaecollapse.runs.checkpoint`);
- ``diagnostics.json``: the final diagnostics (``vaecollapse.diagnostics.diagnose``).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from vaecollapse.config import TrainConfig, from_json, migrate
from vaecollapse.errors import UserError
from vaecollapse.files.lock import locked
from vaecollapse.files.records import read_json
from vaecollapse.runs import runtime

CONFIG, METRICS, CHECKPOINT, DIAGNOSTICS = ("config.json", "metrics.jsonl", "checkpoint.pt",
                                            "diagnostics.json")
#: training settings added to config.json since its layout version 1, with the value a run written
#: before them was trained with (so that a sweep resumes it instead of calling it another run)
ADDED_SETTINGS = {"fast_step": "auto"}


class RunDir:
    """One run directory at ``path`` (it need not exist yet)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def diagnostics(self) -> Path:
        return self.path / DIAGNOSTICS

    def lock(self) -> contextlib.AbstractContextManager[Path]:
        """Hold the directory's writer lock (:func:`vaecollapse.files.lock.locked`)."""
        return locked(self.path, "run directory")

    # -------------------------------------------------------------------------- readers

    def read_config(self) -> TrainConfig:
        """config.json as a validated TrainConfig (an older layout is migrated); a missing,
        corrupt or invalid file is a UserError naming it."""
        return read_config_file(self.config)

    def saved_config(self) -> Any:
        """config.json's settings as saved (migrated to the current layout), without its
        runtime entry: compare with :meth:`TrainConfig.to_dict`. A setting added since the run
        was written (``fast_step``) reads as its default."""
        data = migrate(_config_json(self.config))
        if not isinstance(data, dict):
            return data
        return {**ADDED_SETTINGS, **{k: v for k, v in data.items() if k != runtime.KEY}}

    def runtime(self):
        """The saved :class:`vaecollapse.runs.runtime.Runtime` (None for runs written before it)."""
        return runtime.from_config(json.loads(self.config.read_text()), str(self.config))

    def metrics_lines(self) -> list[dict[str, Any]]:
        """Every epoch's metrics line, in order."""
        return [json.loads(line) for line in self.metrics.read_text().splitlines() if line.strip()]

    def read_diagnostics(self) -> dict[str, Any]:
        return json.loads(self.diagnostics.read_text())

    def final_metrics(self) -> dict[str, Any]:
        """Last epoch's metrics (last latent level) and the diagnostics' log-likelihood."""
        last = self.metrics_lines()[-1]
        level = list(last["n_collapsed"])[-1]
        ll = self.read_diagnostics().get("log_likelihood") or {}
        return {"epoch": last["epoch"], "loss": last["loss"], "recon": last["recon"],
                "kl_total": last["kl_total"], "n_collapsed": last["n_collapsed"][level],
                "active_units": last["active_units"][level], "log_likelihood": ll.get("estimate")}

    def finished(self, epochs: int) -> bool:
        """True when the run has trained ``epochs`` epochs and written its diagnostics."""
        return (self.checkpoint.exists() and self.load_checkpoint()["epoch"] >= epochs
                and self.diagnostics.exists())

    def load_checkpoint(self) -> dict[str, Any]:
        """checkpoint.pt's content (tensors and plain values only), checked
        (:func:`vaecollapse.runs.checkpoint.load_checkpoint`)."""
        from vaecollapse.runs.checkpoint import load_checkpoint  # lazy: torch

        return load_checkpoint(self.checkpoint)

    def load_model(self, device: str = "cpu"):
        """(config, model with the last epoch's weights in eval mode, checkpoint)."""
        from vaecollapse.models import build_model  # lazy: torch
        from vaecollapse.runs.checkpoint import load_state  # lazy: torch

        cfg = self.read_config()
        ckpt = self.load_checkpoint()
        model = build_model(cfg.model)
        load_state(model, ckpt["model"], self.checkpoint)
        model.to(runtime.resolve_device(device)).eval()
        return cfg, model, ckpt


def read_config(run_dir: str | os.PathLike) -> TrainConfig:
    """:meth:`RunDir.read_config` of ``run_dir``."""
    return RunDir(run_dir).read_config()


def _config_json(path: Path) -> Any:
    if not path.exists():
        raise UserError(f"{path.parent} has no {path.name}: not a vaecollapse run directory")
    return read_json(path, "run configuration")


def read_config_file(path: str | os.PathLike) -> TrainConfig:
    """The validated TrainConfig saved in ``path`` — a run's config.json (under any name) or a
    run directory; an older layout is migrated, a corrupt or invalid file is a UserError naming
    it."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG
    data = _config_json(path)
    where = f"{path} is not a valid run configuration"
    if isinstance(data, dict):
        runtime.from_config(data, where)
    return from_json(data, where)


def load_checkpoint(run_dir: str | os.PathLike) -> dict[str, Any]:
    """:meth:`RunDir.load_checkpoint` of ``run_dir``."""
    return RunDir(run_dir).load_checkpoint()


def load_model(run_dir: str | os.PathLike, device: str = "cpu"):
    """Rebuild a run's model from config.json and its checkpoint (weights of the last epoch):
    (config, model, checkpoint)."""
    return RunDir(run_dir).load_model(device)


def final_metrics(run_dir: str | os.PathLike) -> dict[str, Any]:
    """:meth:`RunDir.final_metrics` of ``run_dir``."""
    return RunDir(run_dir).final_metrics()

