"""Collapse or bug? A preflight check of a VAE's model, loss and ONE batch, before training.

Bugs that look like posterior collapse recur in VAE issue trackers; :func:`check` (a user's
model) and :func:`check_model` (the package's) look for five. Nothing trains: parameters,
``.grad``, buffers, train/eval modes and the caller's RNG are left as they were. Every call into
the user's code runs in ``torch.random.fork_rng()`` after ``torch.manual_seed(seed)``, in the
model's original modes. L(β): the loss at KL weight β; K: the true KL of the posteriors, Σ over
levels and dimensions, batch mean; n the batch size; d the total number of latent dimensions.

- ``beta-unused``: k := (L(2β) − L(β))/β is the KL the loss carries per unit β (β = 0: β = 1);
  |k| ≤ 1e-9 (1 + |L(β)|) means β never reaches the loss.
- ``kl-mean-over-dims``: k against K (batch-mean loss), nK (batch-sum), K/d and nK/d (the bug:
  the KL averaged over dimensions, an effective β/d). k unchanged at seed + 1: a deterministic
  KL, the candidates within 1 % (log scale) of the nearest decide. Changed: a Monte-Carlo KL
  (log q − log p at a sample), k averaged over 4 seeds, the candidates within 3 s.e. decide
  (per element Var = ½(r − 1)² + (μ − m)² r/v, r = s²/v; none within: the nearest). Skipped if
  K < 1e-8·d, d = 1, the rounding of L exceeds 0.2 |k|, or the deciders disagree (n = d; noise).
- ``no-gradient``: ∂L(β)/∂θ by ``torch.autograd.grad``: trainable parameters whose gradient is
  None or ≡ 0, and with an optimiser those it does not hold, are named.
- ``logvar-bounded``: ``logvar.grad_fn`` is walked down through shape ops (views, expand,
  slices, chunk/split/unbind, clone, casts, cat) and affine ones (±, ×, ÷ by numbers or tensors
  of parameters only) to the first other op: tanh, sigmoid, hardtanh, hardsigmoid, softsign, a
  clamp with both bounds — or through shape ops only a lower bound ≥ 0 (relu, softplus, exp,
  clamp(min ≥ 0): variance ≥ 1) — is a finding. A logvar without grad_fn is skipped.
- ``decoder-ignores-z``: z_l = μ_l + exp(½ logvar_l) ε ~ q, and z with the batch permuted by a
  seeded random n-cycle: mean |ℓ(z_perm) − ℓ(z)| ≤ 1e-6 (1 + mean |ℓ(z)|), ℓ = log p(x|z) per
  sample, means the decoder ignores z. Skipped without ``log_likelihood`` or for n = 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from vaecollapse.errors import UserError
from vaecollapse.models.base import LatentModel, Posterior, gaussian_nll

__all__ = ["CODES", "Finding", "Preflight", "bounded_op", "check", "check_model"]
CODES = ("kl-mean-over-dims", "beta-unused", "no-gradient", "logvar-bounded", "decoder-ignores-z")
FIXES = {
    "kl-mean-over-dims": "sum the KL over latent dimensions, then average over the batch",
    "beta-unused": "multiply the KL term by the loss's beta argument: recon + beta * kl",
    "no-gradient": "look for .detach(), .data or torch.no_grad() on the path to these parameters "
                   "and give the optimiser model.parameters()",
    "logvar-bounded": "output the log-variance from an unbounded layer; keep a clamp only as a "
                      "wide numerical guard (e.g. [-30, 20])",
    "decoder-ignores-z": "feed the sampled z to the decoder (not a constant, an embedding, z * 0)",
}
SHAPE_OPS = {"View", "UnsafeView", "Reshape", "ReshapeAlias", "Expand", "Slice", "Select", "Split",
             "SplitWithSizes", "Unbind", "Clone", "T", "Transpose", "Permute", "Squeeze",
             "Unsqueeze", "Alias", "Index", "AsStrided", "ToCopy", "Cat", "Stack"}
AFFINE_OPS = {"Mul", "Add", "Sub", "Div", "Neg", "Rsub"}
TWO_SIDED = {"Tanh": "tanh", "Sigmoid": "sigmoid", "Hardsigmoid": "hardsigmoid"}
LOWER_ZERO = {"Relu": "relu", "Softplus": "softplus", "Exp": "exp"}
LEAF = "torch::autograd::AccumulateGrad"
NEED_POSTERIORS = ("kl-mean-over-dims", "logvar-bounded", "decoder-ignores-z")


@dataclass(frozen=True)
class Finding:
    """One bug: its ``code`` (one of :data:`CODES`), what was measured, and how to fix it."""

    code: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}. Fix: {self.fix}."


@dataclass
class Preflight:
    """The findings (empty: ok), the checks skipped (code → reason) and what was measured."""

    findings: list[Finding] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    measurements: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def __str__(self) -> str:
        lines = [str(f) for f in self.findings] or ["preflight: no findings"]
        lines += [f"skipped {code}: {why}" for code, why in self.skipped.items()]
        return "\n".join(lines)


def _kind(fn) -> str:
    return re.sub(r"Backward\d*$", "", fn.name())


def _live(fn) -> bool:
    """Whether the graph below ``fn`` holds an op that is not a shape/affine op or a parameter —
    i.e. ``fn`` is computed from the network's input, not from parameters and numbers alone."""
    stack, seen = [fn], set()
    while stack:
        f = stack.pop()
        if f is None or f in seen or f.name() == LEAF:
            continue
        seen.add(f)
        if _kind(f) not in SHAPE_OPS | AFFINE_OPS:
            return True
        stack.extend(g for g, _ in f.next_functions)
    return False


