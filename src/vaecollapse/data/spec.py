"""Parsing of data spec strings such as ``mnist:digits=1,9,7,split=quarter``.

Grammar: ``SOURCE`` or ``SOURCE:item,item,...``.  Each item is ``key=value``; an item
without ``=`` continues the previous key's value (so values may contain commas).  For the
``idx`` and ``npz`` sources the first item is a path (which may itself contain ``=``);
items without ``=`` that directly follow it continue the path.  Whitespace around items,
keys and values is stripped.

:func:`parse_spec` checks the source, the keys and their multiplicity; the values are
checked by the ``parse_*`` helpers below, which :func:`vaecollapse.data.load` calls.
"""

from __future__ import annotations

import re

from vaecollapse.errors import DataError

#: Keys accepted by each source.
SOURCE_KEYS: dict[str, tuple[str, ...]] = {
    "mnist": ("root", "part", "digit", "digits", "split", "n", "seed"),
    "idx": ("part", "digit", "digits", "split", "n", "seed"),
    "npz": ("n", "seed"),
    "npy": ("y",),
    "synthetic": ("corr", "n", "dim", "seed"),
    # sentences (vaecollapse.data.text): the first item names the corpus / the file
    "text": ("part", "level", "vocab", "min_count", "max_len", "n", "seed"),
    "textfile": ("part", "level", "vocab", "min_count", "max_len", "n", "seed"),
}
#: Sources whose first item is a path.
PATH_SOURCES = ("idx", "npz", "npy", "text", "textfile")
SPLITS = ("quarter", "half")
PARTS = ("train", "test")

_SOURCES_HELP = ("mnist, mnist:root=DIR, idx:DIR, npz:PATH, npy:PATH, synthetic, text:wordnet "
                 "(--model seqvae), textfile:PATH (--model seqvae)")
_INT_RE = re.compile(r"-?[0-9]+")


def parse_spec(spec: str) -> tuple[str, str | None, dict[str, str]]:
    """Split a data spec into ``(source, path or None, options)``.

    >>> parse_spec("mnist:digits=1,9,7,split=quarter")
    ('mnist', None, {'digits': '1,9,7', 'split': 'quarter'})
    >>> parse_spec("idx:/a/b,part=test")
    ('idx', '/a/b', {'part': 'test'})
    """
    if not isinstance(spec, str):
        raise DataError(f"A data spec must be a string such as 'mnist', got {type(spec).__name__}.")
    text = spec.strip()
    if not text:
        raise DataError(f"The data spec is empty; use one of: {_SOURCES_HELP}.")
    source, sep, rest = text.partition(":")
    source = source.strip()
    if source not in SOURCE_KEYS:
        raise DataError(f"Unknown data source {source!r} in spec {spec!r}; "
                        f"use one of: {_SOURCES_HELP}.")
    accepted = SOURCE_KEYS[source]
    items = [item.strip() for item in rest.split(",")] if rest.strip() else []
    if any(not item for item in items):
        raise DataError(f"The data spec {spec!r} has an empty item (two commas in a row or a "
                        "trailing comma); remove it.")

    path: str | None = None
    if source in PATH_SOURCES:
        what = {"idx": "directory", "text": "corpus name"}.get(source, "file")
        example = {"idx": "/path/to/dir", "text": "wordnet", "textfile": "/path/to/file.txt"}
        if not items:
            raise DataError(f"The {source} source needs a {what}, e.g. "
                            f"'{source}:{example.get(source, '/path/to/file.npz')}'.")
        # The first item is always the path; following items without '=' continue it.
        parts = [items.pop(0)]
        while items and "=" not in items[0]:
            parts.append(items.pop(0))
        path = ",".join(parts)

    options: dict[str, str] = {}
    last_key: str | None = None
    for item in items:
        if "=" not in item:
            if last_key is None:
                raise DataError(f"Unexpected item {item!r} in data spec {spec!r}; options are "
                                f"written key=value, accepted keys for {source}: "
                                f"{', '.join(accepted)}.")
            options[last_key] = f"{options[last_key]},{item}"
            continue
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key not in accepted:
            raise DataError(f"Unknown key {key!r} for data source {source!r}; "
                            f"accepted keys are: {', '.join(accepted)}.")
        if key in options:
            raise DataError(f"The key {key!r} is given twice in data spec {spec!r}; give it once.")
        options[key] = value
        last_key = key
    return source, path, options


# ---------------------------------------------------------------------------
# Value parsers (each raises DataError with the accepted form)
# ---------------------------------------------------------------------------


def parse_int(key: str, value: str, *, minimum: int) -> int:
    """Parse a decimal integer ``>= minimum`` (``n=abc``, ``n=0``, ``dim=-1`` are errors)."""
    if not _INT_RE.fullmatch(value):
        raise DataError(f"{key}={value!r} is not a valid integer; use {key}=K with a whole "
                        f"number K >= {minimum}.")
    number = int(value)
    if number < minimum:
        raise DataError(f"{key}={value} is too small; {key} must be at least {minimum}.")
    return number


def parse_choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise DataError(f"{key}={value!r} is not accepted; use one of: "
                        f"{', '.join(f'{key}={c}' for c in choices)}.")
    return value


def parse_digits(options: dict[str, str]) -> tuple[int, ...] | None:
    """The digit selection from ``digit=K`` or ``digits=K,L,...`` (0..9), or None."""
    if "digit" in options and "digits" in options:
        raise DataError("Give either digit=K or digits=K,L,... in a data spec, not both.")
    if "digit" in options:
        key, values = "digit", [options["digit"]]
    elif "digits" in options:
        key, values = "digits", [v.strip() for v in options["digits"].split(",")]
    else:
        return None
    digits = []
    for v in values:
        if not re.fullmatch(r"[0-9]", v):
            raise DataError(f"{key}={options[key]!r} is not valid; digits must be whole numbers "
                            "from 0 to 9, e.g. digit=7 or digits=1,9,7.")
        digits.append(int(v))
    return tuple(dict.fromkeys(digits))
