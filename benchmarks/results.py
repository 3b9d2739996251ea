"""The one way a benchmark writes its results file: a title, how to regenerate it, the table."""

from __future__ import annotations

from pathlib import Path

from vaecollapse.files.atomic import atomic_write_text


def write_results(path: Path, title: str, script: str, lines: list[str]) -> str:
    """Print the result ``lines`` and write them atomically to ``path`` under '# Benchmarks:
    ``title``' and a 'Regenerate with `python benchmarks/``script``.py`' line; returns the text."""
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(path, f"# Benchmarks: {title}\n\nRegenerate with "
                      f"`python benchmarks/{script}.py`.\n\n" + text)
    return text
