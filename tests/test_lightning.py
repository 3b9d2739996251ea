"""CollapseMonitorCallback inside real Lightning fits: what it logs, which batches it measures,
the train/eval mode and grad state around its calls, every_n_epochs, the one warning."""

from __future__ import annotations

import csv
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("pytorch_lightning")

from vaecollapse.diagnostics import diagnose  # noqa: E402
from vaecollapse.integrations.lightning import CollapseMonitorCallback, CollapseWarning  # noqa: E402
from vaecollapse.models import Posterior  # noqa: E402

D = 3
pytestmark = [pytest.mark.filterwarnings("ignore:.*LeafSpec.*:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:Found 1 module.s. in eval mode")]


class Tiny(pl.LightningModule):
    """A linear Gaussian encoder with a dropout and a frozen batch-norm (kept in eval mode);
    ``lr = 0`` keeps the weights fixed so the measured posteriors are the final model's."""

    def __init__(self, lr: float = 0.0, validate: bool = True):
        super().__init__()
        self.enc = nn.Linear(4, 2 * D)
        self.drop = nn.Dropout(0.5)
        self.frozen = nn.BatchNorm1d(4)
        self.lr, self.seen_modes = lr, []
        if not validate:
            self.validation_step = None  # no validation loop

    def on_fit_start(self):
        self.frozen.eval()

    def posteriors(self, batch):
        assert not self.training and not torch.is_grad_enabled()
        self.seen_modes.append((self.training, self.frozen.training))
        mean, logvar = self.enc(self.frozen(batch[0])).chunk(2, -1)
        return [Posterior("z", mean, logvar - 1.0)]

    def training_step(self, batch, batch_idx):
        assert self.training and not self.frozen.training and self.drop.training
        mean, logvar = self.enc(self.drop(self.frozen(batch[0]))).chunk(2, -1)
        return (mean**2 + logvar**2).mean()

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def data(n: int, seed: int) -> DataLoader:
    x = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed)) * 2
    return DataLoader(TensorDataset(x), batch_size=16)


def fit(module, callback, epochs: int, tmp_path, val: bool = True):
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, callbacks=[callback],
                         logger=pl.loggers.CSVLogger(str(tmp_path)), enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         log_every_n_steps=1)
    train = data(70, 0)
    trainer.fit(module, train, data(45, 1) if val else None)
    with open(f"{trainer.logger.log_dir}/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return trainer, train, [r for r in rows if r.get("collapse/z/kl_total")]


def reference(module, loader):
    """diagnose on the loader's whole data, with the module in eval mode (restored after)."""
    x = loader.dataset.tensors[0]
    training = module.training
    module.eval()
    try:
        return diagnose(lambda xb, yb=None: module.posteriors((xb,)), x, is_samples=0)["levels"][0]
    finally:
        module.train(training)
        module.frozen.eval()


def test_validation_batches_logged_and_equal_diagnose(tmp_path):
    module = Tiny()
    cb = CollapseMonitorCallback()
    trainer, _, rows = fit(module, cb, 2, tmp_path)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert cb.monitor.n == 45  # the validation set, without the sanity-check batches
    ref = reference(module, data(45, 1))
    last = rows[-1]
    assert float(last["collapse/z/kl_total"]) == pytest.approx(ref["kl_total"], rel=1e-6)
    for i in range(D):
        assert float(last[f"collapse/z/kl_{i}"]) == pytest.approx(ref["kl_per_dim"][i], rel=1e-6)
    assert float(last["collapse/z/n_collapsed"]) == len(ref["collapsed_dims"])
    assert float(last["collapse/z/active_units"]) == ref["active_units"]
    assert float(last["collapse/z/active_modes"]) == ref["active_modes"]
    assert all(m == (False, False) for m in module.seen_modes)


def test_training_batches_without_validation_loop_and_modes_restored(tmp_path):
    module = Tiny(validate=False)
    seen = []

    def posteriors(pl_module, batch):  # a user function instead of the method
        seen.append(batch[0].shape[0])
        return pl_module.posteriors(batch)

    cb = CollapseMonitorCallback(posteriors=posteriors)
    trainer, train, rows = fit(module, cb, 1, tmp_path, val=False)
    assert sum(seen) == 70 and cb.monitor.n == 70 and len(rows) == 1
    ref = reference(module, train)
    assert cb.last[0]["kl_per_dim"] == pytest.approx(ref["kl_per_dim"], rel=1e-9)
    # training_step's assertions held on every later batch: train mode restored, frozen kept
    assert module.training and not module.frozen.training


def test_every_n_epochs_and_one_warning(tmp_path):
    cb = CollapseMonitorCallback(every_n_epochs=2, warn_above=0, epsilon=10.0)  # all collapsed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, _, rows = fit(Tiny(), cb, 4, tmp_path)
    assert [int(r["epoch"]) for r in rows] == [1, 3]
    assert float(rows[0]["collapse/z/n_collapsed"]) == D
    ours = [w for w in caught if issubclass(w.category, CollapseWarning)]
    assert len(ours) == 1 and "3 of 3 dimensions of z" in str(ours[0].message)


def test_missing_posteriors_is_a_clear_error(tmp_path):
    class NoPosteriors(Tiny):
        posteriors = None

        def training_step(self, batch, batch_idx):
            return self.enc(batch[0]).sum() * 0

    with pytest.raises(AttributeError, match="no posteriors"):
        fit(NoPosteriors(validate=False), CollapseMonitorCallback(), 1, tmp_path, val=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="every_n_epochs"):
        CollapseMonitorCallback(every_n_epochs=0)
    with pytest.raises(ValueError, match="warn_above"):
        CollapseMonitorCallback(warn_above=-1)


class Quantised(Tiny):
    """Tiny with a fixed 2-level quantiser: code = argmin distance of the encoder's 2-d output
    to each level's 5 fixed code vectors."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.register_buffer("codes", torch.randn(2, 5, 2, generator=g) * 2)

    def code_indices(self, batch):
        h = self.enc(self.frozen(batch[0]))[:, :4].reshape(-1, 2, 2)  # (n, level, 2)
        return torch.cdist(h.transpose(0, 1), self.codes).argmin(-1).T  # (n, level)


def test_codebook_callback_logs_epoch_level_usage(tmp_path):
    """The codebook callback logs, per level, the perplexity and dead codes of the whole
    validation set's code frequencies (counted here independently with bincount)."""
    from vaecollapse.integrations.lightning import CodebookMonitorCallback

    module = Quantised()
    cb = CodebookMonitorCallback(num_codes=5, levels=2)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, callbacks=[cb],
                         logger=pl.loggers.CSVLogger(str(tmp_path)), enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    val = data(45, 1)
    trainer.fit(module, data(70, 0), val)
    with open(f"{trainer.logger.log_dir}/metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("codebook/0/perplexity")]
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    module.eval()
    with torch.no_grad():
        idx = module.code_indices((val.dataset.tensors[0],))
    for level in range(2):
        counts = torch.bincount(idx[:, level], minlength=5).double()
        p = counts[counts > 0] / counts.sum()
        assert float(rows[-1][f"codebook/{level}/perplexity"]) == pytest.approx(
            float(torch.exp(-(p * p.log()).sum())), rel=1e-6)  # logged as float32
        assert float(rows[-1][f"codebook/{level}/dead_codes"]) == int((counts == 0).sum())
    with pytest.raises(AttributeError, match="code_indices"):
        fit(Tiny(), CodebookMonitorCallback(num_codes=5), 1, tmp_path / "b")
