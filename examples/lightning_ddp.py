"""Collapse metrics of a Lightning run on several processes (DDP), merged across them.

The same `LitVAE` and callback as `lightning_vae.py`, trained with `strategy="ddp"` on 2 CPU
processes. Each process measures its own share of the validation batches; at the end of the
epoch `CollapseMonitor.compute()` merges the shares (one all-gather of a flat buffer) so every
rank holds — and the logger writes once — the measures of the whole validation set. On GPUs use
`accelerator="gpu"` with the same code. Needs `pip install 'vaecollapse[lightning]'`. Run:

    python examples/lightning_ddp.py [OUT_DIR] [--epochs 4] [--n 2000] [--n-val 500]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytorch_lightning as pl
import torch
from lightning_vae import LitVAE, loaders
from pytorch_lightning.loggers import CSVLogger

from vaecollapse.integrations.lightning import CollapseMonitorCallback

__all__ = ["LitVAE", "loaders", "main"]


def main(out: str | Path = "out/lightning_ddp", epochs: int = 4, n: int = 2000, n_val: int = 500,
         devices: int = 2) -> Path:
    """Train on ``devices`` CPU processes; rank 0 saves the trained weights to OUT/model.pt and
    returns the metrics.csv path (the other ranks return it too)."""
    out = Path(out)
    pl.seed_everything(0, verbose=False)
    train, val = loaders(n, n_val)
    model = LitVAE()
    callback = CollapseMonitorCallback()
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=devices, strategy="ddp",
                         logger=CSVLogger(str(out), name="lightning_ddp"), callbacks=[callback],
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(model, train, val)
    csv = Path(trainer.logger.log_dir) / "metrics.csv"
    if trainer.is_global_zero:
        torch.save(model.state_dict(), out / "model.pt")
        level = callback.last[0]
        print(f"{trainer.world_size} processes, epoch {epochs}: collapsed dimensions of z "
              f"{level['collapsed_dims']}, KL {level['kl_total']:.3f} nats over all {n_val} "
              f"validation points; metrics in {csv}")
    return csv


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="out/lightning_ddp")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--n-val", type=int, default=500)
    args = parser.parse_args()
    main(args.out, args.epochs, args.n, args.n_val)
