"""Diagnose posterior collapse in your own PyTorch VAE with vaecollapse.

The only thing vaecollapse needs from your model is, per latent level, the posterior mean and
log-variance for a batch: wrap it in a function returning `Posterior`s. Run:

    python examples/diagnose_your_model.py
"""

from __future__ import annotations

import json

import torch
from torch import nn

from vaecollapse.data import load
from vaecollapse.diagnostics import diagnose
from vaecollapse.models import Posterior


class MyVAE(nn.Module):
    """A plain user VAE: 784 → 64 → (mean, log-variance) of 8 latents; not a vaecollapse model."""

    def __init__(self, latent: int = 8):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(784, 64), nn.ReLU())
        self.mean = nn.Linear(64, latent)
        self.logvar = nn.Linear(64, latent)
        self.dec = nn.Sequential(nn.Linear(latent, 64), nn.ReLU(), nn.Linear(64, 784))

    def encode(self, x):
        h = self.body(x)
        return self.mean(h), self.logvar(h)

    def forward(self, x):
        mean, logvar = self.encode(x)
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        recon = ((self.dec(z) - x) ** 2).sum(-1) / (2 * 1.0**2)  # decoder std η_dec = 1.0
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(-1)
        return (recon + 3.0 * kl).mean()  # β = 3: some dimensions collapse


def main(steps: int = 300) -> dict:
    torch.manual_seed(0)
    x = torch.from_numpy(load("mnist:n=2000").x)
    net = MyVAE()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (128,))
        opt.zero_grad()
        net(x[idx]).backward()
        opt.step()

    def posteriors(xb, yb=None):  # the whole protocol: one Posterior per latent level
        mean, logvar = net.encode(xb)
        return [Posterior("z", mean, logvar, prior_mean=0.0, prior_logvar=0.0)]  # prior N(0, I)

    report = diagnose(posteriors, x, is_samples=0)
    level = report["levels"][0]
    print(f"collapsed dimensions at ε=0.01, δ=0.05: {level['collapsed_dims']} of {len(level['kl_per_dim'])}")
    print(f"active units (Burda): {level['active_units']}, KL {level['kl_total']:.3f} nats, "
          f"I(x; z) = {report['mutual_information']:.3f} nats")
    return report


if __name__ == "__main__":
    print(json.dumps(main()["eps_delta"]["collapsed_fraction"]))
