"""Command-line interface (thin: parse, validate, call the library, print).

Every error a user can cause prints one line (``error: …``) on stderr and exits with code 2.

One module per command or close group, all registering on one Typer :data:`app`
(cli/core.py, with the consoles, error handling and progress bar):

- predict.py: ``predict``; output.py and hierarchy.py: its tables and verdict
- train.py: ``train``; diagnose.py: ``diagnose``; sweep.py: ``sweep``, ``sweep-summary``
- reproduce.py: ``reproduce``, ``report``; data.py: ``data``; advise.py: ``advise``
- options.py: the typed options several commands share; inputs.py: option values → library
  inputs (lists of numbers, sweep grids, hyperparameters, the data's statistics)
"""

from __future__ import annotations

# Importing a command module registers its commands: this order is `vaecollapse --help`'s.
# isort: off
from vaecollapse.cli import predict, train, diagnose, sweep, reproduce, data, advise  # noqa: F401
# isort: on
from vaecollapse.cli.core import app, main

__all__ = ["app", "main"]
