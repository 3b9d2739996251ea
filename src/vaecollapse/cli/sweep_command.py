"""`vaecollapse sweep` (a grid of training runs, locally or on Ray) and `vaecollapse
sweep-summary` (mean ± sd over seeds per grid point, as a table, CSV and figure)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vaecollapse import limits as lim
from vaecollapse.cli import core
from vaecollapse.cli.core import app, out, user_errors
from vaecollapse.cli.prediction_tables import fmt
from vaecollapse.cli.train_command import TEXT_ONLY, text_options
from vaecollapse.errors import UserError


def _train_command():
    """The click command behind `train` (its options are the sweep's per-run options)."""
    return typer.main.get_command(app).commands["train"]


NOT_SWEEPABLE = {"out_dir", "resume", "threads", "device", "help", "tensorboard", "config"}


@app.command("sweep", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sweep_command(
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
        from rich.progress import (  # lazy: only with a terminal
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from vaecollapse.files.atomic import check_output_dir  # lazy: start-up
        from vaecollapse.runs.sweep import (  # lazy: start-up
            parse_grid,
            run_sweep,
        )

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
        if str(base.get("model", "")).strip().lower() == "seqvae":  # the sentence VAE's options
            base = text_options(base)
        else:
            base = {k: v for k, v in base.items() if k not in TEXT_ONLY}

        def convert(name: str, text: str):
            if name not in base:
                ok = ", ".join(sorted(base))
                raise UserError(f"--grid {name}: not a train option; choose from {ok}")
            flag = "--" + name.replace("_", "-")
            return parse_train([*ctx.args, flag, text], f"--grid {name}={text}")[name]

        grid_values = parse_grid(grid, convert)
        bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                       console=core.err)
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
def sweep_summary_command(
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
        from vaecollapse.files.atomic import (  # lazy: start-up
            PLOT_SUFFIXES,
            atomic_write_text,
            check_output_file,
        )
        from vaecollapse.output.figures import plot_sweep_summary  # lazy: matplotlib only when plotting
        from vaecollapse.runs.summary import (  # lazy: start-up
            SUMMARY_METRICS,
            sweep_summary,
        )

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
