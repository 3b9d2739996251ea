"""Write a synthetic MNIST-format IDX dataset (for benchmarks; nothing is downloaded).

``write_idx(directory, n)`` writes ``train-images-idx3-ubyte`` (n × 28 × 28 uint8) and
``train-labels-idx1-ubyte`` (n labels) in the MNIST format: big-endian magic 0x00000803 /
0x00000801, then the dimensions, then the bytes. Pixel values: a seeded mixture of digit-like
smooth blobs (low-rank plus noise, clipped to 0..255), so that XᵀX has an MNIST-like spectrum.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def synthetic_images(n: int, seed: int = 0, block: int = 10_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(32, 784)).astype(np.float32)
    basis = np.cumsum(np.cumsum(basis.reshape(32, 28, 28), 1), 2).reshape(32, 784)  # smooth
    basis /= np.abs(basis).max(1, keepdims=True)
    out = np.empty((n, 784), dtype=np.uint8)
    for i in range(0, n, block):
        m = min(block, n - i)
        coef = rng.normal(size=(m, 32)).astype(np.float32) * np.linspace(1, 0.05, 32, dtype=np.float32)
        img = 90 * (coef @ basis) + 40 + 20 * rng.standard_normal((m, 784), dtype=np.float32)
        out[i:i + m] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def write_idx(directory: str | Path, n: int, seed: int = 0) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    images = synthetic_images(n, seed)
    labels = np.random.default_rng(seed + 1).integers(0, 10, n).astype(np.uint8)
    with open(d / "train-images-idx3-ubyte", "wb") as fh:
        fh.write(struct.pack(">IIII", 0x00000803, n, 28, 28))
        fh.write(images.tobytes())
    with open(d / "train-labels-idx1-ubyte", "wb") as fh:
        fh.write(struct.pack(">II", 0x00000801, n))
        fh.write(labels.tobytes())
    return d
