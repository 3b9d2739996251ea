"""Training runs and their directories.

- :mod:`~vaecollapse.runs.rundir`: ``RunDir`` — a run directory's layout (config.json,
  metrics.jsonl, checkpoint.pt, diagnostics.json), its readers and its lock;
- :mod:`~vaecollapse.runs.train`: the training loop (``train``), resumable;
- :mod:`~vaecollapse.runs.sweep`: grids of runs on a process pool or Ray, with index.csv;
- :mod:`~vaecollapse.runs.summary`: a sweep's mean ± sd per grid point and the theory beside it.

Nothing is imported here, so that reading a run directory's names costs no torch import.
"""
