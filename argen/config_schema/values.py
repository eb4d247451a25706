"""Value checks every schema node uses: each error is a ConfigError naming the key."""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from argen.config_schema.base import to_plain
from argen.errors import ConfigError


def is_int(value: Any) -> bool:
    """An integer that is not a bool (YAML's true would pass isinstance(int))."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive_int(value: Any, key: str, *, allow_none: bool = False, none_means: str = "") -> int | None:
    """``value`` as a positive integer (or None when allowed), else a ConfigError on ``key``."""
    if value is None and allow_none:
        return None
    if not is_int(value) or value < 1:
        what = f"a positive integer or null{none_means}" if allow_none else "a positive integer"
        raise ConfigError(key, f"must be {what}, got {value!r}")
    return int(value)


def non_negative_int(value: Any, key: str, what: str = "an integer >= 0") -> int:
    """``value`` as an integer >= 0, else a ConfigError on ``key``."""
    if not is_int(value) or value < 0:
        raise ConfigError(key, f"must be {what}, got {value!r}")
    return int(value)


def one_of(value: Any, choices: tuple[str, ...], key: str) -> str:
    """``value`` if it is one of ``choices``, else a ConfigError listing them."""
    if value not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _mapping(node: Any, key: str) -> dict[str, Any]:
    node = to_plain(node)
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise ConfigError(key, f"must be a mapping, got {node!r}")
    return dict(node)

def _frozen(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view: a typed node's mapping fields are not for editing."""
    return MappingProxyType(dict(node))


def boolean(value: Any, key: str) -> bool:
    """``value`` if it is true or false (YAML's booleans), else a ConfigError: ``maybe`` or ``1``
    is not silently taken as true."""
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {value!r}")
    return value


@dataclass(frozen=True)
class Range:
    """A numeric range: ``low``/``high`` (None: unbounded), open or closed at each end, plus
    single values allowed outside it (``also``, e.g. -1 for "no limit")."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    also: tuple[float, ...] = ()

    def holds(self, value: float) -> bool:
        if value in self.also:
            return True
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        text = " and ".join(parts) or "any number"
        return text + "".join(f" (or {a:g})" for a in self.also)


def in_range(value: Any, bounds: Range, key: str) -> Any:
    """``value`` (a number or None, already type-checked) inside ``bounds``, else a ConfigError."""
    if value is not None and is_number(value) and not bounds.holds(value):
        raise ConfigError(key, f"must be {bounds.describe()}, got {value!r}")
    return value


def _describe(annotation: Any) -> str | None:
    """What a value of ``annotation`` must be, in words; None for a type not checked here."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        null = " or null" if len(args) < len(typing.get_args(annotation)) else ""
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums:  # an Enum beside str: the str must be one of the enum's values
            return "one of " + ", ".join(str(m.value) for m in enums[0]) + null
        words = [_describe(a) for a in args if not (typing.get_origin(a) is typing.Literal)]
        literals = [v for a in args if typing.get_origin(a) is typing.Literal for v in typing.get_args(a)]
        words += [repr(v).lower() if isinstance(v, bool) else repr(v) for v in literals]
        if any(w is None for w in words):
            return None
        return " or ".join(dict.fromkeys(w for w in words if w)) + null
    if origin is typing.Literal:
        return "one of " + ", ".join(str(v) for v in typing.get_args(annotation))
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a number"
    if annotation is str:
        return "a string"
    if annotation is dict or origin in (dict, Mapping):
        return "a mapping"
    if annotation is list or origin is list:
        return "a list"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in annotation)
    return None


def _matches(value: Any, annotation: Any) -> bool:
    """Whether ``value`` (plain YAML data) is a value of ``annotation``; True for a type this
    check does not know (it never refuses what it cannot judge)."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if annotation is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and value is not None:
            return any(_matches(value, e) for e in enums)
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return any(value == v and type(value) is type(v) for v in typing.get_args(annotation))
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return is_int(value)
    if annotation is float:
        return is_number(value)
    if annotation is str:
        return isinstance(value, str)
    if annotation is dict or origin in (dict, Mapping):
        return isinstance(value, Mapping)
    if annotation is list or origin is list:
        if not isinstance(value, list):
            return False
        item = (typing.get_args(annotation) or (Any,))[0]
        return all(_matches(v, item) for v in value)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return isinstance(value, str) and value in {str(m.value) for m in annotation}
    return True


def check_type(value: Any, annotation: Any, key: str) -> Any:
    """``value`` if it is a value of the type ``annotation`` (as ``typing.get_type_hints`` gives
    it: ``int | None``, an Enum beside ``str``, ``Literal``, ``list[str]``), else a ConfigError
    naming ``key``. Booleans are not integers, integers are numbers, NaN and infinity are not."""
    value = to_plain(value)
    if not _matches(value, annotation):
        what = _describe(annotation) or "of another type"
        raise ConfigError(key, f"must be {what}, got {value!r}")
    return value
