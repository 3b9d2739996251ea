"""Integrations with other training tools (optional extras): the PyTorch Lightning callback
(:mod:`~vaecollapse.integrations.lightning`), TensorBoard event files for `train --tensorboard`
(:mod:`~vaecollapse.integrations.tensorboard`) and the scalar names both log
(:mod:`~vaecollapse.integrations.scalars`).

Nothing is imported here: each integration needs its own extra.
"""

__all__: list[str] = []
