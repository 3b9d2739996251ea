"""Watch codebook collapse in a small VQ-VAE, and its standard remedy, with `CodebookMonitor`.

A VQ-VAE (van den Oord et al., 2017) encodes each MNIST digit to ``positions`` latent vectors of
``dim`` numbers, replaces each by its nearest code of a 64-code codebook and decodes the codes.
The gradient reaches the encoder through the straight-through estimator; the codebook is learnt
by the codebook loss ‖sg[z_e] − e‖² and the encoder is held near its codes by the commitment loss
β‖z_e − sg[e]‖² (β = 0.25). A code that is never the nearest one gets no gradient at all, so it
stays where it is: a codebook initialised far from the encoder outputs collapses onto the one or
two codes that happen to be closest, the rest dead for good.

Two configurations, same data, same seed:

- ``far-init``: the codebook starts far from every encoder output — N(0, 5²) in every
  coordinate, codes of norm ≈ 20, while the untrained encoder's outputs have norm ≈ 0.4 — the
  classic cause of codebook collapse: the code of smallest norm is the nearest one to everything;
- ``data-init+restarts``: the codebook starts as random encoder outputs of the first batch, and
  at the end of each epoch every code the monitor reports dead is restarted at a random encoder
  output of the last batch.

The monitor counts the codes selected during each epoch's training steps and gives the epoch's
perplexity (the effective number of codes in use) and dead codes. Run:

    python examples/vqvae_codebook.py
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

from vaecollapse.data import load
from vaecollapse.diagnostics.codebook import CodebookMonitor

CONFIGS = {
    "far-init": {"init": "far", "restart_dead": False},
    "data-init+restarts": {"init": "data", "restart_dead": True},
}


class VQVAE(nn.Module):
    """784 → 256 → positions × dim, quantised against ``num_codes`` codes → 256 → 784."""

    def __init__(self, num_codes: int = 64, positions: int = 8, dim: int = 16, beta: float = 0.25):
        super().__init__()
        self.positions, self.dim, self.beta = positions, dim, beta
        self.encoder = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, positions * dim))
        self.decoder = nn.Sequential(nn.Linear(positions * dim, 256), nn.ReLU(), nn.Linear(256, 784))
        self.codebook = nn.Parameter(torch.empty(num_codes, dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z_e: (batch, positions, dim)."""
        return self.encoder(x).view(-1, self.positions, self.dim)

    def quantise(self, z_e: torch.Tensor) -> torch.Tensor:
        """The index of the nearest code of every latent vector: (batch, positions)."""
        flat = z_e.reshape(-1, self.dim)
        d2 = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.T
              + self.codebook.pow(2).sum(1))
        return d2.argmin(1).view(z_e.shape[:-1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, code indices, z_e) of a batch."""
        z_e = self.encode(x)
        idx = self.quantise(z_e)
        e = self.codebook[idx]
        z_q = z_e + (e - z_e).detach()  # straight-through: forward e, backward the identity
        logits = self.decoder(z_q.reshape(x.shape[0], -1))
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        codebook_loss = (e - z_e.detach()).pow(2).sum(-1).mean()
        commitment = (z_e - e.detach()).pow(2).sum(-1).mean()
        return recon + codebook_loss + self.beta * commitment, idx, z_e


def train(x: torch.Tensor, *, init: str, restart_dead: bool, epochs: int, seed: int,
          num_codes: int = 64, batch: int = 100, lr: float = 3e-4, far: float = 5.0,
          keep_indices: bool = False):
    """Train one configuration; one history entry per epoch (the monitor's record, the mean loss,
    and with ``keep_indices`` the epoch's code indices as an int64 tensor)."""
    torch.manual_seed(seed)
    net = VQVAE(num_codes=num_codes)
    first = x[torch.randperm(x.shape[0])[:batch]]
    with torch.no_grad():
        if init == "far":
            net.codebook.copy_(far * torch.randn(num_codes, net.dim))
        else:  # random encoder outputs of the first batch
            z = net.encode(first).reshape(-1, net.dim)
            net.codebook.copy_(z[torch.randperm(z.shape[0])[:num_codes]])
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    monitor = CodebookMonitor(num_codes)
    history = []
    for epoch in range(1, epochs + 1):
        monitor.reset()
        seen, losses = [], []
        for rows in torch.randperm(x.shape[0]).split(batch):
            loss, idx, z_e = net(x[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            monitor.update(idx)  # the codes this step selected
            losses.append(float(loss.detach()))
            if keep_indices:
                seen.append(idx.clone())
        (rec,) = monitor.compute()
        entry = {"epoch": epoch, "loss": sum(losses) / len(losses), **rec}
        if keep_indices:
            entry["indices"] = torch.cat([s.reshape(-1) for s in seen])
        history.append(entry)
        if restart_dead and rec["dead_codes"]:
            with torch.no_grad():  # dead codes restart at random encoder outputs of the last batch
                z = z_e.detach().reshape(-1, net.dim)
                dead = torch.tensor(rec["dead_code_ids"])
                net.codebook[dead] = z[torch.randint(z.shape[0], (len(dead),))]
    return history


def main(epochs: int = 10, n: int = 2000, seed: int = 0, keep_indices: bool = False):
    """Train both configurations on the same seeded subset of ``n`` MNIST digits; returns
    ``{configuration: per-epoch history}``."""
    x = torch.from_numpy(load("mnist").x)
    g = torch.Generator().manual_seed(seed)
    x = x[torch.randperm(x.shape[0], generator=g)[:n]]
    return {name: train(x, epochs=epochs, seed=seed, keep_indices=keep_indices, **cfg)
            for name, cfg in CONFIGS.items()}


if __name__ == "__main__":
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    histories = main()
    print(f"{'configuration':<20} {'epoch':>5} {'loss':>8} {'perplexity':>10} {'dead':>5} {'used':>6}")
    for name, history in histories.items():
        for h in history:
            print(f"{name:<20} {h['epoch']:>5} {h['loss']:>8.1f} {h['perplexity']:>10.2f} "
                  f"{h['dead_codes']:>5} {h['used_fraction']:>6.2f}")
    print(f"(64 codes; {time.perf_counter() - t0:.1f} s)")
