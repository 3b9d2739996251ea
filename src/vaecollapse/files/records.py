"""Reading the state files vaecollapse keeps (config.json, sweep.json, index.csv, …).

Each reader checks what it reads against the shape it must have, when it is read: a corrupt or
hand-edited file gives one :class:`~vaecollapse.errors.UserError` naming the file and the
offending key, never a crash deep inside training.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import json
import os
import types
import typing
from pathlib import Path
from typing import Any

from vaecollapse.errors import UserError


class CorruptFile(UserError):
    """A state file that cannot be read or does not have the expected shape."""


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """The JSON value in ``path``; a directory, unreadable bytes or invalid JSON are a
    :class:`CorruptFile` naming ``path``."""
    path = Path(path)
    if path.is_dir():
        raise CorruptFile(f"{path} is a directory, not a {what}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CorruptFile(f"{path} is not a {what}: it is not UTF-8 text") from None
    except OSError as e:
        raise CorruptFile(f"cannot read {path}: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except ValueError as e:
        msg = getattr(e, "msg", str(e))
        where = f" at line {e.lineno}, column {e.colno}" if hasattr(e, "lineno") else ""
        raise CorruptFile(f"{path} is not a valid {what}: invalid JSON ({msg}{where})") from None


def _type_name(tp) -> str:
    if isinstance(tp, type):
        return {"int": "a whole number", "float": "a number", "str": "a string",
                "bool": "true or false", "dict": "an object", "list": "a list"}.get(
            tp.__name__, tp.__name__)
    return str(tp).replace("typing.", "")


def _convert(value: Any, tp, key: str, where: str) -> Any:
    """``value`` checked against the type annotation ``tp`` (int, float, str, bool, list[X],
    X | None, dict, Any, an enum (by value) or a dataclass); ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _convert(value, rest[0], key, where)
        for a in rest:
            try:
                return _convert(value, a, key, where)
            except CorruptFile:
                continue
        raise CorruptFile(f"{where}: {key} has the wrong type ({value!r})")
    if origin is list:
        if not isinstance(value, list):
            raise CorruptFile(f"{where}: {key} must be a list, got {value!r}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_convert(v, item, f"{key}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise CorruptFile(f"{where}: {key} must be an object, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return typed(tp, value, where, prefix=f"{key}.")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(str(m.value) for m in tp)
            raise CorruptFile(f"{where}: {key} must be one of {choices}, got {value!r}") from None
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str)}.get(tp)
    if ok is None:
        return value
    if not ok(value):
        raise CorruptFile(f"{where}: {key} must be {_type_name(tp)}, got {value!r}")
    return float(value) if tp is float else value


def typed(cls, data: Any, where: str, prefix: str = ""):
    """An instance of dataclass ``cls`` from a JSON object, every field checked against its
    annotation; a missing required key, an unknown key or a wrong type is a CorruptFile naming
    the key (``prefix`` + name) and ``where``."""
    if not isinstance(data, dict):
        raise CorruptFile(f"{where}: {prefix.rstrip('.') or 'the file'} must be a JSON object, "
                          f"got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise CorruptFile(f"{where}: unknown key {prefix}{unknown[0]}")
    values = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CorruptFile(f"{where}: the key {prefix}{name} is missing")
            continue
        values[name] = _convert(data[name], hints[name], prefix + name, where)
    return cls(**values)


def read_csv(path: str | os.PathLike, required: tuple[str, ...] = (), what: str = "table"
             ) -> list[dict[str, str]]:
    """Rows of a CSV file with a header holding every ``required`` column; unreadable text,
    a bad CSV, a missing column or a short row is a CorruptFile naming ``path``."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as e:
        raise CorruptFile(f"{path} is not a valid {what} ({str(e).splitlines()[0]})") from None
    except OSError as e:
        raise CorruptFile(f"cannot read {path}: {e.strerror or e}") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise CorruptFile(f"{path} is not a valid {what}: it has no column {missing[0]!r}")
    for i, row in enumerate(rows, start=2):
        if None in row or any(row.get(c) is None for c in header):
            raise CorruptFile(f"{path} is not a valid {what}: line {i} has another number "
                              f"of fields than the header ({len(header)})")
    return rows
