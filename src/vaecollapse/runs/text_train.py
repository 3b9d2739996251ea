"""Training a sentence VAE (``train --model seqvae``) into a resumable run directory, with its
remedies (:mod:`vaecollapse.config.text_settings`): the KL schedules and free bits of
:mod:`vaecollapse.models.objective`, word dropout, aggressive encoder training and autoencoder
pretraining with a decoder reset.

The run directory has the image runs' layout (:class:`~vaecollapse.runs.rundir.RunDir`):
config.json (``"model": "seqvae"``), metrics.jsonl, checkpoint.pt, diagnostics.json
(:func:`vaecollapse.diagnostics.diagnose` on the evaluation sentences) and language.json — the
importance-sampled NLL per sentence and per token, the perplexity exp(NLL per token) and a few
greedy reconstructions.

Reproducibility: initialisation under ``torch.manual_seed(seed)``; the batch order from a CPU
generator (seed + 1), the aggressive phase's extra batches from another (seed + 2), the noise
and word-dropout draws from the device generator (seed); the decoder reset under
``torch.manual_seed(seed + RESET_SEED_OFFSET)``. All states, both optimisers and the remedy's
state (aggressive phase on or off, the last I(x; z)) are checkpointed each epoch, so a resumed
run continues with the numbers an uninterrupted one has (same device and thread count).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaecollapse.config.text_settings import AGGRESSIVE_CHECK, MODEL, TextTrainConfig
from vaecollapse.data import evaluation_index
from vaecollapse.data.text import TextData, load_text
from vaecollapse.diagnostics import diagnose
from vaecollapse.diagnostics.collapse import active_units, eps_delta_collapse
from vaecollapse.diagnostics.information import mutual_information
from vaecollapse.errors import UserError
from vaecollapse.files.atomic import atomic_torch_save, atomic_write_json, atomic_write_text, jsonable
from vaecollapse.models import objective
from vaecollapse.models.sequence import SeqVAE, SeqVAEConfig
from vaecollapse.runs import runtime
from vaecollapse.runs.checkpoint import load_state
from vaecollapse.runs.loop import TrainingDiverged
from vaecollapse.runs.rundir import RunDir

LANGUAGE = "language.json"
RESET_SEED_OFFSET = 104729
STEP = "autograd"


def is_text_run(run_dir: str | os.PathLike) -> bool:
    """True when ``run_dir``'s config.json is a sentence-VAE run's."""
    path = RunDir(run_dir).config
    try:
        return json.loads(path.read_text()).get("model") == MODEL
    except (OSError, ValueError, AttributeError):
        return False


def read_text_config(run_dir: str | os.PathLike) -> TextTrainConfig:
    path = RunDir(run_dir).config
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    return TextTrainConfig.from_dict(data, str(path))


def load_data(cfg: TextTrainConfig) -> tuple[TextData, TextData]:
    """(train sentences, evaluation sentences), the latter checked to share the vocabulary."""
    train, ev = load_text(cfg.data), load_text(cfg.evaluation_spec())
    if train.vocab != ev.vocab or train.max_len != ev.max_len:
        raise UserError(f"the evaluation data {ev.spec!r} has another vocabulary or length limit "
                        f"than the training data {train.spec!r}: give both the same corpus "
                        "options (vocab, min_count, max_len, level)")
    return train, ev


def build(cfg: TextTrainConfig, data: TextData) -> SeqVAE:
    """The run's model, initialised under its seed."""
    torch.manual_seed(cfg.seed)
    return SeqVAE(SeqVAEConfig(vocab_size=len(data.vocab), max_len=data.max_len,
                               latent_dim=cfg.latent_dim, embed=cfg.embed, hidden=cfg.hidden,
                               decoder=cfg.decoder, z_input=cfg.z_input, beta=cfg.beta))