def bounded_op(fn, shape_only: bool = True, depth: int = 0) -> str | None:
    """The bounding op a log-variance's graph ``fn`` reaches through shape and affine ops (module
    docstring), or None (an unbounded op, or parameters only)."""
    if fn is None or fn.name() == LEAF or depth > 200:
        return None
    kind, nxt = _kind(fn), [g for g, _ in fn.next_functions]
    if kind in TWO_SIDED:
        return TWO_SIDED[kind]
    if kind in ("Clamp", "ClampMin", "Hardtanh"):
        lo, hi = ((fn._saved_min_val, fn._saved_max_val) if kind == "Hardtanh" else
                  (getattr(fn, "_saved_min", None), getattr(fn, "_saved_max", None)))
        name, low = kind.lower().replace("min", ""), None if lo is None else torch.as_tensor(lo)
        if lo is not None and hi is not None:
            return f"{name}({float(low.min()):g}, {float(torch.as_tensor(hi).max()):g})"
        ok = shape_only and low is not None and bool(low.min() >= 0)  # variance >= 1
        return f"{name}(min={float(low.min()):g})" if ok else None
    if kind in LOWER_ZERO:
        return f"{LOWER_ZERO[kind]} (log-variance >= 0)" if shape_only else None
    if kind == "Div" and len(nxt) == 2 and nxt[1] is not None and _live(nxt[1]):
        inner = [g for g, _ in nxt[1].next_functions if g is not None]  # softsign: h / (1 + |h|)
        return "softsign" if (_kind(nxt[1]) == "Add" and len(inner) == 1 and _kind(inner[0]) == "Abs"
                              and inner[0].next_functions[0][0] is nxt[0]) else None
    if kind not in SHAPE_OPS | AFFINE_OPS:
        return None
    children = [g for g in nxt if g is not None and _live(g)]
    found = [bounded_op(g, shape_only and kind in SHAPE_OPS, depth + 1) for g in children]
    return found[0] if found and all(found) else None


class _Calls:
    """Calls into user code: modes and buffers as at the start, the (forked) RNG seeded."""

    def __init__(self, model: nn.Module, seed: int):
        self.model, self.seed = model, seed
        self.modes = [(m, m.training) for m in model.modules()]
        self.buffers = [(b, b.detach().clone()) for b in model.buffers()]

    def restore(self):
        for m, mode in self.modes:
            m.training = mode
        with torch.no_grad():
            for b, saved in self.buffers:
                b.copy_(saved)

    def __call__(self, fn: Callable, *args, seed: int | None = None):
        self.restore()
        with torch.random.fork_rng():
            torch.manual_seed(self.seed if seed is None else seed)
            return fn(*args)


def _scalar_loss(value) -> Tensor:
    if not isinstance(value, Tensor) or value.numel() != 1 or not value.is_floating_point():
        got = f"{value.dtype} {tuple(value.shape)}" if isinstance(value, Tensor) else \
            type(value).__name__
        raise UserError(f"loss(model, batch, beta) must return a scalar float tensor, got {got}")
    if not torch.isfinite(value.detach()).all():
        raise UserError(f"loss(model, batch, beta) is not finite: {float(value.detach()):g}")
    return value.reshape(())


