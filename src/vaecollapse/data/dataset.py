"""The validated :class:`Dataset` and the checks every source shares.

Rows of ``x`` (and ``y``, ``labels``) are samples: x (n, dim_x) and y (n, dim_y) C-contiguous
float32 with finite values, labels (n,) int64. Arrays (numpy, torch tensors or nested sequences)
are checked and converted once, with one-line messages that say how to fix the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vaecollapse.data.spec import SPLITS, parse_int
from vaecollapse.errors import DataError


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


def reason(exc: BaseException) -> str:
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
        raise DataError(f"{where}{name} cannot be turned into a numeric array ({reason(exc)}); "
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


def validate(x: Any, y: Any, labels: Any, where: str = "",
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
    x32, y32, lab64 = validate(x, y, labels, copy=True)
    return Dataset(x=x32, y=y32, labels=lab64, spec=spec)


def evaluation_index(n: int, k: int, seed: int = 0) -> np.ndarray:
    """Indices of an evaluation subset of ``min(k, n)`` of ``n`` rows (all of them for ``k`` ≤ 0):
    a uniform random sample without replacement drawn from ``seed``, in increasing order. Never
    "the first k" — datasets are often stored sorted (the embedded digits are sorted by label).
    The same (n, k, seed) always gives the same points."""
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def subsample_index(count: int, options: dict[str, str], what: str) -> np.ndarray | None:
    """Indices of the first n rows of a seeded permutation, or None without ``n``."""
    if "n" not in options:
        return None
    n = parse_int("n", options["n"], minimum=2)
    if n > count:
        raise DataError(f"n={n} is more than the {count} samples available in {what}; "
                        f"use n={count} or less.")
    seed = parse_int("seed", options.get("seed", "0"), minimum=0)
    return np.random.default_rng(seed).permutation(count)[:n]
