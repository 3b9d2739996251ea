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
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from vaecollapse import __version__
from vaecollapse import limits as lim
from vaecollapse.errors import UserError, check_cvae_target


def _error_line(message: str) -> None:
    """``error: message`` on stderr, as one line, the message printed literally."""
    err.print(Text.assemble(("error:", "bold red"), " ", " ".join(str(message).split())),
              soft_wrap=True)


class _OneLineUsageErrors(typer.core.TyperGroup):
    """Usage errors (unknown option, bad or missing value) as one ``error:`` line and exit
    code 2, like every other bad input, instead of click's boxed multi-line report."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            err.print("interrupted")
            sys.exit(130)
        except typer.TyperException as e:  # typer's click errors: usage, bad values, files
            ctx = getattr(e, "ctx", None)
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `vaecollapse`: the help
                e.show()
                sys.exit(e.exit_code)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            _error_line(e.format_message() + hint)
            sys.exit(2)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_OneLineUsageErrors,
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
# markup and emoji off: user strings (paths with "[/]", "[red]" or ":smile:") print literally.
out = Console(width=None if sys.stdout.isatty() else 120, soft_wrap=not sys.stdout.isatty(),
              markup=False, emoji=False)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120, markup=False, emoji=False)

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
        _error_line(str(e))
        raise typer.Exit(2) from None


@contextlib.contextmanager
def progress_bar(label: str):
    """A transient rich progress bar on stderr when stderr is a terminal; yields
    ``update(description, done, total)``, or None when there is no terminal (pipes, CI, files
    stay clean)."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        yield update


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
        if count > lim.SWEEP_COUNT[1]:
            raise UserError(f"--sweep COUNT must be at most {lim.SWEEP_COUNT[1]}, got {count}")
        if log and (start <= 0 or stop <= 0):
            raise UserError("a log-spaced --sweep needs START and STOP > 0")
        values = np.geomspace(start, stop, count) if log else np.linspace(start, stop, count)
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise UserError(f"--sweep values must be finite and > 0, got {text!r}")
    return name, values


def _hyperparameters(model: str, beta, beta1, beta2, eta_enc, eta_dec, sigma, sigma1,
                     sigma2) -> dict:
    from vaecollapse.config import hyperparameter_options

    hp = hyperparameter_options(model, dict(beta=beta, beta1=beta1, beta2=beta2, eta_enc=eta_enc,
                                            eta_dec=eta_dec, sigma=sigma, sigma1=sigma1,
                                            sigma2=sigma2),
                                name=lambda n: "--" + n.replace("_", "-"))
    if "sigma" in hp:  # one value or one per latent dimension
        hp["sigma"] = parse_floats("--sigma", hp["sigma"])
    return hp


def _hierarchy_options(model: str, levels, betas, latent_dims, sigmas, inference) -> dict:
    """The numerical-theory options of `predict` (theory/hierarchy.py) as hyperparameters."""
    given = {"--levels": levels, "--betas": betas, "--latent-dims": latent_dims,
             "--sigmas": sigmas, "--inference": inference}
    if model != "mhvae":
        named = [k for k, v in given.items() if v is not None]
        if named:
            raise UserError(f"{', '.join(named)} apply to the MHVAE (--model mhvae) only")
        return {}
    out: dict = {}
    if levels is not None:
        out["levels"] = levels
    if inference is not None:
        out["inference"] = inference.strip().lower()
    if betas is not None:
        out["betas"] = parse_floats("--betas", betas)
    if latent_dims is not None:
        try:
            out["latent_dims"] = [int(t) for t in latent_dims.split(",") if t.strip()]
        except ValueError:
            raise UserError(f"--latent-dims takes whole numbers separated by commas, got "
                            f"{latent_dims!r}") from None
    if sigmas is not None:
        vals: list = []
        for t in (t.strip() for t in sigmas.split(",") if t.strip()):
            if t.lower() in ("learn", "learnable", "-"):
                vals.append(None)
            else:
                try:
                    vals.append(float(t))
                except ValueError:
                    raise UserError(f"--sigmas takes numbers or 'learn', got {t!r}") from None
        out["sigmas"] = vals
    return out


