"""Per-epoch training metrics to TensorBoard event files (``vaecollapse train --tensorboard DIR``).

Needs the optional extra ``pip install 'vaecollapse[tensorboard]'`` (torch's
``torch.utils.tensorboard.SummaryWriter`` writes the files). Scalars per epoch (step = epoch):
``train/loss``, ``train/recon``, ``train/kl_total``, ``train/kl/<level>``, ``train/seconds`` and,
per latent level, the collapse measures under the names of the Lightning callback
(``collapse/<level>/n_collapsed``, ``…/kl_total``, ``…/active_units``, ``…/kl_<i>``), plus a
histogram ``collapse/<level>/kl_per_dim`` of the per-dimension KLs.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from vaecollapse.errors import UserError
from vaecollapse.integrations.scalars import collapse_scalars


class TensorBoardLog:
    """Writes one ``metrics.jsonl`` line (:func:`vaecollapse.runs.train.train`'s epoch record) per call
    of :meth:`epoch`; :meth:`close` when done."""

    def __init__(self, log_dir: str | os.PathLike):
        try:
            from torch.utils.tensorboard import SummaryWriter  # lazy: the optional extra
        except ImportError:
            raise UserError("--tensorboard needs the tensorboard package: pip install "
                            "'vaecollapse[tensorboard]'") from None
        try:
            self.writer = SummaryWriter(log_dir=str(log_dir))
        except OSError as e:
            raise UserError(f"cannot write TensorBoard logs to {log_dir}: {e.strerror or e}") from None

    def epoch(self, line: dict[str, Any]) -> None:
        step, w = int(line["epoch"]), self.writer
        for key in ("loss", "recon", "kl_total", "seconds"):
            if key in line:
                w.add_scalar(f"train/{key}", float(line[key]), step)
        for level, value in line.get("kl", {}).items():
            w.add_scalar(f"train/kl/{level}", float(value), step)
        for level, kl in line["kl_per_dim"].items():
            record = {"name": level, "kl_per_dim": kl,
                      "n_collapsed": line["n_collapsed"][level],
                      "active_units": line["active_units"][level]}
            for tag, value in collapse_scalars(record).items():
                w.add_scalar(tag, value, step)
            w.add_histogram(f"collapse/{level}/kl_per_dim", np.asarray(kl, dtype=np.float64), step)
        w.flush()

    def close(self) -> None:
        self.writer.close()
