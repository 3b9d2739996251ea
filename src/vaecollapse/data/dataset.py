"""Data layer: load datasets from spec strings or arrays into a validated :class:`Dataset`.

Spec strings (see :mod:`vaecollapse.data.spec`)::

    mnist                                  embedded MNIST digits: part=train (8,000, the
                                           default) or part=test (2,000), see below
    mnist:root=DIR / idx:DIR               full MNIST-format IDX dataset (part=train|test)
    synthetic:corr=random,n=1000,dim=128,seed=0
    npz:PATH                               arrays x, optional y and labels
    npy:PATH[,y=PATH]                      a 2-D .npy array x (float32: memory-mapped, not read
                                           into memory), optional y from a second .npy file

Image options: ``digit=K`` / ``digits=K,L,...``, ``split=quarter|half``, ``n=N``,
``seed=S``, ``part=train|test``; applied in the order part -> digits -> n -> split.
Image pixels are float32 ``byte / 255`` in [0, 1].

The embedded file holds 10,000 digits of the MNIST training set. Its ``part=test`` is a fixed
held-out fifth, stratified by label (:func:`embedded_test_mask`): the digits of each label, in a
seeded random order, every fifth to the test part — 2,000 test and 8,000 train digits, each
label's share equal to within one digit. Full IDX data (``mnist:root=DIR``) has MNIST's own
train / test files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vaecollapse.data.idx import load_idx
from vaecollapse.data.spec import (
    PARTS,
    SPLITS,
    parse_choice,
    parse_digits,
    parse_int,
    parse_spec,
)
from vaecollapse.data.synthetic import CORRELATIONS, DEFAULTS, make_synthetic
from vaecollapse.errors import DataError

__all__ = ["DataError", "Dataset", "evaluation_index", "from_arrays", "load", "parse_spec"]

_EMBEDDED = "mnist10k.npz"
_SIDE = 28
_HALF = _SIDE // 2


def _pixels(images: np.ndarray) -> np.ndarray:
    """float32 byte / 255, correctly rounded (3x faster than a 256-entry lookup table, and
    bit-identical to it: tests/test_data.py)."""
    out = images.astype(np.float32)
    out /= np.float32(255)
    return out


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated dataset: rows of ``x`` (and ``y``, ``labels``) are samples.

    ``eq=False``: datasets compare by identity (element-wise array equality is not a bool).
    """

    x: np.ndarray  # (n, dim_x) float32, C-contiguous
    y: np.ndarray | None  # (n, dim_y) float32 or None
    labels: np.ndarray | None  # (n,) int64 or None
    spec: str  # the spec string it came from ("arrays" for from_arrays)
    x_shape: tuple[int, ...] | None = None  # image shape of one x row, e.g. (28, 28)
    split: str | None = None  # "quarter" / "half" / None

    def __post_init__(self) -> None:
        hint = "; build datasets with vaecollapse.data.from_arrays or load"
        x = self.x
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 2
                and x.flags.c_contiguous):
            raise DataError("Dataset.x must be a C-contiguous float32 array of shape (n, d)"
                            f"{hint}.")
        if self.y is not None:
            y = self.y
            if not (isinstance(y, np.ndarray) and y.dtype == np.float32 and y.ndim == 2
                    and y.flags.c_contiguous and len(y) == len(x)):
                raise DataError("Dataset.y must be None or a C-contiguous float32 array with as "
                                f"many rows as x{hint}.")
        if self.labels is not None:
            lab = self.labels
            if not (isinstance(lab, np.ndarray) and lab.dtype == np.int64
                    and lab.shape == (len(x),)):
                raise DataError(f"Dataset.labels must be None or an int64 array of shape (n,)"
                                f"{hint}.")
        if self.x_shape is not None and int(np.prod(self.x_shape)) != x.shape[1]:
            raise DataError(f"Dataset.x_shape {self.x_shape} does not match dim_x={x.shape[1]}.")
        if self.split not in (None, *SPLITS):
            raise DataError(f"Dataset.split must be None, 'quarter' or 'half', got {self.split!r}.")

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def dim_x(self) -> int:
        return int(self.x.shape[1])

    @property
    def dim_y(self) -> int:
        return 0 if self.y is None else int(self.y.shape[1])

    def __repr__(self) -> str:
        return (f"Dataset(spec={self.spec!r}, n={self.n}, dim_x={self.dim_x}, "
                f"dim_y={self.dim_y}, labels={self.labels is not None}, "
                f"x_shape={self.x_shape}, split={self.split!r})")


