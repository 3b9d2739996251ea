"""A sweep's summary: mean ± sd over seeds per grid point, the closed-form number of collapsed
modes beside it (linear models), and the summary table's rows (what `vaecollapse sweep-summary`
prints and writes as CSV)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vaecollapse.errors import UserError
from vaecollapse.runs.predicted import TheoryCache, closed_form_collapse
from vaecollapse.runs.sweep import INDEX, SWEEP, parse_number, read_definition, read_index

SUMMARY_METRICS = {"n_collapsed": "(ε,δ)-collapsed dims", "kl_total": "KL (nats)",
                   "nll": "NLL (nats, IS)", "active_units": "active units"}


def summarise(out: str | os.PathLike) -> tuple[list[str], list[dict[str, Any]]]:
    """Mean ± sd over seeds per grid point, from index.csv (finished runs only).

    Returns the grid names and one dict per grid point: its ``values``, ``runs`` (finished
    seeds), ``failed``, and for each summary metric ``<metric>_mean`` and ``<metric>_sd``
    (sample sd; 0 with one seed). ``nll`` is −log-likelihood."""
    out = Path(out)
    if not (out / SWEEP).exists():
        raise UserError(f"{out} is not a sweep directory (no {SWEEP})")
    definition = read_definition(out)
    if "grid" not in definition:
        raise UserError(f"{out} holds named variants (a reproduction's runs), not a grid to summarise")
    names = list(definition["grid"])
    groups: dict[tuple, dict[str, Any]] = {}
    for row in read_index(out / INDEX, names):
        key = tuple(row[k] for k in names)
        g = groups.setdefault(key, {"values": {k: parse_number(row[k]) for k in names}, "runs": 0,
                                    "failed": 0, "_rows": []})
        if row["status"] == "done":
            g["runs"] += 1
            g["_rows"].append(row)
        elif row["status"] == "failed":
            g["failed"] += 1
    result = []
    for g in groups.values():
        rows = g.pop("_rows")
        for m in SUMMARY_METRICS:
            col = "log_likelihood" if m == "nll" else m
            vals = [parse_number(r[col]) for r in rows if r.get(col) not in ("", None)]
            text = [v for v in vals if isinstance(v, str)]
            if text:
                raise UserError(f"{out / INDEX} is not a valid sweep index: column {col} holds "
                                f"{text[0]!r}, not a number")
            vals = np.array([-v if m == "nll" else v for v in vals], dtype=float)
            g[f"{m}_mean"] = float(vals.mean()) if vals.size else None
            g[f"{m}_sd"] = float(vals.std(ddof=1)) if vals.size > 1 else (0.0 if vals.size else None)
        result.append(g)
    return names, result


def theory_n_collapsed(out: str | os.PathLike, groups: list[dict[str, Any]]) -> list[int | None] | None:
    """Closed-form number of collapsed modes per grid point when the sweep trains a linear model
    with a closed form (None otherwise): the theory on the run's data and hyperparameters."""
    definition = read_definition(Path(out))
    if definition["base"].get("backbone") != "linear" and all(
            "backbone" not in g["values"] for g in groups):
        return None
    cache = TheoryCache()
    counts = []
    for g in groups:
        options = {**definition["base"], **g["values"]}
        if options.get("backbone") != "linear":
            return None
        try:
            counts.append(closed_form_collapse(options, cache))
        except UserError:
            raise
        except (TypeError, ValueError) as e:  # hand-edited base options of the wrong type
            raise UserError(f"{Path(out) / SWEEP} is not a valid sweep definition: its options "
                            f"{options} are invalid ({e})") from None
    return None if any(c is None for c in counts) else counts


@dataclass
class SweepSummary:
    """A sweep's summary: the grid ``names``, one group per grid point (:func:`summarise`), the
    chosen ``metrics``, the x-axis parameter and the closed-form counts (or None)."""

    names: list[str]
    groups: list[dict[str, Any]]
    metrics: list[str]
    x: str
    theory: list[int | None] | None

    def table_columns(self) -> list[str]:
        return [*self.names, "runs", *self.metrics] + (["theory"] if self.theory else [])

    def table_rows(self, fmt: Callable[..., str]) -> list[list[str]]:
        """The printed table's cells; ``fmt(value, digits=4)`` formats a number."""
        rows = []
        for i, g in enumerate(self.groups):
            cells = [fmt(g[f"{m}_mean"]) + " ± " + fmt(g[f"{m}_sd"], 2) for m in self.metrics]
            rows.append([*(fmt(v) if isinstance(v, float) else str(v) for v in g["values"].values()),
                         f"{g['runs']}" + (f" ({g['failed']} failed)" if g["failed"] else ""),
                         *cells, *([str(self.theory[i])] if self.theory else [])])
        return rows

    def csv_text(self) -> str:
        """summary.csv: grid values, runs, failed, <metric>_mean/_sd, theory_n_collapsed."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([*self.names, "runs", "failed",
                    *(f"{m}_{s}" for m in self.metrics for s in ("mean", "sd")),
                    *(["theory_n_collapsed"] if self.theory else [])])
        for i, g in enumerate(self.groups):
            w.writerow([*g["values"].values(), g["runs"], g["failed"],
                        *(g[f"{m}_{s}"] for m in self.metrics for s in ("mean", "sd")),
                        *([self.theory[i]] if self.theory else [])])
        return buf.getvalue()


def sweep_summary(out: str | os.PathLike, x: str | None = None,
                  metrics: str = ",".join(SUMMARY_METRICS)) -> SweepSummary:
    """The summary of sweep ``out`` against grid parameter ``x`` (default: the first) for the
    comma-separated ``metrics`` (of :data:`SUMMARY_METRICS`)."""
    names, groups = summarise(out)
    x = x or names[0]
    if x not in names:
        raise UserError(f"x {x!r} is not a grid parameter of this sweep ({', '.join(names)})")
    chosen = [m.strip() for m in metrics.split(",") if m.strip()]
    bad = [m for m in chosen if m not in SUMMARY_METRICS]
    if bad or not chosen:
        raise UserError(f"unknown metric(s) {bad}: choose from {', '.join(SUMMARY_METRICS)}")
    return SweepSummary(names, groups, chosen, x, theory_n_collapsed(out, groups))
