"""The streaming monitors for a training loop, in one place: what to import when you watch your
own model train.

- :class:`~vaecollapse.diagnostics.streaming.CollapseMonitor` — posterior collapse of Gaussian
  latents (flat, convolutional or grouped): per-unit KL, (ε, δ)-collapsed units, active units and
  modes, NVAE's active groups, near-deterministic units;
- :class:`~vaecollapse.diagnostics.codebook.CodebookMonitor` — codebook collapse of discrete
  latents (VQ-VAE, residual VQ, FSQ): epoch-level usage, perplexity and dead codes.

Both stream (memory independent of the number of points), run on any device, and merge their
state across the processes of an initialised ``torch.distributed`` group in ``compute()``, so
every rank gets the answer for all the data. Their homes are in :mod:`vaecollapse.diagnostics`;
this module only gathers them.
"""

from vaecollapse.diagnostics.codebook import CodebookMonitor
from vaecollapse.diagnostics.streaming import CollapseMonitor

__all__ = ["CodebookMonitor", "CollapseMonitor"]