# ---------------------------------------------------------------------------
# Validation shared by from_arrays, npz files and the built-in sources
# ---------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    """An exception's message on one line, for embedding in a DataError message."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _as_numpy(value: Any, name: str, where: str) -> np.ndarray:
    """A numpy view of a numpy array, torch tensor or nested sequence."""
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        tensor = value.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            tensor = tensor.float()
        value = tensor.numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}{name} cannot be turned into a numeric array ({_reason(exc)}); "
                        "pass a rectangular numpy array or torch tensor.") from exc
    if array.dtype.kind not in "biuf":
        raise DataError(f"{where}{name} has non-numeric dtype {array.dtype}; pass real numbers "
                        "(float or integer).")
    return array


def _as_float32(array: np.ndarray, name: str, where: str, copy: bool) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.array(array, dtype=np.float32, order="C", copy=True if copy else None)
    if not np.isfinite(out).all():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int(np.count_nonzero(~np.isfinite(array)))
            raise DataError(f"{where}{name} contains {bad} NaN or Inf value(s); remove or "
                            "replace them before loading.")
        raise DataError(f"{where}{name} has values too large for float32 (above about 3.4e38); "
                        "rescale the data.")
    return out


def _matrix(value: Any, name: str, where: str, copy: bool) -> np.ndarray:
    array = _as_numpy(value, name, where)
    if array.ndim != 2:
        shape = tuple(array.shape)
        if array.ndim == 1:
            fix = f"use {name}.reshape(-1, 1) for one feature per sample"
        else:
            fix = f"flatten each sample, e.g. {name}.reshape(len({name}), -1)"
        raise DataError(f"{where}{name} has shape {shape} but shape (n, d) is needed; {fix}.")
    if array.shape[1] == 0:
        raise DataError(f"{where}{name} has shape {tuple(array.shape)} with no features; each "
                        "sample needs at least one value.")
    return _as_float32(array, name, where, copy)


