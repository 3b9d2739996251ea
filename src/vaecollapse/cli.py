"""Command-line interface (thin: parse, validate, call the library, print).

Every error a user can cause prints one line (``error: …``) on stderr and exits with code 2.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from vaecollapse import __version__
from vaecollapse.errors import UserError

app = typer.Typer(
    name="vaecollapse",
    help="Predict, detect and explain posterior collapse in linear and deep VAEs, conditional "
    "VAEs (CVAE) and two-level hierarchical VAEs (MHVAE).\n\n"
    "Loss convention: the negative β-ELBO, Σ‖x − μ‖²/(2η_dec²) + β·KL(q ‖ p); second moments are "
    "uncentred (the theory's bias-free setting) unless --centre is given.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
# Piped output gets a fixed, roomy width instead of rich's 80-column fallback.
out = Console(width=None if sys.stdout.isatty() else 120, soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

DATA_HELP = (
    "Data spec: SOURCE or SOURCE:key=value,…  e.g. mnist, mnist:digits=1,9,7,split=quarter, "
    "mnist:root=DIR, idx:DIR,part=test, synthetic:corr=gaussian-0.5,n=1000,dim=128, npz:PATH."
)


@contextlib.contextmanager
def user_errors():
    """Turn a :class:`UserError` into one line on stderr and exit code 2."""
    try:
        yield
    except UserError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _version(value: bool):
    if value:
        out.print(f"vaecollapse {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False):
    pass


# ----------------------------------------------------------------------------- helpers


def fmt(v, digits: int = 4) -> str:
    """A number for a table: 4 significant digits, '—' for NaN/None."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    return f"{v:.{digits}g}"


def parse_floats(name: str, text: str | None) -> list[float] | None:
    """'0.5' or '0.5,1,2' → floats."""
    if text is None:
        return None
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"{name} takes numbers separated by commas, got {text!r}") from None


def parse_sweep(text: str) -> tuple[str, np.ndarray]:
    """'beta=0.1:5:50' (start:stop:count, linear), 'beta=0.01:10:40:log' (log-spaced) or
    'beta=0.1,0.5,1' (a list) → (parameter, values)."""
    usage = f"--sweep takes PARAM=START:STOP:COUNT[:log] or PARAM=V1,V2,…, got {text!r}"
    name, sep, spec = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not spec:
        raise UserError(usage)
    parts = spec.split(":")
    log = len(parts) == 4 and parts[-1].strip().lower() == "log"
    if log:
        parts = parts[:-1]
    try:
        if len(parts) == 3:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        elif len(parts) == 1:
            values = np.array([float(v) for v in spec.split(",") if v.strip()])
        else:
            raise ValueError
    except ValueError:
        raise UserError(usage) from None
    if len(parts) == 3:
        if count < 2:
            raise UserError("--sweep needs a COUNT of at least 2")
        if log and (start <= 0 or stop <= 0):
            raise UserError("a log-spaced --sweep needs START and STOP > 0")
        values = np.geomspace(start, stop, count) if log else np.linspace(start, stop, count)
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise UserError(f"--sweep values must be finite and > 0, got {text!r}")
    return name, values


def _hyperparameters(model: str, beta, beta1, beta2, eta_enc, eta_dec, sigma, sigma1,
                     sigma2) -> dict:
    if model == "mhvae":
        if beta is not None:
            raise UserError("the MHVAE takes --beta1 and --beta2, not --beta")
        if sigma is not None:
            raise UserError("the MHVAE takes --sigma1 (z1, required) and --sigma2 (z2), not --sigma")
        if sigma1 is None:
            raise UserError("the MHVAE closed forms need a fixed z1 encoder std: pass --sigma1 "
                            "(e.g. --sigma1 0.5); a learnable Σ1 has no closed form")
        return {"beta1": 1.0 if beta1 is None else beta1, "beta2": 1.0 if beta2 is None else beta2,
                "eta_enc": eta_enc, "eta_dec": eta_dec, "sigma1": sigma1, "sigma2": sigma2}
    if beta1 is not None or beta2 is not None:
        raise UserError(f"the {model.upper()} takes --beta; --beta1/--beta2 are for the MHVAE")
    if sigma1 is not None or sigma2 is not None:
        raise UserError(f"the {model.upper()} takes --sigma; --sigma1/--sigma2 are for the MHVAE")
    return {"beta": 1.0 if beta is None else beta, "eta_enc": eta_enc, "eta_dec": eta_dec,
            "sigma": parse_floats("--sigma", sigma)}


