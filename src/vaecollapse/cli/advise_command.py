"""`vaecollapse advise`: how far each lever may go while K latent modes stay uncollapsed, from the
closed forms (vaecollapse.theory.advice), with a ready `train` line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from vaecollapse.cli.core import app, out, user_errors
from vaecollapse.cli.inputs import check_model, hyperparameters, theory_statistics
from vaecollapse.cli.prediction_tables import fmt
from vaecollapse.cli.shared_options import (
    BETA1_HELP,
    BETA2_HELP,
    BETA_HELP,
    Data,
    Model,
    PilotBackbone,
    PilotBatchSize,
    PilotClip,
    PilotEpochs,
    PilotHidden,
    PilotLr,
    PilotSeed,
)
from vaecollapse.errors import UserError


@app.command("advise")
def advise_command(
    keep: Annotated[int, typer.Option(help="K: the number of latent modes to keep uncollapsed.")],
    model: Model = "vae",
    data: Data = "mnist",
    # No parser ranges here: the library checks the values and names the parameter.
    latent_dim: Annotated[int, typer.Option(help="Latent dimension d (MHVAE: d1 = d2 = d).")] = 16,
    beta: Annotated[float | None, typer.Option(help=BETA_HELP)] = None,
    beta1: Annotated[float | None, typer.Option(help=BETA1_HELP)] = None,
    beta2: Annotated[float | None, typer.Option(help=BETA2_HELP)] = None,
    eta_enc: Annotated[float, typer.Option(help="Prior std η_enc.")] = 1.0,
    eta_dec: Annotated[float, typer.Option(help="Decoder std η_dec.")] = 1.0,
    sigma: Annotated[str | None, typer.Option(
        help="Fixed encoder std (one value or one per dimension). Absent: learnable Σ.")] = None,
    sigma1: Annotated[float | None, typer.Option(help="MHVAE fixed z1 encoder std (required).")] = None,
    sigma2: Annotated[float | None, typer.Option(
        help="MHVAE fixed z2 encoder std. Absent: learnable Σ2 (Theorem 3).")] = None,
    centre: Annotated[bool, typer.Option("--centre/--no-centre", help="Centre the data.")] = False,
    margin: Annotated[float, typer.Option(
        help="The recommendation sits this fraction inside the threshold (β = margin × max_beta, "
        "β1 = min_beta1 / margin).")] = 0.9,
    backbone: PilotBackbone = "linear",
    hidden: PilotHidden = "256",
    epochs: PilotEpochs = 20,
    lr: PilotLr = 1e-3,
    batch_size: PilotBatchSize = 128,
    clip: PilotClip = None,
    seed: PilotSeed = 0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the advice as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Write the phase diagram PNG (uncollapsed modes over β × η_dec, MHVAE β1 × β2, with "
        "the K contour, the current point and the recommendation).")] = None,
):
    """How far each lever may go while K modes stay uncollapsed — max β, max η_dec (VAE, CVAE),
    max β2, min β1 (MHVAE, Σ1 fixed) — from the closed forms, with the limiting mode and a ready
    `vaecollapse train` line. The other hyperparameters are held as given."""
    with user_errors():
        from vaecollapse.files.atomic import atomic_write_json  # lazy: numpy, at run time only
        from vaecollapse.output.documents import advice_to_dict  # lazy: numpy
        from vaecollapse.theory.advice import advise  # lazy: numpy

        check_model(model)
        hp = hyperparameters(model, beta, beta1, beta2, eta_enc, eta_dec, sigma, sigma1, sigma2)
        backbone = backbone.strip().lower()
        if backbone != "linear":
            if plot or centre:
                raise UserError("--plot and --centre are for the closed forms (--backbone linear)")
            train_options = {"hidden": hidden, "epochs": epochs, "lr": lr,
                             "batch_size": batch_size, "clip": clip, "seed": seed}
            adv = _nonlinear_advice(model, data, latent_dim, keep, margin, backbone, hp,
                                    train_options)
            document = advice_to_dict(adv, data=data, backbone=backbone,
                                      train_options=train_options)
            _print_advice(adv, document["recommendation"])
            if json_path:
                atomic_write_json(json_path, document)
                out.print(f"wrote {json_path}", highlight=False)
            return
        _, stats = theory_statistics(model, data, centre)
        adv = advise(stats, latent_dim, keep, margin=margin, **hp)
        document = advice_to_dict(adv, data=data, backbone=backbone)
        _print_advice(adv, document["recommendation"])
        if json_path:
            atomic_write_json(json_path, document)
            out.print(f"wrote {json_path}", highlight=False)
        if plot:
            from vaecollapse.output.figures import plot_phase_diagram  # lazy: matplotlib

            plot_phase_diagram(adv, stats, plot, title=f"{model.upper()} on {data}: keep "
                               f"K = {keep} of {adv.latent_dim} modes")
            out.print(f"wrote {plot}", highlight=False)


def _nonlinear_advice(model, data, latent_dim, keep, margin, backbone, hp, train_options):
    """The non-linear theory's advice (vaecollapse.runs.pilot.advise_run) as an Advice."""
    from vaecollapse.config import config_from_options  # lazy: start-up
    from vaecollapse.runs.pilot import advise_run, predict_run  # lazy: torch, start-up
    from vaecollapse.theory import nonlinear  # lazy: start-up

    if isinstance(hp.get("sigma"), list):
        hp["sigma"] = hp["sigma"][0] if len(set(hp["sigma"])) == 1 else hp["sigma"]
    datasets: dict = {}
    cfg = config_from_options(model=model, backbone=backbone, data=data, latent_dim=latent_dim,
                              datasets=datasets, **train_options, **hp)
    now = predict_run(cfg, datasets)
    value, at, kept = advise_run(cfg, keep, margin=margin, datasets=datasets)
    return nonlinear.advice(now, at, keep, value, kept, margin)


def _print_advice(adv, rec: dict) -> None:
    """The levers' table and the recommendation (``rec``: the advise document's)."""
    from vaecollapse.theory.advice import LEVERS  # lazy: numpy

    out.print(Text.assemble((adv.model.upper(), "bold"), f": keep K = {adv.keep} of {adv.latent_dim} "
                            f"modes uncollapsed (rank {adv.rank}); uncollapsed now: {adv.active_now}."),
              highlight=False)
    t = Table(show_edge=False, header_style="bold")
    for c in ("lever", "value", "set by mode", "note"):
        t.add_column(c)
    for name in LEVERS:
        lv = adv.levers[name]
        bound = "infimum" if name.startswith("min") else "supremum"
        kind = "" if lv.value is None else ("attained" if lv.attained else f"{bound}, not attained")
        t.add_row(name, fmt(lv.value), "—" if lv.mode is None else str(lv.mode),
                  lv.reason if lv.value is None else kind)
    out.print(t)
    if rec["train"]:
        out.print(f"recommended: {rec['parameter']} = {rec['value']:.4g} ({rec['margin']:g} inside "
                  f"{rec['lever']}; {rec['active_modes']} modes uncollapsed there)", highlight=False)
        out.print(rec["train"], highlight=False, soft_wrap=True)
    else:
        out.print(rec.get("why", ""), highlight=False)
