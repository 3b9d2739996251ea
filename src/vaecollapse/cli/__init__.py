"""Command-line interface (thin: parse, validate, call the library, print).

Every error a user can cause prints one line (``error: …``) on stderr and exits with code 2.

One module per command or close group, all registering on one Typer :data:`app`
(cli/core.py, with the consoles, error handling and progress bar):

- predict_command.py: ``predict``; prediction_tables.py and hierarchy_tables.py: its tables and
  verdict
- train_command.py: ``train``; diagnose_command.py: ``diagnose``; sweep_command.py: ``sweep``,
  ``sweep-summary``
- reproduce_command.py: ``reproduce``, ``report``; data_command.py: ``data``;
  advise_command.py: ``advise``
- shared_options.py: the typed options several commands share; inputs.py: option values →
  library inputs (lists of numbers, sweep grids, hyperparameters, the data's statistics)

Every library import sits inside a command (``# lazy: start-up``): `vaecollapse --help` and
`predict` load neither torch nor matplotlib.
"""

from __future__ import annotations

# Importing a command module registers its commands: this order is `vaecollapse --help`'s.
# isort: off
from vaecollapse.cli import (  # noqa: F401
    predict_command, train_command, diagnose_command, sweep_command, reproduce_command,
    data_command, advise_command,
)
# isort: on
from vaecollapse.cli.core import app, main

__all__ = ["app", "main"]
