"""The trainer (train.py): reproducibility, resume, run-directory contents, divergence, atomic
writes, devices, and every family × backbone.

Oracles are independent of the trainer's own bookkeeping where possible: bit-for-bit equality with
an uninterrupted run (resume), with a fresh 1-epoch run (the checkpoint kept after a failure), the
loss relation loss = recon + β·KL, and per-dimension KLs recomputed from the saved model with
``torch.distributions``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil

import numpy as np
import pytest
import torch
from patching import patch_batch_calls
from torch.distributions import Normal, kl_divergence

from vaecollapse.config import (
    CONFIG_SCHEMA_VERSION,
    HYPERPARAMETER_NAMES,
    HYPERPARAMETERS,
    ModelConfig,
    TrainConfig,
    VAEHyperparameters,
    hyperparameters,
    migrate,
    model_config_for,
)
from vaecollapse.data import evaluation_index, load
from vaecollapse.errors import HyperparameterError, UserError
from vaecollapse.models import VAE
from vaecollapse.models.base import Output
from vaecollapse.models.fast_step import StepTerms
from vaecollapse.runs.rundir import (
    CHECKPOINT,
    CONFIG,
    DIAGNOSTICS,
    METRICS,
    load_checkpoint,
    load_model,
    read_config,
)
from vaecollapse.runs.train import TrainingDiverged, train

CONTRACT = {"vaecollapse_version", "schema_version", "levels", "active_groups",
            "mutual_information", "eps_delta", "n_collapsed", "log_likelihood", "theory"}
METRIC_KEYS = {"epoch", "loss", "recon", "kl_total", "kl", "kl_per_dim", "active_units",
               "n_collapsed", "seconds"}
RUN_FILES = {CONFIG, METRICS, CHECKPOINT, DIAGNOSTICS}
SYNTH = "synthetic:corr=gaussian-0.5,n=200,dim=8"

# name -> (data spec, family, backbone, extra model hyperparameters)
CASES = {
    "vae-mlp": ("mnist:n=300", "vae", "mlp", {}),
    "cvae-linear": ("mnist:n=300,split=quarter", "cvae", "linear", {}),
    "mhvae-mlp": ("mnist:n=300", "mhvae", "mlp", {"sigma1": 0.5}),
    "vae-mlp-cosine": ("mnist:n=300", "vae", "mlp", {}),  # lr annealed over all steps
}
N, BATCH = 300, 64
BATCHES_PER_EPOCH = math.ceil(N / BATCH)  # 5: four full batches and one of 44
# train.py formats the diverged loss with float(o.loss) on a tensor that requires grad (torch warns)
GRAD_SCALAR_WARNING = "ignore:Converting a tensor with requires_grad=True to a scalar:UserWarning"




def make_cfg(spec: str, family: str = "vae", backbone: str = "mlp", *, latent: int = 2,
             hidden=(8,), epochs: int = 2, batch: int = BATCH, seed: int = 0, lr: float = 5e-3,
             **hp) -> TrainConfig:
    ds = load(spec)
    mcfg = model_config_for(ds, family, backbone, latent, hidden=list(hidden), **hp)
    return TrainConfig(data=spec, model=mcfg, epochs=epochs, lr=lr, batch_size=batch, seed=seed,
                       device="cpu", eval_points=200, diagnostics_is_samples=5)


def case_cfg(name: str, **kw) -> TrainConfig:
    spec, family, backbone, hp = CASES[name]
    cfg = make_cfg(spec, family, backbone, **hp, **kw)
    if name.endswith("-cosine"):
        cfg.schedule = "cosine"
    return cfg


def metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / METRICS).read_text().splitlines()]


def no_seconds(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "seconds"} for m in lines]


def weights(run) -> dict[str, torch.Tensor]:
    return load_checkpoint(run)["model"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def hidden_files(run) -> list[str]:
    return [p.name for p in run.iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs, trained once per module: reference(name, epochs) -> run directory."""
    cache = {}

    def get(name: str, epochs: int = 4):
        if (name, epochs) not in cache:
            run = tmp_path_factory.mktemp(f"ref-{name}-{epochs}")
            train(case_cfg(name, epochs=epochs), run, progress=False)
            cache[name, epochs] = run
        return cache[name, epochs]

    return get


