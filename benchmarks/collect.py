"""Assemble benchmarks/RESULTS.md from the per-benchmark sections (RESULTS-*.md)."""

from __future__ import annotations

from pathlib import Path

from vaecollapse.files.atomic import atomic_write_text

HERE = Path(__file__).parent


def main() -> None:
    parts = [p.read_text() for p in sorted(HERE.glob("RESULTS-*.md"))]
    head = ("# Benchmarks\n\nRegenerate with `make bench`. Every line is a ratio or rate measured "
            "in one run on the machine named in its section (median of several repetitions).\n\n")
    path = atomic_write_text(HERE / "RESULTS.md", head + "\n".join(parts))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
