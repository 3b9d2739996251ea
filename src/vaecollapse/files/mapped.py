"""Memory-mapped arrays read block by block with bounded resident memory.

Reading a ``numpy.memmap`` faults its pages into the process's resident set, where they stay
until unmapped; for a file larger than memory that is the whole file. :func:`release` drops the
pages already read (``madvise(MADV_DONTNEED)``; a clean file page stays in the OS page cache, so
nothing is lost), which keeps a block-by-block pass over any file at one block of memory.
"""

from __future__ import annotations

import contextlib
import mmap

import numpy as np


def mappings(*arrays: np.ndarray | None) -> list[mmap.mmap]:
    """The memory maps under the given array views (none for in-memory arrays, or where the
    platform cannot release pages)."""
    if not hasattr(mmap, "MADV_DONTNEED"):
        return []
    out = []
    for a in arrays:
        while a is not None and not isinstance(a, mmap.mmap):
            a = getattr(a, "base", None)
        if a is not None:
            out.append(a)
    return out


def release(maps: list[mmap.mmap]) -> None:
    """Drop the resident pages of ``maps`` (read again from the page cache if touched)."""
    for m in maps:
        with contextlib.suppress(OSError, ValueError):
            m.madvise(mmap.MADV_DONTNEED)
