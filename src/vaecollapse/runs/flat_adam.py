"""Adam over one flat buffer: the trainer's optimiser (per-step cost independent of the number of
parameter tensors).

The model's parameters are made views of one contiguous leaf ``flat`` (their values are kept),
and their ``.grad`` views of one buffer ``grad``: autograd accumulates each parameter's gradient in
place into its view (``AccumulateGrad`` adds into a defined ``.grad``), so after ``backward`` the
whole gradient is ``grad``. Then

- ``zero_grad``: one fill of ``grad``;
- ``clip_grad_norm_(c)``: ‖g‖₂ of the flat gradient and g ← g · min(1, c / (‖g‖₂ + 10⁻⁶)) (the
  formula of ``torch.nn.utils.clip_grad_norm_``, three tensor operations instead of one per
  parameter);
- ``step``: ``torch.optim.Adam(fused=True)`` on the single tensor ``flat`` (its kernel called
  directly after the first step, see :meth:`FlatAdam.step`). Adam is elementwise,
  so this is the per-parameter update (up to float rounding: an element may fall in the kernel's
  vectorised body in one layout and in its scalar tail in the other).

Determinism: every operation is deterministic on CPU (same inputs → same bits). ``state_dict`` /
``load_state_dict`` speak the format of ``torch.optim.Adam`` over ``model.parameters()`` (one state
entry per parameter tensor), so checkpoints stay interchangeable with a plain Adam's, and a resumed
run continues bit-for-bit.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_FUSED = getattr(torch, "_fused_adam_", None)  # the kernel of Adam(fused=True)


class FlatAdam:
    """Fused Adam (lr, default betas/eps, no weight decay) over ``params`` kept in one buffer.

    ``param_groups`` is the inner optimiser's (one group; set ``group["lr"]`` to schedule)."""

    def __init__(self, params, lr: float):
        self.params: list[nn.Parameter] = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("FlatAdam got no parameters that require gradients")
        kinds = {(p.dtype, p.device) for p in self.params}
        if len(kinds) != 1:
            raise ValueError(f"FlatAdam needs one dtype and device, got {sorted(map(str, kinds))}")
        self.sizes = [p.numel() for p in self.params]
        with torch.no_grad():
            flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.flat = flat.requires_grad_()
        self.grad = torch.zeros_like(flat)
        self.grad_views = [g.view_as(p) for g, p in zip(self.grad.split(self.sizes),
                                                        self.params, strict=True)]
        for p, v, g in zip(self.params, self.flat.detach().split(self.sizes), self.grad_views,
                           strict=True):
            p.data = v.view_as(p)
            p.grad = g
        self.flat.grad = self.grad
        self.opt = torch.optim.Adam([self.flat], lr=lr, fused=True)

    @property
    def param_groups(self) -> list[dict]:
        # the inner optimiser's current list (its load_state_dict replaces the list)
        return self.opt.param_groups

    # ------------------------------------------------------------------------------ the step

    def zero_grad(self) -> None:
        self.grad.zero_()

    def _check_grads(self) -> None:
        """Re-attach a ``.grad`` that code outside replaced (e.g. ``model.zero_grad()`` set it to
        None and backward then created a new tensor): its values are copied into the buffer."""
        for p, g in zip(self.params, self.grad_views, strict=True):
            if p.grad is not g:
                if p.grad is None:
                    g.zero_()
                else:
                    g.copy_(p.grad)
                p.grad = g

    def clip_grad_norm_(self, max_norm: float) -> Tensor:
        """Scale the gradient to norm ≤ ``max_norm``; returns the norm before scaling."""
        self._check_grads()
        norm = torch.linalg.vector_norm(self.grad)
        self.grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm

    def step(self) -> None:
        """One Adam step: ``torch.optim.Adam(fused=True).step()`` (which also creates the state
        on the first step), afterwards its kernel called directly, as ``Adam.step`` calls it
        (``step += 1``, then ``_fused_adam_``): the same operations, hence the same bits, without
        the ~50–150 µs of Python that ``Adam.step`` spends grouping one tensor."""
        self._check_grads()
        state = self.opt.state.get(self.flat)
        group = self.opt.param_groups[0]
        if (not state or _FUSED is None or group["amsgrad"] or group["weight_decay"]
                or group["maximize"] or group.get("decoupled_weight_decay")
                or torch.is_tensor(group["lr"])):
            self.opt.step()
            return
        steps = [state["step"]]
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        _FUSED([self.flat.detach()], [self.grad], [state["exp_avg"]], [state["exp_avg_sq"]], [],
               steps, amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=0.0,
               eps=group["eps"], maximize=False, grad_scale=None, found_inf=None)

    # ------------------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        """``torch.optim.Adam(model.parameters()).state_dict()``'s format: one entry per parameter."""
        inner = self.opt.state_dict()
        group = {**inner["param_groups"][0], "params": list(range(len(self.params)))}
        flat_state = inner["state"].get(0)
        state = {}
        if flat_state is not None:
            for i in range(len(self.params)):
                state[i] = {}
            total = self.flat.numel()
            for key, value in flat_state.items():
                parts = (value.split(self.sizes) if torch.is_tensor(value) and value.ndim == 1
                         and value.numel() == total else None)
                for i, p in enumerate(self.params):
                    state[i][key] = (parts[i].view_as(p).clone() if parts is not None
                                     else value.clone() if torch.is_tensor(value) else value)
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a per-parameter Adam state (:meth:`state_dict`'s or a plain ``torch.optim.Adam``'s
        over the same parameters); a mismatch raises ValueError."""
        ref = torch.optim.Adam(self.params, lr=self.param_groups[0]["lr"], fused=True)
        ref.load_state_dict(state_dict)  # validates the groups and casts to the parameters
        per = [ref.state.get(p, {}) for p in self.params]
        flat_state = {}
        if any(per):
            if not all(per) or len({frozenset(s) for s in per}) != 1:
                raise ValueError("optimizer state: every parameter needs the same state entries")
            for key in per[0]:
                values = [s[key] for s in per]
                if key == "step":
                    if len({float(v) for v in values}) != 1:
                        raise ValueError("optimizer state: the parameters' step counts differ")
                    flat_state[key] = values[0].clone()
                    continue
                for v, p in zip(values, self.params, strict=True):
                    if not torch.is_tensor(v) or v.shape != p.shape:
                        raise ValueError(f"optimizer state: {key} has shape "
                                         f"{tuple(getattr(v, 'shape', ()))}, the parameter "
                                         f"{tuple(p.shape)}")
                flat_state[key] = torch.cat([v.reshape(-1) for v in values])
        group = {k: v for k, v in ref.param_groups[0].items() if k != "params"}
        self.opt.load_state_dict({"state": {0: flat_state} if flat_state else {},
                                  "param_groups": [{**group, "params": [0]}]})
