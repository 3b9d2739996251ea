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
out = Console(width=None if sys.stdout.isatty() else 120)
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
    beta: Annotated[float | None, typer.Option(help="KL weight β (VAE, CVAE). [default: 1]")] = None,
    beta1: Annotated[float | None, typer.Option(help="MHVAE z1 weight β1. [default: 1]")] = None,
    beta2: Annotated[float | None, typer.Option(help="MHVAE z2 weight β2. [default: 1]")] = None,
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
        from vaecollapse.plots import plot_prediction, plot_sweep
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
