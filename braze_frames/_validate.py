"""Argument checks shared by every layer: whole numbers, seconds, flags, choices, ids.

Each check returns the value it accepted (normalised where that helps) or raises a
``TypeError`` for the wrong kind of value and a ``ValueError`` (or the ``error`` class
given, e.g. ``ConfigError``) for a value out of range, with a message that names the
argument and says what it takes. Booleans are refused where a number is wanted:
``True`` is an ``int`` to Python, never a count of days to a person.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection
from typing import TypeVar

__all__ = ["check_bool", "check_choice", "check_int", "check_seconds", "check_text"]

T = TypeVar("T")


def check_int(
    name: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    unit: str = "",
    error: type[ValueError] = ValueError,
) -> int:
    """A whole number within ``[minimum, maximum]``.

    Args:
        name: The argument's name, as the caller spells it.
        value: What was passed.
        minimum: The smallest value allowed, if any.
        maximum: The largest value allowed, if any.
        unit: What the number counts (``"days"``), for the messages.
        error: The class raised for a value out of range.

    Examples:
        >>> check_int("length", 7, minimum=1, unit="days")
        7
        >>> check_int("length", 0, minimum=1, unit="days")
        Traceback (most recent call last):
        ...
        ValueError: length must be 1 or more days, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int):
        kind = f"a whole number of {unit}" if unit else "an int"
        msg = f"{name} must be {kind}, not {type(value).__name__}"
        raise TypeError(msg)
    low_ok = minimum is None or value >= minimum
    high_ok = maximum is None or value <= maximum
    if low_ok and high_ok:
        return value
    units = f" {unit}" if unit else ""
    if minimum is not None and maximum is not None:
        msg = f"{name} must be between {minimum} and {maximum}{units}, got {value}"
    elif minimum is not None:
        msg = (f"{name} must be {minimum} or more{units}, got {value}" if unit
               else f"{name} must be at least {minimum}, got {value}.")
    else:
        msg = f"{name} must be at most {maximum}{units}, got {value}"
    raise error(msg)


def check_seconds(
    name: str, value: object, *, positive: bool = False, error: type[ValueError] = ValueError
) -> float:
    """A finite number of seconds, ``>= 0`` (or ``> 0`` with ``positive``).

    Examples:
        >>> check_seconds("max_wait", 60)
        60.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{name} must be a number of seconds, not {type(value).__name__}"
        raise TypeError(msg)
    if not value >= 0 or math.isinf(value):
        msg = f"{name} must be a finite number of seconds >= 0, got {value}."
        raise error(msg)
    if positive and value == 0:
        msg = f"{name} must be positive (a request without one can hang)."
        raise error(msg)
    return float(value)


def check_bool(name: str, value: object) -> bool:
    """``True`` or ``False``, nothing merely truthy.

    Examples:
        >>> check_bool("include_archived", "yes")
        Traceback (most recent call last):
        ...
        TypeError: include_archived must be True or False, not str
    """
    if not isinstance(value, bool):
        msg = f"{name} must be True or False, not {type(value).__name__}"
        raise TypeError(msg)
    return value


def check_choice(name: str, value: T, choices: Collection[T]) -> T:
    """One of ``choices``.

    Examples:
        >>> check_choice("period", "year", ("day", "week"))
        Traceback (most recent call last):
        ...
        ValueError: period must be one of ('day', 'week'), not 'year'
    """
    if value not in choices:
        msg = f"{name} must be one of {tuple(choices)}, not {value!r}"
        raise ValueError(msg)
    return value


def check_text(name: str, value: object, *, what: str) -> str:
    """A non-empty string, stripped; ``what`` says what it should hold.

    Examples:
        >>> check_text("campaign_id", " c1 ", what="the campaign's API identifier")
        'c1'
    """
    if not isinstance(value, str):
        msg = f"{name} must be a str, not {type(value).__name__}"
        raise TypeError(msg)
    if not value.strip():
        msg = f"{name} is empty; pass {what}"
        raise ValueError(msg)
    return value.strip()


def check_date(name: str, value: object) -> dt.date | None:
    """A user's optional day: None, a ``date``, a ``datetime`` (its date) or an ISO date string.

    Examples:
        >>> check_date("start", "2024-07-01"), check_date("end", None)
        (datetime.date(2024, 7, 1), None)
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):  # pandas' Timestamp is one
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            msg = f"{name} must be a date or an ISO date such as '2024-07-01', not {value!r}"
            raise ValueError(msg) from None
    msg = f"{name} must be a date or an ISO date string, not {type(value).__name__}"
    raise TypeError(msg)
