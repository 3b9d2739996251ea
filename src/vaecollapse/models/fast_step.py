"""A hand-differentiated training step for the MLP VAE and CVAE: the β-ELBO's forward pass and
its exact gradient, written into the parameters' ``.grad`` (the trainer's
:class:`~vaecollapse.runs.flat_adam.FlatAdam` makes them views of one buffer), without autograd.
It mirrors :meth:`vaecollapse.models.vae.VAE.forward` and shares its loss terms
(:func:`~vaecollapse.models.base.gaussian_recon`, :func:`~vaecollapse.models.kl.kl_per_dimension`).

Autograd records and replays a graph of ~100 small nodes per step; at the paper's sizes (hidden
16, d = 16, batch 128) their bookkeeping costs as much as the matrix products. Here the same
mathematics is a fixed list of about 40 tensor operations. The model is a sum of ReLU MLP branches on
each side (VAE: encoder e(x), decoder k(z); CVAE: encoder f(x) + g(y), decoder h(x) + k(z)), an
input-dependent log-variance head (the encoder's second half) or a fixed σ, and

    L = Σ_n ‖t_n − t̂_n‖² / (2η_dec² n) + (D/2) log(2πη_dec²) + β Σ_i KL_i,
    KL_i = Σ_n (s_ni² + μ_ni²) / (2 v n) − Σ_n log s_ni² / (2n) + ½(log v − 1),   v = η_enc²,
    z = μ + s ⊙ ε,  s = exp(½ log s²),

the model's ``forward`` term for term (the same noise draw from the same generator, so a run's
random stream is unchanged). Backward, with g_t̂ = (t̂ − t)/(η_dec² n) and β the KL's weight in
the differentiated objective (w·β at KL-annealing weight w):

    ∂L/∂z = Σ_branches of k: back through k;        ∂L/∂μ = ∂L/∂z + β μ / (v n),
    ∂L/∂log s² = ½ ∂L/∂z ⊙ ε ⊙ s + β (s² / v − 1) / (2n),

and through each ReLU MLP layer y = W a + b: ∂W = gᵀa, ∂b = Σ_n g, ∂a = g W, ∂(pre-ReLU) =
∂a ⊙ [pre > 0]. Equal to autograd's gradient up to float rounding (tests: random models and
batches, against ``loss.backward()``); deterministic on CPU.

:func:`fused_step` returns the step for a model it covers, or None (then the trainer uses
autograd): free bits, other backbones, the MHVAE and a learnable input-independent variance are
not covered; ``fast_step="off"`` (``train --fast-step off``) turns it off. The run records which
step trained it (config.json, ``runtime.training_step``).

The one private torch operator used, ``aten.threshold_backward`` (the ReLU's backward, one
kernel), is looked up when this module is imported; where a torch release lacks it, the public
``masked_fill`` computes the same values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vaecollapse.models.base import gaussian_recon
from vaecollapse.models.kl import kl_per_dimension


def _public_relu_grad(g: Tensor, a: Tensor, threshold: float) -> Tensor:
    """∂L/∂pre = ∂L/∂a where a > threshold, else 0 — ``threshold_backward``'s values."""
    return g.masked_fill(a <= threshold, 0.0)


try:  # feature detection: a private operator, so its presence is not guaranteed
    _relu_grad = torch.ops.aten.threshold_backward
except (AttributeError, RuntimeError):  # pragma: no cover - every tested torch has it
    _relu_grad = _public_relu_grad

#: the names of the two training steps, as a run records them
HAND_DIFFERENTIATED, AUTOGRAD = "hand-differentiated", "autograd"


@dataclass
class StepTerms:
    """The step's loss and its parts (scalars, no graph), as :class:`~vaecollapse.models.base.Output`
    names them: ``loss`` = ``recon`` + β·Σ ``kl``; ``objective`` = ``recon`` + w·β·Σ ``kl``, the
    differentiated objective at KL weight w (:func:`vaecollapse.models.objective.objective`;
    ``loss`` itself at w = 1)."""

    loss: Tensor
    recon: Tensor
    kl: dict[str, Tensor]
    objective: Tensor


