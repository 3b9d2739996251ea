"""The scalar names the integrations log (the Lightning callback, ``train --tensorboard``): one
home, so both write the same tags."""

from __future__ import annotations

from typing import Any


def collapse_scalars(level: dict[str, Any]) -> dict[str, float]:
    """The logged names of one level's measures (Lightning callback, ``train --tensorboard``):
    ``collapse/<level>/n_collapsed``, ``…/kl_total``, ``…/active_units``, ``…/active_modes`` and
    ``…/kl_<i>`` per dimension. ``level`` is a ``levels`` entry (``collapsed_dims``) or carries
    ``n_collapsed`` directly; absent measures are left out."""
    prefix = f"collapse/{level['name']}/"
    out: dict[str, float] = {}
    if "n_collapsed" in level:
        out[prefix + "n_collapsed"] = float(level["n_collapsed"])
    elif "collapsed_dims" in level:
        out[prefix + "n_collapsed"] = float(len(level["collapsed_dims"]))
    kl = [float(v) for v in level["kl_per_dim"]]
    out[prefix + "kl_total"] = float(level.get("kl_total", sum(kl)))
    for key in ("active_units", "active_modes"):
        if level.get(key) is not None:
            out[prefix + key] = float(level[key])
    out.update({f"{prefix}kl_{i}": v for i, v in enumerate(kl)})
    return out
