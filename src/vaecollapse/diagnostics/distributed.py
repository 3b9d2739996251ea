"""Merging the streaming monitors' state across the processes of a ``torch.distributed`` group
(DDP): one collective per call, on flat buffers, so every rank gets the global answer.

Only two operations are needed:

- :func:`all_reduce_sum`: the element-wise sum over processes of a buffer of equal shape on every
  rank (the codebook counts);
- :func:`all_gather_flat`: every rank's 1-D buffer, in rank order, on every rank (buffers may
  differ in length — a rank that saw no data sends an empty one). The collapse monitor gathers
  each rank's sums, counts and centred second moments and merges them with the pairwise
  (Chan et al.) rule in rank order, so the merge is exact and bit-identical on every rank,
  whatever each rank's data (an all-reduce of raw moments would lose the shift that keeps them
  well conditioned).

Buffers travel on the device the backend needs (CUDA for NCCL, the CPU otherwise) and come back
on the caller's device. Nothing here runs unless a process group is initialised with more than
one process (:func:`process_group_active`).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def process_group_active(group=None) -> bool:
    """True when ``torch.distributed`` is available and initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def _wire_device(group=None) -> torch.device:
    """The device a collective's tensors must live on: the current CUDA device for NCCL, else
    the CPU."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(t: Tensor, group=None) -> Tensor:
    """The sum over the group's processes of ``t`` (same shape and dtype on every rank), as a new
    tensor on ``t``'s device; ``t`` itself is left as it is."""
    buf = t.detach().to(_wire_device(group), copy=True)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM, group=group)
    return buf.to(t.device)


def all_gather_flat(t: Tensor, group=None) -> list[Tensor]:
    """Every rank's 1-D float64 buffer ``t``, in rank order, on ``t``'s device. Lengths may differ
    between ranks: they are gathered first, then the buffers padded to the longest one."""
    if t.ndim != 1:
        raise ValueError(f"all_gather_flat takes a 1-D buffer, got shape {tuple(t.shape)}")
    wire = _wire_device(group)
    world = dist.get_world_size(group)
    length = torch.tensor([t.numel()], dtype=torch.int64, device=wire)
    lengths = [torch.empty_like(length) for _ in range(world)]
    dist.all_gather(lengths, length, group=group)
    sizes = [int(v.item()) for v in lengths]
    padded = torch.zeros(max(sizes), dtype=torch.float64, device=wire)
    padded[:t.numel()] = t.detach().to(device=wire, dtype=torch.float64)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded, group=group)
    return [p[:k].to(t.device) for p, k in zip(parts, sizes, strict=True)]
