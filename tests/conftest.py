"""Shared test set-up."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny models and batched small solves are far faster single-threaded on a shared 2-core
    machine (threads spin against other load); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- the linear-training data of test_theory_training.py and test_hierarchy_training.py

THETA = np.array([3.0, 2.0, 1.4, 0.9, 0.5, 0.3])




@pytest.fixture(scope="module")
def data_spec(tmp_path_factory):
    """x with a known spectrum in a random basis; y partly linear in x plus structured noise."""
    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    x = (rng.normal(size=(1000, 6)) * THETA) @ q.T
    y = x[:, :4] @ rng.normal(size=(4, 5)) * 0.4 + rng.normal(size=(1000, 5)) * np.array(
        [2, 1.3, 0.8, 0.4, 0.2])
    path = tmp_path_factory.mktemp("data") / "linear.npz"
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.float32))
    return f"npz:{path}"
