"""Collapse or bug? Run vaecollapse's preflight check on a VAE before training it.

Three versions of one small MNIST VAE: a correct one, one whose loss averages the KL over the
latent dimensions instead of summing it (an effective β/d: it looks like weak collapse
resistance), and one whose log-variance goes through tanh (the posterior can never be narrower
than e^-1: it looks like collapse). The check needs the model, the loss and one batch. Run:

    python examples/preflight_zoo.py
"""

from __future__ import annotations

import torch
from torch import nn

from vaecollapse.data import load
from vaecollapse.models import Posterior
from vaecollapse.preflight import Preflight, check


class SmallVAE(nn.Module):
    """784 → 64 → (mean, log-variance) of 8 latents → 64 → 784; decoder std 1."""

    def __init__(self, tanh_logvar: bool = False):
        super().__init__()
        self.tanh_logvar = tanh_logvar
        self.enc = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 16))
        self.dec = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 784))

    def posteriors(self, x):  # what the check reads: one Posterior per latent level
        mean, logvar = self.enc(x).chunk(2, dim=-1)
        return [Posterior("z", mean, torch.tanh(logvar) if self.tanh_logvar else logvar)]

    def log_likelihood(self, x, zs):  # log p(x|z) per sample, up to a constant
        return -0.5 * ((self.dec(zs[0]) - x) ** 2).sum(-1)


def loss(model, x, beta, kl_mean_over_dims: bool = False):
    """The negative β-ELBO, batch mean (the buggy variant: KL mean over dimensions)."""
    post = model.posteriors(x)[0]
    z = post.mean + (0.5 * post.logvar).exp() * torch.randn_like(post.mean)
    kl = post.kl().mean(-1) if kl_mean_over_dims else post.kl().sum(-1)
    return (-model.log_likelihood(x, [z]) + beta * kl).mean()


def main() -> dict[str, Preflight]:
    torch.manual_seed(0)
    x = torch.from_numpy(load("mnist:n=128").x)
    results = {
        "correct": check(SmallVAE(), loss, x),
        "kl mean over dims": check(SmallVAE(), lambda m, xb, b: loss(m, xb, b, True), x),
        "tanh log-variance": check(SmallVAE(tanh_logvar=True), loss, x),
    }
    for name, result in results.items():
        print(f"== {name}\n{result}")
    return results


if __name__ == "__main__":
    main()