def patch_forward(monkeypatch, cls, at_call: int, action):
    """Wrap the trainer's per-batch call for ``cls`` models (``forward`` or the hand-differentiated
    step): on the ``at_call``-th call (counting from 1) ``action(output)`` is returned (or
    raises) instead of the output."""
    calls = {"n": 0}

    def make(original):
        def call(self, *args, **kwargs):
            calls["n"] += 1
            out = original(self, *args, **kwargs)
            return action(out) if calls["n"] == at_call else out
        return call

    patch_batch_calls(monkeypatch, cls, make)
    return calls


def nan_loss(out: Output | StepTerms) -> Output | StepTerms:
    nan = float("nan")
    if isinstance(out, StepTerms):
        return StepTerms(out.loss * nan, out.recon, out.kl, out.objective * nan)
    return Output(out.loss * nan, out.recon, out.kl, out.posteriors)


def interrupt(out: Output) -> Output:
    raise KeyboardInterrupt


# ------------------------------------------------------------------------------ reproducibility


def test_same_seed_same_numbers_different_seed_different(tmp_path, reference):
    ref = reference("vae-mlp")
    same, other = tmp_path / "same", tmp_path / "other"
    last = train(case_cfg("vae-mlp", epochs=4), same, progress=False)
    train(case_cfg("vae-mlp", epochs=4, seed=1), other, progress=False)

    assert no_seconds(metrics(same)) == no_seconds(metrics(ref))
    assert no_seconds([last]) == no_seconds(metrics(ref)[-1:])
    assert_same_weights(weights(same), weights(ref))
    assert json.loads((same / DIAGNOSTICS).read_text()) == json.loads((ref / DIAGNOSTICS).read_text())

    assert all(a["loss"] != b["loss"] for a, b in zip(metrics(other), metrics(ref), strict=True))
    w_other, w_ref = weights(other), weights(ref)
    assert w_other.keys() == w_ref.keys()
    assert not any(torch.equal(w_other[k], w_ref[k]) for k in w_ref)  # every tensor is learnt here


# ------------------------------------------------------------------------------ resume


@pytest.mark.parametrize("name", list(CASES))
def test_resume_equals_uninterrupted(tmp_path, reference, name):
    ref = reference(name)
    run = tmp_path / "run"
    last = train(case_cfg(name, epochs=4), run, progress=False, stop_after=2)
    assert last["epoch"] == 2
    assert load_checkpoint(run)["epoch"] == 2
    assert len(metrics(run)) == 2
    assert not (run / DIAGNOSTICS).exists()  # unfinished runs get no final diagnostics

    train(case_cfg(name, epochs=4), run, resume=True, progress=False)
    assert no_seconds(metrics(run)) == no_seconds(metrics(ref))
    assert_same_weights(weights(run), weights(ref))
    a, b = load_checkpoint(run), load_checkpoint(ref)
    assert a["epoch"] == b["epoch"] == 4
    assert torch.equal(a["generator"], b["generator"])
    assert torch.equal(a["perm_generator"], b["perm_generator"])
    assert json.loads((run / DIAGNOSTICS).read_text()) == json.loads((ref / DIAGNOSTICS).read_text())
    if name.endswith("-cosine"):  # the schedule really changes the run
        constant = metrics(reference(name.removesuffix("-cosine")))
        assert all(a["loss"] != b["loss"] for a, b in zip(metrics(ref)[1:], constant[1:], strict=True))


