"""`vaecollapse diagnose`: the collapse measurements of a trained run, printed, as JSON and as a
figure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from vaecollapse import limits as lim
from vaecollapse.cli.core import app, out, progress_bar, set_threads, user_errors
from vaecollapse.errors import UserError


@app.command("diagnose")
def diagnose_command(
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
        import torch  # lazy: torch, start-up

        from vaecollapse.data import evaluation_index  # lazy: start-up
        from vaecollapse.diagnostics import diagnose  # lazy: start-up
        from vaecollapse.files.atomic import (  # lazy: start-up
            PLOT_SUFFIXES,
            atomic_write_json,
            check_output_file,
        )
        from vaecollapse.output.figures import plot_diagnostics  # lazy: matplotlib only when plotting
        from vaecollapse.runs.rundir import load_model  # lazy: start-up
        from vaecollapse.runs.train import load_run_data  # lazy: start-up

        set_threads(threads)

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
            keep = torch.from_numpy(evaluation_index(x.shape[0], points, seed))
            x, y = x[keep], None if y is None else y[keep]
        gen = torch.Generator().manual_seed(seed)
        with progress_bar("diagnose") as update:
            result = diagnose(model, x, y, epsilon=epsilon, delta=delta, is_samples=is_samples,
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
