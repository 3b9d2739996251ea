"""`vaecollapse train`: one training run into a run directory (resumable), and what to do after
Ctrl-C."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from vaecollapse import limits as lim
from vaecollapse.cli import core
from vaecollapse.cli.core import app, out, set_threads, user_errors
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
    Sigmas,
)
from vaecollapse.errors import UserError


@app.command("train")
def train_command(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory (config, metrics, checkpoints).")],
    model: Annotated[str, typer.Option(
        help="vae | cvae | mhvae | seqvae (the sentence VAE, on text:wordnet or "
             "textfile:PATH data).")] = "vae",
    backbone: Annotated[str, typer.Option(help="linear | mlp | cnn | resnet18 (VAE only).")] = "mlp",
    data: Data = "mnist",
    latent_dim: Annotated[int, typer.Option(
        **lim.option(lim.LATENT_DIM),
        help="Latent dimension (MHVAE: every level unless --latent-dims).")] = 16,
    hidden: Annotated[str, typer.Option(help="MLP hidden sizes, comma-separated.")] = "256",
    beta: Beta = None,
    beta1: Beta1 = None,
    beta2: Beta2 = None,
    eta_enc: EtaEnc = 1.0,
    eta_dec: EtaDec = 1.0,
    sigma: Annotated[float | None, typer.Option(**lim.option(lim.WEIGHT),
        help="Fixed encoder std (unlearnable Σ). Absent: learnable.")] = None,
    sigma1: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT), help="MHVAE fixed z1 encoder std.")] = None,
    sigma2: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT), help="MHVAE fixed z2 encoder std.")] = None,
    levels: Levels = None,
    betas: Betas = None,
    latent_dims: LatentDims = None,
    sigmas: Sigmas = None,
    inference: Inference = None,
    epochs: Annotated[int | None, typer.Option(**lim.option(lim.EPOCHS),
        help="Epochs \\[default: 20]; with --resume, a new (larger) total.")] = None,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    schedule: Annotated[str, typer.Option(
        help="constant | cosine (anneal the learning rate to 0 over the run).")] = "constant",
    batch_size: Annotated[int, typer.Option(
        **lim.option(lim.BATCH_SIZE), help="Batch size.")] = 128,
    clip: Annotated[float | None, typer.Option(help="Gradient-norm clipping threshold.")] = None,
    seed: Annotated[int, typer.Option(
        **lim.option(lim.SEED), help="Seed: same seed, same numbers (on one device).")] = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
    threads: Annotated[int | None, typer.Option(**lim.option(lim.THREADS),
        help="torch CPU threads (default: torch's choice; 1 is often faster on a busy machine).")] = None,
    eval_data: Annotated[str | None, typer.Option(
        help="Evaluate (per-epoch metrics, final diagnostics) on this data spec, e.g. "
             "mnist:part=test \\[default: the training data].")] = None,
    eval_points: Annotated[int, typer.Option(
        **lim.option(lim.POINTS),
        help="Evaluation points, drawn at random with a fixed seed (0 = all).")] = 2000,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    tensorboard: Annotated[Path | None, typer.Option(
        help="Also write per-epoch metrics (per-dimension KL as scalars and a histogram) as "
        "TensorBoard logs in this directory (needs vaecollapse\\[tensorboard]).")] = None,
    kl_warmup: Annotated[int, typer.Option(
        help="KL warm-up: every KL weight (β, β1, β2) ramps linearly from 0 over this many "
        "epochs (Bowman et al. 2016); 0 = none.")] = 0,
    kl_cycles: Annotated[int, typer.Option(
        help="Cyclical KL annealing: this many cycles over the run, each ramping the KL weights "
        "from 0 over --kl-cycle-ratio of it, then holding them (Fu et al. 2019); 0 = none.")] = 0,
    kl_cycle_ratio: Annotated[float, typer.Option(
        help="Fraction of each annealing cycle spent ramping (Fu et al.'s R).")] = 0.5,
    free_bits: Annotated[float | None, typer.Option(
        help="Free bits: floor each latent dimension's batch-mean KL at this many nats, "
        "Σ_i max(λ, KL_i) (Kingma et al. 2016). Absent: none.")] = None,
    fast_step: Annotated[str, typer.Option(
        help="auto | off: auto trains the MLP VAE and CVAE with the hand-differentiated step "
        "(the same objective and noise as autograd, faster); off always uses autograd. The run "
        "records which step trained it.")] = "auto",
    decoder: Annotated[str, typer.Option(
        help="seqvae: lstm | transformer (autoregressive decoder).")] = "lstm",
    z_input: Annotated[str | None, typer.Option(
        help="seqvae: how z enters the decoder: init | every | both \\[default: both for lstm, "
             "every for transformer].")] = None,
    embed: Annotated[int, typer.Option(help="seqvae: token embedding size.")] = 128,
    word_dropout: Annotated[float, typer.Option(
        help="seqvae: replace each decoder input word by <unk> with this probability "
             "(Bowman et al. 2016).")] = 0.0,
    aggressive: Annotated[bool, typer.Option(
        "--aggressive", help="seqvae: aggressive encoder training (He et al. 2019).")] = False,
    ae_epochs: Annotated[int, typer.Option(
        help="seqvae: pretrain this many epochs as an autoencoder (KL weight 0), then reset the "
             "decoder (Li et al. 2019); 0 = none.")] = 0,
    config: Annotated[Path | None, typer.Option(
        help="Train anew from a run's saved config.json (same settings and seed: the same "
        "numbers on the same device); only --out, --threads and --tensorboard may be given "
        "beside it.")] = None,
):
    """Train a VAE / CVAE / MHVAE and record collapse metrics every epoch (resumable).

    Loss: the negative β-ELBO per sample, ‖x − μ‖²/(2η_dec²) + const + β·KL (MHVAE: β1 and β2
    on the two levels; --levels L with β_l on level l, --inference ladder to encode every level
    also from x)."""
    with user_errors():
        from vaecollapse.config import config_from_options  # lazy: start-up
        from vaecollapse.files.atomic import check_output_dir  # lazy: start-up
        from vaecollapse.runs.rundir import read_config, read_config_file  # lazy: start-up
        from vaecollapse.runs.train import train  # lazy: start-up

        datasets: dict = {}  # loaded once: to size the model, then to train
        if config is not None:  # (typer's own click: ParameterSource compared by name)
            alone = {"config", "out_dir", "threads", "tensorboard"}
            given = [p.opts[0] for p in ctx.command.params if p.name not in alone
                     and getattr(ctx.get_parameter_source(p.name), "name", "DEFAULT") != "DEFAULT"]
            if given:
                raise UserError(f"--config re-launches a saved run as it was: {', '.join(given)} "
                                "cannot be given beside it")
        set_threads(threads)
        check_output_dir(out_dir)
        if _is_text(model, config, resume, out_dir):
            _train_text(ctx, out_dir, config, resume, dict(
                model=model, data=data, latent_dim=latent_dim, hidden=hidden, beta=beta,
                epochs=epochs, lr=lr, batch_size=batch_size, clip=clip, seed=seed, device=device,
                eval_data=eval_data, eval_points=eval_points, kl_warmup=kl_warmup,
                kl_cycles=kl_cycles, kl_cycle_ratio=kl_cycle_ratio, free_bits=free_bits,
                decoder=decoder, z_input=z_input, embed=embed, word_dropout=word_dropout,
                aggressive=aggressive, ae_epochs=ae_epochs))
            return
        text_only = [f"--{k.replace('_', '-')}" for k in TEXT_ONLY
                     if getattr(ctx.get_parameter_source(k), "name", "DEFAULT") != "DEFAULT"]
        if text_only:
            raise UserError(f"{', '.join(text_only)} only apply to --model seqvae")
        if config is not None:
            cfg = read_config_file(config)
        elif resume:
            cfg = read_config(out_dir)
            cfg.epochs = max(cfg.epochs, epochs or 0)
            for note in _resume_notes(out_dir, threads):
                core.err.print(f"note: {note}", highlight=False)
        else:
            cfg = config_from_options(
                model=model, backbone=backbone, data=data, latent_dim=latent_dim, hidden=hidden,
                beta=beta, beta1=beta1, beta2=beta2, eta_enc=eta_enc, eta_dec=eta_dec, sigma=sigma,
                sigma1=sigma1, sigma2=sigma2, levels=levels, betas=betas,
                latent_dims=latent_dims, sigmas=sigmas,
                inference=None if inference is None else inference.strip().lower(),
                epochs=epochs, lr=lr, schedule=schedule,
                batch_size=batch_size, clip=clip, seed=seed, device=device, eval_data=eval_data,
                eval_points=eval_points, kl_warmup=kl_warmup, kl_cycles=kl_cycles,
                kl_cycle_ratio=kl_cycle_ratio, free_bits=free_bits,
                fast_step=fast_step.strip().lower(), datasets=datasets)
        tb = None
        if tensorboard is not None:
            from vaecollapse.integrations.tensorboard import TensorBoardLog  # lazy: start-up

            tb = TensorBoardLog(tensorboard)
        try:
            last = train(cfg, out_dir, resume=resume, progress=True,
                         on_epoch=tb.epoch if tb else None, datasets=datasets)
        except KeyboardInterrupt:
            core.err.print(interrupted_advice(out_dir), highlight=False)
            raise typer.Exit(130) from None
        finally:
            if tb:
                tb.close()
        if last:
            au = ", ".join(f"{k}: {v}" for k, v in last["active_units"].items())
            col = ", ".join(f"{k}: {v}" for k, v in last["n_collapsed"].items())
            out.print(f"epoch {last['epoch']}: loss {last['loss']:.5g}, KL {last['kl_total']:.4g}; "
                      f"active units {au}; (ε,δ)-collapsed {col}", highlight=False)
        out.print(f"run directory: {out_dir} (diagnose with `vaecollapse diagnose {out_dir}`)",
                  highlight=False)
        if tensorboard is not None:
            out.print(f"TensorBoard logs: {tensorboard} (view with `tensorboard --logdir "
                      f"{tensorboard}`)", highlight=False)


#: options of the sentence VAE only
TEXT_ONLY = ("decoder", "z_input", "embed", "word_dropout", "aggressive", "ae_epochs")
#: options of the image models only (refused beside --model seqvae)
IMAGE_ONLY = ("backbone", "beta1", "beta2", "eta_enc", "eta_dec", "sigma", "sigma1", "sigma2",
              "levels", "betas", "latent_dims", "sigmas", "inference", "schedule", "tensorboard",
              "fast_step")


def _is_text(model: str, config: Path | None, resume: bool, out_dir: Path) -> bool:
    """True when the run is a sentence VAE's: --model seqvae, or a saved seqvae config."""
    from vaecollapse.runs.text_train import is_text_run  # lazy: torch

    if config is not None:
        return is_text_run(config.parent) if config.name == "config.json" else False
    if resume:
        return is_text_run(out_dir)
    return model.strip().lower() == "seqvae"


