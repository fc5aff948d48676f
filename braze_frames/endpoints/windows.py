"""Pure window planning: a range of days (or hours) becomes requests of at most 100 of them.

Braze does not document whether ``ending_at`` is inclusive. A recorded sync with a
date-only ``ending_at=D`` and ``length=N`` returned D-N .. D-1 (exclusive), the docs'
wording suggests D-N+1 .. D. Until a response shows which reading the server uses, each
request asks for one day more so that both readings cover the days wanted:
``ending_at = b + 1`` and ``length = (b - a + 1) + 1`` give a .. b+1 when inclusive and
a-1 .. b when exclusive. The caller keeps only [a, b] of each response. Once the reading is
known the requests are exact, which saves the extra request a 100-day window would need.

Hours (``unit=hour`` of the workspace series) follow the same rules one hour at a time:
the range is a pair of UTC datetimes on the hour, ``step`` is :data:`HOUR`, and
``ending_at`` is sent as a UTC datetime (:func:`resolve_hours` reads the user's arguments).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from .._validate import check_int

__all__ = [
    "DAY",
    "HOUR",
    "MAX_LENGTH",
    "STEPS",
    "Reading",
    "Unit",
    "Window",
    "detect_reading",
    "parse_day",
    "parse_hour",
    "plan_windows",
    "resolve_hours",
    "resolve_range",
]

#: Braze's cap on ``length``.
MAX_LENGTH: Final = 100

Reading = Literal["inclusive", "exclusive"]
_SHORT_OFFSET: Final = re.compile(r"([+-])(\d:\d\d)$")
#: What one point of a series covers: a day (the default) or an hour.
Unit = Literal["day", "hour"]
DAY: Final = dt.timedelta(days=1)
HOUR: Final = dt.timedelta(hours=1)
#: The step between two points of each unit.
STEPS: Final[Mapping[str, dt.timedelta]] = MappingProxyType({"day": DAY, "hour": HOUR})


@dataclass(frozen=True, slots=True)
class Window:
    """One request: the days wanted and the parameters that fetch them.

    Attributes:
        first: First day (or hour) wanted (inclusive).
        last: Last day (or hour) wanted (inclusive).
        length: The request's ``length``, in steps.
        ending_at: The request's ``ending_at`` date (an aware UTC datetime for hours).
        step: :data:`DAY`, or :data:`HOUR` for hourly series.
    """

    first: dt.date
    last: dt.date
    length: int
    ending_at: dt.date
    step: dt.timedelta = DAY

    @property
    def ending_at_param(self) -> str:
        """``ending_at`` as sent: a bare date (an ISO datetime with its offset, for hours).

        A datetime would be read in the company's time zone and could move the day; a bare
        date is what the recorded syncs sent. An hour needs its time: it is sent in UTC,
        with the offset, which Braze reads in the offset given.
        """
        return self.ending_at.isoformat()

    def __str__(self) -> str:
        return f"{self.first}..{self.last}"


def parse_day(value: object, name: str) -> dt.date:
    """Read a user's date argument: a ``date``, a ``datetime`` or an ISO-8601 string.

    A datetime with an offset keeps its own calendar date (Braze reads ``ending_at`` in
    the offset given, e.g. ``2020-06-28T23:59:59-5:00`` is June 28).

    Raises:
        TypeError: ``value`` is of another type.
        ValueError: ``value`` is a string that is not an ISO date or datetime.

    Examples:
        >>> parse_day("2020-06-28T23:59:59-5:00", "ending_at")
        datetime.date(2020, 6, 28)
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        msg = (f"{name} must be a date, a datetime or an ISO string like '2025-01-31', "
               f"not {type(value).__name__}")
        raise TypeError(msg)
    text = value.strip()
    try:
        return dt.date.fromisoformat(text[:10]) if len(text) >= 10 else dt.date.fromisoformat(text)
    except ValueError:
        pass
    msg = f"{name}={value!r} is not a date; use an ISO date like '2025-01-31'"
    raise ValueError(msg)



def _length_form(length: object, ending_at: object, start: object, end: object, counts: str) -> bool:
    """True for ``length=`` (with ``ending_at=``), False for ``start=``/``end=``; no mix."""
    if length is None and ending_at is None:
        return False
    if start is not None or end is not None:
        msg = "pass either length= (with ending_at=) or start=/end=, not both"
        raise ValueError(msg)
    if length is None:
        msg = f"ending_at= needs length=: the number of {counts}"
        raise ValueError(msg)
    return True


