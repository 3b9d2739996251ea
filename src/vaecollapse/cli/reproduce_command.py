"""`vaecollapse reproduce` (the paper's experiments, their claim checks and the report) and
`vaecollapse report` (the report of a reproduction directory, written again)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from vaecollapse.cli import core
from vaecollapse.cli.core import app, out, progress_bar, user_errors
from vaecollapse.errors import UserError


@app.command("reproduce")
def reproduce_command(
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
        from vaecollapse.experiments import PROFILES, REGISTRY, reproduce  # lazy: start-up
        from vaecollapse.report import write_report  # lazy: start-up

        if list_:
            from vaecollapse.report import format_duration  # lazy: start-up

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
        from vaecollapse.files.atomic import check_output_dir  # lazy: start-up

        check_output_dir(out_dir)
        current = {"name": ""}

        def started(name: str) -> None:
            current["name"] = name
            core.err.print(Text(f"{name} …", style="bold"))

        try:
            with progress_bar("reproduce") as update:
                from vaecollapse.output.experiment_figures import draw  # lazy: matplotlib

                results = reproduce(
                    names, profile, out_dir, draw=draw, jobs=jobs, force=force, data_root=data_root,
                    executor=executor, on_start=started,
                    on_update=(lambda done, total, failed: update(
                        f"{current['name']}: training runs" + (f" ({failed} failed)" if failed
                                                               else ""), done + failed, total))
                    if update else None)
        except KeyboardInterrupt:
            core.err.print("interrupted: finished experiments and runs are kept; rerun to continue")
            raise typer.Exit(130) from None
        verdict = {True: "[green]HOLDS[/]", False: "[red]DOES NOT HOLD[/]", None: "[yellow]UNDECIDED[/]"}
        for name, claims in results.items():
            for c in claims:
                out.print(f"{escape(name)}: {verdict[c['holds']]} — {escape(c['claim'])} — "
                          f"{escape(c['evidence'])}", highlight=False, markup=True)
        md, html = write_report(out_dir, order=list(REGISTRY))
        out.print(f"report: {md} and {html}", highlight=False)


@app.command("report")
def report_command(out_dir: Annotated[Path, typer.Argument(help="A directory written by `reproduce`.")]):
    """Write REPORT.md and a self-contained report.html for a reproduction directory."""
    with user_errors():
        from vaecollapse.experiments import REGISTRY  # lazy: start-up
        from vaecollapse.report import write_report  # lazy: start-up

        if not out_dir.is_dir():
            raise UserError(f"{out_dir} is not a directory")
        md, html = write_report(out_dir, order=list(REGISTRY))
        out.print(f"report: {md} and {html}", highlight=False)