def _posterior_list(value) -> list[Posterior]:
    if (not isinstance(value, list | tuple) or not value
            or not all(isinstance(p, Posterior) for p in value)):
        raise UserError("posteriors(model, batch) must return a non-empty list of "
                        f"vaecollapse.models.Posterior, got {type(value).__name__}")
    for p in value:
        if p.mean.ndim < 2 or p.mean.shape != p.logvar.shape or len(p.mean) != len(value[0].mean):
            raise UserError(f"posterior {p.name!r}: mean and logvar must both be (n, *event) of "
                            f"one n, got {tuple(p.mean.shape)} and {tuple(p.logvar.shape)}")
    return list(value)


def _gradients(model, loss_at, beta, optimizer, out: Preflight) -> Tensor:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    L = loss_at(beta)
    grads = (torch.autograd.grad(L, [p for _, p in named], allow_unused=True)
             if L.requires_grad and named else [None] * len(named))
    none = [n for (n, _), g in zip(named, grads, strict=True) if g is None]
    zero = [n for (n, _), g in zip(named, grads, strict=True) if g is not None and not g.any()]
    held = None if optimizer is None else {id(p) for g in optimizer.param_groups for p in g["params"]}
    missing = [] if held is None else [n for n, p in named if id(p) not in held]
    parts = [f"{what} {', '.join(names)}" for names, what in (
        (none, "no gradient reaches"), (zero, "the gradient is exactly 0 for")) if names]
    for message in ("; ".join(parts), missing and f"the optimiser does not hold {', '.join(missing)}"):
        if message:
            out.findings.append(Finding("no-gradient", message, FIXES["no-gradient"]))
    return L.detach()


def _mc_standard_error(posts, n: int) -> float:
    """The standard error of the batch-mean Monte-Carlo KL Σ_l,i (log q − log p)(z), z ~ q: per
    element ε ↦ ½(r − 1)ε² + (μ − m)(s/v)ε + const with r = s²/v, of variance
    ½(r − 1)² + (μ − m)² r/v."""
    var = 0.0
    for p in posts:
        lv = p.logvar.detach().double()
        plv, m = (v.detach().to(lv) if isinstance(v, Tensor) else torch.tensor(float(v)).to(lv)
                  for v in (p.prior_logvar, p.prior_mean))
        r = (lv - plv).exp()
        var += float((0.5 * (r - 1) ** 2 + (p.mean.detach().double() - m) ** 2 * r / plv.exp()).sum())
    return math.sqrt(var) / n


MC_SEEDS = 4


def _beta_unused(k: float, out: Preflight, more: str = "") -> bool:
    if abs(k) > 1e-9 * (1 + abs(out.measurements["loss"])):
        return False
    out.findings.append(Finding("beta-unused", f"L(2β) − L(β) = {k:.3g}·β{more}",
                                FIXES["beta-unused"]))
    return True


