"""Evaluation subsets are seeded random samples of the evaluated data, never its first N rows, and
the embedded digits have a fixed, label-stratified test part.

The embedded digits are stored sorted by label, so "the first N" is a sample of the digit 0 alone;
every check below would fail on that behaviour.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import vaecollapse.diagnostics as diagnostics
import vaecollapse.runs.train as train_module
from vaecollapse.cli import app
from vaecollapse.config import config_from_options
from vaecollapse.data import evaluation_index, load
from vaecollapse.diagnostics.information import mutual_information
from vaecollapse.models.base import Posterior
from vaecollapse.runs.train import train


def _shares(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=10) / len(labels)


def _labels_of(rows: np.ndarray, ds) -> np.ndarray:
    """The labels of ``rows`` (copies of rows of ``ds.x``), found by matching the bytes of rows."""
    where = {r.tobytes(): lab for r, lab in zip(ds.x, ds.labels, strict=True)}
    return np.array([where[r.tobytes()] for r in np.ascontiguousarray(rows, dtype=np.float32)])


def test_embedded_digits_are_sorted_so_the_first_n_would_be_unfair():
    ds = load("mnist")
    assert set(ds.labels[:500]) == {0}  # the premise of this file: first-N is one digit


@pytest.mark.parametrize("k", [200, 1000])
def test_evaluation_index_is_a_uniform_sample_with_the_data_s_label_histogram(k):
    ds = load("mnist")
    idx = evaluation_index(ds.n, k, seed=0)
    assert len(idx) == k == len(set(idx.tolist())) and np.all(np.diff(idx) > 0)
    # each label's share within 4.5 binomial standard deviations of its share of the data
    p = _shares(ds.labels)
    sd = np.sqrt(p * (1 - p) / k)
    assert np.all(np.abs(_shares(ds.labels[idx]) - p) < 4.5 * sd + 1e-12)
    assert np.array_equal(idx, evaluation_index(ds.n, k, seed=0))  # the same sample every time
    assert not np.array_equal(idx, evaluation_index(ds.n, k, seed=1))
    assert np.array_equal(evaluation_index(50, 0), np.arange(50))
    assert np.array_equal(evaluation_index(50, 80), np.arange(50))


def test_embedded_test_part_is_fixed_disjoint_and_stratified():
    train_part, test_part = load("mnist"), load("mnist:part=test")
    assert (train_part.n, test_part.n) == (8000, 2000)
    assert np.array_equal(load("mnist:part=train").x, train_part.x)
    rows = {r.tobytes() for r in train_part.x}
    assert sum(r.tobytes() in rows for r in test_part.x) <= 5  # MNIST has a few duplicate images
    counts_all = np.bincount(np.concatenate([train_part.labels, test_part.labels]), minlength=10)
    assert np.all(np.abs(np.bincount(test_part.labels, minlength=10) - counts_all / 5) <= 1)
    again = load("mnist:part=test,split=quarter")
    assert again.n == 2000 and again.y is not None
    assert load("mnist:part=test,digit=7").labels.tolist() == [7] * int(np.sum(test_part.labels == 7))


def _captured_diagnose(monkeypatch):
    seen = {}
    real = diagnostics.diagnose

    def spy(model, x, y=None, **kw):
        seen["x"] = x.detach().cpu().numpy()
        return real(model, x, y, **kw)

    monkeypatch.setattr(diagnostics, "diagnose", spy)  # what `vaecollapse diagnose` calls
    monkeypatch.setattr(train_module, "diagnose", spy)  # the trainer's final diagnostics
    return seen


def test_training_evaluates_on_a_fair_sample(monkeypatch, tmp_path):
    seen = _captured_diagnose(monkeypatch)
    cfg = config_from_options(model="vae", backbone="linear", data="mnist", latent_dim=2,
                              epochs=1, batch_size=1000, device="cpu", eval_points=600,
                              diagnostics_is_samples=0)
    train(cfg, tmp_path / "run", progress=False)
    ds = load("mnist")
    labels = _labels_of(seen["x"], ds)
    assert len(labels) == 600
    p = _shares(ds.labels)
    assert np.all(np.abs(_shares(labels) - p) < 4.5 * np.sqrt(p * (1 - p) / 600))


def test_training_can_evaluate_on_the_held_out_test_part(monkeypatch, tmp_path):
    seen = _captured_diagnose(monkeypatch)
    cfg = config_from_options(model="cvae", backbone="linear", data="mnist:split=quarter",
                              latent_dim=2, epochs=1, batch_size=2000, device="cpu",
                              eval_points=300, eval_data="mnist:part=test,split=quarter",
                              diagnostics_is_samples=0)
    train(cfg, tmp_path / "run", progress=False)
    test_x = load("mnist:part=test,split=quarter").x
    assert np.array_equal(seen["x"], test_x[evaluation_index(len(test_x), 300, 0)])
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["eval_data"] == "mnist:part=test,split=quarter"


def test_evaluation_data_of_other_dimensions_is_refused():
    with pytest.raises(Exception, match="dimensions"):
        config_from_options(model="vae", backbone="linear", data="mnist", latent_dim=2,
                            eval_data="mnist:split=quarter")


def test_diagnose_points_is_a_seeded_sample(monkeypatch, tmp_path):
    cfg = config_from_options(model="vae", backbone="linear", data="mnist", latent_dim=2,
                              epochs=1, batch_size=2000, device="cpu", eval_points=100,
                              diagnostics_is_samples=0)
    train(cfg, tmp_path / "run", progress=False)
    seen = _captured_diagnose(monkeypatch)
    import vaecollapse.cli  # noqa: F401  (the command imports diagnose from the module at call time)

    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "run"), "--points", "500",
                                      "--is-samples", "0", "--seed", "3"])
    assert result.exit_code == 0, result.output
    ds = load("mnist")
    assert np.array_equal(seen["x"], ds.x[evaluation_index(ds.n, 500, 3)])
    assert len(set(_labels_of(seen["x"], ds).tolist())) == 10


def test_mutual_information_samples_rather_than_truncates():
    """On label-sorted posteriors whose first half is one cluster, MI over max_points points must
    see both clusters (first-N would see one and report I ≈ 0)."""
    n, d = 4000, 2
    mean = torch.zeros(n, d, dtype=torch.float64)
    mean[n // 2:, 0] = 6.0
    post = Posterior("z", mean, torch.full((n, d), -4.0, dtype=torch.float64))
    mi = mutual_information(post, generator=torch.Generator().manual_seed(0),
                                        max_points=1000)
    assert mi == pytest.approx(np.log(2), abs=0.05)  # one bit: which cluster


def test_train_cli_takes_evaluation_data_and_points(tmp_path):
    run = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "--out", str(run), "--model", "vae", "--backbone",
                                   "linear", "--latent-dim", "2", "--epochs", "1", "--batch-size",
                                   "4000", "--device", "cpu", "--eval-data", "mnist:part=test",
                                   "--eval-points", "150"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["eval_data"], cfg["eval_points"]) == ("mnist:part=test", 150)
    res = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "bad"), "--eval-points", "-1"])
    assert res.exit_code == 2 and "--eval-points" in res.output
