"""One training loop for every family and backbone, with resumable run directories.

A run directory holds:
- ``config.json``: data spec, model config and training settings (enough to rebuild the run);
- ``metrics.jsonl``: one JSON line per epoch — loss, reconstruction, KL total and per level,
  per-dimension mean KL, active units, number of (ε,δ)-collapsed dimensions, seconds;
- ``checkpoint.pt``: model, optimiser and RNG states after the last finished epoch (written
  atomically every epoch, so an interruption loses at most the epoch in progress);
- ``diagnostics.json``: the final diagnostics (``vaecollapse.diagnostics.diagnose``).

Reproducibility: every random draw (batch order, reparameterisation noise) comes from one seeded
``torch.Generator`` whose state is checkpointed, so ``resume`` continues with exactly the numbers
an uninterrupted run would produce (on the same device and thread count).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaecollapse import mitigations
from vaecollapse.errors import HyperparameterError, UserError
from vaecollapse.io import FILE_MODE, atomic_write_json, atomic_write_text, jsonable
from vaecollapse.lock import locks_directory
from vaecollapse.models import LatentModel, ModelConfig, build_model

CONFIG, METRICS, CHECKPOINT, DIAGNOSTICS = ("config.json", "metrics.jsonl", "checkpoint.pt",
                                            "diagnostics.json")


SCHEDULES = ("constant", "cosine")


def learning_rate(cfg: TrainConfig, step: int, total: int) -> float:
    """The learning rate at optimiser step ``step`` of ``total`` (a pure function of the step,
    so a resumed run follows the same schedule)."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
    return cfg.lr


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    """Training settings. ``clip``: maximum gradient norm (None = no clipping). ``schedule``:
    ``constant`` learning rate, or ``cosine`` annealing from ``lr`` to 0 over all steps (lets
    stochastic training settle on the optimum, e.g. to check a closed form).

    Evaluation (per-epoch metrics and the final diagnostics) uses ``eval_points`` points drawn
    at random from ``eval_data`` (default: the training data, e.g. ``mnist:part=test`` for a
    held-out part) with ``eval_seed`` — the same points for every run that shares them, whatever
    its training seed (:func:`vaecollapse.data.evaluation_index`)."""

    data: str
    model: ModelConfig
    epochs: int = 20
    lr: float = 1e-3
    schedule: str = "constant"
    batch_size: int = 128
    clip: float | None = None
    seed: int = 0
    device: str = "auto"
    eval_points: int = 2000
    eval_data: str | None = None
    eval_seed: int = 0
    epsilon: float = 1e-2
    delta: float = 0.05
    diagnostics_is_samples: int = 100
    # remedies for collapse (vaecollapse.mitigations): KL warm-up over kl_warmup epochs (Bowman
    # et al. 2016), kl_cycles cyclical annealing cycles ramping over kl_cycle_ratio of each (Fu
    # et al. 2019), a per-dimension KL floor of free_bits nats (Kingma et al. 2016)
    kl_warmup: int = 0
    kl_cycles: int = 0
    kl_cycle_ratio: float = 0.5
    free_bits: float | None = None

    def validate(self) -> TrainConfig:
        self.model.validate()
        mitigations.validate(self)
        if self.epochs < 1:
            raise HyperparameterError(f"epochs must be >= 1, got {self.epochs}")
        if not (0 < self.lr < 1e30):
            raise HyperparameterError(f"lr must be a finite number > 0, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise HyperparameterError(f"schedule must be one of {', '.join(SCHEDULES)}, got "
                                      f"{self.schedule!r}")
        if self.batch_size < 1:
            raise HyperparameterError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.clip is not None and not (self.clip > 0 and math.isfinite(self.clip)):
            raise HyperparameterError(f"clip must be a finite number > 0, got {self.clip}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise HyperparameterError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if not (0 < self.delta < 1):
            raise HyperparameterError(f"delta must be in (0, 1), got {self.delta}")
        from vaecollapse import limits

        limits.check("epochs", self.epochs, limits.EPOCHS)
        limits.check("batch_size", self.batch_size, limits.BATCH_SIZE)
        limits.check("seed", self.seed, limits.SEED)
        limits.check("eval_points", self.eval_points, limits.POINTS)
        limits.check("diagnostics_is_samples", self.diagnostics_is_samples, limits.IS_SAMPLES)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = {k: v for k, v in d.items() if k != "runtime"}  # config.json's runtime entry
        d["model"] = ModelConfig(**d["model"])
        return cls(**d)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise HyperparameterError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(device)


def y_shape_for(split: str | None) -> list[int] | None:
    """Image shape of the CVAE target: the three quarters as channels, or the bottom half."""
    return {"quarter": [3, 14, 14], "half": [14, 28]}.get(split or "")


def load_run_data(spec: str, family: str):
    """(dataset, x tensor, y tensor or None) for a family: the CVAE needs y."""
    from vaecollapse.data import load

    ds = load(spec)
    if family == "cvae" and ds.y is None:
        raise UserError(f"the CVAE needs a condition x and a target y, but {spec!r} has no y: add "
                        "split=quarter (or split=half) to an image spec, or use synthetic:… or an "
                        "npz with arrays x and y")
    x = torch.from_numpy(ds.x)
    y = torch.from_numpy(ds.y) if family == "cvae" else None
    return ds, x, y


def _check_same_shape(train_ds, eval_ds) -> None:
    if (train_ds.dim_x, train_ds.dim_y) != (eval_ds.dim_x, eval_ds.dim_y):
        raise UserError(f"the evaluation data {eval_ds.spec!r} has dimensions (x {eval_ds.dim_x}, "
                        f"y {eval_ds.dim_y}) unlike the training data {train_ds.spec!r} (x "
                        f"{train_ds.dim_x}, y {train_ds.dim_y})")


def evaluation_data(cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor | None):
    """The evaluation points (x, y) of a run: ``cfg.eval_points`` drawn with ``cfg.eval_seed`` from
    ``cfg.eval_data`` (or from the training tensors ``x``, ``y`` when it is None)."""
    from vaecollapse.data import evaluation_index

    if cfg.eval_data:
        _, x, y = load_run_data(cfg.eval_data, cfg.model.family)
    idx = torch.from_numpy(evaluation_index(x.shape[0], cfg.eval_points, cfg.eval_seed))
    return x[idx.to(x.device)], None if y is None else y[idx.to(y.device)]


def model_config_for(dataset, family: str, backbone: str, latent_dim: int, **kwargs) -> ModelConfig:
    """A ModelConfig whose input sizes and image shapes match ``dataset``."""
    return ModelConfig(
        family=family, backbone=backbone, dim_x=dataset.dim_x,
        dim_y=dataset.dim_y if family == "cvae" else 0, latent_dim=latent_dim,
        x_shape=list(dataset.x_shape) if dataset.x_shape else None,
        y_shape=y_shape_for(dataset.split) if family == "cvae" else None, **kwargs).validate()


def parse_hidden(hidden) -> list[int]:
    """'256' or '256,128' (or a list) → hidden layer sizes."""
    if isinstance(hidden, list | tuple):
        sizes = [int(h) for h in hidden]
    else:
        try:
            sizes = [int(t) for t in str(hidden).split(",") if t.strip()]
        except ValueError:
            raise UserError(f"--hidden takes layer sizes separated by commas, got {hidden!r}") from None
    if not sizes or any(h < 1 for h in sizes):
        raise UserError(f"--hidden sizes must be whole numbers >= 1, got {hidden!r}")
    return sizes


def config_from_options(*, model: str = "vae", backbone: str = "mlp", data: str = "mnist",
                        latent_dim: int = 16, hidden="256", beta=None, beta1=None, beta2=None,
                        eta_enc: float = 1.0, eta_dec: float = 1.0, sigma=None, sigma1=None,
                        sigma2=None, epochs: int | None = None, lr: float = 1e-3,
                        schedule: str = "constant", batch_size: int = 128, clip=None,
                        seed: int = 0, device: str = "auto", kl_warmup: int = 0,
                        kl_cycles: int = 0, kl_cycle_ratio: float = 0.5, free_bits=None,
                        **evaluation) -> TrainConfig:
    """A validated TrainConfig from the `train` command's options (one mapping for the CLI, sweeps
    and the paper's experiments). Loads the data spec to size the model. ``evaluation`` may set
    TrainConfig's eval_points, eval_data, eval_seed, epsilon, delta and
    diagnostics_is_samples."""
    from vaecollapse.models import FAMILIES

    if model not in FAMILIES:
        raise UserError(f"unknown --model {model!r}: choose one of {', '.join(FAMILIES)}")
    if model == "mhvae":
        if beta is not None or sigma is not None:
            raise UserError("the MHVAE takes --beta1/--beta2 and --sigma1/--sigma2")
        hp = {"beta1": 1.0 if beta1 is None else beta1, "beta2": 1.0 if beta2 is None else beta2,
              "sigma1": sigma1, "sigma2": sigma2}
    else:
        if beta1 is not None or beta2 is not None or sigma1 is not None or sigma2 is not None:
            raise UserError(f"the {model.upper()} takes --beta and --sigma; --beta1/--beta2/"
                            "--sigma1/--sigma2 are for the MHVAE")
        hp = {"beta": 1.0 if beta is None else beta, "sigma": sigma}
    ds, _, _ = load_run_data(data, model)
    if evaluation.get("eval_data"):
        _check_same_shape(ds, load_run_data(evaluation["eval_data"], model)[0])
    mcfg = model_config_for(ds, model, backbone, int(latent_dim), hidden=parse_hidden(hidden),
                            eta_enc=eta_enc, eta_dec=eta_dec, **hp)
    unknown = set(evaluation) - {"eval_points", "eval_data", "eval_seed", "epsilon", "delta",
                                 "diagnostics_is_samples"}
    if unknown:
        raise UserError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    return TrainConfig(data=data, model=mcfg, epochs=20 if epochs is None else int(epochs), lr=lr,
                       schedule=schedule, batch_size=int(batch_size), clip=clip, seed=int(seed),
                       device=device, kl_warmup=int(kl_warmup), kl_cycles=int(kl_cycles),
                       kl_cycle_ratio=float(kl_cycle_ratio),
                       free_bits=None if free_bits is None else float(free_bits),
                       **evaluation).validate()


# ------------------------------------------------------------------------------ metrics


def epoch_metrics(model: LatentModel, x: torch.Tensor, y: torch.Tensor | None, *, epsilon: float,
                  delta: float, seed: int) -> dict[str, Any]:
    """Per-level collapse metrics on a fixed evaluation subset (noise from its own seed, so that
    evaluating never disturbs the training RNG)."""
    from vaecollapse.diagnostics.collapse import active_units, eps_delta_collapse
    from vaecollapse.diagnostics.posteriors import collect_posteriors

    gen = torch.Generator(device=x.device).manual_seed(seed)
    model.eval()
    posts = collect_posteriors(model, x, y, generator=gen)
    model.train()
    out: dict[str, Any] = {"kl_per_dim": {}, "active_units": {}, "n_collapsed": {}}
    for p in posts:
        kl = p.kl()
        out["kl_per_dim"][p.name] = kl.mean(0).tolist()
        out["active_units"][p.name] = int(active_units(p))
        frac, mask = eps_delta_collapse(kl, np.array([epsilon]), delta)
        out["n_collapsed"][p.name] = int(np.asarray(mask)[0].sum())
    return out


# ------------------------------------------------------------------------------ checkpoints


def _atomic_torch_save(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, FILE_MODE)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # e.g. a full disk (torch reports it as RuntimeError)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else re.sub(
            r"^\[enforce fail at [^\]]*\]\s*\.?\s*", "", " ".join(str(e).split()))
        kept = "the previous checkpoint is kept" if path.exists() else "no checkpoint was written"
        raise UserError(f"cannot write {path}: {reason} (is the disk full?); {kept}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise UserError(f"no checkpoint in {run_dir}: it is not a (started) run directory")
    from vaecollapse.checkpoints import check_checkpoint, unreadable_reason

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on foreign files
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's corrupt checkpoint
        raise UserError(f"cannot read {path}: {unreadable_reason(path, e)}") from None
    missing = {"epoch", "model", "optimizer", "generator", "perm_generator", "history"} - set(
        ckpt if isinstance(ckpt, dict) else {})
    if missing:
        raise UserError(f"{path} is not a vaecollapse checkpoint (missing {', '.join(sorted(missing))})")
    check_checkpoint(ckpt, path)
    return ckpt


def load_state(module, state: dict, path: Path) -> None:
    """Load a checkpoint's state into a model or optimiser; a mismatch is the user's error."""
    try:
        module.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} does not match the run's configuration: {first}") from None


