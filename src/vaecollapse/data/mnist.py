"""MNIST digits: the embedded 10,000-digit subset and full IDX datasets, with the paper's image
options (digit filters, subsamples, the quarter / half splits into a condition x and a target y).

Pixels are float32 ``byte / 255`` in [0, 1]. ``split=quarter``: x is the bottom-left 14×14
quarter, y the other three (588 values); ``split=half``: x the top half, y the bottom half.
The embedded file holds 10,000 digits of the MNIST training set; its ``part=test`` is a fixed,
label-stratified fifth (:func:`embedded_test_mask`).
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

from vaecollapse.data.dataset import Dataset, reason, subsample_index, validate
from vaecollapse.data.idx import load_idx
from vaecollapse.data.spec import PARTS, SPLITS, parse_choice, parse_digits, parse_int
from vaecollapse.errors import DataError

_EMBEDDED = "mnist10k.npz"
_SIDE = 28
_HALF = _SIDE // 2


def _pixels(images: np.ndarray) -> np.ndarray:
    """float32 byte / 255, correctly rounded (3x faster than a 256-entry lookup table, and
    bit-identical to it: tests/test_data.py)."""
    out = images.astype(np.float32)
    out /= np.float32(255)
    return out


EMBEDDED_TEST_EVERY = 5  # one digit in five of each label is held out as the test part
_EMBEDDED_SPLIT_SEED = 20240507


def embedded_test_mask(labels: np.ndarray) -> np.ndarray:
    """The fixed test part of the embedded digits: all digits sorted by label, shuffled within a
    label by a fixed seed, and every ``EMBEDDED_TEST_EVERY``-th of that order held out — one in
    five overall, and each label's share of each part equal to its share of the data to within
    one digit."""
    order = np.random.default_rng(_EMBEDDED_SPLIT_SEED).permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    mask = np.zeros(len(labels), dtype=bool)
    mask[order[::EMBEDDED_TEST_EVERY]] = True
    return mask


@functools.cache
def _embedded_mnist() -> tuple[np.ndarray, np.ndarray]:
    resource = resources.files("vaecollapse.data").joinpath(_EMBEDDED)
    try:
        with resource.open("rb") as fh, np.load(fh, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
        if not (images.dtype == np.uint8 and images.ndim == 2 and images.shape[1] == _SIDE**2
                and labels.shape == (len(images),)):
            raise ValueError(f"unexpected arrays {images.dtype}{images.shape}, {labels.shape}")
    except Exception as exc:  # missing or damaged package file
        raise DataError(f"The embedded MNIST subset ({_EMBEDDED}) is missing or damaged "
                        f"({reason(exc)}); reinstall vaecollapse or use mnist:root=DIR.") from exc
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _split_images(images: np.ndarray, split: str | None) -> tuple[np.ndarray, np.ndarray | None,
                                                                   tuple[int, ...]]:
    """(x, y, x_shape) in float32 from uint8 images (n, 784)."""
    img = images.reshape(-1, _SIDE, _SIDE)
    n = len(img)
    if split is None:
        return _pixels(images), None, (_SIDE, _SIDE)
    if split == "quarter":
        x = img[:, _HALF:, :_HALF]  # bottom-left
        y = np.concatenate([img[:, :_HALF, :_HALF].reshape(n, -1),  # top-left
                            img[:, :_HALF, _HALF:].reshape(n, -1),  # top-right
                            img[:, _HALF:, _HALF:].reshape(n, -1)],  # bottom-right
                           axis=1)
        return _pixels(x.reshape(n, -1)), _pixels(y), (_HALF, _HALF)
    # half: top half -> x, bottom half -> y
    x = img[:, :_HALF, :].reshape(n, -1)
    y = img[:, _HALF:, :].reshape(n, -1)
    return _pixels(x), _pixels(y), (_HALF, _SIDE)


def load_images(spec: str, source: str, path: str | None, options: dict[str, str]) -> Dataset:
    part = parse_choice("part", options.get("part", "train"), PARTS)
    split = parse_choice("split", options["split"], SPLITS) if "split" in options else None
    digits = parse_digits(options)
    if "seed" in options:
        parse_int("seed", options["seed"], minimum=0)
    root = path if source == "idx" else options.get("root")
    if root is None:
        images, labels = _embedded_mnist()
        keep = embedded_test_mask(labels) == (part == "test")
        images, labels = images[keep], labels[keep]
        what = f"the embedded MNIST subset (part={part})"
    else:
        if not root:
            raise DataError("mnist:root= needs a directory, e.g. mnist:root=/data/mnist.")
        images, labels = load_idx(root, part)
        what = f"{root} (part={part})"

    if digits is not None:
        keep = np.isin(labels, digits)
        if not keep.any():
            present = ", ".join(str(v) for v in np.unique(labels))
            raise DataError(f"No samples with digit(s) {', '.join(map(str, digits))} in {what}; "
                            f"the labels present are: {present}.")
        images, labels = images[keep], labels[keep]
        what = f"{what} after the digit filter"
    index = subsample_index(len(images), options, what)
    if index is not None:
        images, labels = images[index], labels[index]
    x, y, x_shape = _split_images(images, split)
    x, y, lab = validate(x, y, labels)
    return Dataset(x=x, y=y, labels=lab, spec=spec, x_shape=x_shape, split=split)