def _print_prediction(pred, data: dict) -> None:
    out.print(f"[bold]{pred.theorem}[/]", highlight=False)
    dim_y = f", dim_y={data['dim_y']}" if data["dim_y"] else ""
    rank_of = "E" if pred.model == "cvae" else "A"
    out.print(f"data {data['spec']}: n={data['n']}, dim_x={data['dim_x']}{dim_y}; "
              f"rank({rank_of}) = {data['rank']}", highlight=False)
    hp = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}"
                   for k, v in pred.hyperparameters.items() if v is not None)
    out.print(f"hyperparameters: {hp}", highlight=False)
    mh = pred.model == "mhvae"
    t = Table(show_edge=False, header_style="bold")
    cols = ["mode", "θ" + (" (var)" if pred.model == "cvae" else ""), "λ", "ω",
            "σ2" if mh else "σ", "KL z2" if mh else "KL", "collapsed",
            "crit. β2" if mh else "crit. β", "crit. η_dec"]
    for c in cols:
        t.add_column(c, justify="right")
    m = pred.modes
    for i in range(pred.latent_dim):
        t.add_row(str(i), fmt(pred.theta[i]), fmt(m["lambda"][i]), fmt(m["omega"][i]),
                  fmt(m["sigma2" if mh else "sigma"][i]), fmt(m["kl"][i]),
                  "[red]yes[/]" if m["collapsed"][i] else "no",
                  fmt(m["critical_beta2" if mh else "critical_beta"][i]),
                  fmt(m["critical_eta_dec"][i]))
    out.print(t)
    out.print(verdict(pred), highlight=False)


def verdict(pred) -> str:
    """One line: how many latent dimensions collapse and when the next one goes."""
    d, k = pred.latent_dim, pred.n_collapsed
    sym = "β2" if pred.model == "mhvae" else "β"
    what = "z2 latent dimensions" if pred.model == "mhvae" else "latent dimensions"
    text = f"{k} of {d} {what} collapse"
    nxt = pred.next_collapse()
    if k == d:
        return text + "."
    if nxt is not None:
        return text + f"; the next collapses at {sym} = {nxt:.3g}."
    inactive = int(np.sum(pred.modes["lambda"] == 0))
    if pred.model != "mhvae" and pred.hyperparameters.get("sigma") is not None:
        return (text + f"; with a fixed encoder variance ≠ η_enc no posterior equals the prior "
                f"({inactive} encoder modes are inactive, λ = 0).")
    return text + f"; no further mode collapses as {sym} grows."


# ----------------------------------------------------------------------------- commands