def test_resume_in_three_pieces(tmp_path, reference):
    run = tmp_path / "run"
    train(case_cfg("vae-mlp", epochs=4), run, progress=False, stop_after=1)
    train(case_cfg("vae-mlp", epochs=4), run, resume=True, progress=False, stop_after=2)
    assert load_checkpoint(run)["epoch"] == 3
    train(case_cfg("vae-mlp", epochs=4), run, resume=True, progress=False)
    ref = reference("vae-mlp")
    assert no_seconds(metrics(run)) == no_seconds(metrics(ref))
    assert_same_weights(weights(run), weights(ref))


def test_resume_with_more_epochs_extends_the_run(tmp_path, reference):
    run = tmp_path / "run"
    train(case_cfg("vae-mlp", epochs=2), run, progress=False)
    first_two = metrics(run)
    assert (run / DIAGNOSTICS).exists()

    last = train(case_cfg("vae-mlp", epochs=3), run, resume=True, progress=False)
    lines = metrics(run)
    assert [m["epoch"] for m in lines] == [1, 2, 3] and last["epoch"] == 3
    assert lines[:2] == first_two  # history is kept as it was, "seconds" included
    assert no_seconds(lines) == no_seconds(metrics(reference("vae-mlp"))[:3])
    assert read_config(run).epochs == 3
    assert load_checkpoint(run)["epoch"] == 3

    # a smaller epochs never shrinks a run: nothing to do
    train(case_cfg("vae-mlp", epochs=1), run, resume=True, progress=False)
    assert metrics(run) == lines and read_config(run).epochs == 3


