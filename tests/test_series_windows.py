"""Hours in the window planner: the same exactness rules as days, one hour at a time."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from braze_frames.endpoints.windows import (
    DAY,
    HOUR,
    MAX_LENGTH,
    detect_reading,
    parse_hour,
    plan_windows,
    resolve_hours,
)

UTC = dt.timezone.utc
NOW = dt.datetime(2025, 7, 1, 9, 30, tzinfo=UTC)


def hours(first: dt.datetime, last: dt.datetime) -> list[dt.datetime]:
    return [first + HOUR * i for i in range((last - first) // HOUR + 1)]


def served(length: int, ending_at: dt.datetime, inclusive: bool) -> set[dt.datetime]:
    """The hours a server answers (the sandbox's two readings, written out)."""
    end = ending_at if inclusive else ending_at - HOUR
    return {end - HOUR * i for i in range(length)}


@given(st.integers(0, 500), st.integers(0, 20_000), st.sampled_from([None, "inclusive", "exclusive"]),
       st.booleans())
def test_hour_windows_cover_every_hour_once_under_either_reading(
    span: int, offset: int, reading: str | None, inclusive: bool
) -> None:
    first = dt.datetime(2024, 1, 1, tzinfo=UTC) + HOUR * offset
    last = first + HOUR * span
    if reading is not None:
        inclusive = reading == "inclusive"
    seen: list[dt.datetime] = []
    for w in plan_windows(first, last, reading, step=HOUR):  # type: ignore[arg-type]
        assert 1 <= w.length <= MAX_LENGTH
        assert w.step == HOUR
        wanted = set(hours(w.first, w.last))  # type: ignore[arg-type]
        got = served(w.length, w.ending_at, inclusive)  # type: ignore[arg-type]
        assert wanted <= got
        if reading is not None:
            assert wanted == got
        seen.extend(wanted)
    assert sorted(seen) == hours(first, last)


def test_a_known_reading_saves_a_request_on_100_hours() -> None:
    first = dt.datetime(2025, 6, 1, tzinfo=UTC)
    last = first + HOUR * 99
    assert len(plan_windows(first, last, step=HOUR)) == 2
    assert len(plan_windows(first, last, "exclusive", step=HOUR)) == 1


def test_ending_at_of_an_hour_is_sent_with_its_offset() -> None:
    h = dt.datetime(2025, 6, 29, 13, tzinfo=UTC)
    (w,) = plan_windows(h, h, "inclusive", step=HOUR)
    assert w.ending_at_param == "2025-06-29T13:00:00+00:00"
    (d,) = plan_windows(dt.date(2025, 6, 29), dt.date(2025, 6, 29), "inclusive")
    assert d.ending_at_param == "2025-06-29"
    assert d.step == DAY


def test_detect_reading_of_hours() -> None:
    h = dt.datetime(2025, 6, 29, 10, tzinfo=UTC)
    (w,) = plan_windows(h, h + HOUR * 2, step=HOUR)  # 10:00..12:00 asked as 4 hours to 13:00
    assert (w.length, w.ending_at) == (4, h + HOUR * 3)
    assert detect_reading(w, [h + HOUR * 3]) == "inclusive"
    assert detect_reading(w, [h - HOUR]) == "exclusive"
    assert detect_reading(w, [h + HOUR]) is None
    assert detect_reading(w, [h - HOUR * 2]) is None  # outside both readings: learn nothing


@pytest.mark.parametrize(
    ("value", "last", "expected"),
    [
        ("2025-06-29T13:45:10Z", False, dt.datetime(2025, 6, 29, 13, tzinfo=UTC)),
        ("2025-06-29T13:45:10", False, dt.datetime(2025, 6, 29, 13, tzinfo=UTC)),
        ("2020-06-28T23:59:59-5:00", False, dt.datetime(2020, 6, 29, 4, tzinfo=UTC)),
        ("2025-06-29T01:00:00+02:00", False, dt.datetime(2025, 6, 28, 23, tzinfo=UTC)),
        ("2025-06-29", False, dt.datetime(2025, 6, 29, 0, tzinfo=UTC)),
        ("2025-06-29", True, dt.datetime(2025, 6, 29, 23, tzinfo=UTC)),
        (dt.date(2025, 6, 29), True, dt.datetime(2025, 6, 29, 23, tzinfo=UTC)),
        (dt.datetime(2025, 6, 29, 7, 59), True, dt.datetime(2025, 6, 29, 7, tzinfo=UTC)),
    ],
)
def test_parse_hour(value: object, last: bool, expected: dt.datetime) -> None:
    assert parse_hour(value, "x", last=last) == expected


def test_resolve_hours() -> None:
    assert resolve_hours(length=3, now=NOW) == (NOW.replace(minute=0) - HOUR * 2, NOW.replace(minute=0))
    a, b = resolve_hours(start="2025-06-01", end="2025-06-02", now=NOW)
    assert len(hours(a, b)) == 48
    a, b = resolve_hours(start="2025-06-30T20:00:00Z", now=NOW)
    assert (a.hour, b) == (20, NOW.replace(minute=0))


@pytest.mark.parametrize(
    ("kwargs", "exc", "needle"),
    [
        ({"length": 0}, ValueError, "1 or more hours"),
        ({"length": 1.5}, TypeError, "whole number of hours"),
        ({"ending_at": "2025-01-01"}, ValueError, "needs length"),
        ({}, ValueError, "say which hours"),
        ({"start": "2025-02-01", "end": "2025-01-01"}, ValueError, "after end"),
        ({"start": "noon"}, ValueError, "not a date or datetime"),
        ({"start": 12}, TypeError, "ISO string"),
        ({"length": 3, "end": "2025-01-01"}, ValueError, "not both"),
    ],
)
def test_bad_hour_arguments_say_what_to_do(kwargs: dict[str, object], exc: type[Exception],
                                           needle: str) -> None:
    with pytest.raises(exc, match=needle):
        resolve_hours(now=NOW, **kwargs)  # type: ignore[arg-type]
