"""Value checks every schema node uses: each error is a ConfigError naming the key."""

from __future__ import annotations

import math
from collections.abc import Mapping
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