def resolve_range(
    *,
    length: object = None,
    ending_at: object = None,
    start: object = None,
    end: object = None,
    today: dt.date,
) -> tuple[dt.date, dt.date]:
    """Turn either form of the date arguments into inclusive ``(first, last)`` dates.

    ``length=N, ending_at=D``: the N calendar days ending on D's date, D included.
    ``start=A, end=B``: A .. B inclusive; ``end`` defaults to ``today``.

    Raises:
        TypeError: A length that is not an integer, a date of the wrong type.
        ValueError: Both forms or neither, a length below 1, a start after the end.

    Examples:
        >>> resolve_range(length=7, ending_at="2025-01-07", today=dt.date(2026, 1, 1))
        (datetime.date(2025, 1, 1), datetime.date(2025, 1, 7))
    """
    if _length_form(length, ending_at, start, end, "days ending on that date"):
        length = check_int("length", length, minimum=1, unit="days")
        last = today if ending_at is None else parse_day(ending_at, "ending_at")
        return last - dt.timedelta(days=length - 1), last
    if start is None:
        if end is not None:
            msg = "end= needs start=: pass start='YYYY-MM-DD' (or use length=)"
            raise ValueError(msg)
        msg = "say which days to fetch: length=30 (ending today), or start='2025-01-01'[, end=...]"
        raise ValueError(msg)
    first = parse_day(start, "start")
    last = today if end is None else parse_day(end, "end")
    if first > last:
        if end is None:
            msg = (f"start ({first}) is in the future: the range ends today ({last}, in UTC) "
                   "unless end= says otherwise, and Braze has no data for days to come")
        else:
            msg = f"start ({first}) is after end ({last}); swap them"
        raise ValueError(msg)
    return first, last


def parse_hour(value: object, name: str, *, last: bool = False) -> dt.datetime:
    """Read a user's hour argument as an aware UTC datetime on the hour.

    A datetime (or ISO datetime string) with an offset is converted to UTC; one without
    is read as UTC. The minutes are dropped: the hour that holds the moment. A bare date
    means its first hour, or its last (23:00) with ``last=True`` (an inclusive end).

    Raises:
        TypeError: ``value`` is of another type.
        ValueError: ``value`` is a string that is not an ISO date or datetime.

    Examples:
        >>> parse_hour("2025-06-29T13:45:00-05:00", "start")
        datetime.datetime(2025, 6, 29, 18, 0, tzinfo=datetime.timezone.utc)
        >>> parse_hour("2025-06-29", "end", last=True).hour
        23
    """
    moment: dt.datetime
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day, 23 if last else 0)
    elif isinstance(value, str):
        # Braze's own example writes a one-digit offset hour (-5:00), which ISO does not,
        # and Python 3.10 reads no "Z".
        text = _SHORT_OFFSET.sub(r"\g<1>0\g<2>", value.strip())
        text = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            msg = f"{name}={value!r} is not a date or datetime; use ISO, like '2025-01-31T13:00:00Z'"
            raise ValueError(msg) from None
        if len(text) == 10 and last:  # a bare date ends at its last hour
            moment = moment.replace(hour=23)
    else:
        msg = (f"{name} must be a datetime, a date or an ISO string like '2025-01-31T13:00:00Z', "
               f"not {type(value).__name__}")
        raise TypeError(msg)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)


