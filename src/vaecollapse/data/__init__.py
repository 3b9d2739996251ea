"""Data layer: load datasets from spec strings or arrays into a validated :class:`Dataset`.

Spec strings (see :mod:`vaecollapse.data.spec`)::

    mnist                                  embedded MNIST digits: part=train (8,000, the
                                           default) or part=test (2,000), see below
    mnist:root=DIR / idx:DIR               full MNIST-format IDX dataset (part=train|test)
    synthetic:corr=random,n=1000,dim=128,seed=0
    npz:PATH                               arrays x, optional y and labels
    npy:PATH[,y=PATH]                      a 2-D .npy array x (float32: memory-mapped, not read
                                           into memory), optional y from a second .npy file
    text:wordnet / textfile:PATH           sentences for the sentence VAE (--model seqvae):
                                           :func:`vaecollapse.data.text.load_text`, not ``load``

Image options: ``digit=K`` / ``digits=K,L,...``, ``split=quarter|half``, ``n=N``,
``seed=S``, ``part=train|test``; applied in the order part -> digits -> n -> split.
Image pixels are float32 ``byte / 255`` in [0, 1].

The embedded file holds 10,000 digits of the MNIST training set. Its ``part=test`` is a fixed
held-out fifth, stratified by label (:func:`embedded_test_mask`): the digits of each label, in a
seeded random order, every fifth to the test part — 2,000 test and 8,000 train digits, each
label's share equal to within one digit. Full IDX data (``mnist:root=DIR``) has MNIST's own
train / test files.

Modules: ``dataset`` (the validated :class:`Dataset`, ``from_arrays``, evaluation subsets),
``spec`` (spec strings), one per source: ``mnist`` (embedded and IDX digits, with ``idx`` the
file format), ``npz``, ``npy``, ``synthetic``; ``text`` (sentences).
"""

from __future__ import annotations

from vaecollapse.data.dataset import Dataset, evaluation_index, from_arrays
from vaecollapse.data.mnist import load_images
from vaecollapse.data.npy import load_npy
from vaecollapse.data.npz import load_npz
from vaecollapse.data.spec import parse_spec
from vaecollapse.data.synthetic import load_synthetic
from vaecollapse.errors import DataError

__all__ = ["DataError", "Dataset", "evaluation_index", "from_arrays", "load", "parse_spec"]


def load(spec: str) -> Dataset:
    """Load the dataset described by a spec string (see the module docstring)."""
    source, path, options = parse_spec(spec)
    text = spec.strip()
    if source in ("text", "textfile"):
        raise DataError(f"{text!r} holds sentences: train the sentence VAE on it "
                        "(--model seqvae); the image models need image or array data")
    if source == "synthetic":
        return load_synthetic(text, options)
    if source == "npz":
        assert path is not None
        return load_npz(text, path, options)
    if source == "npy":
        assert path is not None
        return load_npy(text, path, options)
    return load_images(text, source, path, options)
