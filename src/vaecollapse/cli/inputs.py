"""Option values → library inputs: comma-separated numbers, `predict --sweep` grids, the
hyperparameters of a family, and the data statistics the closed forms need (`predict`,
`advise`). Errors are :class:`UserError`\\ s that name the option."""

from __future__ import annotations

import numpy as np

from vaecollapse import limits as lim
from vaecollapse.errors import UserError
from vaecollapse.family import FAMILIES, Family


def parse_floats(name: str, text: str | None) -> list[float] | None:
    """'0.5' or '0.5,1,2' → floats."""
    if text is None:
        return None
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"{name} takes numbers separated by commas, got {text!r}") from None


def parse_sweep(text: str) -> tuple[str, np.ndarray]:
    """'beta=0.1:5:50' (start:stop:count, linear), 'beta=0.01:10:40:log' (log-spaced) or
    'beta=0.1,0.5,1' (a list) → (parameter, values)."""
    usage = f"--sweep takes PARAM=START:STOP:COUNT[:log] or PARAM=V1,V2,…, got {text!r}"
    name, sep, spec = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not spec:
        raise UserError(usage)
    parts = spec.split(":")
    log = len(parts) == 4 and parts[-1].strip().lower() == "log"
    if log:
        parts = parts[:-1]
    try:
        if len(parts) == 3:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        elif len(parts) == 1:
            values = np.array([float(v) for v in spec.split(",") if v.strip()])
        else:
            raise ValueError
    except ValueError:
        raise UserError(usage) from None
    if len(parts) == 3:
        if count < 2:
            raise UserError("--sweep needs a COUNT of at least 2")
        if count > lim.SWEEP_COUNT[1]:
            raise UserError(f"--sweep COUNT must be at most {lim.SWEEP_COUNT[1]}, got {count}")
        if log and (start <= 0 or stop <= 0):
            raise UserError("a log-spaced --sweep needs START and STOP > 0")
        values = np.geomspace(start, stop, count) if log else np.linspace(start, stop, count)
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise UserError(f"--sweep values must be finite and > 0, got {text!r}")
    return name, values


def hyperparameters(model: str, beta, beta1, beta2, eta_enc, eta_dec, sigma, sigma1,
                    sigma2) -> dict:
    """The hyperparameters of ``model``'s closed forms from its options (an absent β is 1);
    an option of the other families is an error."""
    from vaecollapse.config import hyperparameter_options  # lazy: start-up

    hp = hyperparameter_options(model, dict(beta=beta, beta1=beta1, beta2=beta2, eta_enc=eta_enc,
                                            eta_dec=eta_dec, sigma=sigma, sigma1=sigma1,
                                            sigma2=sigma2),
                                name=lambda n: "--" + n.replace("_", "-"))
    if "sigma" in hp:  # one value or one per latent dimension
        hp["sigma"] = parse_floats("--sigma", hp["sigma"])
    from vaecollapse.theory.validation import without_default_shape  # lazy: start-up

    return without_default_shape(hp)


def hierarchy_options(model: str, levels, betas, latent_dims, sigmas, inference) -> dict:
    """The numerical-theory options of `predict` (theory/hierarchy/) as hyperparameters."""
    given = {"--levels": levels, "--betas": betas, "--latent-dims": latent_dims,
             "--sigmas": sigmas, "--inference": inference}
    if not Family.parse(model).hierarchical:
        named = [k for k, v in given.items() if v is not None]
        if named:
            raise UserError(f"{', '.join(named)} apply to the MHVAE (--model mhvae) only")
        return {}
    out: dict = {}
    if levels is not None:
        out["levels"] = levels
    if inference is not None:
        out["inference"] = inference.strip().lower()
    if betas is not None:
        out["betas"] = parse_floats("--betas", betas)
    if latent_dims is not None:
        try:
            out["latent_dims"] = [int(t) for t in latent_dims.split(",") if t.strip()]
        except ValueError:
            raise UserError(f"--latent-dims takes whole numbers separated by commas, got "
                            f"{latent_dims!r}") from None
    if sigmas is not None:
        vals: list = []
        for t in (t.strip() for t in sigmas.split(",") if t.strip()):
            if t.lower() in ("learn", "learnable", "-"):
                vals.append(None)
            else:
                try:
                    vals.append(float(t))
                except ValueError:
                    raise UserError(f"--sigmas takes numbers or 'learn', got {t!r}") from None
        out["sigmas"] = vals
    return out


def check_model(model: str) -> None:
    """``model`` is one of the families (vae, cvae, mhvae)."""
    if model not in FAMILIES:
        raise UserError(f"unknown --model {model!r}: choose one of {', '.join(FAMILIES)}")


def theory_statistics(model: str, data: str, centre: bool):
    """The data spec loaded, and its second moments for the closed forms of ``model``
    (:func:`vaecollapse.theory.statistics`; the CVAE's need the targets y): ``(dataset,
    statistics)``."""
    from vaecollapse.data import load  # lazy: start-up
    from vaecollapse.theory import statistics  # lazy: start-up

    ds = load(data)
    family = Family.parse(model)
    family.require_target(ds.y is not None, data)
    return ds, statistics(ds.x, ds.y if family.conditional else None, model=family, centre=centre)
