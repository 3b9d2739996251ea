"""The sentence VAE's remedies measured (experiment ``text-remedies``; docs/text-vaes.md): vanilla
training against KL warm-up, cyclical annealing, free bits, word dropout, aggressive encoder
training and autoencoder pretraining with a decoder reset, each over the same seeds.

The claims, with the suite's rules (a claim must be able to fail on the runs):

- **vanilla collapses** — in every seed the final KL on the evaluation sentences is below
  ``COLLAPSED_KL`` = 0.1 nats and no unit is active (Burda et al.'s Var_x E[z_i|x] > 0.01);
- **REMEDY keeps units active** — one claim per remedy: at least one active unit in every seed.
  Beside it, its cost: the importance-sampled NLL per sentence, remedy − vanilla (mean ± sd over
  seeds), and the perplexity.

Every verdict is a rule over all seeds (an intersection), so it has no p-value (``p`` null).
The analysis also draws KL, I(x; z) and active units over training per arm, and decodes a
z-interpolation between two evaluation sentences for vanilla and for the remedy with the most
active units (seed of the lowest number).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from vaecollapse.data import evaluation_index
from vaecollapse.data.text import load_text
from vaecollapse.experiments.checks import RemedyCheck, analysis
from vaecollapse.experiments.definition import FigureSpec
from vaecollapse.experiments.significance import mean_sd
from vaecollapse.runs.rundir import RunDir
from vaecollapse.runs.text_train import LANGUAGE, load_text_run

COLLAPSED_KL = 0.1
VANILLA = "vanilla"
INTERPOLATION_STEPS = 5


def _language(run: dict) -> dict:
    return json.loads((Path(run["run_dir"]) / LANGUAGE).read_text())


def _arms(records: list[dict]) -> dict[str, list[dict]]:
    """The runs by arm (their series label), in registry order, seeds sorted."""
    arms: dict[str, list[dict]] = {}
    for r in records:
        arms.setdefault(r["series"], []).append(r)
    return {k: sorted(v, key=lambda r: r["seed"]) for k, v in arms.items()}


def _row(label: str, runs: list[dict], vanilla_nll: list[float] | None) -> list:
    lang = [_language(r) for r in runs]
    nll = [x["nll_per_sentence"] for x in lang]
    cost = ("—" if vanilla_nll is None or label == VANILLA else
            mean_sd([a - b for a, b in zip(nll, vanilla_nll, strict=True)]))
    return [label, mean_sd([r["kl_total"] for r in runs]),
            mean_sd([x["mutual_information"] for x in lang]),
            mean_sd([r["active_units"] for r in runs]), mean_sd(nll), cost,
            mean_sd([x["perplexity"] for x in lang])]


HEADER = ["arm", "KL (nats)", "MI (nats)", "active units", "NLL (nats/sentence)",
          "NLL − vanilla", "perplexity"]


def text_claims(exp, groups: dict, cache) -> tuple[list[dict], tuple]:
    """The claims of the module docstring over ``groups`` (arm → runs over seeds)."""
    vanilla = groups[VANILLA]
    v_nll = [_language(r)["nll_per_sentence"] for r in vanilla]
    table = {"header": HEADER, "rows": [_row(k, v, v_nll) for k, v in groups.items()],
             "notes": [f"mean ± sd over {len(vanilla)} seeds on the evaluation sentences; "
                       "NLL: importance-sampled, the encoder as proposal"]}
    per_seed = "; ".join(f"seed {r['seed']}: KL {r['kl_total']:.3g}, {r['active_units']} active"
                         for r in vanilla)
    collapsed = all(r["kl_total"] < COLLAPSED_KL and r["active_units"] == 0 for r in vanilla)
    claims = [{"claim": f"The vanilla sentence VAE collapses: KL below {COLLAPSED_KL} nats and no "
               "active unit, in every seed", "role": "beyond", "holds": collapsed, "p": None,
               "evidence": per_seed, "statistic": [{"test": "every seed", "rule":
                                                    f"KL < {COLLAPSED_KL} and active units = 0"}],
               "table": table}]
    for arm, runs in groups.items():
        if arm == VANILLA:
            continue
        au = [r["active_units"] for r in runs]
        nll = [_language(r)["nll_per_sentence"] for r in runs]
        cost = mean_sd([a - b for a, b in zip(nll, v_nll, strict=True)])
        claims.append({
            "claim": f"{arm} keeps latent units active: at least one active unit in every seed",
            "role": "beyond", "holds": min(au) >= 1, "p": None,
            "evidence": f"active units per seed {au}; KL {mean_sd([r['kl_total'] for r in runs])}"
                        f" nats; NLL cost against vanilla {cost} nats per sentence",
            "statistic": [{"test": "every seed", "rule": "active units >= 1"}], "table": table})
    return claims, ()


def _curves(groups: dict) -> dict:
    arms = []
    for label, runs in groups.items():
        lines = [RunDir(r["run_dir"]).metrics_lines() for r in runs]
        arms.append({"label": label, "epochs": [x["epoch"] for x in lines[0]],
                     "kl": [[x["eval_kl"] for x in ls] for ls in lines],
                     "mi": [[x["mutual_information"] for x in ls] for ls in lines],
                     "au": [[x["active_units"]["z"] for x in ls] for ls in lines]})
    return {"arms": arms}


def interpolations(groups: dict) -> dict:
    """Greedy decodings along z_t = (1 − t) μ(a) + t μ(b), t = 0 … 1, for two evaluation
    sentences a, b (a seeded pick), by the first seed of vanilla and of the remedy with the most
    active units (seed mean)."""
    best = max((k for k in groups if k != VANILLA),
               key=lambda k: np.mean([r["active_units"] for r in groups[k]]), default=None)
    columns, rows = [], []
    ts = np.linspace(0.0, 1.0, INTERPOLATION_STEPS)
    pair = None
    for arm in [VANILLA, *([best] if best else [])]:
        run = groups[arm][0]
        cfg, model, _ = load_text_run(run["run_dir"])
        ev = load_text(cfg.evaluation_spec())
        if pair is None:
            pair = evaluation_index(ev.n, 2, 1)
            rows = [[f"input a: {ev.decode(ev.tokens[pair[0]])}"],
                    *[[f"t = {t:.2f}"] for t in ts],
                    [f"input b: {ev.decode(ev.tokens[pair[1]])}"]]
        with torch.no_grad():
            mu = model.posteriors(torch.from_numpy(ev.tokens[pair]))[0].mean
            z = torch.stack([(1 - t) * mu[0] + t * mu[1] for t in ts]).to(mu.dtype)
            decoded = model.greedy(z).numpy()
        columns.append(f"{arm} (seed {run['seed']}, {run['active_units']} active)")
        rows[0].append("")
        for i, d in enumerate(decoded):
            rows[i + 1].append(ev.decode(d))
        rows[-1].append("")
    return {"header": ["z", *columns], "rows": rows}


@analysis(RemedyCheck)
def text_remedies(exp, profile, records, cache):
    """The text-remedies analysis: arms → claims (``exp.check``), the table of final metrics
    (summary.md), the curves figure (training.png) and the interpolation table
    (interpolation.md)."""
    groups = _arms(records)
    claims, _ = exp.check(exp, groups, cache)
    table = claims[0]["table"]
    specs = [FigureSpec("summary.md", "sentence_table",
                        {"header": table["header"], "rows": table["rows"],
                         "title": "Final metrics on the evaluation sentences (" +
                                  table["notes"][0] + ")"}),
             FigureSpec("training.png", "training_curves_figure",
                        {**_curves(groups), "title": f"{exp.title} [{profile}]"}),
             FigureSpec("interpolation.md", "sentence_table",
                        {**interpolations(groups),
                         "title": "Greedy decodings along a z-interpolation between two "
                                  "evaluation sentences"})]
    return specs, claims

