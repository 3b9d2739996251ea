"""Everything that touches files, below every other layer: atomic writes
(:mod:`~vaecollapse.files.atomic`), typed readers of the state files
(:mod:`~vaecollapse.files.records`), one writer per directory (:mod:`~vaecollapse.files.lock`),
memory-mapped arrays read with bounded memory (:mod:`~vaecollapse.files.mapped`) and the version
stamp of JSON documents (:mod:`~vaecollapse.files.versioning`).

Nothing is imported here: each module is imported by its own path.
"""

__all__: list[str] = []