def _validate(x: Any, y: Any, labels: Any, where: str = "",
              copy: bool = False) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Check and convert to (x float32, y float32 or None, labels int64 or None)."""
    x32 = _matrix(x, "x", where, copy)
    n = len(x32)
    if n < 2:
        raise DataError(f"{where}x has {n} sample(s) but at least 2 are needed.")
    y32 = None
    if y is not None:
        y32 = _matrix(y, "y", where, copy)
        if len(y32) != n:
            raise DataError(f"{where}y has {len(y32)} rows but x has {n}; x and y need one row "
                            "per sample.")
    lab64 = None
    if labels is not None:
        lab = _as_numpy(labels, "labels", where)
        if lab.shape != (n,):
            raise DataError(f"{where}labels have shape {tuple(lab.shape)} but shape ({n},) is "
                            "needed, one label per row of x.")
        if lab.dtype.kind == "f":
            if not (np.isfinite(lab).all() and (lab == np.round(lab)).all()):
                raise DataError(f"{where}labels contain non-integer values; labels must be "
                                "whole numbers.")
        elif lab.dtype.kind == "b":
            raise DataError(f"{where}labels are booleans; pass integer class labels.")
        lab64 = np.array(lab, dtype=np.int64, copy=True if copy else None)
    return x32, y32, lab64


def from_arrays(x: Any, y: Any = None, labels: Any = None, *, spec: str = "arrays") -> Dataset:
    """Validate numpy arrays or torch tensors and wrap them in a :class:`Dataset` (copies)."""
    x32, y32, lab64 = _validate(x, y, labels, copy=True)
    return Dataset(x=x32, y=y32, labels=lab64, spec=spec)


def evaluation_index(n: int, k: int, seed: int = 0) -> np.ndarray:
    """Indices of an evaluation subset of ``min(k, n)`` of ``n`` rows (all of them for ``k`` ≤ 0):
    a uniform random sample without replacement drawn from ``seed``, in increasing order. Never
    "the first k" — datasets are often stored sorted (the embedded digits are sorted by label).
    The same (n, k, seed) always gives the same points."""
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


# ---------------------------------------------------------------------------
# Loading from spec strings
# ---------------------------------------------------------------------------


def _subsample_index(count: int, options: dict[str, str], what: str) -> np.ndarray | None:
    """Indices of the first n rows of a seeded permutation, or None without ``n``."""
    if "n" not in options:
        return None
    n = parse_int("n", options["n"], minimum=2)
    if n > count:
        raise DataError(f"n={n} is more than the {count} samples available in {what}; "
                        f"use n={count} or less.")
    seed = parse_int("seed", options.get("seed", "0"), minimum=0)
    return np.random.default_rng(seed).permutation(count)[:n]


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
    resource = resources.files(__name__).joinpath(_EMBEDDED)
    try:
        with resource.open("rb") as fh, np.load(fh, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
        if not (images.dtype == np.uint8 and images.ndim == 2 and images.shape[1] == _SIDE**2
                and labels.shape == (len(images),)):
            raise ValueError(f"unexpected arrays {images.dtype}{images.shape}, {labels.shape}")
    except Exception as exc:  # missing or damaged package file
        raise DataError(f"The embedded MNIST subset ({_EMBEDDED}) is missing or damaged "
                        f"({_reason(exc)}); reinstall vaecollapse or use mnist:root=DIR.") from exc
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


def _load_images(spec: str, source: str, path: str | None, options: dict[str, str]) -> Dataset:
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
    index = _subsample_index(len(images), options, what)
    if index is not None:
        images, labels = images[index], labels[index]
    x, y, x_shape = _split_images(images, split)
    x, y, lab = _validate(x, y, labels)
    return Dataset(x=x, y=y, labels=lab, spec=spec, x_shape=x_shape, split=split)


def _load_npz(spec: str, path: str, options: dict[str, str]) -> Dataset:
    file = Path(path).expanduser()
    if not file.exists():
        raise DataError(f"The npz file {file} does not exist; check the path.")
    if file.is_dir():
        raise DataError(f"{file} is a directory but npz:PATH needs an .npz file "
                        "(use idx:DIR for a directory of IDX files).")
    if "seed" in options:
        parse_int("seed", options["seed"], minimum=0)
    try:
        with file.open("rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise DataError(f"Cannot read {file} ({exc.strerror or _reason(exc)}); check that the "
                        "file is readable.") from exc
    if head.startswith(b"\x93NUMPY"):
        raise DataError(f"{file} holds a single array (a .npy file) but npz:PATH needs an .npz "
                        "archive with an array named x; save it with numpy.savez(path, x=x, y=y).")
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise DataError(f"{file} is not an .npz archive (it is not a zip file); save the data "
                        "with numpy.savez(path, x=x, y=y).")
    try:
        archive = np.load(file, allow_pickle=False)
    except Exception as exc:  # anything numpy raises on unreadable/corrupt input
        raise DataError(f"Cannot read {file} as an .npz file ({_reason(exc)}); the file is "
                        "corrupt, save it again with numpy.savez(path, x=x, y=y).") from exc
    try:
        with archive:
            names = list(archive.files)
            if "x" not in names:
                found = ", ".join(names) if names else "none"
                raise DataError(f"{file} has no array named 'x' (arrays found: {found}); save the "
                                "inputs as x, e.g. numpy.savez(path, x=x, y=y).")
            arrays = {k: archive[k] for k in ("x", "y", "labels") if k in names}
    except DataError:
        raise
    except Exception as exc:  # corrupt member, object arrays, ...
        raise DataError(f"Cannot read the arrays in {file} ({_reason(exc)}); the file is corrupt "
                        "or holds non-numeric (object) arrays.") from exc
    x, y, labels = _validate(arrays["x"], arrays.get("y"), arrays.get("labels"), f"{file}: ")
    index = _subsample_index(len(x), options, str(file))
    if index is not None:
        x = x[index]
        y = None if y is None else y[index]
        labels = None if labels is None else labels[index]
    return Dataset(x=x, y=y, labels=labels, spec=spec)


def _load_npy(spec: str, path: str, options: dict[str, str]) -> Dataset:
    from vaecollapse.data.npy import open_npy

    x = open_npy(path, "x")
    y = open_npy(options["y"], "y") if "y" in options else None
    if y is not None and len(y) != len(x):
        raise DataError(f"y has {len(y)} rows but x has {len(x)}; x and y need one row per "
                        "sample.")
    return Dataset(x=x, y=y, labels=None, spec=spec)


def _load_synthetic(spec: str, options: dict[str, str]) -> Dataset:
    corr = parse_choice("corr", options.get("corr", DEFAULTS["corr"]), tuple(CORRELATIONS))
    n = parse_int("n", options.get("n", str(DEFAULTS["n"])), minimum=2)
    dim = parse_int("dim", options.get("dim", str(DEFAULTS["dim"])), minimum=1)
    seed = parse_int("seed", options.get("seed", str(DEFAULTS["seed"])), minimum=0)
    x, y = make_synthetic(corr, n, dim, seed)
    return Dataset(x=x, y=y, labels=None, spec=spec)


def load(spec: str) -> Dataset:
    """Load the dataset described by a spec string (see the module docstring)."""
    source, path, options = parse_spec(spec)
    text = spec.strip()
    if source == "synthetic":
        return _load_synthetic(text, options)
    if source == "npz":
        assert path is not None
        return _load_npz(text, path, options)
    if source == "npy":
        assert path is not None
        return _load_npy(text, path, options)
    return _load_images(text, source, path, options)
