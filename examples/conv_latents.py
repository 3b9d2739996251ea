"""Posterior collapse of a convolutional latent, counted per channel.

A small convolutional VAE on the bundled MNIST digits whose latent is a (C, 7, 7) feature map,
as in latent-diffusion autoencoders and Ladder VAEs with spatial latents. Its `Posterior` keeps
the map's shape and says `unit="channel"`: the monitor (and `diagnose`) then count channels —
a channel's KL sums over its 7 × 7 positions — and report per-channel KL, collapsed and active
channels under the same keys as for a flat latent (lists of length C). Run:

    python examples/conv_latents.py
"""

from __future__ import annotations

import torch
from torch import nn

from vaecollapse.data import load
from vaecollapse.models import Posterior
from vaecollapse.monitor import CollapseMonitor


class ConvVAE(nn.Module):
    """28 × 28 → (C, 7, 7) latent map → 28 × 28; decoder std 1; β-weighted KL to N(0, I)."""

    def __init__(self, channels: int = 8, beta: float = 1.5):
        super().__init__()
        self.beta = beta
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(),
                                     nn.Conv2d(16, 2 * channels, 4, 2, 1))
        self.decoder = nn.Sequential(nn.ConvTranspose2d(channels, 16, 4, 2, 1), nn.ReLU(),
                                     nn.ConvTranspose2d(16, 1, 4, 2, 1))

    def posteriors(self, x: torch.Tensor) -> list[Posterior]:
        mean, logvar = self.encoder(x.view(-1, 1, 28, 28)).chunk(2, dim=1)  # (n, C, 7, 7) each
        return [Posterior("z", mean, logvar, unit="channel")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (post,) = self.posteriors(x)
        z = post.mean + (0.5 * post.logvar).exp() * torch.randn_like(post.mean)
        recon = 0.5 * ((self.decoder(z).flatten(1) - x) ** 2).sum(-1)
        return (recon + self.beta * post.unit_kl().sum(-1)).mean()


def main(epochs: int = 4, n: int = 1500, n_val: int = 500, beta: float = 1.5, seed: int = 0):
    """Train; returns (model, validation data, the last epoch's validation level record)."""
    torch.manual_seed(seed)
    x = torch.from_numpy(load("mnist").x)
    order = torch.randperm(x.shape[0])  # a seeded random train / validation split
    train, val = x[order[:n]], x[order[n:n + n_val]]
    net = ConvVAE(beta=beta)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    monitor = CollapseMonitor()
    for epoch in range(1, epochs + 1):
        net.train()
        for batch in train[torch.randperm(n)].split(100):
            loss = net(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        monitor.reset()
        with torch.no_grad():
            for batch in val.split(250):
                monitor.update(net.posteriors(batch))
        (level,) = monitor.compute()
        print(f"epoch {epoch}: KL per channel {[round(v, 2) for v in level['kl_per_dim']]}, "
              f"collapsed channels {level['collapsed_dims']}, active channels "
              f"{level['active_units']} of {len(level['kl_per_dim'])}")
    return net, val, level


if __name__ == "__main__":
    main()
