"""Plan dataclasses to JSON and back, driven by each class's own field list.

Two forms: ``rows`` (a dataclass as the list of its field values, in field order: the compact
compiled plan) and ``readable`` (a dataclass as a mapping of field names: `sluice plan --json`).
A field added to a dataclass is in both forms, in both directions, with nothing to keep in step.
A union of dataclasses (a task's arguments) is stored as ``[tag, *fields]``, the tag being the
member's ``operator`` class variable.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

Convert = Callable[[Any], Any]
_PLAIN = (str, int, float, bool, type(None))


@dataclasses.dataclass(frozen=True)
class _Converters:
    encode: Convert | None  # None: the value is stored as it is
    decode: Convert | None
    readable: Convert | None


_SAME = _Converters(None, None, None)


def _same(value: Any) -> Any:
    return value


def _each(convert: Convert, into: Callable[[Any], Any]) -> Convert:
    return lambda values: into(convert(v) for v in values)


def _seq(item: _Converters) -> _Converters:
    """tuple[X, ...]: a list in JSON, a tuple again when read back."""
    enc, dec, read = item.encode, item.decode, item.readable
    encode: Convert = list if enc is None else _each(enc, list)
    decode: Convert = tuple if dec is None else _each(dec, tuple)
    readable: Convert = list if read is None else _each(read, list)
    return _Converters(encode, decode, readable)


def _values(convert: Convert | None) -> Convert:
    chosen = convert or _same
    return lambda mapping: {k: chosen(v) for k, v in mapping.items()}


def _mapping(item: _Converters) -> _Converters:
    return _Converters(_values(item.encode), _values(item.decode), _values(item.readable))


def _unless_none(convert: Convert | None) -> Convert | None:
    if convert is None:
        return None
    chosen = convert
    return lambda v: None if v is None else chosen(v)


def _optional(item: _Converters) -> _Converters:
    return _Converters(_unless_none(item.encode), _unless_none(item.decode), _unless_none(item.readable))


def _tagged(members: tuple[type, ...]) -> _Converters:
    by_tag = {str(m.operator): m for m in members}  # type: ignore[attr-defined]

    def encode(value: Any) -> list[Any]:
        return [str(value.operator), *rows(type(value)).encode(value)]

    def decode(value: list[Any]) -> Any:
        return rows(by_tag[value[0]]).decode(value[1:])

    return _Converters(encode, decode, lambda v: rows(type(v)).readable(v))


def _enum(kind: type[Enum]) -> _Converters:
    # by dict: Kind(value) goes through EnumType.__call__, slow for 10,000 tasks
    lookup = {m.value: m for m in kind}
    return _Converters(lambda v: v.value, lookup.__getitem__, lambda v: v.value)


def _converters(tp: Any) -> _Converters:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in _PLAIN or tp is Any:
        return _SAME
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _enum(tp)
    if dataclasses.is_dataclass(tp):
        row = rows(tp)  # type: ignore[arg-type]
        return _Converters(row.encode, row.decode, row.readable)
    if origin is tuple:
        return _seq(_converters(args[0]))
    if origin in (dict, Mapping):
        return _mapping(_converters(args[1]))
    if origin in (typing.Union, types.UnionType):
        members = tuple(a for a in args if a is not type(None))
        if len(members) == 1:
            return _optional(_converters(members[0]))
        if all(dataclasses.is_dataclass(m) for m in members):
            return _optional(_tagged(members)) if len(members) < len(args) else _tagged(members)
        if all(m in _PLAIN for m in members):
            return _SAME
    raise TypeError(f"the plan codec cannot store {tp!r}")


class Rows:
    """One dataclass's converters, field by field, in its declared order."""

    def __init__(self, cls: type) -> None:
        hints = typing.get_type_hints(cls)
        self.cls = cls
        self.names = tuple(f.name for f in dataclasses.fields(cls))
        found = [_converters(hints[name]) for name in self.names]
        self._enc = tuple(zip(self.names, (c.encode for c in found), strict=True))
        self._dec = tuple(c.decode for c in found)
        self._read = tuple(zip(self.names, (c.readable for c in found), strict=True))

    def encode(self, obj: Any) -> list[Any]:
        return [getattr(obj, n) if e is None else e(getattr(obj, n)) for n, e in self._enc]

    def decode(self, row: list[Any]) -> Any:
        if len(row) != len(self._dec):
            raise ValueError(f"{self.cls.__name__}: {len(row)} values, not {len(self._dec)}")
        return self.cls(*[v if d is None else d(v) for d, v in zip(self._dec, row, strict=True)])

    def readable(self, obj: Any) -> dict[str, Any]:
        return {n: getattr(obj, n) if r is None else r(getattr(obj, n)) for n, r in self._read}


_ROWS: dict[type, Rows] = {}


def rows(cls: type) -> Rows:
    """The converters of a dataclass, built once (type hints are read at first use)."""
    found = _ROWS.get(cls)
    if found is None:
        found = _ROWS[cls] = Rows(cls)
    return found