def _solve_or_unbounded(solve, stats, latent_dim: int, hp: dict, info: dict, json_path):
    """``solve``; where the loss is unbounded below, write {"bounded": false, "reason"} to
    ``json_path`` (if given) and fail with the one-line reason."""
    from vaecollapse.errors import UnboundedError

    try:
        return solve(stats, latent_dim, **hp)
    except UnboundedError as e:
        if json_path:
            from vaecollapse.io import atomic_write_json, jsonable

            atomic_write_json(json_path, jsonable({
                "model": "mhvae", "data": info, "hyperparameters": e.hyperparameters,
                "solver": "numerical", "bounded": False, "reason": str(e), "modes": None,
                "optimal_loss": None}))
        raise


def _print_prediction(pred, data: dict) -> None:
    if getattr(pred, "solver", "closed-form") == "numerical" and (pred.levels or 2) != 2:
        from vaecollapse.cli_hierarchy import print_hierarchy

        print_hierarchy(out, pred, data, verdict(pred))
        return
    out.print(Text(pred.theorem, style="bold"))
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
                  Text("yes", style="red") if m["collapsed"][i] else "no",
                  fmt(m["critical_beta2" if mh else "critical_beta"][i]),
                  fmt(m["critical_eta_dec"][i]))
    out.print(t)
    out.print(verdict(pred), highlight=False)
    if getattr(pred, "solver", "closed-form") == "numerical":
        from vaecollapse.cli_hierarchy import level_summary

        out.print(level_summary(pred), highlight=False)


