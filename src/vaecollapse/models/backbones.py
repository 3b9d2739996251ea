"""Backbones: networks from a flat input to a flat output, per kind.

- ``linear``: one bias-free linear map (the theory's model).
- ``mlp``: ReLU MLP with the given hidden sizes.
- ``cnn``: convolutional encoder / decoder for image-shaped inputs or outputs (28×28, 14×14,
  14×28, or 3×14×14 for the three target quarters of the CVAE quarter split).
- ``resnet18``: ResNet-18 encoder and a mirrored upsampling decoder.

Non-image sides (e.g. MHVAE z1 ↔ z2) use an MLP for every non-linear backbone.
"""

from __future__ import annotations

from torch import Tensor, nn

from vaecollapse.config import BACKBONES  # noqa: F401 - one list, in the torch-free config
from vaecollapse.models import conv


def mlp(in_dim: int, out_dim: int, hidden: list[int]) -> nn.Module:
    """ReLU MLP in_dim → hidden… → out_dim (biases on)."""
    layers: list[nn.Module] = []
    prev = in_dim
    for h in hidden:
        layers += [nn.Linear(prev, h), nn.ReLU()]
        prev = h
    layers.append(nn.Linear(prev, out_dim))
    return nn.Sequential(*layers)


def encoder_net(backbone: str, in_dim: int, in_shape: tuple[int, ...] | None, out_dim: int,
                hidden: list[int]) -> nn.Module:
    """A network from a flat input of ``in_dim`` values (an image of ``in_shape`` when known)
    to ``out_dim`` values."""
    if backbone == "linear":
        return nn.Linear(in_dim, out_dim, bias=False)
    if backbone == "mlp" or in_shape is None:
        return mlp(in_dim, out_dim, hidden)
    if backbone == "cnn":
        return conv.ConvEncoder(in_shape, out_dim)
    return conv.ResNet18Encoder(in_shape, out_dim)


def decoder_net(backbone: str, in_dim: int, out_dim: int, out_shape: tuple[int, ...] | None,
                hidden: list[int]) -> nn.Module:
    """A network from ``in_dim`` values to a flat output of ``out_dim`` values (an image of
    ``out_shape`` when known)."""
    if backbone == "linear":
        return nn.Linear(in_dim, out_dim, bias=False)
    if backbone == "mlp" or out_shape is None:
        return mlp(in_dim, out_dim, list(reversed(hidden)))
    if backbone == "cnn":
        return conv.ConvDecoder(in_dim, out_shape)
    return conv.ResNet18Decoder(in_dim, out_shape)


class TwoBranch(nn.Module):
    """f(a) + g(b): the paper's two-branch CVAE maps (encoder mean f(x) + g(y), decoder mean
    h(x) + k(z))."""

    def __init__(self, f: nn.Module, g: nn.Module):
        super().__init__()
        self.f, self.g = f, g

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.f(a) + self.g(b)