class _State:
    """Everything a run carries from epoch to epoch (and its checkpoint holds)."""

    def __init__(self, cfg: TextTrainConfig, model: SeqVAE, device):
        self.model = model
        self.enc_opt = torch.optim.Adam(model.encoder_parameters(), lr=cfg.lr)
        self.dec_opt = torch.optim.Adam(model.decoder_parameters(), lr=cfg.lr)
        self.gen = torch.Generator(device=device).manual_seed(cfg.seed)
        self.perm_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.inner_gen = torch.Generator().manual_seed(cfg.seed + 2)
        self.aggressive = bool(cfg.aggressive)
        self.prev_mi = -math.inf
        self.history: list[dict[str, Any]] = []
        self.epoch = 0

    def save(self, path: Path) -> None:
        atomic_torch_save({
            "epoch": self.epoch, "model": self.model.state_dict(),
            "optimizer": {"encoder": self.enc_opt.state_dict(), "decoder": self.dec_opt.state_dict()},
            "generator": self.gen.get_state(), "perm_generator": self.perm_gen.get_state(),
            "inner_generator": self.inner_gen.get_state(), "history": self.history,
            "remedy": {"aggressive": self.aggressive, "prev_mi": self.prev_mi}}, path)

    def load(self, ckpt: dict, path: Path) -> None:
        load_state(self.model, ckpt["model"], path)
        opt = ckpt["optimizer"]
        if not isinstance(opt, dict) or set(opt) != {"encoder", "decoder"}:
            raise UserError(f"{path} is not a sentence-VAE checkpoint (its optimizer entry)")
        load_state(self.enc_opt, opt["encoder"], path)
        load_state(self.dec_opt, opt["decoder"], path)
        for g, key in ((self.gen, "generator"), (self.perm_gen, "perm_generator"),
                       (self.inner_gen, "inner_generator")):
            try:
                g.set_state(ckpt[key])
            except (KeyError, RuntimeError, TypeError, ValueError):
                raise UserError(f"{path} has no valid {key} state") from None
        remedy = ckpt.get("remedy") or {}
        self.aggressive = bool(remedy.get("aggressive", False))
        self.prev_mi = float(remedy.get("prev_mi", -math.inf))
        self.history = list(ckpt["history"])
        self.epoch = int(ckpt["epoch"])


# ------------------------------------------------------------------------------ steps


def _objective(cfg: TextTrainConfig, s: _State, batch: torch.Tensor, weight: float):
    out = s.model(batch, generator=s.gen, word_dropout_rate=cfg.word_dropout)
    return out, objective.objective(s.model, out, weight, cfg.free_bits)


def _update(cfg, params, opts, target) -> None:
    for o in opts:
        o.zero_grad()
    target.backward()
    if cfg.clip is not None:
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
    for o in opts:
        o.step()


def _aggressive_inner(cfg: TextTrainConfig, s: _State, x: torch.Tensor, weight: float) -> int:
    """He et al.'s inner loop: encoder-only updates on fresh random batches until the loss summed
    over the last AGGRESSIVE_CHECK updates stops falling (at most ``aggressive_inner``);
    returns the updates made."""
    enc = s.model.encoder_parameters()
    previous, current, done = math.inf, 0.0, 0
    for k in range(1, cfg.aggressive_inner + 1):
        idx = torch.randint(0, x.shape[0], (cfg.batch_size,), generator=s.inner_gen).to(x.device)
        _, target = _objective(cfg, s, x.index_select(0, idx), weight)
        _update(cfg, enc, [s.enc_opt], target)
        current += target.item()
        done = k
        if k % AGGRESSIVE_CHECK == 0:
            if previous - current < 0:
                break
            previous, current = current, 0.0
    return done


