"""The ``npy:PATH[,y=PATH]`` source: a 2-D ``.npy`` array used in place, memory-mapped.

A float32 C-ordered array is never read into memory: the dataset's ``x`` (and ``y``) is a
read-only ``numpy.memmap``, validated (finite values) in blocks of rows, and ``predict``'s
statistics read it in blocks too (``theory.stats``), so a dataset larger than memory works.
Other numeric dtypes are converted to float32 in memory, like an npz file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaecollapse.data.dataset import Dataset
from vaecollapse.errors import DataError
from vaecollapse.files.mapped import mappings, release

CHECK_ROWS = 1 << 14  # rows checked for NaN/Inf at a time


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def open_npy(path: str, name: str) -> np.ndarray:
    """A 2-D numeric array from a .npy file: a read-only memmap when float32 and C-ordered
    (checked for NaN/Inf block by block), else an in-memory float32 copy."""
    file = Path(path).expanduser()
    if not file.exists():
        raise DataError(f"The npy file {file} does not exist; check the path.")
    if file.is_dir():
        raise DataError(f"{file} is a directory but npy:PATH needs a .npy file.")
    try:
        array = np.load(file, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # not a .npy file, object arrays, truncated file, ...
        raise DataError(f"Cannot read {file} as a .npy array ({_reason(exc)}); save it with "
                        "numpy.save(path, x).") from exc
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.shape[1] == 0:
        shape = getattr(array, "shape", None)
        raise DataError(f"{file}: {name} has shape {shape} but shape (n, d) with d >= 1 is "
                        "needed.")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{file}: {name} has non-numeric dtype {array.dtype}.")
    if len(array) < 2:
        raise DataError(f"{file}: {name} has {len(array)} sample(s) but at least 2 are needed.")
    if array.dtype != np.float32 or not array.flags.c_contiguous:
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.ascontiguousarray(array, dtype=np.float32)
    maps = mappings(array)
    for start in range(0, len(array), CHECK_ROWS):
        finite = np.isfinite(array[start:start + CHECK_ROWS]).all()
        release(maps)
        if not finite:
            raise DataError(f"{file}: {name} contains NaN or Inf values (or values too large "
                            "for float32); remove or replace them.")
    return array


def load_npy(spec: str, path: str, options: dict[str, str]) -> Dataset:
    """The dataset of ``npy:PATH[,y=PATH]``: x (and y) memory-mapped, with as many rows each."""
    x = open_npy(path, "x")
    y = open_npy(options["y"], "y") if "y" in options else None
    if y is not None and len(y) != len(x):
        raise DataError(f"y has {len(y)} rows but x has {len(x)}; x and y need one row per "
                        "sample.")
    return Dataset(x=x, y=y, labels=None, spec=spec)
