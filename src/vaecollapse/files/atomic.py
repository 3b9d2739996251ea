"""Atomic file output: write to a temporary name in the same directory, then rename.

A crash or Ctrl-C never leaves a half-written result behind; an existing file is replaced only
by a complete new one.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vaecollapse.errors import UserError


@functools.cache
def file_mode() -> int:
    """0o666 less the process umask: the mode a plain ``open`` would give a new file. Read at the
    first atomic write, not at import: from /proc/self/status where Linux shows it, else by
    setting and restoring it (the only portable way to read it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic(path: str | os.PathLike, write: Callable[[Path], None], *,
            errors: tuple[type[BaseException], ...] = (OSError,),
            message: Callable[[BaseException, Path], str] | None = None) -> Path:
    """Run ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``; an
    exception of ``errors`` is a UserError (``message(error, path)``, or the OS's reason)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        os.chmod(tmp, file_mode())  # mkstemp makes 0600; give the usual umask-respecting mode
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except errors as e:
        raise UserError(message(e, path) if message else
                        f"cannot write {path}: {getattr(e, 'strerror', None) or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays become numbers/lists; NaN and ±inf become None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON (NaN/inf as null) atomically."""
    return atomic_write_text(path, json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (e.g. a checkpoint): a failure keeps the
    previous file, and says so."""
    import torch  # lazy: the files layer needs no torch but to save a checkpoint

    def message(e: BaseException, path: Path) -> str:  # torch reports a full disk as RuntimeError
        reason = e.strerror if isinstance(e, OSError) and e.strerror else re.sub(
            r"^\[enforce fail at [^\]]*\]\s*\.?\s*", "", " ".join(str(e).split()))
        kept = "the previous checkpoint is kept" if path.exists() else "no checkpoint was written"
        return f"cannot write {path}: {reason} (is the disk full?); {kept}"

    return _atomic(path, lambda p: torch.save(obj, p), errors=(OSError, RuntimeError),
                   message=message)


def atomic_savefig(fig, path: str | os.PathLike, **kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the file suffix, PNG by default)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return _atomic(path, lambda p: fig.savefig(p, format=fmt, **kwargs))


# ------------------------------------------------------------------------------ output paths

#: Figure formats the Agg backend writes without extra software (no suffix: PNG).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff")


def _writable_parent(path: Path, option: str) -> None:
    """The nearest existing ancestor of ``path`` must be a directory we may create files in."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {option} {path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {option} {path}: {parent} is not writable")


def check_output_file(path: str | os.PathLike | None, option: str,
                      suffixes: tuple[str, ...] | None = None) -> None:
    """Fail fast (before any work) when ``path`` cannot be written: a directory, under a file,
    in a read-only directory, or (given ``suffixes``) a file type that cannot be written."""
    if path is None:
        return
    path = Path(path)
    if suffixes is not None and path.suffix and path.suffix.lower() not in suffixes:
        raise UserError(f"{option} {path}: unsupported file type {path.suffix!r}; use one of "
                        f"{', '.join(suffixes)}")
    if path.is_dir():
        raise UserError(f"cannot write {option} {path}: it is a directory")
    if path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {option} {path}: {path.parent} is not writable")
    _writable_parent(path, option)


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> None:
    """Fail fast when ``path`` cannot be used as an output directory: a file, under a file, or
    read-only."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise UserError(f"cannot use {option} {path}: it is a file, not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"cannot use {option} {path}: it is not writable")
        return
    _writable_parent(path, option)
