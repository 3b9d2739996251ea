"""`predict`'s human output: numbers for tables, the one-line verdict, the per-mode table of a
prediction and the phase-diagram table of a sweep (L ≠ 2 hierarchies: cli/hierarchy_tables.py)."""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text

from vaecollapse.cli.core import out
from vaecollapse.cli.hierarchy_tables import critical_cell, level_summary, print_hierarchy, symbol


def fmt(v, digits: int = 4) -> str:
    """A number for a table: 4 significant digits, '—' for NaN/None."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    return f"{v:.{digits}g}"


def print_nonlinear(pred, data: dict) -> None:
    """The non-linear theory's table: per mode θ_eff = λ·γ (the encoder's feature strength
    times the decoder's readability), inactive and collapsed, and the critical values with the
    pilot's features held."""
    out.print(Text(pred.theorem, style="bold"))
    dim_y = f", dim_y={data['dim_y']}" if data["dim_y"] else ""
    out.print(f"data {data['spec']}: n={data['n']}, dim_x={data['dim_x']}{dim_y}", highlight=False)
    for note in pred.notes:
        out.print(f"note: {note}", highlight=False)
    mh = pred.model.hierarchical
    t = Table(show_edge=False, header_style="bold")
    for c in ("mode", "θ_eff (var)", "λ features", "γ read", "inactive", "collapsed",
              "crit. β2" if mh else "crit. β", "crit. η_dec"):
        t.add_column(c, justify="right")
    m = pred.modes
    for i in range(pred.latent_dim):
        t.add_row(str(i), fmt(pred.theta[i]), fmt(m["strength"][i]), fmt(m["readability"][i]),
                  "yes" if m["inactive"][i] else "no",
                  Text("yes", style="red") if m["collapsed"][i] else "no",
                  fmt(m["critical_beta2" if mh else "critical_beta"][i]),
                  fmt(m["critical_eta_dec"][i]))
    out.print(t)
    k, d = int(np.sum(m["inactive"])), pred.latent_dim
    nxt = pred.next_collapse()
    sym = "β2" if mh else "β"
    tail = f"; the next goes at {sym} = {nxt:.3g} (the pilot's features held)" if nxt else ""
    out.print(f"{k} of {d} {'z2 ' if mh else ''}latent dimensions are predicted inactive after "
              f"training{tail}.", highlight=False)


def print_prediction(pred, data: dict) -> None:
    if getattr(pred, "solver", "closed-form") == "pilot-linearisation":
        print_nonlinear(pred, data)
        return
    if getattr(pred, "solver", "closed-form") == "numerical" and (pred.levels or 2) != 2:
        print_hierarchy(out, pred, data, verdict(pred))
        return
    out.print(Text(pred.theorem, style="bold"))
    dim_y = f", dim_y={data['dim_y']}" if data["dim_y"] else ""
    rank_of = "E" if pred.model.conditional else "A"
    out.print(f"data {data['spec']}: n={data['n']}, dim_x={data['dim_x']}{dim_y}; "
              f"rank({rank_of}) = {data['rank']}", highlight=False)
    hp = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}"
                   for k, v in pred.hyperparameters.items() if v is not None)
    out.print(f"hyperparameters: {hp}", highlight=False)
    mh = pred.model.hierarchical
    numerical = getattr(pred, "solver", "closed-form") == "numerical"
    t = Table(show_edge=False, header_style="bold")
    cols = ["mode", "θ" + (" (var)" if pred.model.conditional else ""), "λ", "ω",
            "σ2" if mh else "σ", "KL z2" if mh else "KL", "collapsed"]
    # closed forms: critical β (β2) and η_dec; numerical: the one parameter computed
    cols += ([f"crit. {symbol(pred.critical_parameter)}"] if numerical
             else ["crit. β2" if mh else "crit. β", "crit. η_dec"])
    for c in cols:
        t.add_column(c, justify="right")
    m = pred.modes
    for i in range(pred.latent_dim):
        crit = ([critical_cell(pred, i)] if numerical
                else [fmt(m["critical_beta2" if mh else "critical_beta"][i]),
                      fmt(m["critical_eta_dec"][i])])
        t.add_row(str(i), fmt(pred.theta[i]), fmt(m["lambda"][i]), fmt(m["omega"][i]),
                  fmt(m["sigma2" if mh else "sigma"][i]), fmt(m["kl"][i]),
                  Text("yes", style="red") if m["collapsed"][i] else "no", *crit)
    out.print(t)
    out.print(verdict(pred), highlight=False)
    if getattr(pred, "solver", "closed-form") == "numerical":
        out.print(level_summary(pred), highlight=False)


def verdict(pred) -> str:
    """One line: how many latent dimensions collapse and when the next one goes."""
    d, k = pred.latent_dim, pred.n_collapsed
    sym = "β2" if pred.model.hierarchical else "β"
    what = "z2 latent dimensions" if pred.model.hierarchical else "latent dimensions"
    if getattr(pred, "levels", None):  # numerical hierarchy: the top level, the chosen parameter
        sym, what = symbol(pred.critical_parameter), f"z{pred.levels} latent dimensions"
        d = pred.hyperparameters["latent_dims"][-1]
    text = f"{k} of {d} {what} collapse"
    nxt = pred.next_collapse()
    if k == d:
        return text + "."
    if nxt is not None:
        way = (f" (as {sym} decreases)"
               if nxt < pred.hyperparameters[pred.critical_parameter] else "")
        return text + f"; the next collapses at {sym} = {nxt:.3g}{way}."
    if getattr(pred, "levels", None) and pred.critical_parameter != f"beta{pred.levels}":
        return text + f"; no further mode collapses as {sym} moves (within the scanned range)."
    inactive = int(np.sum(pred.modes["lambda"] == 0))
    if not pred.model.hierarchical and pred.hyperparameters.get("sigma") is not None:
        return (text + f"; with a fixed encoder variance ≠ η_enc no posterior equals the prior "
                f"({inactive} encoder modes are inactive, λ = 0).")
    return text + f"; no further mode collapses as {sym} grows."


def print_sweep(preds, parameter: str, values, data: dict) -> None:
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