@app.command()
def predict(
    model: Annotated[str, typer.Option(help="vae | cvae | mhvae.")] = "vae",
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "mnist",
    latent_dim: Annotated[int, typer.Option(help="Latent dimension d (MHVAE: d1 = d2 = d).")] = 16,
    beta: Annotated[float | None, typer.Option(help="KL weight β (VAE, CVAE). \\[default: 1]")] = None,
    beta1: Annotated[float | None, typer.Option(help="MHVAE z1 weight β1. \\[default: 1]")] = None,
    beta2: Annotated[float | None, typer.Option(help="MHVAE z2 weight β2. \\[default: 1]")] = None,
    eta_enc: Annotated[float, typer.Option(help="Prior std η_enc: p(z) = N(0, η_enc² I).")] = 1.0,
    eta_dec: Annotated[float, typer.Option(help="Decoder std η_dec: p(x|z) = N(μ, η_dec² I).")] = 1.0,
    sigma: Annotated[str | None, typer.Option(
        help="Fixed (unlearnable) encoder std: one value or one per latent dimension, "
        "comma-separated. Absent: learnable Σ.")] = None,
    sigma1: Annotated[float | None, typer.Option(help="MHVAE fixed z1 encoder std (required).")] = None,
    sigma2: Annotated[float | None, typer.Option(
        help="MHVAE fixed z2 encoder std (Theorem 5). Absent: learnable Σ2 (Theorem 3).")] = None,
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
):
    """Predict which latent dimensions of a linear VAE / CVAE / MHVAE collapse — in closed form,
    without training — and at which β (β2) or η_dec the next one goes."""
    with user_errors():
        # Heavy imports (torch, matplotlib) only when a command runs: `--help` stays instant.
        from vaecollapse.data import load
        from vaecollapse.io import atomic_write_json
        from vaecollapse.schema import data_info, prediction_to_dict, sweep_to_dict
        from vaecollapse.theory import MODELS, solve, statistics
        from vaecollapse.theory import sweep as sweep_fn

        if model not in MODELS:
            raise UserError(f"unknown --model {model!r}: choose one of {', '.join(MODELS)}")
        hp = _hyperparameters(model, beta, beta1, beta2, eta_enc, eta_dec, sigma, sigma1, sigma2)
        grid = parse_sweep(sweep) if sweep else None
        ds = load(data)
        if model == "cvae" and ds.y is None:
            raise UserError(f"the CVAE needs a condition x and a target y, but {data!r} has no y: "
                            "add split=quarter (or split=half) to an image spec, or use "
                            "synthetic:… or an npz with arrays x and y")
        stats = statistics(ds.x, ds.y if model == "cvae" else None, model=model, centre=centre)
        info = data_info(data, ds.n, ds.dim_x, ds.dim_y if model == "cvae" else 0, stats.rank)
        if grid is None:
            pred = solve(stats, latent_dim, **hp)
            _print_prediction(pred, info)
            if json_path:
                atomic_write_json(json_path, prediction_to_dict(pred, info))
                out.print(f"wrote {json_path}", highlight=False)
            if plot:
                from vaecollapse.plots import plot_prediction  # matplotlib only when plotting

                plot_prediction(pred, plot, title=f"{pred.theorem}\n{data}")
                out.print(f"wrote {plot}", highlight=False)
            return
        parameter, values = grid
        preds = sweep_fn(stats, latent_dim, parameter, values, **hp)
        _print_sweep(preds, parameter, values, info)
        if json_path:
            atomic_write_json(json_path, sweep_to_dict(preds, parameter, values, info, hp))
            out.print(f"wrote {json_path}", highlight=False)
        if plot:
            from vaecollapse.plots import plot_sweep

            plot_sweep(preds, parameter, values, plot, current=hp.get(parameter),
                       title=f"{preds[0].theorem}: {data}, latent_dim={latent_dim}")
            out.print(f"wrote {plot}", highlight=False)


def _print_sweep(preds, parameter: str, values, data: dict) -> None:
    out.print(f"[bold]{preds[0].theorem}[/] — phase diagram over {parameter}", highlight=False)
    out.print(f"data {data['spec']}: n={data['n']}, dim_x={data['dim_x']}", highlight=False)
    t = Table(show_edge=False, header_style="bold")
    t.add_column(parameter, justify="right")
    t.add_column("collapsed", justify="right")
    t.add_column("optimal loss", justify="right")
    for v, p in zip(values, preds, strict=True):
        t.add_row(fmt(float(v)), f"{p.n_collapsed} / {p.latent_dim}", fmt(p.optimal_loss, 6))
    out.print(t)
    n = [p.n_collapsed for p in preds]
    out.print(f"collapsed modes go from {n[0]} to {n[-1]} of {preds[0].latent_dim} as {parameter} "
              f"goes from {fmt(float(values[0]))} to {fmt(float(values[-1]))}.", highlight=False)


def set_threads(threads: int | None) -> None:
    if threads is None:
        return
    if threads < 1:
        raise UserError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


