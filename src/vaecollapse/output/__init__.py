"""What the commands hand to people and programs: the JSON documents and their published schemas
(:mod:`~vaecollapse.output.documents`, schemas in ``output/schemas/``), the figures of the
commands (:mod:`~vaecollapse.output.figures`) and of the reproduction
(:mod:`~vaecollapse.output.experiment_figures`).

Nothing is imported here: matplotlib comes only with the figures.
"""

__all__: list[str] = []
