"""The ``npz:PATH`` source: an ``.npz`` archive with an array ``x`` and optional ``y`` and
``labels``, read into memory and validated, with a message for each way the file can be wrong
(missing, a directory, a single ``.npy`` array, not a zip archive, corrupt, no ``x``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaecollapse.data.dataset import Dataset, reason, subsample_index, validate
from vaecollapse.data.spec import parse_int
from vaecollapse.errors import DataError


def load_npz(spec: str, path: str, options: dict[str, str]) -> Dataset:
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
        raise DataError(f"Cannot read {file} ({exc.strerror or reason(exc)}); check that the "
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
        raise DataError(f"Cannot read {file} as an .npz file ({reason(exc)}); the file is "
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
        raise DataError(f"Cannot read the arrays in {file} ({reason(exc)}); the file is corrupt "
                        "or holds non-numeric (object) arrays.") from exc
    x, y, labels = validate(arrays["x"], arrays.get("y"), arrays.get("labels"), f"{file}: ")
    index = subsample_index(len(x), options, str(file))
    if index is not None:
        x = x[index]
        y = None if y is None else y[index]
        labels = None if labels is None else labels[index]
    return Dataset(x=x, y=y, labels=labels, spec=spec)
