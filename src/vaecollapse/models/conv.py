"""Convolutional backbones for image-shaped sides of the models.

Every module here takes and returns FLAT tensors, like the other backbones, and reshapes inside:

- :class:`ConvEncoder` / :class:`ConvDecoder`: the paper's small CNN ("conv 64/32").
- :class:`ResNet18Encoder` / :class:`ResNet18Decoder`: ResNet-18 adapted to small images (3×3 stem,
  no max-pool) and a mirrored decoder built from upsampling residual blocks.

Image shapes are ``(H, W)`` (one channel) or ``(C, H, W)``. Spatial sizes are halved with
``ceil`` at each stride-2 step (28 → 14 → 7 → 4), and decoders upsample to the exact mirrored
sizes with ``nn.Upsample(size=...)``, so odd sizes (7, 4) round-trip.
"""

from __future__ import annotations

import math

from torch import Tensor, nn


def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(H, W)`` → ``(1, H, W)``; ``(C, H, W)`` unchanged; anything else is an error."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or any(s < 1 for s in shape):
        raise ValueError(f"image shape must be (H, W) or (C, H, W) with positive sizes, got {shape}")
    return shape  # type: ignore[return-value]


def _halve(hw: tuple[int, int]) -> tuple[int, int]:
    """Spatial size after a 3×3, stride-2, padding-1 conv: ceil(s / 2)."""
    return math.ceil(hw[0] / 2), math.ceil(hw[1] / 2)


