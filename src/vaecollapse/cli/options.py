"""Typed option aliases shared by the commands: one declaration (name, type, range, help) per
option that several commands take alike, used as ``model: Model = "vae"``.

Ranges come from :mod:`vaecollapse.limits` and are checked while parsing. `advise` takes the same
options without parser ranges (the library checks them and names the parameter): it reuses the
help texts below.
"""

from __future__ import annotations

from typing import Annotated

import typer

from vaecollapse import limits as lim

DATA_HELP = (
    "Data spec: SOURCE or SOURCE:key=value,…  e.g. mnist, mnist:digits=1,9,7,split=quarter, "
    "mnist:root=DIR, idx:DIR,part=test, synthetic:corr=gaussian-0.5,n=1000,dim=128, npz:PATH."
)
MODEL_HELP = "vae | cvae | mhvae."
BETA_HELP = "KL weight β (VAE, CVAE). \\[default: 1]"
BETA1_HELP = "MHVAE z1 weight β1. \\[default: 1]"
BETA2_HELP = "MHVAE z2 weight β2. \\[default: 1]"

Model = Annotated[str, typer.Option(help=MODEL_HELP)]
Data = Annotated[str, typer.Option(help=DATA_HELP)]
# KL weights: absent (None) means 1 in the family that takes them (cli/inputs.py checks the
# family).
Beta = Annotated[float | None, typer.Option(**lim.option(lim.WEIGHT), help=BETA_HELP)]
Beta1 = Annotated[float | None, typer.Option(**lim.option(lim.WEIGHT), help=BETA1_HELP)]
Beta2 = Annotated[float | None, typer.Option(**lim.option(lim.WEIGHT), help=BETA2_HELP)]
