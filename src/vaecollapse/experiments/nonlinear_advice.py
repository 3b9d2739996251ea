"""`vaecollapse advise --backbone mlp` held against training: the ReLU CVAE trained at the β the
non-linear theory advises to keep K modes active, and at 1.2 × that β (the experiment
``advise-nonlinear``; its analysis is the remedies' :func:`~vaecollapse.experiments.remedies.mitigation`).

- :func:`advised_beta_nonlinear`: the series value, computed when the experiment runs from the
  series' own training options (:func:`vaecollapse.runs.pilot.advise_run`);
- :func:`nonlinear_advise_check`: every seed at the advised β keeps at least K active modes (the
  advice is for the run as trained, seed by seed), and at 1.2 × it the seed median keeps fewer
  than K (the advice sits just inside the threshold, not far from it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vaecollapse.config import config_from_options
from vaecollapse.experiments.significance import mean_sd
from vaecollapse.experiments.verdict import Verdict, claim_record
from vaecollapse.runs.pilot import advise_run
from vaecollapse.runs.predicted import TheoryCache


def advised_beta_nonlinear(options: dict[str, Any], cache: TheoryCache, *, keep: int,
                           factor: float = 1.0) -> float:
    """``factor`` × the β the non-linear theory advises for ``keep`` active modes in the run of
    these `train` options (rounded to 6 digits, as run names write it)."""
    cfg = config_from_options(**options, datasets=cache.datasets)
    value, _, _ = advise_run(cfg, keep, datasets=cache.datasets)
    return round(factor * value, 6)


def _active(runs) -> list[int]:
    return [r["active_modes"] for r in runs]


def nonlinear_advise_check(exp, groups, cache):
    """Training at the non-linear theory's advised β and at 1.2 × it: see the module docstring.
    ``groups``: model label ("… K = k") → its two series (advised, 1.2 ×)."""
    parts, texts, rows = [], [], []
    for model, series in groups.items():
        keep = exp.keep[model]
        (_, _, at), (_, _, up) = series
        act_at, act_up = _active(at), _active(up)
        ok = all(a >= keep for a in act_at) and float(np.median(act_up)) < keep
        parts.append(ok)
        beta = float(at[0]["options"]["beta"])
        texts.append(f"{model}: advised β = {beta:.4g}, active modes {act_at} (K = {keep}); at "
                     f"1.2 × β {act_up}")
        for _, setting, runs in series:
            rows.append([model, setting, f"{float(runs[0]['options']['beta']):.4g}", str(keep),
                         mean_sd(_active(runs))])
    header = ["model", "setting", "β", "K", "active modes (trained)"]
    verdict = Verdict(all(parts) if parts else None, "; ".join(texts),
                      [{"test": "every-seed-at-least-K-then-median-below", "keep": exp.keep}])
    return [claim_record(exp.claim, verdict, header, rows, role=exp.role)], ()
