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
EtaEnc = Annotated[float, typer.Option(
    **lim.option(lim.WEIGHT), help="Prior std η_enc: p(z) = N(0, η_enc² I).")]
EtaDec = Annotated[float, typer.Option(
    **lim.option(lim.WEIGHT), help="Decoder std η_dec: p(x|z) = N(μ, η_dec² I).")]

# The hierarchy (MHVAE) of `predict` and `train`: levels, per-level values, inference.
Levels = Annotated[int | None, typer.Option(
    min=1, max=5, help="MHVAE latent levels L = 1…5 (numerical theory unless L = 2 with "
    "--sigma1). \\[default: 2]")]
Betas = Annotated[str | None, typer.Option(
    help="MHVAE per-level KL weights b1,…,bL (one value: all levels; --beta1/--beta2 override).")]
LatentDims = Annotated[str | None, typer.Option(
    help="MHVAE per-level latent sizes d1,…,dL, non-increasing. \\[default: --latent-dim "
    "everywhere]")]
Sigmas = Annotated[str | None, typer.Option(
    help="MHVAE per-level encoder stds, comma-separated: a number fixes Σ_l, 'learn' makes it "
    "learnable. \\[default: all learnable]")]
Inference = Annotated[str | None, typer.Option(
    help="MHVAE inference: markov (x → z1 → z2 → …) or ladder (every level also encoded from x: "
    "the paper's 'separate maps'). \\[default: markov]")]

# The training a non-linear prediction pilots (`predict` and `advise` with --backbone mlp|cnn):
# the options of `train` that shape the run.
PilotBackbone = Annotated[str, typer.Option(
    "--backbone",
    help="linear | mlp | cnn | resnet18: linear is the closed form; the others the non-linear "
    "theory (docs/nonlinear-theory.md) — a pilot of the first 8% of the training the options "
    "below describe, then the collapsed-point instability in its features.")]
PilotHidden = Annotated[str, typer.Option("--hidden", help="Non-linear backbones: MLP hidden sizes.")]
PilotEpochs = Annotated[int, typer.Option(
    "--epochs", **lim.option(lim.EPOCHS),
    help="Non-linear backbones: the training's epochs (the pilot runs 8% of them).")]
PilotLr = Annotated[float, typer.Option("--lr", help="Non-linear backbones: Adam learning rate.")]
PilotBatchSize = Annotated[int, typer.Option(
    "--batch-size", **lim.option(lim.BATCH_SIZE), help="Non-linear backbones: batch size.")]
PilotClip = Annotated[float | None, typer.Option(
    "--clip", help="Non-linear backbones: gradient-norm clipping threshold.")]
PilotSeed = Annotated[int, typer.Option(
    "--seed", **lim.option(lim.SEED), help="Non-linear backbones: the training's seed (the pilot's).")]
