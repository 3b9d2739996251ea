"""The Typer app and what every command shares: the consoles, one-line usage and user errors
(``error: …`` on stderr, exit code 2), the progress bar, ``--version`` and ``--threads``.

Commands print results through :data:`out` and notes, progress and errors through :data:`err`.
Outside this module ``err`` is used as ``core.err`` (looked up at each use), so that a test can
swap it for a terminal console.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from vaecollapse import __version__
from vaecollapse.errors import UserError


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
    from rich.progress import (  # lazy: only with a terminal
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

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


def set_threads(threads: int | None) -> None:
    """``--threads``: torch's CPU thread count, when given."""
    if threads is None:
        return
    if threads < 1:
        raise UserError(f"--threads must be >= 1, got {threads}")
    import torch  # lazy: torch, start-up

    torch.set_num_threads(threads)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