def test_training_into_an_existing_run_needs_resume(tmp_path):
    run = tmp_path / "run"
    train(make_cfg(SYNTH, epochs=1), run, progress=False)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(UserError, match="resume it"):
        train(make_cfg(SYNTH, epochs=1), run, progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_resume_without_a_checkpoint(tmp_path):
    with pytest.raises(UserError, match="config.json"):
        train(make_cfg(SYNTH), tmp_path / "missing", resume=True, progress=False)
    # a directory with a config but no checkpoint (interrupted or diverged in its first epoch):
    # resume starts it again from the saved config, as Ctrl-C's advice promises (#17)
    src, run = tmp_path / "src", tmp_path / "run"
    train(make_cfg(SYNTH, epochs=1), src, progress=False)
    run.mkdir()
    (run / CONFIG).write_bytes((src / CONFIG).read_bytes())
    train(make_cfg(SYNTH, epochs=1), run, resume=True, progress=False)
    assert load_checkpoint(run)["epoch"] == 1
    a, b = load_checkpoint(src)["model"], load_checkpoint(run)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_checkpoint_is_a_user_error(tmp_path, damage):
    run = tmp_path / "run"
    train(make_cfg(SYNTH, epochs=1), run, progress=False)
    ckpt = run / CHECKPOINT
    good = ckpt.read_bytes()
    ckpt.write_bytes({"garbage": b"this is not a checkpoint \x00\xff" * 20,
                      "truncated": good[:len(good) // 2], "empty": b""}[damage])
    with pytest.raises(UserError, match="cannot read"):
        train(make_cfg(SYNTH, epochs=2), run, resume=True, progress=False)
    with pytest.raises(UserError, match="cannot read"):
        load_model(run)


@pytest.mark.parametrize("kind", ["other-run", "not-a-checkpoint-dict"])
def test_checkpoint_of_another_run_is_a_user_error(tmp_path, kind):
    run, other = tmp_path / "run", tmp_path / "other"
    train(make_cfg(SYNTH, epochs=1, latent=2), run, progress=False)
    if kind == "other-run":
        train(make_cfg(SYNTH, epochs=1, latent=3), other, progress=False)
        (run / CHECKPOINT).write_bytes((other / CHECKPOINT).read_bytes())
    else:
        torch.save({"epoch": 1}, run / CHECKPOINT)
    with pytest.raises(UserError):
        train(make_cfg(SYNTH, epochs=2), run, resume=True, progress=False)


# ------------------------------------------------------------------------------ run directory


@pytest.mark.parametrize("name", list(CASES))
def test_run_directory_contents(reference, name):
    run = reference(name)
    cfg = case_cfg(name, epochs=4)
    assert {p.name for p in run.iterdir()} == RUN_FILES

    saved = json.loads((run / CONFIG).read_text())
    assert TrainConfig.from_dict(saved) == cfg
    assert TrainConfig.from_dict(saved).to_dict() == {k: v for k, v in saved.items() if k != "runtime"}
    assert saved["runtime"]["threads"] >= 1 and saved["runtime"]["device"] == "cpu"
    assert read_config(run) == cfg

    levels = ["z1", "z2"] if cfg.model.family == "mhvae" else ["z"]
    lines = metrics(run)
    assert [m["epoch"] for m in lines] == [1, 2, 3, 4]
    for m in lines:
        assert set(m) == METRIC_KEYS
        for key in ("kl", "kl_per_dim", "active_units", "n_collapsed"):
            assert list(m[key]) == levels, key
        for lev in levels:
            assert len(m["kl_per_dim"][lev]) == cfg.model.latent_dim
            assert all(math.isfinite(v) for v in m["kl_per_dim"][lev])
            assert isinstance(m["active_units"][lev], int)
            assert 0 <= m["active_units"][lev] <= cfg.model.latent_dim
            assert isinstance(m["n_collapsed"][lev], int)
            assert 0 <= m["n_collapsed"][lev] <= cfg.model.latent_dim
        assert m["kl_total"] == pytest.approx(sum(m["kl"].values()), rel=1e-12, abs=1e-12)
        assert all(math.isfinite(m[k]) for k in ("loss", "recon", "kl_total"))
        assert m["seconds"] >= 0

    diag = json.loads((run / DIAGNOSTICS).read_text())
    assert set(diag) == CONTRACT
    assert [lev["name"] for lev in diag["levels"]] == levels
    assert diag["n_collapsed"] == len(diag["levels"][-1]["collapsed_dims"])
    assert diag["log_likelihood"]["samples"] == cfg.diagnostics_is_samples
    assert (diag["theory"] is not None) == (cfg.model.backbone == "linear")

    ckpt = load_checkpoint(run)
    assert set(ckpt) == {"epoch", "model", "optimizer", "generator", "perm_generator", "history"}
    assert no_seconds(ckpt["history"]) == no_seconds(lines)


@pytest.mark.parametrize("family", ["vae", "mhvae"])
def test_loss_is_recon_plus_weighted_kl(tmp_path, family):
    """An independent relation from the loss convention, on every epoch's averages."""
    hp = {"beta": 2.5} if family == "vae" else {"beta1": 1.5, "beta2": 3.0, "sigma1": 0.5}
    cfg = make_cfg("mnist:n=300", family, "mlp", epochs=2, **hp)
    train(cfg, tmp_path / "run", progress=False)
    for m in metrics(tmp_path / "run"):
        if family == "vae":
            expected = m["recon"] + 2.5 * m["kl_total"]
        else:
            expected = m["recon"] + 1.5 * m["kl"]["z1"] + 3.0 * m["kl"]["z2"]
        assert m["loss"] == pytest.approx(expected, rel=1e-5)
        assert m["kl_total"] > 0


def test_epoch_metrics_match_an_independent_recomputation(tmp_path):
    """Last epoch's kl_per_dim / active_units / n_collapsed, recomputed from the saved weights with
    torch.distributions on the run's evaluation sample, against the prior N(0, η_enc² I)."""
    eta_enc = 1.3
    cfg = make_cfg("mnist:n=300", "vae", "mlp", latent=4, epochs=2, eta_enc=eta_enc)
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    _, model, _ = load_model(run)
    x = torch.from_numpy(load(cfg.data).x[evaluation_index(300, cfg.eval_points, cfg.eval_seed)])
    with torch.no_grad():
        mean, logvar = model.encode(x)
    kl = kl_divergence(Normal(mean.double(), (0.5 * logvar.double()).exp()),
                       Normal(torch.zeros_like(mean.double()), eta_enc))
    last = metrics(run)[-1]
    np.testing.assert_allclose(last["kl_per_dim"]["z"], kl.mean(0).numpy(), rtol=1e-4, atol=1e-7)
    assert last["active_units"]["z"] == int((mean.double().var(0, correction=0) > 0.01).sum())
    collapsed = ((kl < cfg.epsilon).double().mean(0) >= 1 - cfg.delta).sum()
    assert last["n_collapsed"]["z"] == int(collapsed)


# ------------------------------------------------------------------------------ divergence


@pytest.mark.filterwarnings(GRAD_SCALAR_WARNING)
def test_nan_loss_keeps_the_last_good_epoch_and_resume_recovers(tmp_path, monkeypatch, reference):
    run, one = tmp_path / "run", tmp_path / "one-epoch"
    train(case_cfg("vae-mlp", epochs=1), one, progress=False)  # the oracle for "last good epoch"

    calls = patch_forward(monkeypatch, VAE, BATCHES_PER_EPOCH + 2, nan_loss)  # epoch 2, batch 2
    with pytest.raises(TrainingDiverged, match=r"epoch 2\b") as info:
        train(case_cfg("vae-mlp", epochs=4), run, progress=False)
    assert calls["n"] == BATCHES_PER_EPOCH + 2
    assert "batch 2" in str(info.value)
    assert isinstance(info.value, UserError)
    ckpt = load_checkpoint(run)
    assert ckpt["epoch"] == 1
    assert_same_weights(ckpt["model"], weights(one))
    assert no_seconds(metrics(run)) == no_seconds(metrics(one))
    assert not (run / DIAGNOSTICS).exists()
    assert hidden_files(run) == []

    monkeypatch.undo()  # the NaN was transient: resuming gives the uninterrupted run
    train(case_cfg("vae-mlp", epochs=4), run, resume=True, progress=False)
    ref = reference("vae-mlp")
    assert no_seconds(metrics(run)) == no_seconds(metrics(ref))
    assert_same_weights(weights(run), weights(ref))


def gaussian_npz(tmp_path, scale: float):
    path = tmp_path / "gaussian.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=(rng.standard_normal((200, 8)) * scale).astype(np.float32))
    return f"npz:{path}"


@pytest.mark.filterwarnings(GRAD_SCALAR_WARNING)
def test_real_divergence_with_a_huge_learning_rate(tmp_path):
    spec = gaussian_npz(tmp_path, scale=1e3)  # huge values
    cfg = make_cfg(spec, "vae", "mlp", epochs=5, lr=1e6, batch=200, sigma=1.0)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as info:
        train(cfg, run, progress=False)
    epoch = int(re.search(r"at epoch (\d+)", str(info.value)).group(1))
    assert epoch >= 2
    assert load_checkpoint(run)["epoch"] == epoch - 1
    assert [m["epoch"] for m in metrics(run)] == list(range(1, epoch))
    assert not (run / DIAGNOSTICS).exists()


@pytest.mark.filterwarnings(GRAD_SCALAR_WARNING)
def test_divergence_in_the_first_epoch_claims_no_checkpoint(tmp_path, monkeypatch):
    patch_forward(monkeypatch, VAE, 1, nan_loss)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"epoch 1\b") as info:
        train(make_cfg(SYNTH, epochs=2), run, progress=False)
    assert not (run / CHECKPOINT).exists()
    assert "kept" not in str(info.value)


def _overflowing_run(tmp_path):
    """lr=1e10 on N(0, 1) data, one batch per epoch: epoch 1's loss is finite, but its last Adam
    step blows the model up (its KL is already infinite in epoch 1's metrics); today the loss
    becomes inf in epoch 2. A fix may equally report the divergence in epoch 1."""
    spec = gaussian_npz(tmp_path, scale=1.0)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged):
        train(make_cfg(spec, "vae", "mlp", epochs=4, lr=1e10, batch=200, sigma=1.0), run,
              progress=False)
    return spec, run


@pytest.mark.filterwarnings(GRAD_SCALAR_WARNING)
def test_kept_checkpoint_after_divergence_is_usable(tmp_path):
    spec, run = _overflowing_run(tmp_path)
    if not (run / CHECKPOINT).exists():
        return  # diverged before any good epoch: nothing kept is fine
    _, model, _ = load_model(run)
    x = torch.from_numpy(load(spec).x)
    with torch.no_grad():
        out = model(x, None, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out.loss)


@pytest.mark.filterwarnings(GRAD_SCALAR_WARNING)
def test_metrics_jsonl_stays_strict_json_when_metrics_overflow(tmp_path):
    _, run = _overflowing_run(tmp_path)

    def reject(token):
        raise ValueError(f"non-JSON constant {token}")

    if (run / METRICS).exists():
        for line in (run / METRICS).read_text().splitlines():
            json.loads(line, parse_constant=reject)


def test_final_diagnostics_of_a_large_weight_linear_model(tmp_path):
    spec = gaussian_npz(tmp_path, scale=1.0)
    cfg = make_cfg(spec, "vae", "linear", epochs=1, lr=1e4, batch=200, sigma=1.0)
    try:
        train(cfg, tmp_path / "run", progress=False)
    except UserError:
        pass  # reporting divergence would be fine too


# ------------------------------------------------------------------------------ atomic writes


def test_interrupt_mid_epoch_keeps_the_previous_checkpoint(tmp_path, monkeypatch, reference):
    run = tmp_path / "run"
    patch_forward(monkeypatch, VAE, BATCHES_PER_EPOCH + 3, interrupt)  # epoch 2, batch 3
    with pytest.raises(KeyboardInterrupt):
        train(case_cfg("vae-mlp", epochs=4), run, progress=False)
    assert load_checkpoint(run)["epoch"] == 1
    assert [m["epoch"] for m in metrics(run)] == [1]
    assert hidden_files(run) == []
    assert {p.name for p in run.iterdir()} == {CONFIG, METRICS, CHECKPOINT}

    monkeypatch.undo()
    train(case_cfg("vae-mlp", epochs=4), run, resume=True, progress=False)
    ref = reference("vae-mlp")
    assert no_seconds(metrics(run)) == no_seconds(metrics(ref))
    assert_same_weights(weights(run), weights(ref))


def test_interrupt_while_writing_a_checkpoint(tmp_path, monkeypatch):
    """Ctrl-C in the middle of torch.save of epoch 2: the half-written temporary file is removed
    and checkpoint.pt still holds epoch 1, complete."""
    run = tmp_path / "run"
    real_save = torch.save
    calls = {"n": 0}

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            with open(f, "wb") as fh:
                fh.write(b"PK\x03\x04 half a checkpoint")
            raise KeyboardInterrupt
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(KeyboardInterrupt):
        train(make_cfg(SYNTH, epochs=3), run, progress=False)
    monkeypatch.undo()
    assert calls["n"] == 2
    assert hidden_files(run) == []
    ckpt = load_checkpoint(run)
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1
    assert [m["epoch"] for m in metrics(run)] == [1]


# ------------------------------------------------------------------------------ devices


def test_cpu_device(tmp_path):
    cfg = make_cfg(SYNTH, epochs=1)
    assert cfg.device == "cpu"
    train(cfg, tmp_path / "run", progress=False)
    _, model, _ = load_model(tmp_path / "run", device="cpu")
    assert all(p.device.type == "cpu" for p in model.parameters())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_a_hyperparameter_error(tmp_path, device):
    cfg = make_cfg(SYNTH, epochs=1)
    cfg.device = device
    with pytest.raises(HyperparameterError, match="CUDA"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_unknown_device_is_a_hyperparameter_error(tmp_path):
    cfg = make_cfg(SYNTH, epochs=1)
    cfg.device = "tpu"
    with pytest.raises(HyperparameterError, match="device"):
        train(cfg, tmp_path / "run", progress=False)


# ------------------------------------------------------------------------------ families × backbones


def _all_finite(value) -> bool:
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


FAMILY_BACKBONE = [
    ("vae", "linear", "mnist:n=200", {}),
    ("vae", "mlp", "mnist:n=200", {}),
    ("vae", "cnn", "mnist:n=200", {}),
    ("cvae", "linear", "mnist:n=200,split=quarter", {}),
    ("cvae", "mlp", "mnist:n=200,split=quarter", {}),
    ("cvae", "cnn", "mnist:n=200,split=quarter", {}),
    ("mhvae", "linear", "mnist:n=200", {"sigma1": 0.5}),
    ("mhvae", "mlp", "mnist:n=200", {}),
    ("mhvae", "cnn", "mnist:n=200", {}),
]


@pytest.mark.parametrize("family,backbone,spec,hp",
                         [pytest.param(*c, id=f"{c[0]}-{c[1]}") for c in FAMILY_BACKBONE])
def test_every_family_and_backbone_trains(tmp_path, family, backbone, spec, hp):
    cfg = make_cfg(spec, family, backbone, latent=2, hidden=(16,), epochs=1, **hp)
    run = tmp_path / "run"
    last = train(cfg, run, progress=False)
    assert last["epoch"] == 1
    assert math.isfinite(last["loss"]) and _all_finite(last)
    assert {p.name for p in run.iterdir()} == RUN_FILES
    levels = ["z1", "z2"] if family == "mhvae" else ["z"]
    diag = json.loads((run / DIAGNOSTICS).read_text())
    assert set(diag) == CONTRACT and [lev["name"] for lev in diag["levels"]] == levels
    _, model, _ = load_model(run)
    assert type(model).__name__ == family.upper() and model.cfg.backbone == backbone


def test_resnet18_vae_trains(tmp_path):
    """About 4 s on one idle core (under the 5 s bar for `slow`). The checkpoint is ~185 MB (an
    11M-parameter encoder plus Adam state), so the run directory is removed afterwards rather
    than left to pytest's retained temporary directories."""
    run = tmp_path / "run"
    try:
        cfg = make_cfg("mnist:n=16", "vae", "resnet18", latent=2, epochs=1, batch=16)
        last = train(cfg, run, progress=False)
        assert last["epoch"] == 1 and math.isfinite(last["loss"]) and _all_finite(last)
        assert json.loads((run / DIAGNOSTICS).read_text()).keys() == CONTRACT
    finally:
        shutil.rmtree(run, ignore_errors=True)


# ------------------------------------------------------------------------------ config.json layout


def test_config_json_nests_the_family_hyperparameters(tmp_path):
    """config.json carries schema_version and only the family's hyperparameters (no beta1/beta2
    in a VAE's config)."""
    run = tmp_path / "run"
    cfg = make_cfg(SYNTH, "mhvae", "mlp", epochs=1, sigma1=0.5, beta2=2.0)
    train(cfg, run, progress=False)
    saved = json.loads((run / CONFIG).read_text())
    assert saved["schema_version"] == CONFIG_SCHEMA_VERSION
    deeper = {f"{p}{k}": None for p in ("beta", "sigma") for k in (3, 4, 5)}
    assert saved["model"]["hyperparameters"] == {"beta1": 1.0, "beta2": 2.0, "eta_enc": 1.0,
                                                 "eta_dec": 1.0, "sigma1": 0.5, "sigma2": None,
                                                 "levels": 2, "inference": "markov", **deeper}
    assert not set(HYPERPARAMETER_NAMES) & set(saved["model"])
    vae = make_cfg(SYNTH, epochs=1).to_dict()
    assert set(vae["model"]["hyperparameters"]) == {"beta", "eta_enc", "eta_dec", "sigma"}


def old_layout(saved: dict) -> dict:
    """A config.json as written before schema_version: flat hyperparameters of every family."""
    old = {k: v for k, v in saved.items() if k != "schema_version"}
    model = dict(old["model"])
    hp = model.pop("hyperparameters")
    model.update({"beta": 1.0, "beta1": 1.0, "beta2": 1.0, "eta_enc": 1.0, "eta_dec": 1.0,
                  "sigma": None, "sigma1": None, "sigma2": None, **hp})
    return {**old, "model": model}


@pytest.mark.parametrize("family,hp", [("vae", {"beta": 0.5, "sigma": 0.7}),
                                       ("cvae", {"eta_dec": 0.8}),
                                       ("mhvae", {"beta1": 2.0, "sigma1": 0.5})])
def test_an_old_config_json_is_migrated_on_read(tmp_path, family, hp):
    spec = "mnist:n=100,split=quarter" if family == "cvae" else SYNTH
    cfg = make_cfg(spec, family, "linear", epochs=1, **hp)
    run = tmp_path / "run"
    run.mkdir()
    (run / CONFIG).write_text(json.dumps(old_layout(cfg.to_dict())))
    assert read_config(run) == cfg
    assert TrainConfig.from_dict(old_layout(cfg.to_dict())) == cfg
    assert migrate(old_layout(cfg.to_dict())) == json.loads(json.dumps(cfg.to_dict()))
    # and the run resumes from it (an interrupted old run: config.json, no checkpoint yet)
    train(cfg, run, resume=True, progress=False)
    assert json.loads((run / CONFIG).read_text())["schema_version"] == CONFIG_SCHEMA_VERSION


@pytest.mark.parametrize("edit,needle", [
    (lambda d: d.update(schema_version=99), "schema_version 99"),
    (lambda d: d["model"]["hyperparameters"].update(beta1=2.0), "unknown key model.hyperparameters.beta1"),
    (lambda d: d["model"]["hyperparameters"].update(beta=-1.0), "beta must be a finite number > 0"),
    (lambda d: d["model"]["hyperparameters"].update(beta="x"), "model.hyperparameters.beta"),
    (lambda d: d["model"].update(family="gan"), "model.family"),
])
def test_a_bad_config_json_names_the_key(tmp_path, edit, needle):
    d = make_cfg(SYNTH, epochs=1).to_dict()
    edit(d)
    (tmp_path / CONFIG).write_text(json.dumps(d))
    with pytest.raises(UserError, match=re.escape(needle)):
        read_config(tmp_path)


def test_hyperparameters_are_typed_per_family_and_validated_once():
    assert set(HYPERPARAMETERS) == {"vae", "cvae", "mhvae"}
    assert HYPERPARAMETERS["cvae"] is not HYPERPARAMETERS["vae"]
    assert HYPERPARAMETERS["mhvae"].names() == ("beta1", "beta2", "eta_enc", "eta_dec",
                                                "sigma1", "sigma2", "levels", "inference",
                                                "beta3", "beta4", "beta5", "sigma3", "sigma4",
                                                "sigma5")
    hp = hyperparameters("vae", beta=0.5)
    assert hp == VAEHyperparameters(beta=0.5) and hp.level_weight("z") == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.beta = 2.0
    for bad in ({"beta": 0.0}, {"eta_dec": math.inf}, {"sigma": -1.0}, {"beta": 1e7}):
        with pytest.raises(HyperparameterError):
            VAEHyperparameters(**bad)
    with pytest.raises(HyperparameterError, match="MHVAE takes beta1"):
        hyperparameters("mhvae", beta=2.0)
    with pytest.raises(HyperparameterError, match=r"sigma2 is for the MHVAE"):
        hyperparameters("cvae", sigma2=1.0)
    with pytest.raises(HyperparameterError, match="MHVAEHyperparameters"):
        ModelConfig(family="mhvae", backbone="mlp", dim_x=4, latent_dim=2,
                    hyperparameters=VAEHyperparameters()).validate()
