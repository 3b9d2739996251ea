"""Convolutional backbones (models/conv.py): shapes, gradients, determinism, a tiny overfit, and
the path through the model families."""

from __future__ import annotations

import math

import pytest
import torch

from vaecollapse.config import ModelConfig
from vaecollapse.models import build_model
from vaecollapse.models.conv import ConvDecoder, ConvEncoder, ResNet18Decoder, ResNet18Encoder

SHAPES = [(28, 28), (14, 14), (14, 28), (3, 14, 14)]
ENCODERS = [ConvEncoder, ResNet18Encoder]
DECODERS = [ConvDecoder, ResNet18Decoder]
N, D = 3, 5




def _ids(shape):
    return "x".join(map(str, shape))


@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
@pytest.mark.parametrize("cls", ENCODERS, ids=lambda c: c.__name__)
def test_encoder_shape(cls, shape):
    torch.manual_seed(0)
    x = torch.randn(N, math.prod(shape))
    assert cls(shape, D)(x).shape == (N, D)


@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
@pytest.mark.parametrize("cls", DECODERS, ids=lambda c: c.__name__)
def test_decoder_shape(cls, shape):
    torch.manual_seed(0)
    out = cls(D, shape)(torch.randn(N, D))
    assert out.shape == (N, math.prod(shape))
    assert torch.isfinite(out).all()


def test_bad_shape_rejected():
    with pytest.raises(ValueError):
        ConvEncoder((784,), D)
    with pytest.raises(ValueError):
        ConvDecoder(D, (1, 1, 28, 28))


def _build(kind, shape):
    if kind in ENCODERS:
        return kind(shape, D), torch.randn(N, math.prod(shape))
    return kind(D, shape), torch.randn(N, D)


@pytest.mark.parametrize("shape", [(14, 28), (3, 14, 14)], ids=_ids)
@pytest.mark.parametrize("kind", ENCODERS + DECODERS, ids=lambda c: c.__name__)
def test_gradients_reach_every_parameter(kind, shape):
    torch.manual_seed(0)
    net, inp = _build(kind, shape)
    net(inp).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("kind", ENCODERS + DECODERS, ids=lambda c: c.__name__)
def test_deterministic_under_seed(kind):
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        net, inp = _build(kind, (14, 14))
        outs.append(net(inp))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_conv_autoencoder_overfits_tiny_batch():
    """Zero-mean noise images, so a > 50% drop needs per-image fitting, not just the mean image."""
    torch.manual_seed(0)
    x = torch.randn(8, 14 * 14)
    net = torch.nn.Sequential(ConvEncoder((14, 14), 16), ConvDecoder(16, (14, 14)))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for _ in range(100):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), x)
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    final = torch.nn.functional.mse_loss(net(x), x).item()
    mean_image_mse = ((x - x.mean(0)) ** 2).mean().item()
    assert final < 0.5 * first, (first, final)
    assert final < 0.5 * mean_image_mse, (final, mean_image_mse)


FAMILY_CONFIGS = {
    "cvae-cnn": dict(family="cvae", backbone="cnn", dim_x=196, dim_y=588, latent_dim=4,
                     x_shape=[14, 14], y_shape=[3, 14, 14]),
    "vae-cnn": dict(family="vae", backbone="cnn", dim_x=784, latent_dim=4, x_shape=[28, 28]),
    "mhvae-cnn": dict(family="mhvae", backbone="cnn", dim_x=784, latent_dim=4, x_shape=[28, 28],
                      sigma1=0.5),
    "vae-resnet18": dict(family="vae", backbone="resnet18", dim_x=784, latent_dim=4,
                         x_shape=[28, 28]),
}


@pytest.mark.parametrize("name", list(FAMILY_CONFIGS))
def test_families_with_conv_backbones(name):
    torch.manual_seed(0)
    cfg = ModelConfig.of(**FAMILY_CONFIGS[name])
    model = build_model(cfg)
    x = torch.rand(N, cfg.dim_x)
    y = torch.rand(N, cfg.dim_y) if cfg.dim_y else None
    out = model(x, y, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