def verdict(pred) -> str:
    """One line: how many latent dimensions collapse and when the next one goes."""
    d, k = pred.latent_dim, pred.n_collapsed
    sym = "β2" if pred.model == "mhvae" else "β"
    what = "z2 latent dimensions" if pred.model == "mhvae" else "latent dimensions"
    if getattr(pred, "levels", None):  # numerical hierarchy: the top level and its β
        sym, what = f"β{pred.levels}", f"z{pred.levels} latent dimensions"
        d = pred.hyperparameters["latent_dims"][-1]
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
    latent_dim: Annotated[int, typer.Option(
        **lim.option(lim.LATENT_DIM), help="Latent dimension d (MHVAE: d1 = d2 = d).")] = 16,
    beta: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT), help="KL weight β (VAE, CVAE). \\[default: 1]")] = None,
    beta1: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT), help="MHVAE z1 weight β1. \\[default: 1]")] = None,
    beta2: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT), help="MHVAE z2 weight β2. \\[default: 1]")] = None,
    eta_enc: Annotated[float, typer.Option(
        **lim.option(lim.WEIGHT), help="Prior std η_enc: p(z) = N(0, η_enc² I).")] = 1.0,
    eta_dec: Annotated[float, typer.Option(
        **lim.option(lim.WEIGHT), help="Decoder std η_dec: p(x|z) = N(μ, η_dec² I).")] = 1.0,
    sigma: Annotated[str | None, typer.Option(
        help="Fixed (unlearnable) encoder std: one value or one per latent dimension, "
        "comma-separated. Absent: learnable Σ.")] = None,
    sigma1: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT),
        help="MHVAE fixed z1 encoder std (closed forms). Absent: learnable Σ1 (numerical "
        "theory).")] = None,
    sigma2: Annotated[float | None, typer.Option(**lim.option(lim.WEIGHT),
        help="MHVAE fixed z2 encoder std (Theorem 5). Absent: learnable Σ2 (Theorem 3).")] = None,
    levels: Annotated[int | None, typer.Option(
        help="MHVAE latent levels L = 1…5 (numerical theory unless L = 2 with --sigma1). "
        "\\[default: 2]")] = None,
    betas: Annotated[str | None, typer.Option(
        help="MHVAE per-level KL weights b1,…,bL (one value: all levels; --beta1/--beta2 "
        "override).")] = None,
    latent_dims: Annotated[str | None, typer.Option(
        help="MHVAE per-level latent sizes d1,…,dL, non-increasing. \\[default: --latent-dim "
        "everywhere]")] = None,
    sigmas: Annotated[str | None, typer.Option(
        help="MHVAE per-level encoder stds, comma-separated: a number fixes Σ_l, 'learn' makes "
        "it learnable. \\[default: all learnable]")] = None,
    inference: Annotated[str | None, typer.Option(
        help="MHVAE inference: markov (x → z1 → z2 → …) or ladder (every level also encoded "
        "from x). \\[default: markov]")] = None,
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
        from vaecollapse.io import PLOT_SUFFIXES, atomic_write_json, check_output_file
        from vaecollapse.schema import data_info, prediction_to_dict, sweep_to_dict
        from vaecollapse.theory import MODELS, solve, statistics
        from vaecollapse.theory import sweep as sweep_fn

        if model not in MODELS:
            raise UserError(f"unknown --model {model!r}: choose one of {', '.join(MODELS)}")
        hp = _hyperparameters(model, beta, beta1, beta2, eta_enc, eta_dec, sigma, sigma1, sigma2)
        hp.update(_hierarchy_options(model, levels, betas, latent_dims, sigmas, inference))
        if betas is not None:  # --betas sets every level; --beta1/--beta2 only when given
            for name, raw in (("beta1", beta1), ("beta2", beta2)):
                if raw is None:
                    hp.pop(name, None)
        grid = parse_sweep(sweep) if sweep else None
        check_output_file(json_path, "--json")
        check_output_file(plot, "--plot", PLOT_SUFFIXES)
        ds = load(data)
        check_cvae_target(model, ds.y is not None, data)
        stats = statistics(ds.x, ds.y if model == "cvae" else None, model=model, centre=centre)
        info = data_info(data, ds.n, ds.dim_x, ds.dim_y if model == "cvae" else 0, stats.rank)
        if grid is None:
            pred = _solve_or_unbounded(solve, stats, latent_dim, hp, info, json_path)
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
    out.print(Text.assemble((preds[-1].theorem, "bold"), f" — phase diagram over {parameter}"))
    out.print(f"data {data['spec']}: n={data['n']}, dim_x={data['dim_x']}", highlight=False)
    t = Table(show_edge=False, header_style="bold")
    t.add_column(parameter, justify="right")
    t.add_column("collapsed", justify="right")
    t.add_column("optimal loss", justify="right")
    for v, p in zip(values, preds, strict=True):
        if not getattr(p, "bounded", True):
            t.add_row(fmt(float(v)), "unbounded", "−∞")
            continue
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
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory (config, metrics, checkpoints).")],
    model: Annotated[str, typer.Option(help="vae | cvae | mhvae.")] = "vae",
    backbone: Annotated[str, typer.Option(help="linear | mlp | cnn | resnet18 (VAE only).")] = "mlp",
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "mnist",
    latent_dim: Annotated[int, typer.Option(
        **lim.option(lim.LATENT_DIM), help="Latent dimension (MHVAE: both levels).")] = 16,
    hidden: Annotated[str, typer.Option(help="MLP hidden sizes, comma-separated.")] = "256",
    beta: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT), help="KL weight β (VAE, CVAE). \\[default: 1]")] = None,
    beta1: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT), help="MHVAE z1 weight β1. \\[default: 1]")] = None,
    beta2: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT), help="MHVAE z2 weight β2. \\[default: 1]")] = None,
    eta_enc: Annotated[float, typer.Option(
        **lim.option(lim.WEIGHT), help="Prior std η_enc.")] = 1.0,
    eta_dec: Annotated[float, typer.Option(
        **lim.option(lim.WEIGHT), help="Decoder std η_dec.")] = 1.0,
    sigma: Annotated[float | None, typer.Option(**lim.option(lim.WEIGHT),
        help="Fixed encoder std (unlearnable Σ). Absent: learnable.")] = None,
    sigma1: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT), help="MHVAE fixed z1 encoder std.")] = None,
    sigma2: Annotated[float | None, typer.Option(
        **lim.option(lim.WEIGHT), help="MHVAE fixed z2 encoder std.")] = None,
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
    config: Annotated[Path | None, typer.Option(
        help="Train anew from a run's saved config.json (same settings and seed: the same "
        "numbers on the same device); only --out, --threads and --tensorboard may be given "
        "beside it.")] = None,
):
    """Train a VAE / CVAE / MHVAE and record collapse metrics every epoch (resumable).

    Loss: the negative β-ELBO per sample, ‖x − μ‖²/(2η_dec²) + const + β·KL (MHVAE: β1 and β2
    on the two levels)."""
    with user_errors():
        from vaecollapse.config import config_from_options
        from vaecollapse.io import check_output_dir
        from vaecollapse.runs.rundir import read_config, read_config_file
        from vaecollapse.runs.train import train as train_fn

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
        if config is not None:
            cfg = read_config_file(config)
        elif resume:
            cfg = read_config(out_dir)
            cfg.epochs = max(cfg.epochs, epochs or 0)
            for note in _resume_notes(out_dir, threads):
                err.print(f"note: {note}", highlight=False)
        else:
            cfg = config_from_options(
                model=model, backbone=backbone, data=data, latent_dim=latent_dim, hidden=hidden,
                beta=beta, beta1=beta1, beta2=beta2, eta_enc=eta_enc, eta_dec=eta_dec, sigma=sigma,
                sigma1=sigma1, sigma2=sigma2, epochs=epochs, lr=lr, schedule=schedule,
                batch_size=batch_size, clip=clip, seed=seed, device=device, eval_data=eval_data,
                eval_points=eval_points, kl_warmup=kl_warmup, kl_cycles=kl_cycles,
                kl_cycle_ratio=kl_cycle_ratio, free_bits=free_bits, datasets=datasets)
        tb = None
        if tensorboard is not None:
            from vaecollapse.tensorboard_log import TensorBoardLog

            tb = TensorBoardLog(tensorboard)
        try:
            last = train_fn(cfg, out_dir, resume=resume, progress=True,
                            on_epoch=tb.epoch if tb else None, datasets=datasets)
        except KeyboardInterrupt:
            err.print(interrupted_advice(out_dir), highlight=False)
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