class ConvEncoder(nn.Module):
    """The paper's CNN encoder: flat ``(n, prod(in_shape))`` → ``(n, out_dim)``.

    Conv(C→64, 3, s2, p1) → ReLU → Conv(64→32, 3, s2, p1) → ReLU → flatten → Linear(→ out_dim).
    ``in_shape`` is ``(H, W)`` or ``(C, H, W)``.
    """

    def __init__(self, in_shape: tuple[int, ...], out_dim: int):
        super().__init__()
        self.in_shape = _chw(in_shape)
        c, h, w = self.in_shape
        h4, w4 = _halve(_halve((h, w)))
        self.features = nn.Sequential(
            nn.Conv2d(c, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Linear(32 * h4 * w4, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(n, prod(in_shape))`` (or already ``(n, *in_shape)``) → ``(n, out_dim)``."""
        return self.head(self.features(x.reshape(x.shape[0], *self.in_shape)))


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: ``(n, in_dim)`` → flat ``(n, prod(out_shape))``.

    Linear(in_dim → 32·h4·w4) → ReLU → reshape (32, h4, w4) → Upsample(ceil(H/2), ceil(W/2)) →
    Conv(32→64, 3, p1) → ReLU → Upsample(H, W) → Conv(64→C, 3, p1) → flatten. No output
    activation (the output is a Gaussian mean).
    """

    def __init__(self, in_dim: int, out_shape: tuple[int, ...]):
        super().__init__()
        self.out_shape = _chw(out_shape)
        c, h, w = self.out_shape
        h2, w2 = _halve((h, w))
        h4, w4 = _halve((h2, w2))
        self.seed_shape = (32, h4, w4)
        self.fc = nn.Sequential(nn.Linear(in_dim, 32 * h4 * w4), nn.ReLU())
        self.body = nn.Sequential(
            nn.Upsample(size=(h2, w2)),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.Upsample(size=(h, w)),
            nn.Conv2d(64, c, 3, padding=1),
            nn.Flatten(),
        )

    def forward(self, z: Tensor) -> Tensor:
        """``z``: ``(n, in_dim)`` → ``(n, prod(out_shape))``."""
        return self.body(self.fc(z).reshape(z.shape[0], *self.seed_shape))


# ---------------------------------------------------------------------------------------------
# ResNet-18


def _conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """ResNet basic block on ``(n, cin, H, W)`` → ``(n, cout, ceil(H/stride), ceil(W/stride))``:
    relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)), with a 1×1 conv + BN shortcut when the
    stride or width changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = _conv3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = _conv3(cout, cout), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class UpBlock(nn.Module):
    """Mirrored basic block on ``(n, cin, h, w)`` → ``(n, cout, *size)`` (``size=None``: keep
    h, w): the input is first upsampled (nearest) to ``size``, then
    relu(bn(conv(relu(bn(conv(up(x)))))) + shortcut(up(x))), with a 1×1 conv + BN shortcut
    when the width changes."""

    def __init__(self, cin: int, cout: int, size: tuple[int, int] | None = None):
        super().__init__()
        self.up: nn.Module = nn.Identity() if size is None else nn.Upsample(size=size)
        self.conv1, self.bn1 = _conv3(cin, cout), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = _conv3(cout, cout), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        x = self.up(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


WIDTHS = (64, 128, 256, 512)
STRIDES = (1, 2, 2, 2)


class ResNet18Encoder(nn.Module):
    """ResNet-18 for small images: flat ``(n, prod(in_shape))`` → ``(n, out_dim)``.

    Stem Conv(C→64, 3, s1, p1) + BN + ReLU (no max-pool); four stages of two
    :class:`BasicBlock` with widths 64/128/256/512 and strides 1/2/2/2 (28 → 28, 14, 7, 4);
    adaptive average pool; Linear(512 → out_dim).
    """

    def __init__(self, in_shape: tuple[int, ...], out_dim: int):
        super().__init__()
        self.in_shape = _chw(in_shape)
        c = self.in_shape[0]
        self.stem = nn.Sequential(_conv3(c, 64), nn.BatchNorm2d(64), nn.ReLU())
        stages, cin = [], 64
        for width, stride in zip(WIDTHS, STRIDES, strict=True):
            stages.append(nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width)))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(512, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(n, prod(in_shape))`` (or already ``(n, *in_shape)``) → ``(n, out_dim)``."""
        x = self.stem(x.reshape(x.shape[0], *self.in_shape))
        return self.fc(self.pool(self.stages(x)))


class ResNet18Decoder(nn.Module):
    """Mirror of :class:`ResNet18Encoder`: ``(n, in_dim)`` → flat ``(n, prod(out_shape))``.

    Linear(in_dim → 512·h·w), h, w = ceil(H/8), ceil(W/8) → reshape (512, h, w) → four stages of
    two :class:`UpBlock` with widths 256/128/64/64; the first block of each of the first three
    stages upsamples to the encoder's mirrored sizes (for 28: 4 → 7 → 14 → 28), the last stage
    keeps the size (mirroring the stride-1 first stage) → Conv(64→C, 3, p1) → flatten. No output
    activation (the output is a Gaussian mean).
    """

    def __init__(self, in_dim: int, out_shape: tuple[int, ...]):
        super().__init__()
        self.out_shape = _chw(out_shape)
        c, h, w = self.out_shape
        sizes = [(h, w)]  # encoder stage outputs: H, ceil(H/2), ceil(H/4), ceil(H/8)
        for _ in range(3):
            sizes.append(_halve(sizes[-1]))
        self.seed_shape = (512, *sizes[-1])
        self.fc = nn.Linear(in_dim, 512 * sizes[-1][0] * sizes[-1][1])
        # stage i upsamples to sizes[2 - i] (i < 3); the last stage keeps (H, W)
        ups = [sizes[2], sizes[1], sizes[0], None]
        stages, cin = [], 512
        for width, size in zip((256, 128, 64, 64), ups, strict=True):
            stages.append(nn.Sequential(UpBlock(cin, width, size), UpBlock(width, width)))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.out = nn.Sequential(nn.Conv2d(64, c, 3, padding=1), nn.Flatten())

    def forward(self, z: Tensor) -> Tensor:
        """``z``: ``(n, in_dim)`` → ``(n, prod(out_shape))``."""
        x = self.fc(z).reshape(z.shape[0], *self.seed_shape)
        return self.out(self.stages(x))
