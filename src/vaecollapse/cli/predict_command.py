"""`vaecollapse predict`: the closed-form (or numerical, for hierarchies) prediction of which
latent dimensions collapse, or a phase diagram over one hyperparameter (``--sweep``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from vaecollapse import limits as lim
from vaecollapse.cli.core import app, out, user_errors
from vaecollapse.cli.inputs import (
    check_model,
    hierarchy_options,
    hyperparameters,
    parse_sweep,
    theory_statistics,
)
from vaecollapse.cli.prediction_tables import print_prediction, print_sweep
from vaecollapse.cli.shared_options import (
    Beta,
    Beta1,
    Beta2,
    Betas,
    Data,
    EtaDec,
    EtaEnc,
    Inference,
    LatentDims,
    Levels,
    Model,
    PilotBackbone,
    PilotBatchSize,
    PilotClip,
    PilotEpochs,
    PilotHidden,
    PilotLr,
    PilotSeed,
    Sigmas,
)
from vaecollapse.errors import UnboundedError, UserError
from vaecollapse.family import Family


def _solve_or_unbounded(solve, stats, latent_dim: int, hp: dict, info: dict, json_path):
    """``solve``; where the loss is unbounded below, write {"bounded": false, "reason"} to
    ``json_path`` (if given) and fail with the one-line reason."""

    try:
        return solve(stats, latent_dim, **hp)
    except UnboundedError as e:
        if json_path:
            from vaecollapse.files.atomic import atomic_write_json  # lazy: start-up
            from vaecollapse.output.documents import unbounded_to_dict  # lazy: start-up

            atomic_write_json(json_path, unbounded_to_dict(e.hyperparameters, str(e), info))
        raise


def critical_parameter(model: str, raw: str, hp: dict, sweeping: bool) -> str:
    """``--critical``: beta<l> or eta_dec, for numerical MHVAE settings only (the level exists:
    checked by the theory)."""

    from vaecollapse.theory.dispatch import needs_numerical  # lazy: start-up

    value = raw.strip().lower()
    if not re.fullmatch(r"beta[1-5]|eta_dec", value):
        raise UserError(f"--critical takes beta1 … beta5 (one of the levels) or eta_dec, got "
                        f"{raw!r}")
    if not Family.parse(model).hierarchical or not needs_numerical(hp):
        raise UserError("--critical applies to numerical MHVAE settings (--model mhvae without "
                        "--sigma1, or with --levels/--sigmas/--inference …); closed-form tables "
                        "already show critical β (β2) and η_dec")
    levels = hp.get("levels") or max([len(hp[k]) for k in ("betas", "sigmas", "latent_dims")
                                      if isinstance(hp.get(k), list) and len(hp[k]) > 1] or [2])
    if value != "eta_dec" and int(value[4:]) > levels:
        raise UserError(f"--critical {value}: the hierarchy has {levels} levels (beta1 … "
                        f"beta{levels} or eta_dec)")
    if sweeping:
        raise UserError("--critical does not apply to --sweep (a phase diagram computes no "
                        "critical values)")
    return value


@app.command("predict")
def predict_command(
    model: Model = "vae",
    data: Data = "mnist",
    latent_dim: Annotated[int, typer.Option(
        **lim.option(lim.LATENT_DIM), help="Latent dimension d (MHVAE: d1 = d2 = d).")] = 16,
    beta: Beta = None,
    beta1: Beta1 = None,
    beta2: Beta2 = None,
    eta_enc: EtaEnc = 1.0,
    eta_dec: EtaDec = 1.0,
    sigma: Annotated[str | None, typer.Option(
        help="Fixed (unlearnable) encoder std: one value or one per latent dimension, "
        "comma-separated. Absent: learnable Σ.")] = None,
    sigma1: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT),
        help="MHVAE fixed z1 encoder std (closed forms). Absent: learnable Σ1 (numerical "
        "theory).")] = None,
    sigma2: Annotated[float | None, typer.Option(**lim.option(lim.WEIGHT),
        help="MHVAE fixed z2 encoder std (Theorem 5). Absent: learnable Σ2 (Theorem 3).")] = None,
    levels: Levels = None,
    betas: Betas = None,
    latent_dims: LatentDims = None,
    sigmas: Sigmas = None,
    inference: Inference = None,
    critical: Annotated[str | None, typer.Option(
        metavar="PARAM",
        help="MHVAE numerical settings: the parameter of the critical column, beta<l> (l = 1…L) "
        "or eta_dec — per mode, its value (others held) where the mode's top-level posterior "
        "switches to collapsed; '≤ v' marks modes that collapse as it decreases (a lower "
        "level's β often), — none: never/always collapsed in the scanned range (×/÷1e4, η_dec "
        "×/÷1e2, cut where the loss turns unbounded), or not monotone. See "
        "docs/numerical-theory.md §5. \\[default: the top level's β]")] = None,
    centre: Annotated[bool, typer.Option(
        "--centre/--no-centre", help="Centre the data (covariances instead of uncentred second "
        "moments; the theory then describes a linear model with biases).")] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the prediction as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Write a PNG: θ spectrum with the collapse threshold (or, with --sweep, the phase "
        "diagram).")] = None,
    sweep: Annotated[str | None, typer.Option(
        help="Phase diagram over one hyperparameter: PARAM=START:STOP:COUNT[:log] or "
        "PARAM=V1,V2,… with PARAM one of beta, eta_dec, eta_enc (VAE/CVAE), beta1, beta2, "
        "eta_dec, eta_enc (MHVAE).")] = None,
    backbone: PilotBackbone = "linear",
    hidden: PilotHidden = "256",
    epochs: PilotEpochs = 20,
    lr: PilotLr = 1e-3,
    batch_size: PilotBatchSize = 128,
    clip: PilotClip = None,
    seed: PilotSeed = 0,
):
    """Predict which latent dimensions of a VAE / CVAE / MHVAE collapse, without training: the
    closed forms for linear models (and at which β (β2) or η_dec the next one goes), the
    non-linear theory from a short pilot for ReLU and CNN models (--backbone)."""
    with user_errors():
        # Heavy imports (torch, matplotlib) only when a command runs: `--help` stays instant.
        from vaecollapse import theory  # lazy: start-up
        from vaecollapse.files.atomic import (  # lazy: start-up
            PLOT_SUFFIXES,
            atomic_write_json,
            check_output_file,
        )
        from vaecollapse.output.documents import (  # lazy: start-up
            data_info,
            prediction_to_dict,
            sweep_to_dict,
        )

        check_model(model)
        hp = hyperparameters(model, beta, beta1, beta2, eta_enc, eta_dec, sigma, sigma1, sigma2)
        hp.update(hierarchy_options(model, levels, betas, latent_dims, sigmas, inference))
        if betas is not None:  # --betas sets every level; --beta1/--beta2 only when given
            for name, raw in (("beta1", beta1), ("beta2", beta2)):
                if raw is None:
                    hp.pop(name, None)
        grid = parse_sweep(sweep) if sweep else None
        if critical is not None:
            hp["critical"] = critical_parameter(model, critical, hp, grid is not None)
        check_output_file(json_path, "--json")
        check_output_file(plot, "--plot", PLOT_SUFFIXES)
        if backbone.strip().lower() != "linear":
            _predict_nonlinear(model, data, latent_dim, hp, backbone.strip().lower(), hidden,
                               epochs, lr, batch_size, clip, seed, grid, critical, centre,
                               json_path, plot)
            return
        ds, stats = theory_statistics(model, data, centre)
        info = data_info(data, ds.n, ds.dim_x, ds.dim_y if Family.parse(model).conditional else 0, stats.rank)
        if grid is None:
            pred = _solve_or_unbounded(theory.solve, stats, latent_dim, hp, info, json_path)
            print_prediction(pred, info)
            if json_path:
                atomic_write_json(json_path, prediction_to_dict(pred, info))
                out.print(f"wrote {json_path}", highlight=False)
            if plot:
                from vaecollapse.output.figures import plot_prediction  # lazy: matplotlib only when plotting

                plot_prediction(pred, plot, title=f"{pred.theorem}\n{data}")
                out.print(f"wrote {plot}", highlight=False)
            return
        parameter, values = grid
        preds = theory.sweep(stats, latent_dim, parameter, values, **hp)
        print_sweep(preds, parameter, values, info)
        if json_path:
            atomic_write_json(json_path, sweep_to_dict(preds, parameter, values, info, hp))
            out.print(f"wrote {json_path}", highlight=False)
        if plot:
            from vaecollapse.output.figures import plot_sweep  # lazy: matplotlib only when plotting

            plot_sweep(preds, parameter, values, plot, current=hp.get(parameter),
                       title=f"{preds[0].theorem}: {data}, latent_dim={latent_dim}")
            out.print(f"wrote {plot}", highlight=False)


def _predict_nonlinear(model, data, latent_dim, hp, backbone, hidden, epochs, lr, batch_size,
                       clip, seed, grid, critical, centre, json_path, plot) -> None:
    """`predict --backbone mlp|cnn|resnet18`: the non-linear theory of the run these options
    describe (vaecollapse.runs.pilot)."""
    from vaecollapse.config import config_from_options  # lazy: start-up
    from vaecollapse.files.atomic import atomic_write_json  # lazy: start-up
    from vaecollapse.output.documents import data_info, prediction_to_dict  # lazy: start-up
    from vaecollapse.runs.pilot import predict_run  # lazy: torch, start-up

    for flag, given in (("--sweep", grid), ("--critical", critical), ("--centre", centre or None),
                        ("--plot", plot)):
        if given is not None:
            raise UserError(f"{flag} is for the linear theory; the non-linear theory (--backbone "
                            f"{backbone}) answers one setting at a time")
    if "sigma" in hp and isinstance(hp["sigma"], list):
        if len(set(hp["sigma"])) != 1:
            raise UserError("--sigma with the non-linear theory takes one value (train has one)")
        hp["sigma"] = hp["sigma"][0]
    datasets: dict = {}
    cfg = config_from_options(model=model, backbone=backbone, data=data, latent_dim=latent_dim,
                              hidden=hidden, epochs=epochs, lr=lr, batch_size=batch_size,
                              clip=clip, seed=seed, datasets=datasets, **hp)
    pred = predict_run(cfg, datasets)
    ds = datasets[cfg.data]
    info = data_info(data, ds.n, ds.dim_x, ds.dim_y if Family.parse(model).conditional else 0,
                     pred.rank)
    print_prediction(pred, info)
    if json_path:
        atomic_write_json(json_path, prediction_to_dict(pred, info))
        out.print(f"wrote {json_path}", highlight=False)
