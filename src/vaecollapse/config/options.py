"""A run's :class:`~vaecollapse.config.TrainConfig` from options (the `train` command's, a
sweep's, an experiment's): the data spec is loaded once, to size the model, and handed on."""

from __future__ import annotations

from vaecollapse.config.hyperparameters import HYPERPARAMETER_NAMES, hyperparameters
from vaecollapse.config.settings import ModelConfig, TrainConfig
from vaecollapse.data import Dataset, load
from vaecollapse.errors import UserError
from vaecollapse.family import Family

# ------------------------------------------------------------------------------ from options


def load_dataset(spec: str, datasets: dict[str, Dataset] | None = None) -> Dataset:
    """The data set of ``spec``, loaded once per ``datasets`` (a dict shared by the steps of one
    run or one sweep check: spec → Dataset); without it, loaded afresh."""
    if datasets is None:
        return load(spec)
    if spec not in datasets:
        datasets[spec] = load(spec)
    return datasets[spec]


def run_dataset(spec: str, family: str, datasets: dict[str, Dataset] | None = None) -> Dataset:
    """The data set of ``spec`` for ``family`` (the CVAE needs its target y)."""
    ds = load_dataset(spec, datasets)
    Family.parse(family).require_target(ds.y is not None, spec)
    return ds


def y_shape_for(split: str | None) -> list[int] | None:
    """Image shape of the CVAE target: the three quarters as channels, or the bottom half."""
    return {"quarter": [3, 14, 14], "half": [14, 28]}.get(split or "")


def model_config_for(dataset, family: str, backbone: str, latent_dim: int, *, hidden=(256,),
                     latent_dims=None, **hyperparameter_values) -> ModelConfig:
    """A ModelConfig whose input sizes and image shapes match ``dataset``; hyperparameters by
    name (flat)."""
    cvae = Family.parse(family).conditional
    return ModelConfig.of(family, backbone, dataset.dim_x, latent_dim,
                          dim_y=dataset.dim_y if cvae else 0, hidden=hidden,
                          x_shape=list(dataset.x_shape) if dataset.x_shape else None,
                          y_shape=y_shape_for(dataset.split) if cvae else None,
                          latent_dims=latent_dims, **hyperparameter_values)


def parse_sizes(name: str, sizes) -> list[int] | None:
    """'256' or '256,128' (or a list) → whole numbers >= 1 (None stays None)."""
    if sizes is None:
        return None
    try:
        if isinstance(sizes, list | tuple):
            out = [int(h) for h in sizes if float(h) == int(h)]
            if len(out) != len(sizes):
                raise ValueError
        else:
            out = [int(t) for t in str(sizes).split(",") if t.strip()]
    except (TypeError, ValueError):
        raise UserError(f"{name} takes sizes separated by commas, got {sizes!r}") from None
    if not out or any(h < 1 for h in out):
        raise UserError(f"{name} sizes must be whole numbers >= 1, got {sizes!r}")
    return out


def _values(name: str, given, learnable: bool) -> list:
    """'1,2' / '0.5,learn' / a number / a list → numbers (None for 'learn' where allowed)."""
    items = given if isinstance(given, list | tuple) else str(given).split(",")
    out = []
    for t in items:
        if isinstance(t, str):
            t = t.strip()
            if not t:
                continue
            if learnable and t.lower() in ("learn", "learnable", "-"):
                out.append(None)
                continue
        try:
            out.append(None if t is None and learnable else float(t))
        except (TypeError, ValueError):
            raise UserError(f"{name} takes numbers separated by commas"
                            f"{' (or learn)' if learnable else ''}, got {given!r}") from None
    if not out:
        raise UserError(f"{name} needs at least one value")
    return out