@app.command()
def diagnose(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `vaecollapse train`.")],
    data: Annotated[str | None, typer.Option(
        help="Evaluate on this data spec instead of the run's training data (e.g. part=test).")] = None,
    points: Annotated[int, typer.Option(
        **lim.option(lim.POINTS),
        help="Evaluate on N points drawn at random (with --seed) from the data (0 = all).")] = 2000,
    is_samples: Annotated[int, typer.Option(**lim.option(lim.IS_SAMPLES),
        help="Importance samples per point for the log-likelihood (0 = skip).")] = 1000,
    epsilon: Annotated[float, typer.Option(help="ε for the collapsed set: KL_i < ε.")] = 1e-2,
    delta: Annotated[float, typer.Option(help="δ: collapsed if P[KL_i < ε] ≥ 1 − δ.")] = 0.05,
    seed: Annotated[int, typer.Option(**lim.option(lim.SEED), help="Seed of the sampling.")] = 0,
    threads: Annotated[int | None, typer.Option(
        **lim.option(lim.THREADS), help="torch CPU threads (default: torch's choice).")] = None,
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
        from vaecollapse.runs.rundir import load_model
        from vaecollapse.runs.train import load_run_data

        set_threads(threads)
        from vaecollapse.io import PLOT_SUFFIXES, check_output_file

        check_output_file(json_path, "--json")
        check_output_file(plot, "--plot", PLOT_SUFFIXES)
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
            from vaecollapse.data import evaluation_index

            keep = torch.from_numpy(evaluation_index(x.shape[0], points, seed))
            x, y = x[keep], None if y is None else y[keep]
        gen = torch.Generator().manual_seed(seed)
        with progress_bar("diagnose") as update:
            result = diagnose_fn(model, x, y, epsilon=epsilon, delta=delta, is_samples=is_samples,
                                 generator=gen, theory_data=full,
                                 progress=(lambda stage, done, total: update(f"{stage} (points)",
                                                                             done, total))
                                 if update else None)
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
    out.print(Text.assemble((f"{cfg.model.family.upper()} / {cfg.model.backbone}", "bold"),
                            f", epoch {r['epoch']}, {r['points']} points of {r['data']}"))
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


def interrupted_advice(out_dir: Path) -> str:
    """What to run after Ctrl-C in `train`: the command that works in the state left behind."""
    import shlex

    from vaecollapse.runs.rundir import CHECKPOINT, CONFIG

    resume = f"`vaecollapse train --resume --out {shlex.quote(str(out_dir))}`"
    if (out_dir / CHECKPOINT).exists():
        return f"interrupted: finished epochs are kept; continue with {resume}"
    if (out_dir / CONFIG).exists():
        return (f"interrupted before the first epoch finished (nothing to keep); start the run "
                f"again with its saved settings: {resume}")
    return "interrupted before the run started (nothing was written); run the same command again"


def _resume_notes(out_dir: Path, threads: int | None) -> list[str]:
    """Notes on resuming: the saved thread count wins over --threads; changed library versions."""
    from vaecollapse.runs.rundir import RunDir
    from vaecollapse.runtime import changed_versions

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


def _train_command():
    """The click command behind `train` (its options are the sweep's per-run options)."""
    return typer.main.get_command(app).commands["train"]


NOT_SWEEPABLE = {"out_dir", "resume", "threads", "device", "help", "tensorboard", "config"}


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sweep(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Sweep directory.")],
    grid: Annotated[list[str], typer.Option(
        help="NAME=V1,V2,… over a `train` option (beta, eta_dec, lr, latent_dim, …); repeat for "
        "a product grid.")],
    seeds: Annotated[int, typer.Option(
        **lim.option(lim.SEEDS), help="Seeds per grid point (seed, seed+1, …).")] = 1,
    executor: Annotated[str, typer.Option(help="local (process pool) | ray.")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster address (e.g. ray://head:10001 or auto); absent: a local Ray instance.")] = None,
    jobs: Annotated[int | None, typer.Option(
        help="Runs at once \\[default: CPU count].")] = None,
    retries: Annotated[int, typer.Option(
        **lim.option(lim.RETRIES), help="Retries of a failed or crashed run.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Redo finished runs.")] = False,
):
    """Run a grid of training runs (hyperparameters × seeds) on all local cores or on Ray.

    Options after `--` are `train` options shared by every run, e.g.
    `vaecollapse sweep --grid beta=0.1,1,2 --seeds 3 --out sweeps/b -- --model cvae --data
    mnist:split=quarter --backbone mlp --hidden 16 --epochs 5`. Rerunning skips finished runs."""
    with user_errors():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from vaecollapse.io import check_output_dir
        from vaecollapse.runs.sweep import parse_grid, run_sweep

        check_output_dir(out_dir)
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
        bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                       console=err)
        task = bar.add_task("sweep", total=None, failed=0)

        def update(done: int, total: int, failed: int) -> None:
            bar.start()  # at the first update: after the sweep's checks, so an error stays one line
            bar.update(task, completed=done + failed, total=total, failed=failed)

        try:
            rows = run_sweep(grid_values, seeds, base, out_dir, executor=executor, jobs=jobs,
                             address=address, retries=retries, force=force, on_update=update)
        finally:
            bar.stop()
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
        from vaecollapse.io import PLOT_SUFFIXES, atomic_write_text, check_output_file
        from vaecollapse.plots import plot_sweep_summary
        from vaecollapse.runs.summary import SUMMARY_METRICS, sweep_summary

        check_output_file(csv_path or sweep_dir / "summary.csv", "--csv")
        check_output_file(plot or sweep_dir / "summary.png", "--plot", PLOT_SUFFIXES)
        s = sweep_summary(sweep_dir, x, metrics)
        t = Table(show_edge=False, header_style="bold")
        for c in s.table_columns():
            t.add_column(c, justify="right")
        for row in s.table_rows(fmt):
            t.add_row(*row)
        out.print(t)
        csv_path = csv_path or sweep_dir / "summary.csv"
        atomic_write_text(csv_path, s.csv_text())
        plot = plot or sweep_dir / "summary.png"
        plot_sweep_summary(s.groups, s.x, s.metrics, SUMMARY_METRICS, plot, s.theory,
                           title=f"{sweep_dir}: mean ± sd over seeds")
        out.print(f"wrote {csv_path} and {plot}", highlight=False)


@app.command()
def reproduce(
    names: Annotated[list[str] | None, typer.Argument(help="Experiment names, or `all`.")] = None,
    profile: Annotated[str, typer.Option(
        help="quick (bundled MNIST, reduced epochs) | paper (the paper's settings).")] = "quick",
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("out/reproduce"),
    jobs: Annotated[int | None, typer.Option(
        help="Training runs at once \\[default: CPU count].")] = None,
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
        from vaecollapse.io import check_output_dir

        check_output_dir(out_dir)
        current = {"name": ""}

        def started(name: str) -> None:
            current["name"] = name
            err.print(Text(f"{name} …", style="bold"))

        try:
            with progress_bar("reproduce") as update:
                results = reproduce_fn(
                    names, profile, out_dir, jobs=jobs, force=force, data_root=data_root,
                    executor=executor, on_start=started,
                    on_update=(lambda done, total, failed: update(
                        f"{current['name']}: training runs" + (f" ({failed} failed)" if failed
                                                               else ""), done + failed, total))
                    if update else None)
        except KeyboardInterrupt:
            err.print("interrupted: finished experiments and runs are kept; rerun to continue")
            raise typer.Exit(130) from None
        verdict = {True: "[green]HOLDS[/]", False: "[red]DOES NOT HOLD[/]", None: "[yellow]UNDECIDED[/]"}
        for name, claims in results.items():
            for c in claims:
                out.print(f"{escape(name)}: {verdict[c['holds']]} — {escape(c['claim'])} — "
                          f"{escape(c['evidence'])}", highlight=False, markup=True)
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


@app.command()
def advise(
    keep: Annotated[int, typer.Option(help="K: the number of latent modes to keep uncollapsed.")],
    model: Annotated[str, typer.Option(help="vae | cvae | mhvae.")] = "vae",
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "mnist",
    latent_dim: Annotated[int, typer.Option(help="Latent dimension d (MHVAE: d1 = d2 = d).")] = 16,
    beta: Annotated[float | None, typer.Option(help="KL weight β (VAE, CVAE). \\[default: 1]")] = None,
    beta1: Annotated[float | None, typer.Option(help="MHVAE z1 weight β1. \\[default: 1]")] = None,
    beta2: Annotated[float | None, typer.Option(help="MHVAE z2 weight β2. \\[default: 1]")] = None,
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
    backbone: Annotated[str, typer.Option(help="Backbone written into the train line.")] = "linear",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the advice as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Write the phase diagram PNG (uncollapsed modes over β × η_dec, MHVAE β1 × β2, with "
        "the K contour, the current point and the recommendation).")] = None,
):
    """How far each lever may go while K modes stay uncollapsed — max β, max η_dec (VAE, CVAE),
    max β2, min β1 (MHVAE, Σ1 fixed) — from the closed forms, with the limiting mode and a ready
    `vaecollapse train` line. The other hyperparameters are held as given."""
    with user_errors():
        from vaecollapse.data import load
        from vaecollapse.io import atomic_write_json
        from vaecollapse.theory import MODELS, statistics
        from vaecollapse.theory.advise import advise as advise_fn
        from vaecollapse.theory.advise import plot_phase_diagram

        if model not in MODELS:
            raise UserError(f"unknown --model {model!r}: choose one of {', '.join(MODELS)}")
        hp = _hyperparameters(model, beta, beta1, beta2, eta_enc, eta_dec, sigma, sigma1, sigma2)
        ds = load(data)
        check_cvae_target(model, ds.y is not None, data)
        stats = statistics(ds.x, ds.y if model == "cvae" else None, model=model, centre=centre)
        adv = advise_fn(stats, latent_dim, keep, margin=margin, data=data, backbone=backbone, **hp)
        _print_advice(adv)
        if json_path:
            atomic_write_json(json_path, adv.to_dict())
            out.print(f"wrote {json_path}", highlight=False)
        if plot:
            plot_phase_diagram(adv, stats, plot, title=f"{model.upper()} on {data}: keep "
                               f"K = {keep} of {adv.latent_dim} modes")
            out.print(f"wrote {plot}", highlight=False)


def _print_advice(adv) -> None:
    from vaecollapse.theory.advise import LEVERS

    out.print(f"[bold]{adv.model.upper()}[/]: keep K = {adv.keep} of {adv.latent_dim} modes "
              f"uncollapsed (rank {adv.rank}); uncollapsed now: {adv.active_now}.", highlight=False)
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
    rec = adv.recommendation
    if rec["train"]:
        out.print(f"recommended: {rec['parameter']} = {rec['value']:.4g} ({rec['margin']:g} inside "
                  f"{rec['lever']}; {rec['active_modes']} modes uncollapsed there)", highlight=False)
        out.print(rec["train"], highlight=False, soft_wrap=True)
    else:
        out.print(rec.get("why", ""), highlight=False)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
