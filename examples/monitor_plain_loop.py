"""Watch posterior collapse while training your own VAE in a plain PyTorch loop.

`CollapseMonitor` takes each batch's posteriors (the `Posterior` list your forward pass already
has) and, at the end of an epoch, gives the same per-dimension KL, (ε, δ)-collapsed set and
active units as `diagnose` — from running sums, without keeping any per-sample value. Run:

    python examples/monitor_plain_loop.py
"""

from __future__ import annotations

import torch
from torch import nn

from vaecollapse.data import load
from vaecollapse.diagnostics.streaming import CollapseMonitor
from vaecollapse.models import Posterior


class SmallVAE(nn.Module):
    """784 → 128 → 8 latents → 128 → 784; decoder std 1; the loss is the β-weighted negative ELBO."""

    def __init__(self, latent: int = 8, beta: float = 4.0):
        super().__init__()
        self.beta = beta
        self.encoder = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, 128), nn.ReLU(), nn.Linear(128, 784))

    def posteriors(self, x: torch.Tensor) -> list[Posterior]:
        mean, logvar = self.encoder(x).chunk(2, dim=-1)
        return [Posterior("z", mean, logvar)]  # prior N(0, I)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[Posterior]]:
        (post,) = self.posteriors(x)
        z = post.mean + (0.5 * post.logvar).exp() * torch.randn_like(post.mean)
        recon = 0.5 * ((self.decoder(z) - x) ** 2).sum(-1)
        return (recon + self.beta * post.kl().sum(-1)).mean(), [post]


def main(epochs: int = 8, n: int = 5000, n_val: int = 1000, seed: int = 0):
    """Train; returns (model, validation data, per-epoch history of the monitor's levels)."""
    torch.manual_seed(seed)
    x = torch.from_numpy(load("mnist").x)
    order = torch.randperm(x.shape[0])  # a seeded random train / validation split
    train, val = x[order[:n]], x[order[n:n + n_val]]
    net = SmallVAE()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    monitor = CollapseMonitor(epsilon=0.01, delta=0.05)
    history = []
    for epoch in range(1, epochs + 1):
        net.train()
        monitor.reset()
        for idx in torch.randperm(n).split(128):
            loss, posts = net(train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            monitor.update(posts)  # the training batches' posteriors, as they come
        during = monitor.compute()[0]
        net.eval()  # a clean look: the held-out data with the epoch's final weights
        monitor.reset()
        with torch.no_grad():
            for xb in val.split(256):
                monitor.update(net.posteriors(xb))
        level = monitor.compute()[0]
        history.append({"epoch": epoch, "train": during, "val": level})
        print(f"epoch {epoch}: loss {loss.item():.1f}; validation: (ε,δ)-collapsed "
              f"{level['collapsed_dims']}, active units {level['active_units']}, KL "
              f"{level['kl_total']:.3f} nats (during training: {len(during['collapsed_dims'])} "
              "collapsed)")
    return net, val, history


if __name__ == "__main__":
    main()
