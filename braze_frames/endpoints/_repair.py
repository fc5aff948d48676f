"""The value checks and repairs every parser of a Braze body shares. No dataframe library here.

A parser (``endpoints.parse`` for campaigns, ``endpoints.canvas`` for Canvas) reads numbers
out of nested JSON; what counts as a number, what is repaired and noted, how nested values
are flattened, how a day's ``time`` is read and how hostile input is quoted in a note is
decided once, here, with the policy table of ``endpoints.parse``'s docstring.
"""

from __future__ import annotations

import datetime as dt
import math
import reprlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Protocol

from .._errors import UnexpectedResponseError

__all__ = ["MAX_NESTING", "clean_metrics", "parse_date_key", "unused_key"]

_MAX_NOTES: Final = 20
#: Longest repair note kept: notes quote hostile input, which may be megabytes.
_NOTE_CHARS: Final = 300
#: Deepest nesting of a value that is flattened; deeper is not Braze's data (see the table).
MAX_NESTING: Final = 32
_DATE_CACHE_MAX: Final = 4096

# ``time`` strings repeat across campaigns and responses: parse each once.
_date_cache: dict[str, dt.date] = {}


class _Notes(Protocol):
    """Where a repair is noted (the parsers' column holders)."""

    def note(self, message: str) -> None: ...


def parse_date_key(value: object) -> dt.date:
    """Read a day's ``time`` (``"2024-07-20"``, or a datetime string) as a date.

    Raises:
        UnexpectedResponseError: ``value`` is not an ISO date or datetime string.

    Examples:
        >>> parse_date_key("2024-07-20")
        datetime.date(2024, 7, 20)
        >>> parse_date_key("2024-07-20T00:00:00Z")
        datetime.date(2024, 7, 20)
    """
    if type(value) is str:
        date = _date_cache.get(value)
        if date is not None:
            return date
    if isinstance(value, str) and len(value) >= 10:
        try:
            date = dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
        else:
            if len(_date_cache) >= _DATE_CACHE_MAX:
                _date_cache.clear()
            _date_cache[str(value)] = date
            return date
    msg = f"a day in the response has time={_short(value)}, not an ISO date such as '2024-07-20'"
    raise UnexpectedResponseError(msg, hint="the response is not shaped like Braze's data_series")


def clean_metrics(
    out: _Notes,
    obj: Mapping[str, Any],
    specials: tuple[str, ...],
    where: str,
    flattened: Callable[[str], None],
) -> tuple[list[str], list[int | float]]:
    """An entry's metrics and numbers, each value checked and repaired as the policy says.

    Every key of ``obj`` but ``specials`` is a metric; nested objects and lists become
    dotted names; ``null`` gives nothing; what is repaired or skipped is noted on ``out``.

    Args:
        out: Where repairs are noted.
        obj: The entry (or a day's totals).
        specials: Its keys that are not metrics (ids, names, ``time``, ``messages``...).
        where: Says where the entry is, in notes and errors.
        flattened: Called with each metric name that flattening made (not a key of
            ``obj``), so the caller can check it is known.

    Returns:
        The metric names and their numbers, in order.

    Raises:
        UnexpectedResponseError: A value nested deeper than ``MAX_NESTING`` levels.
    """
    metric_names: list[str] = []
    numbers: list[int | float] = []
    seen: set[str] = set()
    for flat, val in _flatten({k: v for k, v in obj.items() if k not in specials}, where):
        number = _number(out, val, f"{where} {flat}")
        if number is None:
            continue
        # "a.b" sent as a key and also made by flattening {"a": {"b": ...}}: the tidy keys
        # must stay unique, so the later one gets a suffix.
        key = unused_key(flat, seen)
        if key != flat:
            out.note(f"{where}: metric {_short(flat)} appears twice once nested values are "
                     f"flattened; the later one is kept as {_short(key)}")
        seen.add(key)
        if key not in obj:
            flattened(key)
        metric_names.append(key)
        numbers.append(number)
    return metric_names, numbers


def unused_key(key: str, taken: set[str]) -> str:
    """``key``, or ``key#2``, ``key#3``... the first one not ``taken``.

    Examples:
        >>> unused_key("opens", {"opens", "opens#2"})
        'opens#3'
    """
    if key not in taken:
        return key
    n = 2
    while f"{key}#{n}" in taken:
        n += 1
    return f"{key}#{n}"


def _finite_sum(vals: tuple[Any, ...]) -> bool:
    try:
        return math.isfinite(sum(vals, 0.0))
    except OverflowError:
        return False


def _number(out: _Notes, val: object, where: str) -> int | float | None:
    if val is None:
        return None
    kind = type(val)
    if kind is int:
        try:
            float(val)  # type: ignore[arg-type]
        except OverflowError:
            out.note(f"{where}: integer {_short(val)} is beyond the float range, skipped")
            return None
        return val  # type: ignore[return-value]
    if kind is float:
        if math.isfinite(val):  # type: ignore[arg-type]
            return val  # type: ignore[return-value]
        out.note(f"{where}: non-finite number {val!r} skipped")
        return None
    if kind is str:
        try:
            number = float(val)  # type: ignore[arg-type]
        except ValueError:
            out.note(f"{where}: string {_short(val)} is not a number, skipped")
            return None
        if not math.isfinite(number):
            out.note(f"{where}: non-finite number {_short(val)} skipped")
            return None
        out.note(f"{where}: number sent as the string {_short(val)}, converted")
        return number
    out.note(f"{where}: {kind.__name__} {_short(val)} is not a number, skipped")
    return None


def _flatten(entry: Mapping[str, Any], where: str) -> Iterator[tuple[str, Any]]:
    """Yield (key, leaf) pairs in order; nested objects and lists become dotted keys.

    A stack, not recursion: no input can raise ``RecursionError``. Values nested deeper
    than ``MAX_NESTING`` levels raise ``UnexpectedResponseError``.
    """
    stack: list[tuple[str, Iterator[tuple[Any, Any]]]] = [("", iter(entry.items()))]
    while stack:
        prefix, items = stack[-1]
        for key, val in items:
            name = f"{prefix}{key}"
            if isinstance(val, (Mapping, list)):
                if len(stack) > MAX_NESTING:
                    msg = (f"{where}: {_short(name)} is nested more than {MAX_NESTING} levels deep; "
                           "Braze sends numbers there")
                    raise UnexpectedResponseError(msg, hint="the response is not Braze's data")
                inner = val.items() if isinstance(val, Mapping) else enumerate(val)
                stack.append((f"{name}.", iter(inner)))
                break
            yield name, val
        else:
            stack.pop()


_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxlong = 40
_REPR.maxother = 60


def _short(value: object) -> str:
    """A ``repr`` cut to a readable length: notes and errors quote hostile input."""
    return _REPR.repr(value)


def _id_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None
