"""The features the non-linear theory reads off a model (:mod:`vaecollapse.theory.nonlinear`):
what each network computes before its last linear map (encoders, the CVAE's x-branch), and what
a decoder computes first from z (after its non-linearity).

Per backbone: ``linear`` — the inputs themselves; ``mlp`` — the last hidden layer (encoder), the
first hidden layer (decoder); ``cnn`` — the flattened convolutional features (encoder), the
fully connected seed after its ReLU (decoder); ``resnet18`` — the pooled features (encoder), the
first linear map (decoder). Evaluated without gradients, in float64 numpy, in chunks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from vaecollapse.models import conv
from vaecollapse.models.backbones import TwoBranch
from vaecollapse.models.base import LatentModel
from vaecollapse.theory.nonlinear import Features

Feature = Callable[[Tensor], Tensor]
CHUNK = 2000


def encoder_features(net: nn.Module) -> Feature:
    """x ↦ the input of ``net``'s last linear map."""
    if isinstance(net, nn.Linear):
        return lambda u: u
    if isinstance(net, conv.ConvEncoder):
        return lambda u: net.features(u.reshape(u.shape[0], *net.in_shape))
    if isinstance(net, conv.ResNet18Encoder):
        return lambda u: net.pool(net.stages(net.stem(u.reshape(u.shape[0], *net.in_shape))))
    if isinstance(net, nn.Sequential) and isinstance(net[-1], nn.Linear):
        return lambda u: net[:-1](u)
    raise TypeError(f"no encoder features known for {type(net).__name__}")


def decoder_features(net: nn.Module) -> Feature:
    """z ↦ the output of the first map of ``net`` that reads z, after its non-linearity."""
    if isinstance(net, nn.Linear):
        return lambda z: z
    if isinstance(net, conv.ConvDecoder):
        return net.fc
    if isinstance(net, conv.ResNet18Decoder):
        return net.fc
    if isinstance(net, nn.Sequential) and len(net) > 1:
        return lambda z: net[:2](z)
    raise TypeError(f"no decoder features known for {type(net).__name__}")


@torch.no_grad()
def evaluate(fn: Feature, *inputs: Tensor) -> np.ndarray:
    """``fn`` on the rows of ``inputs``, chunked, as float64 numpy."""
    n = inputs[0].shape[0]
    parts = [fn(*(a[i:i + CHUNK] for a in inputs)).reshape(min(CHUNK, n - i), -1)
             for i in range(0, n, CHUNK)]
    return torch.cat(parts).double().cpu().numpy()


def prior_samples(d: int, std: float, samples: int, seed: int, like: Tensor) -> Tensor:
    """``samples`` draws of N(0, std² I_d), from their own seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(samples, d, generator=g, dtype=torch.float64) * std).to(like)


def _branches(enc: nn.Module) -> list[nn.Module]:
    return [enc.f, enc.g] if isinstance(enc, TwoBranch) else [enc]


@torch.no_grad()
def model_features(model: LatentModel, x: Tensor, y: Tensor | None, *, z_samples: int,
                   seed: int) -> Features:
    """The VAE's or CVAE's :class:`~vaecollapse.theory.nonlinear.Features` on (x, y)."""
    model.eval()
    centre = model.cfg.backbone != "linear"
    f, g = (model.enc.net.f, model.enc.net.g) if model.family.conditional else (model.enc.net, None)
    phi = evaluate(encoder_features(f), x)
    if g is not None:
        phi = np.hstack([phi, evaluate(encoder_features(g), y)])
    chi = evaluate(encoder_features(model.dec_x), x) if model.family.conditional else None
    z = prior_samples(model.cfg.latent_dim, model.hp.eta_enc, z_samples, seed, x)
    psi = evaluate(decoder_features(model.dec), z.to(x.dtype))
    target = (y if model.family.conditional else x).double().cpu().numpy()
    model.train()
    return Features(phi, target, z.double().cpu().numpy(), psi, chi, centre)


@torch.no_grad()
def hierarchy_features(model: LatentModel, x: Tensor, *, z_samples: int, seed: int
                       ) -> tuple[Features, np.ndarray, np.ndarray]:
    """The two-level Markov MHVAE's level-1 :class:`~vaecollapse.theory.nonlinear.Features` (its
    decoder read at z1 ~ N(0, η_dec² I), the prior z1 has at the z2-collapsed point), the samples
    z1 ~ q(z1|x) against enc2's features (for ρ), and z2 ~ N(0, η_enc² I) against dec2's (for γ2),
    as (level1, (z1, enc2 features), (z2, dec2 features))."""
    model.eval()
    hp = model.hp
    centre = model.cfg.backbone != "linear"
    d1, d2 = model.dims[0], model.dims[1]
    phi1 = evaluate(encoder_features(model.enc1.net), x)
    z1p = prior_samples(d1, hp.eta_dec, z_samples, seed, x).to(x.dtype)
    level1 = Features(phi1, x.double().cpu().numpy(), z1p.double().cpu().numpy(),
                      evaluate(decoder_features(model.dec1), z1p), None, centre)
    g = torch.Generator().manual_seed(seed + 1)
    mean, logvar = model.enc1(x)
    z1 = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=g).to(mean)
    z2 = prior_samples(d2, hp.eta_enc, z_samples, seed + 2, x).to(x.dtype)
    pair1 = (z1.double().cpu().numpy(), evaluate(encoder_features(model.enc2.net), z1))
    pair2 = (z2.double().cpu().numpy(), evaluate(decoder_features(model.dec2), z2))
    model.train()
    return level1, pair1, pair2


def features_of_modules(encoder: Feature, decoder: Feature, x: Tensor, y: Tensor | None = None,
                        *, x_branch: Feature | None = None, target_encoder: Feature | None = None,
                        latent_dim: int, eta_enc: float, centre: bool = True,
                        z_samples: int = 5000, seed: int = 0) -> Features:
    """Features of a user's own networks, given as the callables that compute them: ``encoder``
    x ↦ the input of its last linear map (e.g. ``enc[:-1]`` of a Sequential; with a CVAE also
    ``target_encoder`` y ↦ the y-branch's, and ``x_branch`` x ↦ the decoder's x-branch's), and
    ``decoder`` z ↦ the output of its first map reading z, after the non-linearity (e.g.
    ``dec[:2]``)."""
    phi = evaluate(encoder, x)
    if target_encoder is not None:
        phi = np.hstack([phi, evaluate(target_encoder, y)])
    z = prior_samples(latent_dim, eta_enc, z_samples, seed, x).to(x.dtype)
    chi = None if x_branch is None else evaluate(x_branch, x)
    target = (x if y is None else y).double().cpu().numpy()
    return Features(phi, target, z.double().cpu().numpy(), evaluate(decoder, z), chi, centre)


__all__ = ["decoder_features", "encoder_features", "features_of_modules", "hierarchy_features",
           "model_features", "prior_samples"]