def _kl_checks(posts, k: float, rounding: float, resample: Callable, out: Preflight) -> None:
    """``k``: the loss's KL per unit β at the seed; ``resample(i)`` measures it at seed + i."""
    kl = torch.cat([p.kl().detach().double().reshape(p.mean.shape[0], -1) for p in posts], 1)
    n, d = kl.shape
    K = float(kl.sum(1).mean())
    out.measurements.update(kl_true_mean=K, kl_true_sum=n * K, latent_dims=float(d),
                            batch_size=float(n), kl_ratio=k / K if K else math.nan)
    if not K >= 1e-8 * d:
        out.skipped["kl-mean-over-dims"] = out.skipped["beta-unused"] = (
            f"the true KL is {K:.3g} nats: too small to weigh the loss's KL against")
        return
    if _beta_unused(k, out, f" although the KL is {K:.4g} nats per sample"):
        return
    why = ("one latent dimension: its mean is its sum" if d < 2 else
           f"the loss's float rounding (±{rounding:.2g} per unit β) is too coarse to measure its "
           f"KL ({k:.2g})" if rounding > 0.2 * abs(k) else None)
    if why:
        out.skipped["kl-mean-over-dims"] = why
        return
    factors = {"K": 1.0, "nK": float(n), "K/d": 1 / d, "nK/d": n / d}  # the /d ones: the bug
    ks = [k, resample(1)]
    mc = abs(ks[1] - k) > 4 * rounding + 1e-9 * abs(k)
    if mc:  # a Monte-Carlo KL: average over seeds, decide within 3 standard errors
        ks += [resample(i) for i in range(2, MC_SEEDS)]
        k = sum(ks) / len(ks)
        se = _mc_standard_error(posts, n) / math.sqrt(len(ks))
        out.measurements.update(kl_ratio=k / K, kl_mc_rel_se=se / K)
        pick = [c for c, f in factors.items() if abs(k - f * K) <= 3 * (f * se + rounding)]
    else:  # deterministic: candidates within 1 % of the nearest one decide
        near = min(abs(math.log(abs(k) / (f * K))) for f in factors.values())
        pick = [c for c, f in factors.items() if abs(math.log(abs(k) / (f * K))) <= near + 0.01]
    out.measurements["kl_monte_carlo"] = float(mc)
    pick = pick or [min(factors, key=lambda c: abs(math.log(abs(k) / (factors[c] * K))))]
    verdicts = {c.endswith("/d") for c in pick}
    if len(verdicts) > 1:
        out.skipped["kl-mean-over-dims"] = f"the candidates {', '.join(pick)} " + (
            f"all fit a Monte-Carlo KL this noisy (relative s.e. {se / K:.2g}): use a larger "
            "batch" if mc else f"coincide (n = {n}, d = {d}): use a batch of another size")
    elif verdicts == {True}:
        out.findings.append(Finding(
            "kl-mean-over-dims", f"the loss carries {k:.4g} nats of KL per unit β; the true KL "
            f"is {K:.4g} per sample summed over d = {d} dimensions, and {k:.4g} ≈ {pick[0]} "
            f"(ratio {k / K:.3g}): the KL is averaged over dimensions",
            FIXES["kl-mean-over-dims"]))


def _logvar_checks(posts, out: Preflight) -> None:
    for p in (walked := [p for p in posts if p.logvar.grad_fn is not None]):
        op = bounded_op(p.logvar.grad_fn)
        lo, hi = float(p.logvar.detach().min()), float(p.logvar.detach().max())
        out.measurements[f"logvar_min[{p.name}]"], out.measurements[f"logvar_max[{p.name}]"] = lo, hi
        if op is not None:
            out.findings.append(Finding("logvar-bounded", f"the log-variance of {p.name!r} passes "
                                        f"through {op} (observed range [{lo:.3g}, {hi:.3g}])",
                                        FIXES["logvar-bounded"]))
    if not walked:
        out.skipped["logvar-bounded"] = "no log-variance has a grad_fn (a leaf or no gradient)"


def _decoder_check(model, calls, log_likelihood, batch, posts, seed, out: Preflight) -> None:
    n = posts[0].mean.shape[0]
    if n < 2:
        out.skipped["decoder-ignores-z"] = "a batch of one cannot be shuffled"
        return
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    perm = torch.empty_like(order)
    perm[order] = order.roll(1)  # a random n-cycle: no sample keeps its own z
    with torch.no_grad():
        zs = calls(lambda: [p.mean + (0.5 * p.logvar).exp() * torch.randn_like(p.mean) for p in posts])
        lls = [calls(log_likelihood, model, batch, z) for z in (zs, [z[perm] for z in zs])]
    if not all(isinstance(ll, Tensor) and tuple(ll.shape) == (n,) for ll in lls):
        got = [tuple(ll.shape) if isinstance(ll, Tensor) else type(ll).__name__ for ll in lls]
        raise UserError(f"log_likelihood(model, batch, zs) must return shape ({n},), got {got[0]}")
    change = float((lls[1] - lls[0]).double().abs().mean())
    scale = float(lls[0].double().abs().mean())
    out.measurements.update(decoder_shuffle_change=change, decoder_abs_log_lik=scale)
    if change <= 1e-6 * (1 + scale):
        out.findings.append(Finding("decoder-ignores-z", f"shuffling z across the batch changes "
                                    f"log p(x|z) by {change:.3g} on average (|log p| ≈ "
                                    f"{scale:.4g})", FIXES["decoder-ignores-z"]))


