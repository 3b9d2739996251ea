"""The documented user-model example runs and detects what it was built to show."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "diagnose_your_model.py"


def test_user_model_example_runs_and_finds_collapse():
    spec = importlib.util.spec_from_file_location("example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    report = mod.main()  # the example as a user runs it (300 steps)
    level = report["levels"][0]
    assert set(report) >= {"levels", "mutual_information", "eps_delta", "n_collapsed"}
    assert report["log_likelihood"] is None and report["theory"] is None
    # β = 2 on MNIST: some but not all of the 8 dimensions are collapsed
    assert 0 < len(level["collapsed_dims"]) < 8


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLE.with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_plain_loop_monitor_example_matches_diagnose():
    """The example's end-of-epoch validation measure (streamed batch by batch) equals diagnose
    on the whole validation set with the trained model."""
    import torch

    from vaecollapse.diagnostics import diagnose

    mod = load_example("monitor_plain_loop")
    net, val, history = mod.main(epochs=2, n=600, n_val=300)
    assert [h["epoch"] for h in history] == [1, 2]
    net.eval()
    with torch.no_grad():
        ref = diagnose(lambda xb, yb=None: net.posteriors(xb), val, is_samples=0)["levels"][0]
    got = history[-1]["val"]
    assert got["collapsed_dims"] == ref["collapsed_dims"]
    assert got["active_units"] == ref["active_units"] and got["active_modes"] == ref["active_modes"]
    assert got["kl_per_dim"] == pytest.approx(ref["kl_per_dim"], rel=1e-6, abs=1e-9)
    assert history[-1]["train"]["name"] == "z" and len(history[-1]["train"]["kl_per_dim"]) == 8


@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:DeprecationWarning")
def test_lightning_example_logs_collapse_metrics_to_csv(tmp_path):
    """The Lightning example trains with the callback; its CSVLogger file holds the metrics of
    every epoch, the last equal to diagnose on the validation data with the trained module, and
    the collapse warning came once."""
    pytest.importorskip("pytorch_lightning")
    import csv

    from vaecollapse.diagnostics import diagnose
    from vaecollapse.integrations.lightning import CollapseWarning

    mod = load_example("lightning_vae")
    with pytest.warns(CollapseWarning) as caught:
        path, model, val, _ = mod.main(tmp_path, epochs=2, n=512, n_val=256, beta=20.0,
                                       warn_above=1)
    assert sum(issubclass(w.category, CollapseWarning) for w in caught) == 1
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r.get("collapse/z/kl_total")]
    names = ["n_collapsed", "kl_total", "active_units", "active_modes"] + [f"kl_{i}" for i in range(8)]
    assert all(f"collapse/z/{k}" in rows[0] for k in names)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    x = val.dataset.tensors[0]
    model.eval()
    ref = diagnose(lambda xb, yb=None: model.posteriors((xb,)), x, is_samples=0)["levels"][0]
    last = rows[-1]
    assert float(last["collapse/z/n_collapsed"]) == len(ref["collapsed_dims"]) > 1
    assert float(last["collapse/z/kl_total"]) == pytest.approx(ref["kl_total"], rel=1e-6)
    assert [float(last[f"collapse/z/kl_{i}"]) for i in range(8)] == pytest.approx(
        ref["kl_per_dim"], rel=1e-6, abs=1e-9)


def test_conv_latents_example_counts_channels_as_diagnose_does():
    """The convolutional example's per-channel record (streamed over validation batches) equals
    diagnose on the whole validation set, with lists of length C = 8, not 8 × 7 × 7."""
    import torch

    from vaecollapse.diagnostics import diagnose

    mod = load_example("conv_latents")
    net, val, level = mod.main(epochs=2, n=600, n_val=300)
    with torch.no_grad():
        ref = diagnose(lambda xb, yb=None: net.posteriors(xb), val, is_samples=0)["levels"][0]
    assert level["unit"] == ref["unit"] == "channel" and len(level["kl_per_dim"]) == 8
    assert level["kl_per_dim"] == pytest.approx(ref["kl_per_dim"], rel=1e-6, abs=1e-9)
    for key in ("collapsed_dims", "active_units", "active_modes", "near_deterministic"):
        assert level[key] == ref[key], key