def read_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise UserError(f"{run_dir} has no {CONFIG}: not a vaecollapse run directory")
    from vaecollapse.records import read_json, typed
    from vaecollapse.runtime import KEY, from_config

    data = read_json(path, "run configuration")
    where = f"{path} is not a valid run configuration"
    if isinstance(data, dict):
        from_config(data, where)
        data = {k: v for k, v in data.items() if k != KEY}
    cfg = typed(TrainConfig, data, where)
    try:
        return cfg.validate()
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


def load_model(run_dir: Path, device: str = "cpu") -> tuple[TrainConfig, LatentModel, dict]:
    """Rebuild a run's model from config.json and its checkpoint (weights of the last epoch)."""
    cfg = read_config(run_dir)
    ckpt = load_checkpoint(run_dir)
    model = build_model(cfg.model)
    load_state(model, ckpt["model"], Path(run_dir) / CHECKPOINT)
    model.to(resolve_device(device)).eval()
    return cfg, model, ckpt


# ------------------------------------------------------------------------------ training


@locks_directory("out", "run directory")
def train(cfg: TrainConfig, out: str | os.PathLike, *, resume: bool = False, progress: bool = True,
          stop_after: int | None = None,
          on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train ``cfg`` into run directory ``out``; returns the final metrics line.

    ``resume``: continue from ``out``'s checkpoint (its saved config wins; ``cfg.epochs`` may
    extend it; the saved thread count and device are used again; a run interrupted before its
    first checkpoint starts again from its saved config). ``out`` is locked for the call: a second
    writer gets :class:`vaecollapse.lock.DirectoryLocked`. ``stop_after``: stop after that many
    epochs of this call (tests use it to simulate an interruption). ``on_epoch(line)``: called
    with each epoch's metrics line once it is saved (e.g.
    :class:`vaecollapse.tensorboard_log.TensorBoardLog`).
    """
    out = Path(out)
    if resume:
        saved = read_config(out)
        saved.epochs = max(saved.epochs, cfg.epochs)
        cfg = saved
    elif (out / CHECKPOINT).exists():
        raise UserError(f"{out} already holds a run: pass --resume to continue it, or choose "
                        "another --out")
    cfg.validate()
    from vaecollapse import runtime

    saved_rt = runtime.from_config(json.loads((out / CONFIG).read_text()), str(out / CONFIG)) \
        if resume else None
    device = resolve_device(saved_rt.device if saved_rt else cfg.device)
    if saved_rt:  # the saved thread count: resumed numbers equal uninterrupted ones
        torch.set_num_threads(saved_rt.threads)
    ds, x, y = load_run_data(cfg.data, cfg.model.family)
    torch.manual_seed(cfg.seed)  # parameter initialisation
    model = build_model(cfg.model).to(device)
    # fused Adam: one kernel per step instead of ~10 per parameter (4x faster on CPU, deterministic)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    perm_gen = torch.Generator().manual_seed(cfg.seed + 1)
    history: list[dict[str, Any]] = []
    start = 0
    if resume and (out / CHECKPOINT).exists():
        ckpt = load_checkpoint(out)
        load_state(model, ckpt["model"], out / CHECKPOINT)
        load_state(opt, ckpt["optimizer"], out / CHECKPOINT)
        for g, key in ((gen, "generator"), (perm_gen, "perm_generator")):
            try:
                g.set_state(ckpt[key])
            except (RuntimeError, TypeError, ValueError) as e:
                raise UserError(f"{out / CHECKPOINT} has an invalid {key} state "
                                f"({str(e).splitlines()[0]})") from None
        history = ckpt["history"]
        start = ckpt["epoch"]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot use {out} as a run directory: {e.strerror or e}") from None
    atomic_write_json(out / CONFIG, {**cfg.to_dict(), runtime.KEY: runtime.current(device).to_dict()})

    x, y = x.to(device), None if y is None else y.to(device)
    n = x.shape[0]
    steps_per_epoch = -(-n // cfg.batch_size)
    x_eval, y_eval = evaluation_data(cfg, x, y)
    x_eval, y_eval = x_eval.to(device), None if y_eval is None else y_eval.to(device)
    bar = _Progress(progress, cfg.epochs, start)
    last_epoch = start
    try:
        for epoch in range(start, cfg.epochs):
            if stop_after is not None and epoch - start >= stop_after:
                break
            t0 = time.perf_counter()
            order = torch.randperm(n, generator=perm_gen).to(device)
            sums = {"loss": 0.0, "recon": 0.0}
            if mitigations.active(cfg):
                sums["objective"] = 0.0
            kl_sums: dict[str, float] = {}
            for b, i in enumerate(range(0, n, cfg.batch_size)):
                idx = order[i:i + cfg.batch_size]
                for group in opt.param_groups:
                    group["lr"] = learning_rate(cfg, epoch * steps_per_epoch + b,
                                                cfg.epochs * steps_per_epoch)
                # index_select: the same rows as x[idx], without advanced indexing's slow path
                o = model(x.index_select(0, idx), None if y is None else y.index_select(0, idx),
                          generator=gen)
                kl_w = mitigations.kl_weight(cfg, epoch * steps_per_epoch + b,
                                             cfg.epochs * steps_per_epoch, steps_per_epoch)
                objective = mitigations.objective(model, o, kl_w, cfg.free_bits)
                if not torch.isfinite(objective):
                    raise TrainingDiverged(_diverged(f"the loss became {objective.item()}", epoch,
                                                     f"batch {b + 1}", out))
                opt.zero_grad(set_to_none=True)
                objective.backward()
                if cfg.clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                opt.step()
                w = len(idx) / n
                sums["loss"] += o.loss.item() * w
                sums["recon"] += o.recon.item() * w
                if "objective" in sums:
                    sums["objective"] += objective.item() * w
                    sums["kl_weight"] = kl_w
                for k, v in o.kl.items():
                    kl_sums[k] = kl_sums.get(k, 0.0) + v.item() * w
                bar.batch(i + len(idx), n)
            m = epoch_metrics(model, x_eval, y_eval, epsilon=cfg.epsilon, delta=cfg.delta,
                              seed=cfg.seed + 7919 * (epoch + 1))
            line = {"epoch": epoch + 1, **sums, "kl_total": sum(kl_sums.values()), "kl": kl_sums,
                    **m, "seconds": time.perf_counter() - t0}
            if not all(torch.isfinite(p).all() for p in model.parameters()) or not _finite(line):
                raise TrainingDiverged(_diverged("the model's weights or metrics became "
                                                 "non-finite", epoch, "its end", out))
            history.append(line)
            _atomic_torch_save({"epoch": epoch + 1, "model": model.state_dict(),
                                "optimizer": opt.state_dict(), "generator": gen.get_state(),
                                "perm_generator": perm_gen.get_state(), "history": history},
                               out / CHECKPOINT)
            atomic_write_text(out / METRICS, "".join(json.dumps(jsonable(h), allow_nan=False) + "\n"
                                                     for h in history))
            last_epoch = epoch + 1
            bar.epoch(line)
            if on_epoch:
                on_epoch(line)
    finally:
        bar.close()
    finished = last_epoch >= cfg.epochs
    if finished and (last_epoch > start or not (out / DIAGNOSTICS).exists()):
        write_final_diagnostics(model, cfg, x_eval, y_eval, (x, y), out)
    return history[-1] if history else {}


def _diverged(what: str, epoch: int, where: str, out: Path) -> str:
    kept = (f"the last good checkpoint (epoch {epoch}) is kept in {out}" if epoch > 0
            else "no epoch finished, so there is no checkpoint")
    return (f"{what} at epoch {epoch + 1}, {where}; {kept}. Try a smaller --lr or a gradient "
            "clip (--clip)")


def _finite(value) -> bool:
    """True when every number in a (nested) metrics record is finite."""
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def write_final_diagnostics(model: LatentModel, cfg: TrainConfig, x_eval, y_eval, train_data,
                            out: Path) -> dict:
    """Diagnostics of the finished model on its evaluation points (:func:`evaluation_data`); the
    closed-form comparison (linear models) uses the moments of all the training data
    ``train_data`` = (x, y)."""
    from vaecollapse.diagnostics import diagnose

    gen = torch.Generator(device=x_eval.device).manual_seed(cfg.seed + 31)
    model.eval()
    result = diagnose(model, x_eval, y_eval, epsilon=cfg.epsilon,
                      delta=cfg.delta, is_samples=cfg.diagnostics_is_samples, generator=gen,
                      theory_data=train_data)
    atomic_write_json(out / DIAGNOSTICS, result)
    return result


class _Progress:
    """A rich progress bar over batches, with the last epoch's loss, KL and active dimensions."""

    def __init__(self, enabled: bool, epochs: int, start: int):
        self.p = None
        if not enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.p = Progress(TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                          BarColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                          transient=False)
        self.p.start()
        self.task = self.p.add_task("train", total=1.0, epoch=start + 1, epochs=epochs,
                                    status="")

    def batch(self, done: int, total: int) -> None:
        if self.p:
            self.p.update(self.task, completed=done / total)

    def epoch(self, line: dict) -> None:
        if self.p:
            au = "/".join(str(v) for v in line["active_units"].values())
            self.p.update(self.task, epoch=min(line["epoch"] + 1, self.p.tasks[0].fields["epochs"]),
                          status=f"loss {line['loss']:.4g}  KL {line['kl_total']:.3g}  active {au}")

    def close(self) -> None:
        if self.p:
            self.p.stop()