def check(model: nn.Module, loss: Callable, batch, *, posteriors: Callable | None = None,
          log_likelihood: Callable | None = None, optimizer: torch.optim.Optimizer | None = None,
          beta: float = 1.0, seed: int = 0) -> Preflight:
    """The five checks (module docstring) on ``model``, ``loss`` and one ``batch``.

    ``loss(model, batch, beta)`` → scalar tensor (batch mean or sum); ``posteriors(model,
    batch)`` → list of :class:`~vaecollapse.models.Posterior` (default ``model.posteriors(batch)``);
    ``log_likelihood(model, batch, zs)`` → log p(x|z) per sample, shape (n,), one z per level
    (default ``model.log_likelihood(batch, zs)``); ``optimizer``: also check it holds every
    trainable parameter. Bad input raises :class:`~vaecollapse.errors.UserError`."""
    if not isinstance(model, nn.Module):
        raise UserError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not (isinstance(beta, int | float) and math.isfinite(beta) and beta >= 0):
        raise UserError(f"beta must be a finite number >= 0, got {beta!r}")
    if posteriors is None and hasattr(model, "posteriors"):
        posteriors = lambda m, batch: m.posteriors(batch)  # noqa: E731
    if log_likelihood is None and hasattr(model, "log_likelihood"):
        log_likelihood = lambda m, batch, zs: m.log_likelihood(batch, zs)  # noqa: E731
    out, calls = Preflight(), _Calls(model, seed)
    try:
        def loss_at(b: float, shift: int = 0) -> Tensor:
            return _scalar_loss(calls(loss, model, batch, b, seed=seed + shift))

        L = _gradients(model, loss_at, beta, optimizer, out)
        b = beta if beta > 0 else 1.0

        def kl_per_beta(shift: int, La: Tensor | None = None) -> tuple[float, float]:
            La = float(loss_at(b, shift).detach() if La is None else La)
            Lb = float(loss_at(2 * b, shift).detach())
            return (Lb - La) / b, torch.finfo(L.dtype).eps * (abs(La) + abs(Lb)) / b

        k, rounding = kl_per_beta(0, L if b == beta else None)
        out.measurements.update(loss=float(L), kl_per_beta=k, kl_rounding=rounding)
        if posteriors is None:
            out.skipped.update(dict.fromkeys(NEED_POSTERIORS, "no posteriors given"))
            _beta_unused(k, out)
            return out
        posts = _posterior_list(calls(posteriors, model, batch))
        _kl_checks(posts, k, rounding, lambda i: kl_per_beta(i)[0], out)
        _logvar_checks(posts, out)
        if log_likelihood is None:
            out.skipped["decoder-ignores-z"] = "no log_likelihood given (nor model.log_likelihood)"
        else:
            _decoder_check(model, calls, log_likelihood, batch, posts, seed, out)
    finally:
        calls.restore()
    return out


def check_model(model: LatentModel, x: Tensor, y: Tensor | None = None, *,
                optimizer: torch.optim.Optimizer | None = None, seed: int = 0) -> Preflight:
    """:func:`check` for a package model (VAE, CVAE, MHVAE): the loss is ``model(x, y, g).loss``
    with every level's β set to the check's β (a copy of ``model.hp``, restored after each call),
    its noise from a ``torch.Generator`` seeded from the (seeded) global RNG per call, and
    log p(target|z) = −‖t − dec(z)‖²/(2η_dec²) − (D/2) log(2πη_dec²) (MHVAE: p(x|z1))."""
    if not isinstance(model, LatentModel):
        raise UserError(f"check_model takes a vaecollapse model, got {type(model).__name__}; "
                        "use check(model, loss, batch) for your own")
    hp, names = model.hp, [model.hp.LEVEL_WEIGHTS[z] for z in model.levels]

    def gen() -> torch.Generator:  # seeded from the global RNG, which check seeds per call
        return torch.Generator(device=x.device).manual_seed(int(torch.randint(2**62, ())))

    def loss(m, batch, beta):
        m.hp = replace(hp, **dict.fromkeys(names, float(beta)))
        try:
            return m(*batch, gen()).loss
        finally:
            m.hp = hp

    def log_likelihood(m, batch, zs):
        xb, yb = batch
        mean = m.dec1(zs[0]) if hasattr(m, "dec1") else m.decode(zs[0], xb)
        return -gaussian_nll(m.target(xb, yb), mean, hp.eta_dec)

    return check(model, loss, (x, y), posteriors=lambda m, batch: m.posteriors(*batch, gen()),
                 log_likelihood=log_likelihood, optimizer=optimizer,
                 beta=hp.level_weight(model.levels[0]), seed=seed)