@app.command()
def train(
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory (config, metrics, checkpoints).")],
    model: Annotated[str, typer.Option(help="vae | cvae | mhvae.")] = "vae",
    backbone: Annotated[str, typer.Option(help="linear | mlp | cnn | resnet18 (VAE only).")] = "mlp",
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "mnist",
    latent_dim: Annotated[int, typer.Option(help="Latent dimension (MHVAE: both levels).")] = 16,
    hidden: Annotated[str, typer.Option(help="MLP hidden sizes, comma-separated.")] = "256",
    beta: Annotated[float | None, typer.Option(help="KL weight β (VAE, CVAE). \\[default: 1]")] = None,
    beta1: Annotated[float | None, typer.Option(help="MHVAE z1 weight β1. \\[default: 1]")] = None,
    beta2: Annotated[float | None, typer.Option(help="MHVAE z2 weight β2. \\[default: 1]")] = None,
    eta_enc: Annotated[float, typer.Option(help="Prior std η_enc.")] = 1.0,
    eta_dec: Annotated[float, typer.Option(help="Decoder std η_dec.")] = 1.0,
    sigma: Annotated[float | None, typer.Option(
        help="Fixed encoder std (unlearnable Σ). Absent: learnable.")] = None,
    sigma1: Annotated[float | None, typer.Option(help="MHVAE fixed z1 encoder std.")] = None,
    sigma2: Annotated[float | None, typer.Option(help="MHVAE fixed z2 encoder std.")] = None,
    epochs: Annotated[int | None, typer.Option(
        help="Epochs \\[default: 20]; with --resume, a new (larger) total.")] = None,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    schedule: Annotated[str, typer.Option(
        help="constant | cosine (anneal the learning rate to 0 over the run).")] = "constant",
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    clip: Annotated[float | None, typer.Option(help="Gradient-norm clipping threshold.")] = None,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same numbers (on one device).")] = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
    threads: Annotated[int | None, typer.Option(
        help="torch CPU threads (default: torch's choice; 1 is often faster on a busy machine).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
):
    """Train a VAE / CVAE / MHVAE and record collapse metrics every epoch (resumable).

    Loss: the negative β-ELBO per sample, ‖x − μ‖²/(2η_dec²) + const + β·KL (MHVAE: β1 and β2
    on the two levels)."""
    with user_errors():
        from vaecollapse.train import config_from_options
        from vaecollapse.train import train as train_fn

        set_threads(threads)
        if resume:
            from vaecollapse.train import read_config

            cfg = read_config(out_dir)
            cfg.epochs = max(cfg.epochs, epochs or 0)
        else:
            cfg = config_from_options(
                model=model, backbone=backbone, data=data, latent_dim=latent_dim, hidden=hidden,
                beta=beta, beta1=beta1, beta2=beta2, eta_enc=eta_enc, eta_dec=eta_dec, sigma=sigma,
                sigma1=sigma1, sigma2=sigma2, epochs=epochs, lr=lr, schedule=schedule,
                batch_size=batch_size, clip=clip, seed=seed, device=device)
        try:
            last = train_fn(cfg, out_dir, resume=resume, progress=True)
        except KeyboardInterrupt:
            err.print(f"interrupted: finished epochs are kept; continue with "
                      f"`vaecollapse train --resume --out {out_dir}`", highlight=False)
            raise typer.Exit(130) from None
        if last:
            au = ", ".join(f"{k}: {v}" for k, v in last["active_units"].items())
            col = ", ".join(f"{k}: {v}" for k, v in last["n_collapsed"].items())
            out.print(f"epoch {last['epoch']}: loss {last['loss']:.5g}, KL {last['kl_total']:.4g}; "
                      f"active units {au}; (ε,δ)-collapsed {col}", highlight=False)
        out.print(f"run directory: {out_dir} (diagnose with `vaecollapse diagnose {out_dir}`)",
                  highlight=False)


@app.command()
def diagnose(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `vaecollapse train`.")],
    data: Annotated[str | None, typer.Option(
        help="Evaluate on this data spec instead of the run's training data (e.g. part=test).")] = None,
    points: Annotated[int, typer.Option(help="Evaluate on the first N points (0 = all).")] = 2000,
    is_samples: Annotated[int, typer.Option(
        help="Importance samples per point for the log-likelihood (0 = skip).")] = 1000,
    epsilon: Annotated[float, typer.Option(help="ε for the collapsed set: KL_i < ε.")] = 1e-2,
    delta: Annotated[float, typer.Option(help="δ: collapsed if P[KL_i < ε] ≥ 1 − δ.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the sampling.")] = 0,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads (default: torch's choice).")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the diagnostics as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="PNG: per-dimension KL, the (ε,δ) curve, and the theory overlay (linear models).")] = None,
):
    """Measure posterior collapse in a trained run: per-dimension KL, (ε,δ)-collapse, active
    units, mutual information, importance-sampled log-likelihood and, for linear models, the
    closed-form prediction beside the measurement."""
    with user_errors():
        import torch

        from vaecollapse.diagnostics import diagnose as diagnose_fn
        from vaecollapse.io import atomic_write_json
        from vaecollapse.plots import plot_diagnostics
        from vaecollapse.train import load_model, load_run_data

        set_threads(threads)
        if points < 0 or is_samples < 0:
            raise UserError("--points and --is-samples must be >= 0")
        if not (epsilon > 0 and 0 < delta < 1):
            raise UserError("--epsilon must be > 0 and --delta in (0, 1)")
        cfg, model, ckpt = load_model(run_dir)
        spec = data or cfg.data
        ds, x, y = load_run_data(spec, cfg.model.family)
        if ds.dim_x != cfg.model.dim_x or (y is not None and ds.dim_y != cfg.model.dim_y):
            raise UserError(f"{spec!r} has different dimensions from the run's training data")
        full = (x, y)  # the closed form (linear models) uses the moments of all the data
        if points:
            x, y = x[:points], None if y is None else y[:points]
        gen = torch.Generator().manual_seed(seed)
        result = diagnose_fn(model, x, y, epsilon=epsilon, delta=delta, is_samples=is_samples,
                             generator=gen, theory_data=full)
        result["run"] = {"dir": str(run_dir), "epoch": ckpt["epoch"], "data": spec,
                         "points": int(x.shape[0])}
        _print_diagnostics(result, cfg)
        if json_path:
            atomic_write_json(json_path, result)
            out.print(f"wrote {json_path}", highlight=False)
        if plot:
            plot_diagnostics(result, plot, title=f"{run_dir} ({cfg.model.family}, "
                             f"{cfg.model.backbone}, epoch {ckpt['epoch']}) on {spec}")
            out.print(f"wrote {plot}", highlight=False)


def _print_diagnostics(result: dict, cfg) -> None:
    r = result["run"]
    out.print(f"[bold]{cfg.model.family.upper()} / {cfg.model.backbone}[/], epoch {r['epoch']}, "
              f"{r['points']} points of {r['data']}", highlight=False)
    for lev in result["levels"]:
        k = len(lev["kl_per_dim"])
        out.print(f"{lev['name']}: KL {lev['kl_total']:.4g} nats; (ε,δ)-collapsed "
                  f"{len(lev['collapsed_dims'])} of {k} {lev['collapsed_dims']}; active units "
                  f"{lev['active_units']} (Burda), active modes {lev['active_modes']}, "
                  f"KL-fraction {lev['active_units_kl_fraction']:.3f}",
                  highlight=False)
    out.print(f"mutual information I(x; {result['levels'][-1]['name']}) = "
              f"{result['mutual_information']:.4g} nats", highlight=False)
    ll = result["log_likelihood"]
    if ll:
        exact = "" if ll["exact"] is None else f"; exact {ll['exact']:.6g}"
        out.print(f"log-likelihood (IS, S={ll['samples']}): {ll['estimate']:.6g} ± {ll['stderr']:.2g}"
                  f"{exact}", highlight=False)
    th = result.get("theory")
    if th:
        out.print(f"theory: {th['n_collapsed_predicted']} modes collapse at the global optimum; "
                  f"trained vs closed form MAE λ {th['lambda_mae']:.3g}, ω {th['omega_mae']:.3g}, "
                  f"σ {th['sigma_mae']:.3g}", highlight=False)


def _train_command():
    """The click command behind `train` (its options are the sweep's per-run options)."""
    return typer.main.get_command(app).commands["train"]


NOT_SWEEPABLE = {"out_dir", "resume", "threads", "device", "help"}


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sweep(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Sweep directory.")],
    grid: Annotated[list[str], typer.Option(
        help="NAME=V1,V2,… over a `train` option (beta, eta_dec, lr, latent_dim, …); repeat for "
        "a product grid.")],
    seeds: Annotated[int, typer.Option(help="Seeds per grid point (seed, seed+1, …).")] = 1,
    executor: Annotated[str, typer.Option(help="local (process pool) | ray.")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster address (e.g. ray://head:10001 or auto); absent: a local Ray instance.")] = None,
    jobs: Annotated[int | None, typer.Option(help="Runs at once \\[default: CPU count].")] = None,
    retries: Annotated[int, typer.Option(help="Retries of a failed or crashed run.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Redo finished runs.")] = False,
):
    """Run a grid of training runs (hyperparameters × seeds) on all local cores or on Ray.

    Options after `--` are `train` options shared by every run, e.g.
    `vaecollapse sweep --grid beta=0.1,1,2 --seeds 3 --out sweeps/b -- --model cvae --data
    mnist:split=quarter --backbone mlp --hidden 16 --epochs 5`. Rerunning skips finished runs."""
    with user_errors():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from vaecollapse.sweep import parse_grid, run_sweep

        cmd = _train_command()

        def parse_train(args: list[str], where: str) -> dict:
            """The `train` command's own parser: same names, types and defaults."""
            try:
                return cmd.make_context("train", [*args, "--out", str(out_dir)]).params
            except Exception as e:  # noqa: BLE001 - the parser's usage errors
                msg = e.format_message() if hasattr(e, "format_message") else str(e)
                raise UserError(f"{where}: {msg}") from None

        base = {k: v for k, v in parse_train(ctx.args, "in the train options after --").items()
                if k not in NOT_SWEEPABLE}

        def convert(name: str, text: str):
            if name not in base:
                ok = ", ".join(sorted(base))
                raise UserError(f"--grid {name}: not a train option; choose from {ok}")
            flag = "--" + name.replace("_", "-")
            return parse_train([*ctx.args, flag, text], f"--grid {name}={text}")[name]

        grid_values = parse_grid(grid, convert)
        with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                      console=err) as bar:
            task = bar.add_task("sweep", total=None, failed=0)

            def update(done: int, total: int, failed: int) -> None:
                bar.update(task, completed=done + failed, total=total, failed=failed)

            rows = run_sweep(grid_values, seeds, base, out_dir, executor=executor, jobs=jobs,
                             address=address, retries=retries, force=force, on_update=update)
        done = sum(r["status"] == "done" for r in rows)
        failed = [r for r in rows if r["status"] == "failed"]
        out.print(f"{done} of {len(rows)} runs done, {len(failed)} failed; index: "
                  f"{out_dir / 'index.csv'} (summarise with `vaecollapse sweep-summary {out_dir}`)",
                  highlight=False)
        for r in failed:
            out.print(f"  failed {r['run']}: {r['error']}", highlight=False)
        if failed:
            raise typer.Exit(1)


@app.command("sweep-summary")
def sweep_summary(
    sweep_dir: Annotated[Path, typer.Argument(help="A directory written by `vaecollapse sweep`.")],
    x: Annotated[str | None, typer.Option(
        help="Grid parameter on the x axis \\[default: the first].")] = None,
    metrics: Annotated[str, typer.Option(help="Comma-separated: n_collapsed, kl_total, nll, active_units.")
                       ] = "n_collapsed,kl_total,nll,active_units",
    plot: Annotated[Path | None, typer.Option(help="PNG \\[default: SWEEP_DIR/summary.png].")] = None,
    csv_path: Annotated[Path | None, typer.Option(
        "--csv", help="Summary table \\[default: SWEEP_DIR/summary.csv].")] = None,
):
    """Mean ± sd over seeds per grid point, and plots of the metrics against a swept parameter
    (with the closed-form number of collapsed modes overlaid for linear models)."""
    with user_errors():
        import csv
        import io

        from vaecollapse.io import atomic_write_text
        from vaecollapse.plots import plot_sweep_summary
        from vaecollapse.sweep import SUMMARY_METRICS, summarise, theory_n_collapsed

        names, groups = summarise(sweep_dir)
        x = x or names[0]
        if x not in names:
            raise UserError(f"--x {x!r} is not a grid parameter of this sweep ({', '.join(names)})")
        chosen = [m.strip() for m in metrics.split(",") if m.strip()]
        bad = [m for m in chosen if m not in SUMMARY_METRICS]
        if bad or not chosen:
            raise UserError(f"unknown metric(s) {bad}: choose from {', '.join(SUMMARY_METRICS)}")
        theory = theory_n_collapsed(sweep_dir, groups)
        t = Table(show_edge=False, header_style="bold")
        for c in [*names, "runs", *chosen] + (["theory"] if theory else []):
            t.add_column(c, justify="right")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([*names, "runs", "failed", *(f"{m}_{s}" for m in chosen for s in ("mean", "sd")),
                    *(["theory_n_collapsed"] if theory else [])])
        for i, g in enumerate(groups):
            cells = [fmt(g[f"{m}_mean"]) + " ± " + fmt(g[f"{m}_sd"], 2) for m in chosen]
            t.add_row(*(fmt(v) if isinstance(v, float) else str(v) for v in g["values"].values()),
                      f"{g['runs']}" + (f" ({g['failed']} failed)" if g["failed"] else ""), *cells,
                      *([str(theory[i])] if theory else []))
            w.writerow([*g["values"].values(), g["runs"], g["failed"],
                        *(g[f"{m}_{s}"] for m in chosen for s in ("mean", "sd")),
                        *([theory[i]] if theory else [])])
        out.print(t)
        csv_path = csv_path or sweep_dir / "summary.csv"
        atomic_write_text(csv_path, buf.getvalue())
        plot = plot or sweep_dir / "summary.png"
        plot_sweep_summary(groups, x, chosen, SUMMARY_METRICS, plot, theory,
                           title=f"{sweep_dir}: mean ± sd over seeds")
        out.print(f"wrote {csv_path} and {plot}", highlight=False)


@app.command()
def reproduce(
    names: Annotated[list[str] | None, typer.Argument(help="Experiment names, or `all`.")] = None,
    profile: Annotated[str, typer.Option(
        help="quick (bundled MNIST, reduced epochs) | paper (the paper's settings).")] = "quick",
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("out/reproduce"),
    jobs: Annotated[int | None, typer.Option(help="Training runs at once \\[default: CPU count].")] = None,
    executor: Annotated[str, typer.Option(help="local | ray (as for `sweep`).")] = "local",
    data_root: Annotated[str | None, typer.Option(
        help="Directory with the full MNIST IDX files (used instead of the bundled subset).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo finished experiments.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the experiments and exit.")] = False,
):
    """Reproduce the paper's results: figures with the closed form overlaid, the numbers behind
    them, a claim check per experiment, and REPORT.md / report.html. Finished experiments are
    skipped on a rerun; interrupted ones resume."""
    with user_errors():
        from vaecollapse.experiments import PROFILES, REGISTRY
        from vaecollapse.experiments import reproduce as reproduce_fn
        from vaecollapse.report import write_report

        if list_:
            from vaecollapse.report import format_duration

            def _duration(minutes: float) -> str:
                return format_duration(60 * minutes)

            t = Table(show_edge=False, header_style="bold")
            for c in ("name", "what", "quick", "paper (est.)"):
                t.add_column(c)
            for e in REGISTRY.values():
                t.add_row(e.name, e.title, _duration(e.minutes.get("quick", 0)),
                          _duration(e.minutes.get("paper", 0)))
            out.print(t)
            total = {p: sum(e.minutes.get(p, 0) for e in REGISTRY.values()) for p in PROFILES}
            out.print(f"total on 2 CPU cores: quick {_duration(total['quick'])} (measured), paper "
                      f"{_duration(total['paper'])} (estimated by benchmarks/paper_times.py; the "
                      "ResNet-18 and CNN grid need a GPU)", highlight=False)
            return
        if not names:
            raise UserError("name the experiments to run (or `all`); see `vaecollapse reproduce --list`")
        if profile not in PROFILES:
            raise UserError(f"unknown --profile {profile!r}: choose one of {', '.join(PROFILES)}")
        try:
            results = reproduce_fn(names, profile, out_dir, jobs=jobs, force=force,
                                   data_root=data_root, executor=executor,
                                   on_start=lambda n: err.print(f"[bold]{n}[/] …", highlight=False))
        except KeyboardInterrupt:
            err.print("interrupted: finished experiments and runs are kept; rerun to continue")
            raise typer.Exit(130) from None
        verdict = {True: "[green]HOLDS[/]", False: "[red]DOES NOT HOLD[/]", None: "[yellow]UNDECIDED[/]"}
        for name, claims in results.items():
            for c in claims:
                out.print(f"{name}: {verdict[c['holds']]} — {c['claim']} — {c['evidence']}",
                          highlight=False)
        md, html = write_report(out_dir, order=list(REGISTRY))
        out.print(f"report: {md} and {html}", highlight=False)


@app.command()
def report(out_dir: Annotated[Path, typer.Argument(help="A directory written by `reproduce`.")]):
    """Write REPORT.md and a self-contained report.html for a reproduction directory."""
    with user_errors():
        from vaecollapse.experiments import REGISTRY
        from vaecollapse.report import write_report

        if not out_dir.is_dir():
            raise UserError(f"{out_dir} is not a directory")
        md, html = write_report(out_dir, order=list(REGISTRY))
        out.print(f"report: {md} and {html}", highlight=False)


@app.command("data")
def data_cmd(spec: Annotated[str, typer.Argument(help=DATA_HELP)] = "mnist"):
    """Load a data spec and describe it: size, dimensions, labels, value range."""
    with user_errors():
        from vaecollapse.data import load
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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
