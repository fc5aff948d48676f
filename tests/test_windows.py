"""Date arguments and window planning (pure)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from braze_frames.endpoints.windows import MAX_LENGTH, detect_reading, parse_day, plan_windows, resolve_range

TODAY = dt.date(2026, 1, 15)


def test_length_form_includes_ending_day() -> None:
    assert resolve_range(length=1, ending_at="2025-03-01", today=TODAY) == (dt.date(2025, 3, 1),) * 2
    assert resolve_range(length=30, today=TODAY) == (TODAY - dt.timedelta(days=29), TODAY)


def test_date_form_defaults_end_to_today() -> None:
    assert resolve_range(start="2026-01-01", today=TODAY) == (dt.date(2026, 1, 1), TODAY)


def test_datetime_with_offset_keeps_its_own_date() -> None:
    assert parse_day("2020-06-28T23:59:59-5:00", "ending_at") == dt.date(2020, 6, 28)
    assert parse_day(dt.datetime(2020, 6, 28, 23, 0), "x") == dt.date(2020, 6, 28)


@pytest.mark.parametrize(
    ("kwargs", "exc", "needle"),
    [
        ({"length": 0}, ValueError, "1 or more"),
        ({"length": -3}, ValueError, "1 or more"),
        ({"length": 2.5}, TypeError, "whole number"),
        ({"length": True}, TypeError, "whole number"),
        ({"ending_at": "2025-01-01"}, ValueError, "needs length"),
        ({"start": "2025-02-01", "end": "2025-01-01"}, ValueError, "after end"),
        ({"start": "yesterday"}, ValueError, "not a date"),
        ({"start": 20250101}, TypeError, "ISO string"),
        ({}, ValueError, "say which days"),
        ({"end": "2025-01-01"}, ValueError, "needs start"),
        ({"length": 3, "start": "2025-01-01"}, ValueError, "not both"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs: dict[str, object], exc: type[Exception], needle: str) -> None:
    with pytest.raises(exc, match=needle):
        resolve_range(today=TODAY, **kwargs)  # type: ignore[arg-type]


def covered(w_first: dt.date, length: int, ending_at: dt.date, inclusive: bool) -> set[dt.date]:
    end = ending_at if inclusive else ending_at - dt.timedelta(days=1)
    return {end - dt.timedelta(days=i) for i in range(length)}


@given(st.integers(0, 400), st.integers(0, 3000), st.sampled_from([None, "inclusive", "exclusive"]),
       st.booleans())
def test_windows_cover_every_day_once_under_either_reading(
    span: int, offset: int, reading: str | None, inclusive: bool
) -> None:
    first = dt.date(2020, 1, 1) + dt.timedelta(days=offset)
    last = first + dt.timedelta(days=span)
    if reading is not None:
        inclusive = reading == "inclusive"
    windows = plan_windows(first, last, reading)  # type: ignore[arg-type]
    seen: list[dt.date] = []
    for w in windows:
        assert 1 <= w.length <= MAX_LENGTH
        got = covered(w.first, w.length, w.ending_at, inclusive)
        wanted = {w.first + dt.timedelta(days=i) for i in range((w.last - w.first).days + 1)}
        assert wanted <= got
        if reading is not None:
            assert wanted == got  # exact once the reading is known
        seen.extend(wanted)
    assert sorted(seen) == [first + dt.timedelta(days=i) for i in range(span + 1)]


def test_known_reading_saves_a_request_on_100_days() -> None:
    first, last = dt.date(2025, 1, 1), dt.date(2025, 4, 10)  # 100 days
    assert len(plan_windows(first, last)) == 2
    assert len(plan_windows(first, last, "inclusive")) == 1
    assert len(plan_windows(first, last, "exclusive")) == 1


def test_detect_reading() -> None:
    (w,) = plan_windows(dt.date(2025, 1, 1), dt.date(2025, 1, 7))
    assert detect_reading(w, [dt.date(2025, 1, 8)]) == "inclusive"
    assert detect_reading(w, [dt.date(2024, 12, 31)]) == "exclusive"
    assert detect_reading(w, [dt.date(2025, 1, 3)]) is None