def _epoch(cfg: TextTrainConfig, s: _State, x: torch.Tensor, epoch: int, out: Path
           ) -> dict[str, float]:
    n = x.shape[0]
    spe = -(-n // cfg.batch_size)
    order = torch.randperm(n, generator=s.perm_gen).to(x.device)
    params = list(s.model.parameters())
    sums = {"loss": 0.0, "recon": 0.0, "objective": 0.0, "kl_total": 0.0}
    inner = 0
    weight = 1.0
    for b, i in enumerate(range(0, n, cfg.batch_size)):
        idx = order[i:i + cfg.batch_size]
        weight = 0.0 if epoch < cfg.ae_epochs else objective.kl_weight(
            cfg, (epoch - cfg.ae_epochs) * spe + b, (cfg.epochs - cfg.ae_epochs) * spe, spe)
        if s.aggressive:
            inner += _aggressive_inner(cfg, s, x, weight)
        o, target = _objective(cfg, s, x.index_select(0, idx), weight)
        value = target.item()
        if not math.isfinite(value):
            kept = (f"the last good checkpoint (epoch {epoch}) is kept in {out}" if epoch
                    else "no epoch finished, so there is no checkpoint")
            raise TrainingDiverged(f"the loss became {value} at epoch {epoch + 1}, batch {b + 1}; "
                                   f"{kept}. Try a smaller lr or a clip")
        if s.aggressive:  # the decoder alone: the encoder had its inner updates
            _update(cfg, s.model.decoder_parameters(), [s.dec_opt], target)
        else:
            _update(cfg, params, [s.enc_opt, s.dec_opt], target)
        w = len(idx) / n
        loss, recon, kl = torch.stack([o.loss, o.recon, o.kl["z"]]).detach().tolist()
        sums["loss"] += loss * w
        sums["recon"] += recon * w
        sums["objective"] += value * w
        sums["kl_total"] += kl * w
    sums["kl_weight"] = weight
    sums["encoder_updates"] = inner
    return sums


def evaluate(model: SeqVAE, x_eval: torch.Tensor, cfg: TextTrainConfig, seed: int) -> dict[str, Any]:
    """KL per dimension, active units, (ε, δ)-collapsed units, I(x; z) and the one-sample
    negative ELBO on the evaluation sentences (noise from its own seed)."""
    gen = torch.Generator(device=x_eval.device).manual_seed(seed)
    model.eval()
    with torch.no_grad():
        post = model.posteriors(x_eval)[0]
        kl = post.kl()
        out = model(x_eval, generator=gen)
    model.train()
    _, mask = eps_delta_collapse(kl, np.array([cfg.epsilon]), cfg.delta)
    return {"kl_per_dim": {"z": kl.mean(0).tolist()}, "active_units": {"z": int(active_units(post))},
            "n_collapsed": {"z": int(np.asarray(mask)[0].sum())},
            "eval_kl": float(kl.sum(1).mean()), "eval_recon": float(out.recon),
            "mutual_information": mutual_information(post, generator=gen)}


# ------------------------------------------------------------------------------ the run


def train_text(cfg: TextTrainConfig, out: str | os.PathLike, *, resume: bool = False,
               progress: bool = True, stop_after: int | None = None) -> dict[str, Any]:
    """Train ``cfg`` into run directory ``out`` (locked for the call); returns the last metrics
    line. ``resume``: continue from the checkpoint (the saved config wins; ``cfg.epochs`` may
    extend it). ``stop_after``: stop after that many epochs of this call (tests)."""
    run = RunDir(out)
    with run.lock():
        if resume:
            saved = read_text_config(run.path)
            saved.epochs = max(saved.epochs, cfg.epochs)
            cfg = saved.validate()
        elif run.checkpoint.exists():
            raise UserError(f"{run.path} already holds a run: resume it, or choose another run "
                            "directory")
        cfg.validate()
        saved_rt = run.runtime() if resume and run.config.exists() else None
        device = runtime.resolve_device(saved_rt.device if saved_rt else cfg.device)
        if saved_rt:
            torch.set_num_threads(saved_rt.threads)
        train, ev = load_data(cfg)
        model = build(cfg, train).to(device)
        s = _State(cfg, model, device)
        if resume and run.checkpoint.exists():
            s.load(run.load_checkpoint(), run.checkpoint)
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot use {run.path} as a run directory: {e.strerror or e}") from None
        atomic_write_json(run.config, {**cfg.to_dict(), "vocab_size": len(train.vocab),
                                       "max_len": train.max_len,
                                       runtime.KEY: runtime.current(device, STEP).to_dict()})
        x = torch.from_numpy(train.tokens).to(device)
        keep = torch.from_numpy(evaluation_index(ev.n, cfg.eval_points, 0))
        x_eval = torch.from_numpy(ev.tokens)[keep].to(device)
        start = s.epoch
        bar = _bar(progress, cfg.epochs - start)
        try:
            for epoch in range(start, cfg.epochs):
                if stop_after is not None and epoch - start >= stop_after:
                    break
                t0 = time.perf_counter()
                line = {"epoch": epoch + 1, **_epoch(cfg, s, x, epoch, run.path),
                        "aggressive": s.aggressive}
                line.update(evaluate(model, x_eval, cfg, cfg.seed + 7919 * (epoch + 1)))
                line["kl"] = {"z": line["kl_total"]}
                if s.aggressive and line["mutual_information"] < s.prev_mi:
                    s.aggressive = False  # He et al.: I(x; z) stopped rising
                s.prev_mi = line["mutual_information"]
                if cfg.ae_epochs and epoch + 1 == cfg.ae_epochs:
                    torch.manual_seed(cfg.seed + RESET_SEED_OFFSET)
                    model.reset_decoder()
                    s.dec_opt = torch.optim.Adam(model.decoder_parameters(), lr=cfg.lr)
                    line["decoder_reset"] = True
                line["seconds"] = time.perf_counter() - t0
                if not all(torch.isfinite(p).all() for p in model.parameters()):
                    raise TrainingDiverged(f"the weights became non-finite at epoch {epoch + 1}; "
                                           f"the last good checkpoint is kept in {run.path}")
                s.history.append(line)
                s.epoch = epoch + 1
                s.save(run.checkpoint)
                atomic_write_text(run.metrics, "".join(json.dumps(jsonable(h), allow_nan=False)
                                                         + "\n" for h in s.history))
                if bar:
                    bar.update(bar.task_ids[0], advance=1, status=(
                        f"KL {line['eval_kl']:.3g}  MI {line['mutual_information']:.3g}  "
                        f"active {line['active_units']['z']}"))
        finally:
            if bar:
                bar.stop()
        if s.epoch >= cfg.epochs and (s.epoch > start or not run.diagnostics.exists()):
            write_final(model, cfg, ev, x_eval, keep, run)
        return s.history[-1] if s.history else {}


def write_final(model: SeqVAE, cfg: TextTrainConfig, ev: TextData, x_eval: torch.Tensor,
                keep: torch.Tensor, run: RunDir) -> dict[str, Any]:
    """diagnostics.json (``diagnose`` on the evaluation sentences) and language.json: NLL per
    sentence = −(IS estimate of log p(x)), per token = that / mean ids per sentence (``<eos>``
    included), perplexity = exp(per token); five greedy reconstructions from the posterior
    means, chosen at random (seed 0)."""
    gen = torch.Generator(device=x_eval.device).manual_seed(cfg.seed + 31)
    model.eval()
    diag = diagnose(model, x_eval.float(), epsilon=cfg.epsilon, delta=cfg.delta,
                    is_samples=cfg.diagnostics_is_samples, generator=gen)
    atomic_write_json(run.diagnostics, diag)
    tokens = float(ev.lengths[keep.numpy()].mean())
    ll = diag["log_likelihood"]
    nll = None if ll is None else -ll["estimate"]
    pick = evaluation_index(x_eval.shape[0], 5, 0)
    with torch.no_grad():
        mean = model.posteriors(x_eval[torch.from_numpy(pick).to(x_eval.device)])[0].mean
        decoded = model.greedy(mean).cpu().numpy()
    lang = {"nll_per_sentence": nll, "tokens_per_sentence": tokens,
            "nll_per_token": None if nll is None else nll / tokens,
            "perplexity": None if nll is None else math.exp(nll / tokens),
            "is_samples": cfg.diagnostics_is_samples, "sentences": int(x_eval.shape[0]),
            "kl": diag["levels"][0]["kl_total"], "mutual_information": diag["mutual_information"],
            "active_units": diag["levels"][0]["active_units"],
            "reconstructions": [{"input": ev.decode(x_eval[i].cpu().numpy()),
                                 "greedy": ev.decode(d)} for i, d in zip(pick, decoded, strict=True)]}
    atomic_write_json(run.path / LANGUAGE, lang)
    return lang


def load_text_run(run_dir: str | os.PathLike, device: str = "cpu"):
    """(config, model with the last epoch's weights in eval mode, train data) of a text run."""
    cfg = read_text_config(run_dir)
    train = load_text(cfg.data)
    model = build(cfg, train)
    run = RunDir(run_dir)
    load_state(model, run.load_checkpoint()["model"], run.checkpoint)
    return cfg, model.to(runtime.resolve_device(device)).eval(), train


def _bar(enabled: bool, epochs: int):
    if not enabled:
        return None
    from rich.progress import (  # lazy: rare
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    p = Progress(TextColumn("seqvae epochs"), BarColumn(), MofNCompleteColumn(),
                 TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    p.start()
    p.add_task("train", total=epochs, status="")
    return p
