"""Reader for MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST, ...).

An IDX file is a big-endian header -- a 4-byte magic number ``0x0000TTDD`` (``TT`` the
element type, ``0x08`` = unsigned byte; ``DD`` the number of dimensions) followed by one
uint32 size per dimension -- and then the raw data.  Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from vaecollapse.errors import DataError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (n, rows, cols)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (n,)
IMAGE_SIZE = (28, 28)

#: Standard file names per part: (images, labels); each may also end in ``.gz``.
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is named ``*.gz`` or starts like a gzip file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read {path} ({exc.strerror or exc}); check that the file exists "
                        "and is readable.") from exc
    if path.name.endswith(".gz") or raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            reason = " ".join(str(exc).split())
            raise DataError(f"{path} is not a valid gzip file (corrupt or truncated: {reason}); "
                            "delete it and download it again.") from exc
    return raw


def read_idx(path: str | Path, magic: int, kind: str,
             item_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file whose magic number must be ``magic``.

    ``kind`` names the content in error messages ("images", "labels"); ``item_shape``,
    if given, is the required shape of one item (all dimensions after the first).
    Returns a read-only uint8 array with the shape declared in the header.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path} is truncated: it has only {len(raw)} bytes, too few for an IDX "
                        "header; download it again.")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        hint = ""
        if found == LABELS_MAGIC and kind != "labels":
            hint = " (that is an IDX labels file)"
        elif found == IMAGES_MAGIC and kind != "images":
            hint = " (that is an IDX images file)"
        raise DataError(f"{path} has IDX magic number 0x{found:08X}{hint} but MNIST-format {kind} "
                        f"need 0x{magic:08X}; check that it is the right file and not corrupt.")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated: it has {len(raw)} bytes, shorter than its "
                        f"{header}-byte IDX header; download it again.")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if item_shape is not None and tuple(dims[1:]) != item_shape:
        got = "x".join(map(str, dims[1:]))
        want = "x".join(map(str, item_shape))
        raise DataError(f"{path} holds {kind} of size {got} but {want} is required; only "
                        "MNIST-format datasets (28x28 unsigned-byte images) are supported.")
    expected = math.prod(dims)
    payload = len(raw) - header
    if payload < expected:
        raise DataError(f"{path} is truncated: its header declares {dims[0]} {kind} "
                        f"({expected} data bytes) but only {payload} bytes follow; "
                        "download it again.")
    if payload > expected:
        raise DataError(f"{path} is corrupt: its header declares {dims[0]} {kind} "
                        f"({expected} data bytes) but {payload} bytes follow; "
                        "download it again.")
    return np.frombuffer(raw, dtype=np.uint8, count=expected, offset=header).reshape(dims)


def read_images(path: str | Path) -> np.ndarray:
    """Images of an IDX images file as uint8 of shape (n, 784), rows are 28x28 row-major."""
    images = read_idx(path, IMAGES_MAGIC, "images", IMAGE_SIZE)
    return images.reshape(len(images), IMAGE_SIZE[0] * IMAGE_SIZE[1])


def read_labels(path: str | Path) -> np.ndarray:
    """Labels of an IDX labels file as uint8 of shape (n,)."""
    return read_idx(path, LABELS_MAGIC, "labels")


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_files(root: str | Path, part: str) -> tuple[Path, Path]:
    """Locate the (images, labels) files of ``part`` under ``root``.

    Looks in ``root``, then ``root/raw``, then ``root/*/raw`` (torchvision's layout, e.g.
    ``root/MNIST/raw``); the first of these levels holding the files wins.  Several
    datasets on the same level (``root/MNIST/raw`` and ``root/FashionMNIST/raw``) is an
    error, since silently picking one could train on the wrong data.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"The data directory {root} does not exist; give the directory that "
                        "holds the MNIST-format IDX files.")
    if not root.is_dir():
        raise DataError(f"{root} is not a directory; give the directory that holds the "
                        "MNIST-format IDX files, not a file.")
    images_name, labels_name = FILES[part]
    levels = [[root], [root / "raw"], sorted(p for p in root.glob("*/raw") if p.is_dir())]
    for level in levels:
        hits = [d for d in level
                if d.is_dir() and (_find(d, images_name) or _find(d, labels_name))]
        if len(hits) > 1:
            listed = ", ".join(str(d) for d in hits)
            raise DataError(f"Found several MNIST-format datasets under {root} ({listed}); "
                            "give the directory of the one you want, e.g. "
                            f"{hits[0].parent}.")
        if hits:
            directory = hits[0]
            images, labels = _find(directory, images_name), _find(directory, labels_name)
            if images is None:
                raise DataError(f"{directory} has {labels_name} but not {images_name} (or "
                                f"{images_name}.gz); add the missing file.")
            if labels is None:
                raise DataError(f"{directory} has {images_name} but not {labels_name} (or "
                                f"{labels_name}.gz); add the missing file.")
            return images, labels
    raise DataError(f"No MNIST-format IDX files for part={part} found: looked for "
                    f"{images_name}[.gz] and {labels_name}[.gz] in {root}, {root / 'raw'} and "
                    f"{root / '*' / 'raw'}; give the directory that holds them.")


def load_idx(root: str | Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 784) uint8 and labels (n,) uint8 of ``part`` ("train"/"test") under ``root``."""
    images_path, labels_path = find_files(root, part)
    images = read_images(images_path)
    labels = read_labels(labels_path)
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has "
                        f"{len(labels)} labels; the files do not belong together.")
    return images, labels
