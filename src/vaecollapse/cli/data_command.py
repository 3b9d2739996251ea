"""`vaecollapse data`: load a data spec and describe it."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import typer

from vaecollapse.cli.core import app, out, user_errors
from vaecollapse.cli.shared_options import DATA_HELP


@app.command("data")
def data_command(spec: Annotated[str, typer.Argument(help=DATA_HELP)] = "mnist"):
    """Load a data spec and describe it: size, dimensions, labels, value range."""
    with user_errors():
        from vaecollapse.data import load  # lazy: start-up
        ds = load(spec)
        out.print(f"{spec}: n={ds.n}, dim_x={ds.dim_x}"
                  + (f", dim_y={ds.dim_y}" if ds.y is not None else "")
                  + (f", x_shape={ds.x_shape}" if ds.x_shape else "")
                  + (f", split={ds.split}" if ds.split else ""), highlight=False)
        out.print(f"x in [{ds.x.min():.4g}, {ds.x.max():.4g}], mean {ds.x.mean():.4g}",
                  highlight=False)
        if ds.labels is not None:
            labels, counts = np.unique(ds.labels, return_counts=True)
            out.print("labels: " + ", ".join(f"{a}×{b}" for a, b in zip(labels, counts, strict=True)),
                      highlight=False)
