"""Fault injection into training: the trainer computes each batch either with the model's
``forward`` (then autograd) or with the hand-differentiated step of runs/fused_step.py (MLP VAE
and CVAE); a test that wraps "the batch computation" must wrap both."""

from __future__ import annotations

from vaecollapse.models.fast_step import FusedStep


def patch_batch_calls(monkeypatch, cls, make) -> None:
    """Replace ``cls.forward``, and ``FusedStep.__call__`` for models of class ``cls``, by
    ``make(original)`` (a function of ``self, *args, **kwargs``; ``original`` is the method it
    replaces)."""
    monkeypatch.setattr(cls, "forward", make(cls.forward))
    fused_original = FusedStep.__call__
    wrapped = make(fused_original)

    def fused(self, *args, **kwargs):
        if isinstance(self.model, cls):
            return wrapped(self, *args, **kwargs)
        return fused_original(self, *args, **kwargs)

    monkeypatch.setattr(FusedStep, "__call__", fused)
