"""The version stamp of every JSON document written for other programs.

``predict --json``, ``diagnose --json`` (and a run's diagnostics.json), ``advise --json`` and the
claims.json of ``reproduce`` start with ``"vaecollapse_version"`` (the package version that wrote
them) and ``"schema_version"`` (:data:`OUTPUT_SCHEMA_VERSION`, raised on any change a reader could
trip on). Their JSON Schemas are in :mod:`vaecollapse.output.documents`. (A run's config.json has
its own layout version, :data:`vaecollapse.config.settings.CONFIG_SCHEMA_VERSION`.)
"""

from __future__ import annotations

from typing import Any

from vaecollapse import __version__

#: Version of the JSON output contracts (all documents share one number).
#: 2: claims carry role and p (and a whole run's claims.json holm_p, holds_holm)
#: 3: diagnose's levels carry unit, group_active and near_deterministic, active_modes may be null
#:    (a level of more than 2048 units), and the document has active_groups; the other
#:    documents are unchanged (a claims reader takes 2 and 3 alike)
OUTPUT_SCHEMA_VERSION = 3


def versioned(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` preceded by the package version and :data:`OUTPUT_SCHEMA_VERSION`."""
    return {"vaecollapse_version": __version__, "schema_version": OUTPUT_SCHEMA_VERSION, **document}
