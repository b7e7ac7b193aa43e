"""Type and finiteness checks for the settings dataclasses, shared by every way settings are made.

`__post_init__` of each settings dataclass calls `check_field_types(self)` before its range checks, so a
config file, a CLI flag, the page and a sweep cell get the same one-line error for `k = 2.5`, `model = 5`
or `temperature = inf`, whichever way the value arrived. Integers given for float fields become floats.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any

from core.errors import UserError

_KINDS = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string"}


@functools.lru_cache(maxsize=None)
def _field_types(cls: type) -> dict[str, tuple[type, bool]]:
    """field name → (base type, None allowed) for the int/float/bool/str fields of a dataclass."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        hint, optional = hints[f.name], False
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            optional = len(args) < len(typing.get_args(hint))
            hint = args[0] if len(args) == 1 else None
        if hint in _KINDS:
            out[f.name] = (hint, optional)
    return out


def _fits(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, kind)


def check_field_types(obj: Any) -> None:
    """UserError naming the first field whose value has the wrong type (or is not finite)."""
    for name, (kind, optional) in _field_types(type(obj)).items():
        value = getattr(obj, name)
        if value is None and optional:
            continue
        if not _fits(value, kind):
            shown = repr(value) if not isinstance(value, str) else f'"{value}"'
            raise UserError(f"{name} must be {_KINDS[kind]}{' or unset' if optional else ''}, got {shown} ({type(value).__name__})")
        if kind is float and isinstance(value, int):
            object.__setattr__(obj, name, float(value))
