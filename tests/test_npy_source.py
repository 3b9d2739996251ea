"""The npy:PATH source (memory-mapped, bounded memory), byte → float conversion, and the
predict command's import footprint."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vaecollapse.data import DataError, load
from vaecollapse.data.mnist import _pixels as pixels
from vaecollapse.theory import statistics
from vaecollapse.theory.stats import second_moments


def test_pixels_bit_identical_to_lookup_table():
    every = np.arange(256, dtype=np.uint8)
    table = np.arange(256, dtype=np.float32) / np.float32(255)  # the former lookup table
    images = np.random.default_rng(0).integers(0, 256, (50, 784)).astype(np.uint8)
    assert pixels(every).dtype == np.float32
    assert np.array_equal(pixels(every).view(np.uint32), table.view(np.uint32))
    assert np.array_equal(pixels(images).view(np.uint32), table[images].view(np.uint32))
    assert np.array_equal(pixels(every), (every / 255).astype(np.float32))  # k/255, rounded


def _save(tmp_path, name, a):
    path = tmp_path / name
    np.save(path, a)
    return path


def test_npy_float32_is_memory_mapped_and_statistics_match(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 7)).astype(np.float32)
    y = rng.normal(size=(1000, 3)).astype(np.float32)
    px, py = _save(tmp_path, "x.npy", x), _save(tmp_path, "y.npy", y)
    ds = load(f"npy:{px},y={py}")
    assert isinstance(ds.x, np.memmap) and isinstance(ds.y, np.memmap)
    assert ds.n == 1000 and ds.dim_x == 7 and ds.dim_y == 3
    monkeypatch.setattr("vaecollapse.theory.stats.CHUNK_ROWS", 64)  # many chunks, releases
    for centre in (False, True):
        got = second_moments(ds.x, ds.y, centre=centre)
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        if centre:
            x64, y64 = x64 - x64.mean(0), y64 - y64.mean(0)
        np.testing.assert_allclose(got.A, x64.T @ x64 / 1000, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(got.C, x64.T @ y64 / 1000, rtol=1e-12, atol=1e-13)
    s = statistics(ds.x, model="vae")
    ref = statistics(x, model="vae")
    np.testing.assert_allclose(s.theta, ref.theta, rtol=1e-12)


def test_npy_other_dtypes_are_converted(tmp_path):
    x = np.arange(20, dtype=np.int16).reshape(10, 2)
    ds = load(f"npy:{_save(tmp_path, 'x.npy', x)}")
    assert ds.x.dtype == np.float32 and not isinstance(ds.x, np.memmap)
    np.testing.assert_array_equal(ds.x, x)


@pytest.mark.parametrize("array, message", [
    (np.zeros(5, dtype=np.float32), "shape"),
    (np.zeros((1, 3), dtype=np.float32), "at least 2"),
    (np.array([[1.0, np.nan], [0.0, 1.0]], dtype=np.float32), "NaN"),
    (np.array([["a", "b"], ["c", "d"]]), "non-numeric"),
])
def test_npy_bad_arrays(tmp_path, array, message):
    with pytest.raises(DataError, match=message):
        load(f"npy:{_save(tmp_path, 'x.npy', array)}")


def test_npy_bad_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load(f"npy:{tmp_path / 'missing.npy'}")
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    with pytest.raises(DataError, match="Cannot read"):
        load(f"npy:{tmp_path / 'junk.npy'}")
    px = _save(tmp_path, "x.npy", np.zeros((4, 2), dtype=np.float32))
    py = _save(tmp_path, "y.npy", np.zeros((5, 2), dtype=np.float32))
    with pytest.raises(DataError, match="rows"):
        load(f"npy:{px},y={py}")


def test_predict_imports_neither_torch_nor_matplotlib(tmp_path):
    """``python -m vaecollapse predict`` (the module entry point) on an npy file, without
    --plot: the closed forms need numpy only."""
    px = _save(tmp_path, "x.npy", np.random.default_rng(2).normal(size=(50, 6)).astype(np.float32))
    code = ("import runpy, sys, atexit\n"
            "atexit.register(lambda: print('HEAVY', sorted(m for m in ('torch', 'matplotlib') "
            "if m in sys.modules)))\n"
            f"sys.argv = ['vaecollapse', 'predict', '--data', 'npy:{px}', '--latent-dim', '3']\n"
            "runpy.run_module('vaecollapse', run_name='__main__')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "latent dimensions collapse" in p.stdout
    assert "HEAVY []" in p.stdout
