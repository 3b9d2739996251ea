"""The JSON output contracts: versioned documents with published JSON Schemas.

Every JSON document the tool writes for other programs — ``predict --json``, ``diagnose --json``
(and a run's diagnostics.json), ``advise --json`` and the claims.json of ``reproduce`` — carries
``"vaecollapse_version"`` (the package version that wrote it) and ``"schema_version"``
(:data:`~vaecollapse.files.versioning.OUTPUT_SCHEMA_VERSION`, raised on any change a reader could
trip on), added by :func:`~vaecollapse.files.versioning.versioned` where the document is built.
The schemas (JSON Schema draft 2020-12) ship as package data in
``vaecollapse/output/schemas/NAME.schema.json`` (:func:`json_schema`); claims.json is a list, so
each of its claims carries the two keys. This module builds the predict and advise documents;
diagnose's is built by :func:`vaecollapse.diagnostics.diagnose`, the claims by
:mod:`vaecollapse.experiments.runner`.

The `predict --json` contract (schemas/predict.schema.json), after the two version keys:

    {"model", "theorem", "data": {"spec", "n", "dim_x", "dim_y", "rank"},
     "hyperparameters": {...}, "theta_scale": "std" | "variance",
     "modes": [{"index", "latent_index", "theta", "lambda", "omega", "sigma", "kl", "collapsed",
                "critical_beta", "critical_eta_dec"}],
     "n_collapsed", "next_collapse": {"parameter", "value"} | null, "optimal_loss",
     "solver": "closed-form" | "numerical", "bounded": true}

Numerical hierarchies (docs/numerical-theory.md) add "levels", "notes" and per-level mode keys
(lambda_z<l>, omega_z<l>, sigma<l>, kl_z<l>, collapsed_z<l>, critical_beta<l>), "critical" (the
parameter of the critical column: beta<l> or eta_dec) and per mode "critical_direction" ("above":
collapsed at and above the critical value, "below": at and below, null: none). An unbounded
setting writes only {"model", "data", "hyperparameters", "solver", "bounded": false, "reason",
"modes": null, "optimal_loss": null} (and `predict` exits with code 2); a phase diagram
(``--sweep``) writes {"model", "data", "hyperparameters", "sweep": {...}, "solver"}.

MHVAE modes also carry "sigma2", "kl_z1", "collapsed_z1", "collapsed_z2", "critical_beta2"
("sigma" is σ1, "kl" the z2 KL, "collapsed" = "collapsed_z2"). Values are plain JSON numbers;
null where a quantity does not exist (e.g. no finite critical β).
"""

from __future__ import annotations

import json
import shlex
from importlib import resources
from typing import Any

import numpy as np

from vaecollapse.family import Family
from vaecollapse.files.atomic import jsonable
from vaecollapse.files.versioning import versioned
from vaecollapse.theory import Prediction
from vaecollapse.theory.advice import LEVERS, Advice

#: The published schemas: vaecollapse/output/schemas/NAME.schema.json.
SCHEMAS = ("predict", "diagnose", "advise", "claims")


def json_schema(name: str) -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of one document, ``name`` in :data:`SCHEMAS`."""
    if name not in SCHEMAS:
        raise ValueError(f"unknown schema {name!r}: choose one of {', '.join(SCHEMAS)}")
    text = resources.files("vaecollapse.output").joinpath("schemas", f"{name}.schema.json"
                                                          ).read_text(encoding="utf-8")
    return json.loads(text)


VAE_MODE_KEYS = ("theta", "lambda", "omega", "sigma", "kl", "collapsed", "critical_beta",
                 "critical_eta_dec")
MHVAE_MODE_KEYS = ("theta", "lambda", "omega", "sigma", "sigma2", "kl", "kl_z1", "collapsed",
                   "collapsed_z1", "collapsed_z2", "critical_beta", "critical_beta2",
                   "critical_eta_dec")


def data_info(spec: str, n: int, dim_x: int, dim_y: int, rank: int) -> dict[str, Any]:
    return {"spec": spec, "n": int(n), "dim_x": int(dim_x), "dim_y": int(dim_y),
            "rank": int(rank)}


def mode_rows(pred: Prediction) -> list[dict[str, Any]]:
    """One dict per latent mode, keys in the contract's order."""
    keys = MHVAE_MODE_KEYS if pred.model.hierarchical else VAE_MODE_KEYS
    if getattr(pred, "levels", None):  # numerical hierarchy: every level's columns too
        keys = keys + tuple(k for k in pred.modes if k not in keys and k != "latent_index")
    if getattr(pred, "solver", "") == "pilot-linearisation":  # the non-linear theory's own
        keys = keys + ("inactive", "strength", "readability")
    columns = {"theta": pred.theta, **pred.modes}
    rows = []
    for i in range(pred.latent_dim):
        row: dict[str, Any] = {"index": i, "latent_index": int(pred.modes["latent_index"][i])}
        for k in keys:
            v = columns[k][i]
            row[k] = (v if v is None or isinstance(v, str)  # critical_direction
                      else bool(v) if isinstance(v, np.bool_ | bool) else float(v))
        rows.append(row)
    return rows