def per_level(model: str, hp_values: dict, betas=None, sigmas=None) -> dict:
    """The MHVAE's per-level hyperparameters beta<l> / sigma<l> from ``betas`` / ``sigmas``
    lists ('1,2,4'; 'learn' for a learnable σ; one value: every level), for the levels that
    ``hp_values`` does not set itself (an explicit --beta1 wins)."""
    if betas is None and sigmas is None:
        return {}
    if not Family.parse(model).hierarchical:
        raise UserError("betas and sigmas (values per level) are for the MHVAE")
    levels = hp_values.get("levels") or 2
    out = {}
    for name, given, learnable in (("beta", betas, False), ("sigma", sigmas, True)):
        if given is None:
            continue
        vals = _values(f"{name}s", given, learnable)
        if len(vals) == 1:
            vals = vals * int(levels)
        if len(vals) != levels:
            raise UserError(f"{name}s takes one value or one per level ({levels}), got {len(vals)}")
        for k, v in enumerate(vals, start=1):
            if hp_values.get(f"{name}{k}") is None:
                out[f"{name}{k}"] = v
    return out


def parse_hidden(hidden) -> list[int]:
    """'256' or '256,128' (or a list) → hidden layer sizes."""
    return parse_sizes("hidden", hidden)


EVALUATION_OPTIONS = ("eval_points", "eval_data", "eval_seed", "epsilon", "delta",
                      "diagnostics_is_samples")


def config_from_options(*, model: str = "vae", backbone: str = "mlp", data: str = "mnist",
                        latent_dim: int = 16, hidden="256", epochs: int | None = None,
                        lr: float = 1e-3, schedule: str = "constant", batch_size: int = 128,
                        clip=None, seed: int = 0, device: str = "auto", kl_warmup: int = 0,
                        kl_cycles: int = 0, kl_cycle_ratio: float = 0.5, free_bits=None,
                        latent_dims=None, betas=None, sigmas=None, fast_step: str = "auto",
                        datasets: dict | None = None, **options) -> TrainConfig:
    """A validated TrainConfig from the `train` command's options (one mapping for the CLI, sweeps
    and the paper's experiments). Loads the data spec to size the model (into ``datasets``, when
    given, so that the run reuses it). ``options`` holds the family's hyperparameters by name
    (:data:`HYPERPARAMETERS`; None = default) and may set TrainConfig's evaluation settings
    (:data:`EVALUATION_OPTIONS`). ``latent_dims``: the MHVAE's size per level ('16,8,4' or a
    list; its first entry is z1's, so it replaces ``latent_dim``); ``betas`` / ``sigmas``: its
    β and σ per level (see :func:`per_level`); ``fast_step``: ``auto`` or ``off``
    (:data:`~vaecollapse.config.settings.FAST_STEPS`)."""
    Family.parse(model)
    hp_values = {k: options.pop(k) for k in HYPERPARAMETER_NAMES if k in options}
    hp_values.update(per_level(model, hp_values, betas, sigmas))
    hp = hyperparameters(model, **hp_values)
    unknown = set(options) - set(EVALUATION_OPTIONS)
    if unknown:
        raise UserError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    ds = run_dataset(data, model, datasets)
    if options.get("eval_data"):
        ev = run_dataset(options["eval_data"], model, datasets)
        if (ds.dim_x, ds.dim_y) != (ev.dim_x, ev.dim_y):
            raise UserError(f"the evaluation data {ev.spec!r} has dimensions (x {ev.dim_x}, "
                            f"y {ev.dim_y}) unlike the training data {ds.spec!r} (x {ds.dim_x}, "
                            f"y {ds.dim_y})")
    dims = parse_sizes("latent_dims", latent_dims)
    if dims is not None:
        latent_dim = dims[0]
    mcfg = model_config_for(ds, model, backbone, int(latent_dim), hidden=parse_hidden(hidden),
                            latent_dims=dims, **hp.to_dict())
    return TrainConfig(data=data, model=mcfg, epochs=20 if epochs is None else int(epochs), lr=lr,
                       schedule=schedule, batch_size=int(batch_size), clip=clip, seed=int(seed),
                       device=device, kl_warmup=int(kl_warmup), kl_cycles=int(kl_cycles),
                       kl_cycle_ratio=float(kl_cycle_ratio),
                       free_bits=None if free_bits is None else float(free_bits),
                       fast_step=fast_step, **options).validate()
