"""Data statistics of docs/theory.md §1, in float64.

Conventions: second moments are **uncentred** by default (the theory's bias-free setting);
``centre=True`` subtracts the mean first (the theory then applies to covariances).

- A := E[x xᵀ] = P_A Φ P_Aᵀ. VAE / MHVAE: θ_i = √φ_i, descending (standard-deviation scale).
- CVAE: B := E[y yᵀ], C := E[x yᵀ], E := B − Cᵀ A⁺ C (the second moment of the residual of the
  best linear prediction y ≈ K x, K := Cᵀ A⁺). θ_i = eigenvalues of E, descending (variance scale).

Singular moments are handled with a pseudo-inverse whose cut-off is relative to the largest
eigenvalue (``rcond``); the numerical rank is reported. No ad-hoc epsilons are added.

:func:`statistics` is the entry point: the moments and θ of one model family as a
:class:`Statistics` record, computed once (the only O(n) step) and reused by every solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from vaecollapse.errors import DataError
from vaecollapse.family import Family
from vaecollapse.files.mapped import mappings, release


def eigh(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric eigendecomposition, ascending, on one BLAS thread.

    These matrices are at most a few thousand wide, where threading buys little, while OpenBLAS's
    spinning threads can slow an eigensolver 100-fold when another process (or torch's own
    thread pool) holds the other cores."""
    with threadpool_limits(limits=1, user_api="blas"):
        return np.linalg.eigh(M)


def default_rcond(dim: int) -> float:
    """Relative eigenvalue cut-off below which a direction counts as null (LAPACK's usual choice)."""
    return max(dim, 1) * np.finfo(np.float64).eps


@dataclass(frozen=True)
class Moments:
    """Second moments of a dataset: A = E[xxᵀ]; for paired data also B = E[yyᵀ], C = E[xyᵀ]."""

    A: np.ndarray
    B: np.ndarray | None
    C: np.ndarray | None
    n: int
    centred: bool


@dataclass(frozen=True)
class Spectrum:
    """Eigen-decomposition M = P diag(values) Pᵀ of a PSD matrix, values descending and clipped at
    zero, with the numerical rank (number of values above ``rcond · max value``)."""

    values: np.ndarray
    vectors: np.ndarray
    rank: int


CHUNK_ROWS = 4096  # rows converted to float64 at a time: bounded memory, cache-friendly


def _as_2d(a, name: str) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != 2:
        raise DataError(f"{name} must be a 2-D array of shape (n, d), got shape {a.shape}")
    if a.shape[0] < 2:
        raise DataError(f"need at least 2 samples to estimate moments, got {a.shape[0]}")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise DataError(f"{name} must be numeric, got dtype {a.dtype}")
    return a


def _column_mean(a: np.ndarray) -> np.ndarray:
    """Column means in float64, over chunks of rows (bounded memory for memory-mapped input)."""
    maps = mappings(a)
    total = np.zeros(a.shape[1])
    for i in range(0, a.shape[0], CHUNK_ROWS):
        total += a[i:i + CHUNK_ROWS].sum(axis=0, dtype=np.float64)
        release(maps)
    return total / a.shape[0]


def _gram(blocks: list[np.ndarray], mean: np.ndarray | None) -> np.ndarray:
    """(1/n) Σ_rows s sᵀ for s = the row-wise concatenation of ``blocks`` (minus ``mean``),
    accumulated in float64 over chunks of rows (one symmetric BLAS product per chunk). Memory:
    one chunk of float64 rows plus the result, also for memory-mapped inputs."""
    maps = mappings(*blocks)
    n = blocks[0].shape[0]
    widths = [b.shape[1] for b in blocks]
    S = np.zeros((sum(widths), sum(widths)))
    buf = np.empty((min(CHUNK_ROWS, n), sum(widths)))
    for i in range(0, n, CHUNK_ROWS):
        rows = min(CHUNK_ROWS, n - i)
        c, col = buf[:rows], 0
        for b, w in zip(blocks, widths, strict=True):
            c[:, col:col + w] = b[i:i + rows]
            col += w
        if mean is not None:
            c -= mean
        S += c.T @ c
        release(maps)
    S /= n
    if not np.all(np.isfinite(S)):
        raise DataError("the data contain NaN or Inf values (or values too large to square)")
    return S


def second_moments(x, y=None, *, centre: bool = False) -> Moments:
    """A = XᵀX/n (and B = YᵀY/n, C = XᵀY/n), in float64, from one pass over the rows.

    ``centre=True`` subtracts the column means first (covariances)."""
    x = _as_2d(x, "x")
    blocks = [x]
    if y is not None:
        y = _as_2d(y, "y")
        if y.shape[0] != x.shape[0]:
            raise DataError(f"x has {x.shape[0]} rows but y has {y.shape[0]}: they must pair up")
        blocks.append(y)
    mean = np.concatenate([_column_mean(b) for b in blocks]) if centre else None
    S = _gram(blocks, mean)
    n, dx = x.shape
    if y is None:
        return Moments(A=S, B=None, C=None, n=n, centred=centre)
    return Moments(A=S[:dx, :dx], B=S[dx:, dx:], C=S[:dx, dx:], n=n, centred=centre)