def prediction_to_dict(pred: Prediction, data: dict[str, Any]) -> dict[str, Any]:
    """The JSON document for one prediction (NaN/inf already mapped to null)."""
    nxt = pred.next_collapse()
    return jsonable(versioned({
        "model": pred.model,
        "theorem": pred.theorem,
        "data": data,
        "hyperparameters": pred.hyperparameters,
        "theta_scale": ("variance" if getattr(pred, "solver", "") == "pilot-linearisation"
                        else pred.model.theta_scale),
        "modes": mode_rows(pred),
        "n_collapsed": pred.n_collapsed,
        "next_collapse": None if nxt is None else {"parameter": pred.critical_parameter,
                                                   "value": nxt},
        "optimal_loss": pred.optimal_loss,
        "solver": getattr(pred, "solver", "closed-form"),
        "bounded": getattr(pred, "bounded", True),
        **({"levels": pred.levels, "critical": pred.critical_parameter, "notes": pred.notes}
           if getattr(pred, "levels", None) else {}),
        **({"notes": pred.notes} if getattr(pred, "solver", "") == "pilot-linearisation" else {}),
    }))


def sweep_to_dict(preds: list[Prediction], parameter: str, values, data: dict[str, Any],
                  base_hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The JSON document for a phase diagram (``predict --sweep``)."""
    return jsonable(versioned({
        "model": preds[0].model if preds else None,
        "data": data,
        "hyperparameters": base_hyperparameters,
        "sweep": {
            "parameter": parameter,
            "values": [float(v) for v in values],
            "n_collapsed": [p.n_collapsed for p in preds],
            "optimal_loss": [p.optimal_loss for p in preds],
            "collapsed": [[bool(c) for c in p.modes["collapsed"]] for p in preds],
            "bounded": [bool(getattr(p, "bounded", True)) for p in preds],
        },
        "solver": getattr(preds[0], "solver", "closed-form") if preds else None,
    }))


def unbounded_to_dict(hyperparameters: dict[str, Any], reason: str,
                      data: dict[str, Any]) -> dict[str, Any]:
    """The JSON document for a setting whose loss is unbounded below (no prediction exists)."""
    return jsonable(versioned({
        "model": Family.MHVAE, "data": data, "hyperparameters": hyperparameters,
        "solver": "numerical", "bounded": False, "reason": reason, "modes": None,
        "optimal_loss": None}))


# ------------------------------------------------------------------------------ advise


def train_line(model: str, data: str, latent_dim: int, hp: dict, backbone: str = "linear",
               options: dict[str, Any] | None = None) -> str:
    """A `vaecollapse train` command for these hyperparameters (one --sigma: train takes a
    single fixed std) and any further `train` ``options`` by name (e.g. hidden, epochs)."""
    args = ["vaecollapse", "train", "--model", model, "--backbone", backbone, "--data", data,
            "--latent-dim", str(latent_dim)]
    for k, v in (options or {}).items():
        if v is not None:
            args += ["--" + k.replace("_", "-"), f"{v:.6g}" if isinstance(v, float) else str(v)]
    names = (("beta1", "beta2", "eta_enc", "eta_dec", "sigma1", "sigma2")
             if Family.parse(model).hierarchical else ("beta", "eta_enc", "eta_dec", "sigma"))
    for k in names:
        v = hp.get(k)
        if v is None:
            continue
        if isinstance(v, list | tuple | np.ndarray):
            if not np.allclose(v, v[0], rtol=1e-12, atol=0):
                continue  # train has one --sigma for all dimensions
            v = v[0]
        args += ["--" + k.replace("_", "-"), f"{float(v):.6g}"]
    args += ["--out", f"runs/advised-{model}"]
    return " ".join(shlex.quote(a) for a in args)


def recommendation_to_dict(advice: Advice, data: str, backbone: str,
                           train_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The recommendation as the advise document holds it, with the `vaecollapse train` line
    that trains it (``train``; null without a recommendation) and, when no lever has a finite
    threshold, ``why``."""
    rec = advice.recommendation
    out: dict[str, Any] = {
        "lever": rec.lever, "parameter": rec.parameter, "value": rec.value,
        "margin": rec.margin, "active_modes": rec.active_modes,
        "active_modes_now": rec.active_modes_now, "hyperparameters": rec.hyperparameters,
        "train": (None if rec.hyperparameters is None else
                  train_line(advice.model, data, advice.latent_dim, rec.hyperparameters, backbone,
                             train_options)),
        "null_reasons": rec.null_reasons}
    if rec.why is not None:
        out["why"] = rec.why
    return out


def advice_to_dict(advice: Advice, data: str = "DATA", backbone: str = "linear",
                   train_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``advise --json`` document: model, keep, the four levers (null where absent), the
    limiting mode and the recommendation (whose ``null_reasons`` say why a lever is null), after
    the version keys (schemas/advise.schema.json)."""
    out: dict[str, Any] = versioned({"model": advice.model, "keep": advice.keep})
    for name in LEVERS:
        out[name] = advice.levers[name].value
    out["limiting_mode"] = advice.limiting_mode
    out["recommendation"] = recommendation_to_dict(advice, data, backbone, train_options)
    return out
