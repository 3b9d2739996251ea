"""Run the paper's experiments: train every variant through the sweep runner, read the
diagnostics, have the analysis judge the claims and say which figures to draw (with the
closed-form prediction overlaid), and write the experiment's directory. The figures are drawn by
the ``draw`` function the caller passes (:func:`vaecollapse.output.experiment_figures.draw`: the
output layer draws, this layer computes).

Every grid point is trained with several seeds (``Experiment.n_seeds``: 3 in the quick profile,
5 in the paper's), all evaluated on the same seeded random sample of the evaluation data — the
data's test part where the paper used the test set (``Experiment.test_eval``).

Each experiment writes DIR/NAME/: the figure(s) (PNG, seed means with bands), ``results.csv``
(one row per run, i.e. per grid point and seed), ``meta.json`` (title, profile, data, settings,
versions, run time, notes) and, last, ``claims.json`` — a list of ``{"experiment", "claim",
"holds": true|false|null, "evidence", "statistic", "table"}`` (null: undecided; ``statistic``:
the test behind the verdict, see :mod:`vaecollapse.experiments.significance`; ``table``: the numbers
per grid point, mean ± sd over seeds beside the theory), and its training runs as a sweep under
``runs/`` (:class:`ExperimentDir`). A finished experiment (claims.json present) is skipped unless
``force``; its runs resume from their checkpoints after an interruption.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaecollapse.config import HYPERPARAMETERS
from vaecollapse.config.text_settings import MODEL as TEXT_MODEL
from vaecollapse.errors import UserError
from vaecollapse.experiments.claims import PREDICTIONS, theory_agreement
from vaecollapse.experiments.definition import Computed, FigureSpec, value_name
from vaecollapse.experiments.registry import PROFILES, REGISTRY, Experiment, Variant
from vaecollapse.experiments.significance import ALPHA, holm
from vaecollapse.files.atomic import atomic_write_json, atomic_write_text
from vaecollapse.files.lock import locked, remove_stale_temps
from vaecollapse.files.records import read_json
from vaecollapse.files.versioning import versioned
from vaecollapse.runs.pilot import nonlinear_collapse
from vaecollapse.runs.predicted import TheoryCache, predicted_collapse
from vaecollapse.runs.rundir import RunDir
from vaecollapse.runs.runtime import code_revision, versions
from vaecollapse.runs.sweep import check_executor, run_variants

#: draws one figure an analysis asks for into a directory, returns its file name
#: (:func:`vaecollapse.output.experiment_figures.draw`)
Drawer = Callable[[FigureSpec, Path], str]

RUNNER_KEYS = ("grid", "instances")


@dataclass(frozen=True)
class ExperimentDir:
    """OUT/NAME, one experiment's outputs: its training runs as a sweep in ``runs/`` (laid out by
    :mod:`vaecollapse.runs.sweep`: sweep.json, index.csv and a directory per run, found through the
    index's ``run_dir``), the figures, results.csv, meta.json and, written last, claims.json."""

    path: Path

    @property
    def sweep(self) -> Path:
        return self.path / "runs"

    @property
    def results(self) -> Path:
        return self.path / "results.csv"

    @property
    def meta(self) -> Path:
        return self.path / "meta.json"

    @property
    def claims(self) -> Path:
        return self.path / "claims.json"

    def run_dirs(self, rows: list[dict[str, str]]) -> dict[str, Path]:
        """Run name → its directory, from the sweep index's rows."""
        return {row["run"]: self.sweep / row["run_dir"] for row in rows}


# ------------------------------------------------------------------------------ variants