def _layers(net: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of a ReLU MLP (``backbones.mlp``), or None for anything else."""
    if isinstance(net, nn.Linear):
        return [net]
    if not isinstance(net, nn.Sequential):
        return None
    mods = list(net)
    linear, relu = mods[0::2], mods[1::2]
    if (len(mods) % 2 != 1 or not all(isinstance(m, nn.Linear) and m.bias is not None
                                      for m in linear)
            or not all(type(m) is nn.ReLU for m in relu)):
        return None
    return linear


class _MLP:
    """One ReLU MLP branch: forward keeping what backward needs, backward into ``.grad``."""

    def __init__(self, layers: list[nn.Linear]):
        self.layers = layers

    def forward(self, a: Tensor) -> list[Tensor]:
        """The inputs of every layer on ``a`` (post-ReLU), kept for the backward pass; the last
        one is the input of the last layer, which :func:`_summed` applies."""
        inputs = [a]
        for layer in self.layers[:-1]:
            a = torch.addmm(layer.bias, a, layer.weight.T).relu_()
            inputs.append(a)
        return inputs

    def backward(self, g: Tensor, inputs: list[Tensor], need_input: bool) -> Tensor | None:
        """Write ∂L/∂W, ∂L/∂b of every layer (``g``: the gradient of the branch's output) into
        the parameters' ``.grad`` (the last bias excepted); return ∂L/∂input when asked."""
        for k in range(len(self.layers) - 1, -1, -1):
            layer, a = self.layers[k], inputs[k]
            torch.mm(g.T, a, out=layer.weight.grad)
            if k < len(self.layers) - 1:
                torch.sum(g, 0, out=layer.bias.grad)
            if k == 0 and not need_input:
                return None
            g = g @ layer.weight
            if k > 0:
                g = _relu_grad(g, a, 0)  # a = relu(pre): a > 0 ⇔ pre > 0
        return g


def _summed(branches: list[tuple[str, _MLP]], caches: list[list[Tensor]],
            minus: Tensor | None = None) -> Tensor:
    """Σ_branches (W_last h + b_last) (− ``minus``): the branches' last layers accumulated into
    one tensor by GEMMs, their biases added once."""
    lasts = [b.layers[-1] for _, b in branches]
    bias = lasts[0].bias
    for last in lasts[1:]:
        bias = bias + last.bias
    if minus is None:
        out = torch.addmm(bias, caches[0][-1], lasts[0].weight.T)
    else:
        out = torch.addmm(minus, caches[0][-1], lasts[0].weight.T, beta=-1).add_(bias)
    for last, cache in zip(lasts[1:], caches[1:], strict=True):
        out.addmm_(cache[-1], last.weight.T)
    return out


class FusedStep:
    """``step(x, y, generator, kl_weight)``: the β-ELBO of a batch and its gradient written into
    the parameters' ``.grad`` (which must exist: :class:`~.flat_adam.FlatAdam` makes them views
    of its buffer); returns the :class:`StepTerms` (no autograd graph)."""

    def __init__(self, model, enc: list[tuple[str, _MLP]], dec: list[tuple[str, _MLP]]):
        self.model, self.enc, self.dec = model, enc, dec
        self.d = model.cfg.latent_dim
        self.head = model.enc.head

    def __call__(self, x: Tensor, y: Tensor | None, generator: torch.Generator | None,
                 kl_weight: float = 1.0) -> StepTerms:
        model, d = self.model, self.d
        hp = model.hp
        inputs = {"x": x, "y": y}
        t = model.target(x, y)
        n = t.shape[0]
        eta, v, plv = hp.eta_dec, math.exp(model.prior_logvar), model.prior_logvar
        level_beta = hp.level_weight("z")
        beta = level_beta * kl_weight  # the KL's weight in the differentiated objective
        # encoder: Σ branches
        enc_cache = [branch.forward(inputs[name]) for name, branch in self.enc]
        e = _summed(self.enc, enc_cache)
        if self.head:
            mean, logvar = e[:, :d], e[:, d:]
        else:
            mean, logvar = e, model.enc.logvar.expand(n, -1)
        std = (0.5 * logvar).exp()
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + std * eps
        inputs["z"] = z
        # decoder: t̂ − t
        dec_cache = [branch.forward(inputs[name]) for name, branch in self.dec]
        r = _summed(self.dec, dec_cache, minus=t)
        flat_r = r.view(-1)
        recon = gaussian_recon(torch.dot(flat_r, flat_r), n, t.shape[1], eta)
        var = std.square()
        kl = kl_per_dimension(mean, logvar, plv, var=var).sum()
        loss = recon + hp.beta * kl
        objective = loss if kl_weight == 1.0 else recon + (kl_weight * level_beta) * kl
        # backward
        g = r.mul_(1.0 / (eta**2 * n))  # ∂L/∂t̂
        bias_grad = g.sum(0)
        gz = None
        for (name, branch), cache in zip(self.dec, dec_cache, strict=True):
            branch.layers[-1].bias.grad.copy_(bias_grad)
            gin = branch.backward(g, cache, need_input=name == "z")
            if name == "z":
                gz = gin
        g_mean = torch.add(gz, mean, alpha=beta / (v * n))
        if self.head:
            g_e = torch.empty_like(e)
            g_e[:, :d] = g_mean
            # ½ gz ⊙ ε ⊙ s + β (s²/v − 1)/(2n)
            torch.addcmul((var * (beta * 0.5 / (v * n))).sub_(beta * 0.5 / n), gz * eps, std,
                          value=0.5, out=g_e[:, d:])
        else:
            g_e = g_mean
        bias_grad = g_e.sum(0)
        for (_, branch), cache in zip(self.enc, enc_cache, strict=True):
            branch.layers[-1].bias.grad.copy_(bias_grad)
            branch.backward(g_e, cache, need_input=False)
        return StepTerms(loss, recon, {"z": kl}, objective)


def fused_step(model, free_bits: float | None = None, fast_step: str = "auto"
               ) -> FusedStep | None:
    """The hand-differentiated step for ``model`` when it covers it (module docstring) and
    ``fast_step`` is ``auto``, else None (``off``: always None)."""
    cfg = getattr(model, "cfg", None)
    if (fast_step == "off" or cfg is None or free_bits or cfg.backbone != "mlp"
            or cfg.family.hierarchical
            or (not model.enc.head and model.enc.logvar.requires_grad)):  # learnable Σ
        return None
    if not cfg.family.conditional:
        nets = {"enc": [("x", model.enc.net)], "dec": [("z", model.dec)]}
    else:
        nets = {"enc": [("x", model.enc.net.f), ("y", model.enc.net.g)],
                "dec": [("x", model.dec_x), ("z", model.dec)]}
    sides = {}
    for side, branches in nets.items():
        sides[side] = []
        for name, net in branches:
            layers = _layers(net)
            if layers is None:
                return None
            sides[side].append((name, _MLP(layers)))
    covered = {id(t) for branches in sides.values() for _, b in branches for layer in b.layers
               for t in (layer.weight, layer.bias)}
    if covered != {id(p) for p in model.parameters()}:  # every gradient must be written
        return None
    return FusedStep(model, sides["enc"], sides["dec"])