def spectrum(M: np.ndarray, rcond: float | None = None) -> Spectrum:
    """Eigen-decomposition of the symmetric PSD matrix M, descending, with its numerical rank.

    Eigenvalues at or below ``rcond · max eigenvalue`` are set to exactly zero (null directions).
    """
    M = np.asarray(M, dtype=np.float64)
    vals, vecs = eigh((M + M.T) / 2)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    rcond = default_rcond(M.shape[0]) if rcond is None else rcond
    top = max(vals[0], 0.0) if vals.size else 0.0
    keep = vals > rcond * top
    vals = np.where(keep, vals, 0.0)
    return Spectrum(values=vals, vectors=np.ascontiguousarray(vecs), rank=int(keep.sum()))


def pinv_psd(spec: Spectrum) -> np.ndarray:
    """Moore–Penrose pseudo-inverse of a PSD matrix from its spectrum (null directions dropped)."""
    r = spec.rank
    P = spec.vectors[:, :r]
    return (P / spec.values[:r]) @ P.T


@dataclass(frozen=True)
class VaeStatistics:
    """θ_i = √φ_i (std scale) and eigenvectors P_A of A = E[xxᵀ]; rank of A."""

    theta: np.ndarray
    P: np.ndarray
    rank: int
    A: np.ndarray


def vae_statistics(A: np.ndarray, rcond: float | None = None) -> VaeStatistics:
    """Statistics of the linear VAE / MHVAE: θ = singular values of Z = P_A Φ^{1/2} = √eig(A)."""
    spec = spectrum(A, rcond)
    return VaeStatistics(theta=np.sqrt(spec.values), P=spec.vectors, rank=spec.rank,
                         A=np.asarray(A, dtype=np.float64))


@dataclass(frozen=True)
class CvaeStatistics:
    """E = B − CᵀA⁺C with eigenvalues θ (variance scale, descending) and eigenvectors Q; the
    regression K = CᵀA⁺; the rank of A (condition) and of E (residual)."""

    theta: np.ndarray
    Q: np.ndarray
    K: np.ndarray
    E: np.ndarray
    rank_x: int
    rank: int


def cvae_statistics(A: np.ndarray, B: np.ndarray, C: np.ndarray,
                    rcond: float | None = None) -> CvaeStatistics:
    """Statistics of the linear CVAE (Theorem 2): residual moment E = B − CᵀA⁺C and K = CᵀA⁺."""
    spec_a = spectrum(A, rcond)
    K = C.T @ pinv_psd(spec_a)
    E = B - K @ C
    E = (E + E.T) / 2
    # E is PSD in exact arithmetic; its cut-off is taken relative to B's scale (its trace) so that a y that is
    # an exact linear function of x gives E = 0 (every mode collapses), not rounding noise.
    rc = default_rcond(B.shape[0]) if rcond is None else rcond
    vals, vecs = eigh(E)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    scale = max(float(np.trace(B)), 0.0)  # ≥ the largest eigenvalue of B
    tol = max(rc, 1e3 * np.finfo(np.float64).eps) * scale
    keep = vals > tol
    vals = np.where(keep, vals, 0.0)
    return CvaeStatistics(theta=vals, Q=np.ascontiguousarray(vecs), K=K, E=E,
                          rank_x=spec_a.rank, rank=int(keep.sum()))


@dataclass(frozen=True)
class Statistics:
    """What the closed forms need from the data: θ (VAE/MHVAE: √eig A, std scale; CVAE: eig E,
    variance scale), their eigenvectors, the moments, and for the CVAE the regression K = CᵀA⁺."""

    model: Family
    moments: Moments
    theta: np.ndarray
    basis: np.ndarray
    rank: int
    K: np.ndarray | None = None
    rank_x: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "model", Family.parse(self.model))


def statistics(x, y=None, *, model: str, centre: bool = False,
               rcond: float | None = None) -> Statistics:
    """Second moments (float64, uncentred unless ``centre``) and θ for ``model`` (a
    :class:`~vaecollapse.family.Family` or its name)."""
    model = Family.parse(model)
    if model.conditional:
        model.require_target(y is not None)
        m = second_moments(x, y, centre=centre)
        s: CvaeStatistics = cvae_statistics(m.A, m.B, m.C, rcond)
        return Statistics(model, m, s.theta, s.Q, s.rank, K=s.K, rank_x=s.rank_x)
    m = second_moments(x, centre=centre)
    v: VaeStatistics = vae_statistics(m.A, rcond)
    return Statistics(model, m, v.theta, v.P, v.rank)
