"""Independent numpy oracles shared by the theory tests (no library code)."""

from __future__ import annotations

import numpy as np


def sorted_desc(a):
    return -np.sort(-np.asarray(a), axis=-1)


def lam_of(W, S):
    """Encoder singular values √eig(W S Wᵀ) (= singular values of W S^{1/2}): the root mean
    square of the latent mean per mode, for second moment S of the encoder's input."""
    ev = np.linalg.eigvalsh(W @ S @ np.swapaxes(W, -1, -2))
    return sorted_desc(np.sqrt(np.clip(ev, 0, None)))


def svals(U):
    return np.linalg.svd(U, compute_uv=False)
