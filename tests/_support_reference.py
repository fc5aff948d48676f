"""Rules of SPEC section 3 written out plainly, for the tests' reference parsers.

The reference parsers in ``test_hostile``, ``test_perf_equivalence`` and the Canvas tests
(``_support_canvas``) check the library's parsers against an independent reading of the
SPEC, so they share this and not the library's own helpers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from typing import Any


def id_text(value: Any) -> str | None:
    """A variation id or name as text: empty is none, numbers are spelled, others are none."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def number(value: Any) -> tuple[float | None, bool]:
    """A leaf's number under the policy, and whether reading it was a repair."""
    if value is None:
        return None, False
    if type(value) is bool:
        return None, True
    if type(value) is int:
        try:
            return float(value), False
        except OverflowError:  # beyond float range: skipped, noted
            return None, True
    if type(value) is float:
        return (value, False) if math.isfinite(value) else (None, True)
    if type(value) is str:
        try:
            converted = float(value)
        except ValueError:
            return None, True
        return (converted, True) if math.isfinite(converted) else (None, True)
    return None, True


def leaves(obj: dict[str, Any], skip: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """(dotted name, leaf) pairs of an object, nested objects and lists flattened."""
    stack: list[tuple[str, Any]] = [(k, v) for k, v in obj.items() if k not in skip][::-1]
    while stack:
        name, val = stack.pop()
        if isinstance(val, dict):
            stack.extend((f"{name}.{k}", v) for k, v in reversed(list(val.items())))
        elif isinstance(val, list):
            stack.extend((f"{name}.{i}", v) for i, v in reversed(list(enumerate(val))))
        else:
            yield name, val


def date_of(value: Any) -> dt.date | None:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None