def _train_text(ctx: typer.Context, out_dir: Path, config: Path | None, resume: bool,
                options: dict) -> None:
    """`train --model seqvae`: the sentence VAE (vaecollapse.runs.text_train)."""
    from vaecollapse.config.text_settings import text_config_from_options  # lazy: start-up
    from vaecollapse.runs.text_train import read_text_config, train_text  # lazy: torch

    given = [f"--{k.replace('_', '-')}" for k in IMAGE_ONLY
             if getattr(ctx.get_parameter_source(k), "name", "DEFAULT") != "DEFAULT"]
    if given and not (resume or config):
        raise UserError(f"{', '.join(given)} do not apply to --model seqvae")
    if config is not None:
        cfg = read_text_config(config.parent)
    elif resume:
        cfg = read_text_config(out_dir)
        cfg.epochs = max(cfg.epochs, options["epochs"] or 0)
    else:
        opts = text_options(options)
        cfg = text_config_from_options(**opts)
    try:
        last = train_text(cfg, out_dir, resume=resume, progress=True)
    except KeyboardInterrupt:
        core.err.print(interrupted_advice(out_dir), highlight=False)
        raise typer.Exit(130) from None
    if last:
        out.print(f"epoch {last['epoch']}: loss {last['loss']:.5g}, KL {last['eval_kl']:.4g}, "
                  f"MI {last['mutual_information']:.3g}; active units {last['active_units']['z']}",
                  highlight=False)
    out.print(f"run directory: {out_dir} (language.json: NLL, perplexity; diagnostics.json)",
              highlight=False)


