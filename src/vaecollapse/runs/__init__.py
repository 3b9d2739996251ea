"""Training runs and their directories.

- :mod:`~vaecollapse.runs.rundir`: ``RunDir`` — a run directory's layout (config.json,
  metrics.jsonl, checkpoint.pt, diagnostics.json), its readers and its lock;
- :mod:`~vaecollapse.runs.train`: the training loop (``train``), resumable;
- :mod:`~vaecollapse.runs.sweep`: grids of runs on a process pool or Ray, with index.csv;
- :mod:`~vaecollapse.runs.summary`: a sweep's mean ± sd per grid point and the theory beside it;
- :mod:`~vaecollapse.runs.checkpoint`: the checkpoint format (written, read, checked);
- :mod:`~vaecollapse.runs.runtime`: threads, device, versions and training step of a run;
- :mod:`~vaecollapse.runs.grid`: a sweep's grid expanded into runs; :mod:`~vaecollapse.runs.executors`:
  where they execute (a process pool or Ray);
- :mod:`~vaecollapse.runs.predicted`: the linear theory's prediction for a run's options;
- :mod:`~vaecollapse.runs.flat_adam`: the trainer's optimiser.

Nothing is imported here, so that reading a run directory's names costs no torch import.
"""

__all__: list[str] = []