def variant_options(exp: Experiment, profile: str, options: dict[str, Any],
                    data_root: str | None = None) -> dict[str, Any]:
    """Full `train` options of one run: the experiment's base and profile, the series' options,
    the swept values (``options``), evaluation settings, and — for non-linear experiments — the
    paper's nominal β halved into the true β-ELBO weight."""
    opts = {k: v for k, v in exp.options(profile).items() if k not in RUNNER_KEYS}
    opts.update(options)
    template = exp.data_template
    for key in ("digit", "corr"):
        if key in opts:
            opts["data"] = template.format(**{key: opts.pop(key)})
    if "eta" in opts:
        opts["eta_enc"] = opts["eta_dec"] = opts.pop("eta")
    if data_root and opts.get("data", "").startswith("mnist"):
        spec = opts["data"]
        opts["data"] = spec.replace("mnist", f"mnist:root={data_root}", 1) if ":" not in spec else \
            spec.replace("mnist:", f"mnist:root={data_root},", 1)
    if exp.test_eval:
        opts["eval_data"] = held_out_part(opts["data"])
    if exp.nominal_beta and opts.get("backbone") != "linear":
        cls = HYPERPARAMETERS[opts.get("model", "vae")]
        for b in cls.weight_names(opts.get("levels", 2)):
            opts[b] = float(opts.get(b, 1.0)) / 2
    opts["epsilon"], opts["delta"] = exp.epsilon, exp.delta
    return opts


def held_out_part(spec: str) -> str:
    """The test part of an image data spec (``mnist:split=quarter`` → ``…,part=test``)."""
    if "part=" in spec:
        return spec.replace("part=train", "part=test")
    return f"{spec},part=test" if ":" in spec else f"{spec}:part=test"


