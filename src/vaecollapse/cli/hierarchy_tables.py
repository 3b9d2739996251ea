"""`predict` output for the numerical theory of hierarchies (theory/hierarchy/): the per-level
table of an L-level setting and the one-line per-level collapse summary."""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text


def _fmt(v) -> str:
    if v is None or (isinstance(v, float | np.floating) and not np.isfinite(v)):
        return "—"
    return f"{float(v):.4g}"


def symbol(parameter: str) -> str:
    """"beta3" → "β3", "eta_dec" → "η_dec"."""
    return "η_dec" if parameter == "eta_dec" else "β" + parameter[4:]


def critical_cell(pred, i: int) -> str:
    """Mode i's critical value of ``pred.critical_parameter``, "≤ v" where the mode's top level
    collapses at and below it (critical_direction "below"), "—" where none."""
    v = pred.modes[f"critical_{pred.critical_parameter}"][i]
    side = pred.modes.get("critical_direction")
    below = side is not None and side[i] == "below" and np.isfinite(v)
    return ("≤ " if below else "") + _fmt(v)


def level_counts(pred) -> list[tuple[int, int]]:
    """(collapsed, size) per level."""
    dims = pred.hyperparameters["latent_dims"]
    return [(int(np.sum(pred.modes[f"collapsed_z{lv + 1}"][: dims[lv]])), dims[lv])
            for lv in range(pred.levels)]


def level_summary(pred) -> str:
    parts = [f"z{lv + 1} {k}/{d}" for lv, (k, d) in enumerate(level_counts(pred))]
    notes = "".join(f"\nnote: {n}" for n in pred.notes[1:])
    return (f"solver: numerical (per-mode reduced Newton); collapsed modes per level: "
            f"{', '.join(parts)}{notes}")


def print_hierarchy(out, pred, data: dict, verdict: str) -> None:
    """Per mode: θ, then per level λ (rms encoder mean), σ and whether it collapsed; last the
    critical value of ``pred.critical_parameter`` (the top level's β unless `--critical`)."""
    out.print(Text(pred.theorem, style="bold"))
    out.print(f"data {data['spec']}: n={data['n']}, dim_x={data['dim_x']}; rank(A) = "
              f"{data['rank']}", highlight=False)
    hp = pred.hyperparameters
    out.print(f"hyperparameters: levels={hp['levels']}, inference={hp['inference']}, "
              f"latent_dims={hp['latent_dims']}, betas={hp['betas']}, sigmas="
              f"{['learn' if s is None else s for s in hp['sigmas']]}, eta_enc={hp['eta_enc']:g},"
              f" eta_dec={hp['eta_dec']:g}", highlight=False)
    t = Table(show_edge=False, header_style="bold")
    t.add_column("mode", justify="right")
    t.add_column("θ", justify="right")
    L = pred.levels
    for lv in range(1, L + 1):
        for c in (f"λ{lv}", f"σ{lv}", f"coll. z{lv}"):
            t.add_column(c, justify="right")
    t.add_column(f"crit. {symbol(pred.critical_parameter)}", justify="right")
    m = pred.modes
    for i in range(pred.latent_dim):
        row = [str(i), _fmt(pred.theta[i])]
        for lv in range(1, L + 1):
            lam = m[f"lambda_z{lv}"][i]
            exists = np.isfinite(lam)
            row += [_fmt(lam), _fmt(m[f"sigma{lv}"][i]),
                    (Text("yes", style="red") if m[f"collapsed_z{lv}"][i] else "no") if exists else "—"]
        row.append(critical_cell(pred, i))
        t.add_row(*row)
    out.print(t)
    out.print(verdict, highlight=False)
    out.print(level_summary(pred), highlight=False)