def text_options(options: dict) -> dict:
    """`train`'s parsed options as the sentence VAE's: the image-only ones and unset (None) ones
    left out, --hidden as one size, the Transformer's z input defaulted to ``every``."""
    from vaecollapse.config.text_settings import TextTrainConfig  # lazy: start-up

    fields = set(TextTrainConfig.__dataclass_fields__)
    opts = {k: v for k, v in options.items() if v is not None and k in fields}
    opts["model"] = str(opts.get("model", "seqvae")).strip().lower()
    if "hidden" in opts:
        try:
            opts["hidden"] = int(str(opts["hidden"]).strip())
        except ValueError:
            raise UserError(f"--hidden for seqvae is one LSTM size, got {opts['hidden']!r}") from None
    if opts.get("decoder") == "transformer" and "z_input" not in opts:
        opts["z_input"] = "every"
    return opts


def interrupted_advice(out_dir: Path) -> str:
    """What to run after Ctrl-C in `train`: the command that works in the state left behind."""
    from vaecollapse.runs.rundir import CHECKPOINT, CONFIG  # lazy: start-up

    resume = f"`vaecollapse train --resume --out {shlex.quote(str(out_dir))}`"
    if (out_dir / CHECKPOINT).exists():
        return f"interrupted: finished epochs are kept; continue with {resume}"
    if (out_dir / CONFIG).exists():
        return (f"interrupted before the first epoch finished (nothing to keep); start the run "
                f"again with its saved settings: {resume}")
    return "interrupted before the run started (nothing was written); run the same command again"


def _resume_notes(out_dir: Path, threads: int | None) -> list[str]:
    """Notes on resuming: the saved thread count wins over --threads; changed library versions."""
    from vaecollapse.runs.rundir import RunDir  # lazy: start-up
    from vaecollapse.runs.runtime import changed_versions  # lazy: start-up

    saved = RunDir(out_dir).runtime()
    if saved is None:
        return []
    notes = []
    if threads is not None and threads != saved.threads:
        notes.append(f"--threads {threads} is ignored: the run continues with the {saved.threads} "
                     "thread(s) it was started with, so that its numbers equal an uninterrupted "
                     "run's")
    changed = changed_versions(saved)
    if changed:
        notes.append(f"library versions changed since the run started ({', '.join(changed)}); "
                     "the resumed epochs may differ from an uninterrupted run in the last digits")
    return notes