def resolve_hours(
    *,
    length: object = None,
    ending_at: object = None,
    start: object = None,
    end: object = None,
    now: dt.datetime,
) -> tuple[dt.datetime, dt.datetime]:
    """The hourly twin of :func:`resolve_range`: inclusive ``(first, last)`` UTC hours.

    ``length=N, ending_at=T``: the N hours ending with T's hour (a bare date: its 23:00).
    ``start=A, end=B``: A's hour .. B's hour inclusive (a bare ``end`` date: its 23:00);
    ``ending_at`` and ``end`` default to ``now``'s hour.

    Raises:
        TypeError: A length that is not an integer, a moment of the wrong type.
        ValueError: Both forms or neither, a length below 1, a start after the end.

    Examples:
        >>> now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        >>> a, b = resolve_hours(length=24, ending_at="2025-06-29", now=now)
        >>> a.isoformat(), b.isoformat()
        ('2025-06-29T00:00:00+00:00', '2025-06-29T23:00:00+00:00')
    """
    if _length_form(length, ending_at, start, end, "hours ending with that hour"):
        hours = check_int("length", length, minimum=1, unit="hours")
        last = parse_hour(now if ending_at is None else ending_at, "ending_at", last=True)
        return last - HOUR * (hours - 1), last
    if start is None:
        msg = ("say which hours to fetch: length=48 (ending this hour), or "
               "start='2025-01-01T00:00:00Z'[, end=...]")
        raise ValueError(msg)
    first = parse_hour(start, "start")
    last = parse_hour(now if end is None else end, "end", last=True)
    if first > last:
        msg = f"start ({first.isoformat()}) is after end ({last.isoformat()}); swap them"
        raise ValueError(msg)
    return first, last


def plan_windows(
    first: dt.date,
    last: dt.date,
    reading: Reading | None = None,
    *,
    max_length: int = MAX_LENGTH,
    step: dt.timedelta = DAY,
) -> list[Window]:
    """Split ``first .. last`` into requests, newest first.

    Args:
        first: First day wanted (an aware UTC hour with ``step=HOUR``).
        last: Last day wanted.
        reading: How the server reads ``ending_at``, when known; ``None`` asks for one
            day more per request so that either reading covers the window.
        max_length: The endpoint's cap on ``length`` (100 for campaigns, 14 for Canvas).
        step: :data:`DAY`, or :data:`HOUR` to plan hours (``length`` then counts hours).

    Examples:
        >>> [str(w) for w in plan_windows(dt.date(2025, 1, 1), dt.date(2025, 4, 30))]
        ['2025-01-22..2025-04-30', '2025-01-01..2025-01-21']
        >>> w = plan_windows(dt.date(2025, 1, 1), dt.date(2025, 1, 7), "exclusive")[0]
        >>> (w.length, w.ending_at)
        (7, datetime.date(2025, 1, 8))
        >>> len(plan_windows(dt.date(2025, 1, 1), dt.date(2025, 1, 28), max_length=14))
        3
        >>> h = dt.datetime(2025, 6, 29, tzinfo=dt.timezone.utc)
        >>> [(w.length, w.ending_at.hour) for w in plan_windows(h, h + 3 * HOUR, step=HOUR)]
        [(5, 4)]
    """
    if max_length < 2:
        msg = f"max_length must be at least 2 (one day asked for and one of margin), got {max_length}"
        raise ValueError(msg)
    span = max_length if reading is not None else max_length - 1
    windows: list[Window] = []
    b = last
    one = step
    back = step * (span - 1)
    while b >= first:
        a = max(first, b - back)
        days = (b - a) // one + 1
        if reading == "inclusive":
            windows.append(Window(a, b, days, b, one))
        elif reading == "exclusive":
            windows.append(Window(a, b, days, b + one, one))
        else:
            windows.append(Window(a, b, days + 1, b + one, one))
        b = a - one
    return windows


def detect_reading(window: Window, dates: list[dt.date]) -> Reading | None:
    """Infer the server's reading of ``ending_at`` from the dates (or hours) one response holds.

    A day equal to ``ending_at`` only comes back when the server reads it inclusively; the
    day ``length`` days before it only when it reads it exclusively. Responses without
    data at the edges say nothing, and so does a response that follows neither reading
    (days outside both, or both edge days): a client keeps what it learns for good, and a
    wrong reading would make every later request miss a day.

    Examples:
        >>> w = Window(dt.date(2025, 1, 1), dt.date(2025, 1, 7), 8, dt.date(2025, 1, 8))
        >>> detect_reading(w, [dt.date(2024, 12, 31), dt.date(2025, 1, 7)])
        'exclusive'
        >>> detect_reading(w, [dt.date(2024, 12, 31), dt.date(2025, 1, 8)]) is None
        True
    """
    low = window.ending_at - window.step * window.length
    if any(d < low or d > window.ending_at for d in dates):
        return None
    inclusive = window.ending_at in dates
    exclusive = low in dates
    if inclusive == exclusive:
        return None
    return "inclusive" if inclusive else "exclusive"
