"""Codebook collapse monitor for discrete latents (VQ-VAE, residual VQ, FSQ): epoch-level code
usage, perplexity and dead codes, streamed batch by batch.

Codebook collapse is the discrete analogue of posterior collapse: of the K codes of a codebook,
only a few are ever selected by the quantiser, the others are *dead* (never the nearest code, so
they get no gradient and stay dead). With ``c_k`` the number of times code k was selected over
everything seen since the last ``reset()`` and ``n = Σ_k c_k``, the epoch-level code frequencies
are ``p_k = c_k / n`` and

- the **entropy** ``H(p) = −Σ_k p_k log p_k`` (natural log, ``0 · log 0 = 0``);
- the **perplexity** ``exp(H(p))``: the effective number of codes in use, between 1 (one code
  takes everything) and K (uniform usage);
- the **dead codes**: ``#{k : c_k = 0}``, and the **used fraction** ``#{k : c_k > 0} / K``.

**Why epoch-level, not batch-level.** A batch of B code indices has an empirical distribution
with at most ``min(B, K)`` non-zero frequencies, so its entropy is at most ``log min(B, K)`` and

    batch perplexity = exp(H(p̂_batch)) ≤ min(B, K).

With B < K a perfectly healthy codebook *looks* collapsed, and the number reported moves with the
batch size. Averaging over batches does not repair it: the epoch distribution is the mixture
``p = Σ_b (B_b / n) p̂_b`` and entropy is concave, so ``H(p) ≥ Σ_b (B_b / n) H(p̂_b)`` — the mean
batch entropy under-states the epoch's (strictly so as soon as batches use different codes), and
the dead-code count of one batch says nothing about the epoch. This monitor therefore keeps the
counts ``c_k`` themselves (an int64 tensor of shape ``(levels, K)``, nothing growing with n) and
computes everything from them.

**Several quantiser levels** (residual VQ, product codebooks): ``levels > 1``; the last axis of
each batch of indices is the level, and every level has its own counts and its own record.

**DDP.** With a ``torch.distributed`` process group of more than one process, ``compute()`` first
sums the counts over the processes (one all-reduce of the ``(levels, K)`` buffer), so every rank
gets the answer for the whole epoch; the integer sum is exact, so the result equals a single
process that saw all the data. Every rank must call ``compute()`` (a collective); a rank that saw
no batch takes part with zeros.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from vaecollapse.diagnostics.distributed import all_reduce_sum, process_group_active

__all__ = ["CodebookMonitor", "codebook_scalars"]


_WIDE_UNSIGNED = tuple(getattr(torch, name) for name in ("uint16", "uint32", "uint64")
                       if hasattr(torch, name))


def _is_integer_dtype(dtype: torch.dtype) -> bool:
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)


class CodebookMonitor:
    """Epoch-level usage, perplexity and dead codes of a codebook of ``num_codes`` codes, streamed
    from the code indices of each batch (see the module docstring for the definitions).

    :param num_codes: K, the size of the codebook (of every level's codebook).
    :param levels: the number of quantiser levels (residual VQ); when > 1 the last axis of every
        batch of indices is the level and must have this size.
    :param sync_dist: sum the counts over the processes of an initialised ``torch.distributed``
        group (more than one process) in :meth:`compute`; ``compute(sync=...)`` overrides it.

    State: an int64 count tensor of shape ``(levels, num_codes)`` on the device of the first batch
    (later batches on another device are moved to it), and the number of index rows seen.
    """

    def __init__(self, num_codes: int, levels: int = 1, *, sync_dist: bool = True):
        if isinstance(num_codes, bool) or not isinstance(num_codes, int) or num_codes < 1:
            raise ValueError(f"num_codes must be a positive integer, got {num_codes!r}")
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be a positive integer, got {levels!r}")
        self.num_codes = num_codes
        self.levels = levels
        self.sync_dist = bool(sync_dist)
        self._counts: Tensor | None = None
        self._n = 0

    # -- streaming --------------------------------------------------------------------------

    def update(self, indices: Tensor, *, validate: bool = True) -> None:
        """Count a batch of code indices.

        :param indices: an integer tensor of any shape, on any device. With ``levels == 1`` every
            element is one code index; with ``levels > 1`` the last axis is the quantiser level
            (its size must be ``levels``) and every other element is one position.
        :param validate: check that the values lie in ``[0, num_codes)``. The check is one fused
            ``min < 0 | max >= K`` reduction whose result is read on the host, i.e. **one device
            synchronisation per call** on an accelerator (free on the CPU). With
            ``validate=False`` there is no host round-trip at all, but out-of-range indices then
            give wrong counts (attributed to another level) or a shape error, never a clear
            message. The dtype and shape checks are always made (they cost nothing).
        :raises ValueError: a non-integer dtype, a wrong last-axis size, or (with ``validate``) an
            index outside ``[0, num_codes)``.
        """
        if not isinstance(indices, Tensor):
            raise ValueError(f"indices must be a torch.Tensor of integer code indices, "
                             f"got {type(indices).__name__}")
        if not _is_integer_dtype(indices.dtype):
            raise ValueError(f"indices must have an integer dtype, got {indices.dtype}")
        K, L = self.num_codes, self.levels
        if L > 1 and (indices.ndim == 0 or indices.shape[-1] != L):
            raise ValueError(f"with levels={L} the last axis of indices is the quantiser level and "
                             f"must have size {L}, got shape {tuple(indices.shape)}")
        if indices.numel() == 0:
            return
        idx = indices.detach()
        if idx.dtype in _WIDE_UNSIGNED:  # few kernels (no min/max): count them as int64
            idx = idx.to(torch.int64)  # (a uint64 above 2^63 wraps negative: caught below)
        if validate:
            self._check_range(idx)
        if self._counts is None:
            self._counts = torch.zeros(L, K, dtype=torch.int64, device=idx.device)
        idx = idx.to(device=self._counts.device, dtype=torch.int64)
        if L > 1:
            # one bincount for every level: level l's codes are shifted to [l·K, (l+1)·K)
            idx = idx.reshape(-1, L) + torch.arange(L, device=idx.device) * K
        self._counts += torch.bincount(idx.reshape(-1), minlength=L * K).view(L, K)
        self._n += indices.numel() // L

    def _check_range(self, idx: Tensor) -> None:
        """One fused reduction, read on the host: ``min < 0 | max >= K``, each half only when the
        dtype can hold such a value (comparing a uint8 tensor with K = 300 would wrap K)."""
        K, info = self.num_codes, torch.iinfo(idx.dtype)
        bad = None
        if info.min < 0:
            bad = idx.min() < 0
        if K <= info.max:
            bad = idx.max() >= K if bad is None else bad | (idx.max() >= K)
        if bad is not None and bool(bad):
            lo, hi = int(idx.min()), int(idx.max())
            raise ValueError(f"code indices must lie in [0, {K}) (num_codes={K}), "
                             f"got values in [{lo}, {hi}]")

    def reset(self) -> None:
        """Forget everything seen (the count buffer, if any, is zeroed in place)."""
        if self._counts is not None:
            self._counts.zero_()
        self._n = 0

    @property
    def n(self) -> int:
        """The number of positions (index rows) seen by *this* process since the last reset: each
        contributes one code at every level. Known on the host, no synchronisation."""
        return self._n

    @property
    def counts(self) -> Tensor:
        """A copy of this process's counts, int64 of shape ``(levels, num_codes)`` (zeros on the
        CPU before any batch)."""
        return self._local_counts().clone()

    def _local_counts(self) -> Tensor:
        if self._counts is not None:
            return self._counts
        return torch.zeros(self.levels, self.num_codes, dtype=torch.int64)

    # -- results ----------------------------------------------------------------------------

    def compute(self, sync: bool | None = None) -> list[dict[str, Any]]:
        """One record per level for everything seen since the last reset (by every process when
        synchronising). Each record holds ``level`` (0-based), ``usage`` (the K counts), ``n``
        (codes seen at that level), ``perplexity`` = exp(H(p)) with p_k = usage_k / n (``nan``
        when n = 0), ``dead_codes`` (codes never used), ``dead_code_ids`` and ``used_fraction``
        (used codes / K). Computed in float64. The local counts are left as they are, so calling
        it twice gives the same answer.

        :param sync: sum the counts over the processes of the ``torch.distributed`` group first
            (one all-reduce; a collective, so every rank must call ``compute``). ``None`` (the
            default) uses the constructor's ``sync_dist``; nothing happens without an initialised
            group of more than one process.
        """
        counts = self._local_counts()
        if (self.sync_dist if sync is None else sync) and process_group_active():
            counts = all_reduce_sum(counts)  # a new tensor: the local counts stay as they are
        counts = counts.to(device="cpu", dtype=torch.int64)
        c = counts.to(torch.float64)
        n = c.sum(dim=1, keepdim=True)
        p = c / n.clamp_min(1.0)
        plogp = torch.where(c > 0, p * torch.log(torch.where(c > 0, p, 1.0)), 0.0)
        entropy = -plogp.sum(dim=1)
        records = []
        for level in range(self.levels):
            usage = [int(v) for v in counts[level].tolist()]
            dead = [k for k, v in enumerate(usage) if v == 0]
            total = sum(usage)
            records.append({
                "level": level,
                "usage": usage,
                "n": total,
                "perplexity": math.exp(float(entropy[level])) if total else math.nan,
                "dead_codes": len(dead),
                "dead_code_ids": dead,
                "used_fraction": (self.num_codes - len(dead)) / self.num_codes,
            })
        return records

    def __repr__(self) -> str:
        return (f"CodebookMonitor(num_codes={self.num_codes}, levels={self.levels}, "
                f"sync_dist={self.sync_dist}, n={self._n})")


def codebook_scalars(record: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, float]:
    """Flat float scalars for loggers from :meth:`CodebookMonitor.compute`'s result (the list of
    level records, or one record): ``codebook/<level>/perplexity``, ``codebook/<level>/dead_codes``
    and ``codebook/<level>/used_fraction``."""
    records = [record] if isinstance(record, Mapping) else list(record)
    out: dict[str, float] = {}
    for rec in records:
        level = int(rec["level"])
        for key in ("perplexity", "dead_codes", "used_fraction"):
            out[f"codebook/{level}/{key}"] = float(rec[key])
    return out
