"""Watch posterior collapse while PyTorch Lightning trains your VAE.

Add `CollapseMonitorCallback` to the Trainer and give the LightningModule a `posteriors(batch)`
method returning, per latent level, the posterior mean and log-variance (`Posterior`). Every
epoch the callback measures the validation batches and logs `collapse/z/n_collapsed`,
`collapse/z/kl_total`, `collapse/z/active_units`, `collapse/z/active_modes` and `collapse/z/kl_<i>`
to the Trainer's loggers (here a CSVLogger). Needs `pip install 'vaecollapse[lightning]'`. Run:

    python examples/lightning_vae.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vaecollapse.data import load
from vaecollapse.integrations.lightning import CollapseMonitorCallback
from vaecollapse.models import Posterior


class LitVAE(pl.LightningModule):
    """784 → 64 → 8 latents → 64 → 784, Gaussian decoder (std 1), β-weighted KL to N(0, I)."""

    def __init__(self, latent: int = 8, beta: float = 3.0, lr: float = 2e-3):
        super().__init__()
        self.beta, self.lr = beta, lr
        self.encoder = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, 64), nn.ReLU(), nn.Linear(64, 784))

    def posteriors(self, batch) -> list[Posterior]:  # what the callback needs
        mean, logvar = self.encoder(batch[0]).chunk(2, dim=-1)
        return [Posterior("z", mean, logvar)]  # prior N(0, I)

    def loss(self, batch) -> torch.Tensor:
        x = batch[0]
        (post,) = self.posteriors(batch)
        z = post.mean + (0.5 * post.logvar).exp() * torch.randn_like(post.mean)
        recon = 0.5 * ((self.decoder(z) - x) ** 2).sum(-1)
        return (recon + self.beta * post.kl().sum(-1)).mean()

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.loss(batch))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def loaders(n: int, n_val: int, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """A seeded random train / validation split of the bundled MNIST subset."""
    x = torch.from_numpy(load("mnist").x)
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    train, val = x[order[:n]], x[order[n:n + n_val]]
    return (DataLoader(TensorDataset(train), batch_size=128, shuffle=True,
                       generator=torch.Generator().manual_seed(seed)),
            DataLoader(TensorDataset(val), batch_size=256))


def main(out: str | Path = "out/lightning_vae", epochs: int = 10, n: int = 5000, n_val: int = 1000,
         beta: float = 3.0, warn_above: int | None = 4):
    """Train; returns (metrics.csv path, the trained module, the validation loader, callback)."""
    pl.seed_everything(0, verbose=False)
    train, val = loaders(n, n_val)
    model = LitVAE(beta=beta)
    callback = CollapseMonitorCallback(warn_above=warn_above)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1,
                         logger=CSVLogger(str(out), name="lightning_vae"), callbacks=[callback],
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(model, train, val)
    csv = Path(trainer.logger.log_dir) / "metrics.csv"
    level = callback.last[0]
    print(f"epoch {epochs}: collapsed dimensions of z {level['collapsed_dims']}, active units "
          f"{level['active_units']}, KL {level['kl_total']:.3f} nats; metrics in {csv}")
    return csv, model, val, callback


if __name__ == "__main__":
    main(*sys.argv[1:2])