def points(exp: Experiment, profile: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """The experiment's grid points as (name, series or None, swept values): the β1 × β2 grid of
    the profile's ``grid`` option, else every value of every series, else one point
    ("trained")."""
    grid = exp.options(profile).get("grid")
    if grid is not None:
        return [(f"beta1={b1:g}_beta2={b2:g}", None, {"beta1": b1, "beta2": b2})
                for b1 in grid for b2 in grid]
    if not exp.series:
        return [("trained", None, {})]
    return [(f"s{i}-{s.param}={value_name(v)}", s, {s.param: v})
            for i, s in enumerate(exp.series) for v in s.values]


def resolved(exp: Experiment, profile: str, cache: TheoryCache,
             data_root: str | None = None) -> Experiment:
    """``exp`` with every :class:`~vaecollapse.experiments.definition.Computed` series value computed
    on its runs' data (e.g. advise-check's advised β), so that run names, tables and meta.json
    hold numbers."""
    series = []
    for s in exp.series:
        if any(isinstance(v, Computed) for v in s.values):
            options = variant_options(exp, profile, dict(s.options_for(profile)), data_root)
            s = dataclasses.replace(s, values=tuple(v.of(options, cache) if isinstance(v, Computed)
                                                    else v for v in s.values))
        series.append(s)
    return dataclasses.replace(exp, series=tuple(series))


def variants(exp: Experiment, profile: str, data_root: str | None = None) -> list[Variant]:
    """Every run of the experiment: each grid point × seeds 0 … n_seeds − 1 (its Computed values
    already :func:`resolved`)."""
    if any(isinstance(v, Computed) for s in exp.series for v in s.values):
        raise ValueError(f"{exp.name}: compute its Computed series values first (resolved)")
    base_seed = int(exp.options(profile).get("seed", 0))
    out = []
    for name, s, values in points(exp, profile):
        series_options = s.options_for(profile) if s else {}
        opts = variant_options(exp, profile, {**series_options, **values}, data_root)
        out += [Variant(name=f"{name}_seed={seed}", series=s, values=values, seed=seed,
                        options={**opts, "seed": seed})
                for seed in range(base_seed, base_seed + exp.n_seeds(profile))]
    return out


# ------------------------------------------------------------------------------ running


def run_experiment(name: str, profile: str, out: str | Path, *, draw: Drawer,
                   jobs: int | None = None, force: bool = False, data_root: str | None = None,
                   executor: str = "local", on_update=None) -> list[dict[str, Any]]:
    """Run one experiment into ``out/name`` (skipped when finished, unless ``force``); returns
    its claims. ``draw``: draws the analysis's figures (:data:`Drawer`);
    ``on_update(done, total, failed)``: progress of its training runs."""
    if name not in REGISTRY:
        raise UserError(f"unknown experiment {name!r}: see `vaecollapse reproduce --list`")
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    exp = REGISTRY[name]
    d = ExperimentDir(Path(out) / name)
    if d.claims.exists() and not force:
        return finished_claims(d.path)
    t0 = time.perf_counter()
    cache = TheoryCache()
    exp = resolved(exp, profile, cache, data_root)
    runs = variants(exp, profile, data_root)
    rows = run_variants({r.name: r.options for r in runs}, d.sweep, jobs=jobs, force=force,
                        executor=executor, on_update=on_update)
    failed = [r for r in rows if r["status"] != "done"]
    if failed:
        raise UserError(f"{name}: {len(failed)} run(s) failed, e.g. {failed[0]['run']}: "
                        f"{failed[0]['error']}")
    run_dirs = d.run_dirs(rows)
    records = [_record(run_dirs[r.name], r) for r in runs]
    epochs = exp.options(profile).get("epochs", 0)
    for rec in records:
        if rec["options"].get("model") == TEXT_MODEL:  # no theory for autoregressive decoders
            rec["predicted"], rec["predicted_kind"], rec["predicted_nonlinear"] = None, "", None
            continue
        rec["predicted"], rec["predicted_kind"] = predicted_collapse(rec["options"], cache)
        rec["predicted_nonlinear"] = (
            nonlinear_collapse(rec["options"], cache)
            if rec["options"].get("backbone", "mlp") != "linear" and epochs >= exp.decide_epochs
            else None)
    specs, claims = exp.analysis(exp, profile, records, cache)
    figures = [draw(spec, d.path) for spec in specs]
    for kind in PREDICTIONS:
        agreement = theory_agreement(exp, records, kind)
        if agreement is not None:
            claims.append(agreement)
    if epochs < exp.decide_epochs:
        claims = [{**c, "holds": None, "evidence": c["evidence"] + f" — {epochs} epochs are too "
                   f"few to decide (at least {exp.decide_epochs} needed)"} for c in claims]
    _write_csv(d.results, records)
    notes = []
    if exp.nominal_beta:
        notes.append("β, β1, β2 are the paper's nominal values; non-linear models are trained "
                     "with half of them as β-ELBO weights (the paper's non-linear scripts "
                     "minimised ‖y − μ‖²/η_dec² + β·KL); linear models use β as given.")
    if exp.note:
        notes.append(exp.note)
    meta = {"name": name, "title": exp.title, "profile": profile,
            "data": sorted({r["options"]["data"] for r in records}),
            "eval_data": sorted({r["options"].get("eval_data") or r["options"]["data"]
                                 for r in records}),
            "data_root": data_root, "seeds": exp.n_seeds(profile),
            "settings": {"base": exp.options(profile),
                         "series": [{"label": s.label, "param": s.param, "values": list(s.values),
                                     "options": s.options_for(profile)}
                                    for s in exp.series],
                         "epsilon": exp.epsilon, "delta": exp.delta},
            "seconds": time.perf_counter() - t0,
            "training_seconds": sum(line["seconds"] for r in records
                                    for line in RunDir(r["run_dir"]).metrics_lines()),
            "versions": versions(), "code": code_revision(),
            "figures": figures, "tables": ["results.csv"], "notes": notes}
    atomic_write_json(d.meta, meta)
    claims = [versioned({"experiment": name, **c}) for c in claims]
    atomic_write_json(d.claims, claims)
    return claims


def finished_claims(d: Path) -> list[dict[str, Any]]:
    """The claims of a finished experiment directory ``d``, checked (a list of {claim, holds,
    evidence} objects)."""
    path = ExperimentDir(d).claims
    claims = read_json(path, "claims file")
    if not (isinstance(claims, list) and all(isinstance(c, dict) and {"claim", "holds",
                                              "evidence"} <= set(c) for c in claims)):
        raise UserError(f"{path} is not a valid claims file (a list of "
                        "{claim, holds, evidence} objects); rerun with --force")
    return claims


def run_claims(out: str | Path, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Every finished experiment's claims in ``out`` (registry order; ``names``: these only),
    each with the paper family's multiple-testing view: over the claims of role ``paper`` that
    carry a p-value, Holm's adjusted p (``holm_p``) and whether the claim still holds at ALPHA on
    it (``holds_holm``: false when it held on its own p but not on Holm's, null when undecided);
    the other claims get ``holm_p`` null and keep their verdict as ``holds_holm`` (they are no
    test of the family, or no test at all)."""
    claims = []
    for name in names or list(REGISTRY):
        if ExperimentDir(Path(out) / name).claims.exists():
            claims += [dict(c) for c in finished_claims(Path(out) / name)]
    family = [c for c in claims if c.get("role", "paper") == "paper" and c.get("p") is not None]
    for c, q in zip(family, holm([c["p"] for c in family]), strict=True):
        c["holm_p"] = q
        c["holds_holm"] = None if c["holds"] is None else bool(c["holds"] and q <= ALPHA + 1e-12)
    for c in claims:
        c.setdefault("holm_p", None)
        c.setdefault("holds_holm", c["holds"])
    return claims


def _record(run_dir: Path, v: Variant) -> dict:
    """One run's row of the analyses: its grid point and options, and its final diagnostics
    (the last latent level's; the log-likelihood as :meth:`RunDir.final_metrics` reads it)."""
    run = RunDir(run_dir)
    diag = run.read_diagnostics()
    last = diag["levels"][-1]
    ll = run.final_metrics()["log_likelihood"]
    return {"run": v.name, "series": v.series.label if v.series else "", "values": v.values,
            "seed": v.seed, "options": v.options, "run_dir": str(run_dir), "level": last["name"],
            "latent_dim": len(last["kl_per_dim"]), "n_collapsed": diag["n_collapsed"],
            "kl_total": last["kl_total"], "active_units": last["active_units"],
            "active_modes": last.get("active_modes"),
            "active_units_kl_fraction": last["active_units_kl_fraction"],
            "nll": None if ll is None else -ll,
            "eps": diag["eps_delta"]["eps"], "collapsed_fraction": diag["eps_delta"]["collapsed_fraction"],
            "theory": diag.get("theory")}


def _write_csv(path: Path, records: list[dict]) -> None:
    cols = ["run", "series", "values", "seed", "level", "latent_dim", "n_collapsed", "predicted",
            "predicted_kind", "predicted_nonlinear", "kl_total", "nll", "active_units", "active_modes",
            "active_units_kl_fraction"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in records:
        w.writerow([json.dumps(r[c]) if c == "values" else
                    (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c]) for c in cols])
    atomic_write_text(path, buf.getvalue())


def reproduce(names: list[str], profile: str, out: str | Path, *, draw: Drawer,
              jobs: int | None = None, force: bool = False, data_root: str | None = None,
              executor: str = "local", on_start=None, on_update=None
              ) -> dict[str, list[dict[str, Any]]]:
    """Run the named experiments (``["all"]`` for every one) in registry order, their figures
    drawn by ``draw``; ``on_start(name)`` before each, ``on_update(done, total, failed)`` as its
    training runs finish."""
    if names == ["all"]:
        names = list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UserError(f"unknown experiment(s) {', '.join(unknown)}: see `vaecollapse reproduce --list`")
    check_executor(executor, jobs)
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    for name in names:  # finished experiments' claims are read back: check them first
        if ExperimentDir(Path(out) / name).claims.exists() and not force:
            finished_claims(Path(out) / name)
    results = {}
    with locked(out, "reproduction directory"):  # one reproduction writes `out` at a time
        for name in names:
            remove_stale_temps(Path(out) / name)  # left by a killed earlier reproduction
            if on_start:
                on_start(name)
            results[name] = run_experiment(name, profile, out, draw=draw, jobs=jobs, force=force,
                                           data_root=data_root, executor=executor,
                                           on_update=on_update)
        atomic_write_json(Path(out) / "claims.json", run_claims(out))  # the whole run's
    return results
