"""Reading /campaigns/details bodies: names, windows and active days (pure functions)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from braze_frames.endpoints.details import (
    NEVER_SENT,
    active_days,
    campaign_name_of,
    conversion_window_days,
    variation_names_of,
)

FIRST, LAST = dt.date(2025, 1, 1), dt.date(2025, 3, 31)


def sent(first: str | None, last: str | None, window_days: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"first_sent": first, "last_sent": last}
    if window_days is not None:
        body["conversion_behaviors"] = [{"type": "Makes Any Purchase", "window": window_days * 86_400}]
    return body


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (None, (FIRST, LAST)),  # details unread: the whole range
        ({}, (FIRST, LAST)),  # no first_sent, no last_sent: the whole range
        ({"first_sent": "garbled"}, (FIRST, LAST)),
        (sent(None, None), NEVER_SENT),
        ({"first_sent": None}, (FIRST, LAST)),  # null first_sent without last_sent: unknown
        (sent("2025-02-01T09:00:00Z", None), (dt.date(2025, 1, 31), LAST)),
        (sent("2024-01-01T09:00:00Z", "2025-02-10T17:00:00Z", 3), (FIRST, dt.date(2025, 2, 14))),
        # No conversion behaviours: Braze's longest window, 30 days.
        (sent("2024-01-01T09:00:00Z", "2024-12-31T17:00:00Z"), (FIRST, dt.date(2025, 1, 31))),
        (sent("2025-05-01T09:00:00Z", "2025-06-01T09:00:00Z"), "first sent 2025-05-01, after 2025-03-31"),
        (sent("2024-01-01T09:00:00Z", "2024-11-01T09:00:00Z", 7),
         "last sent 2024-11-01; conversions counted until 2024-11-08, before 2025-01-01"),
        # The day of margin on each side: UTC times against the company's days.
        (sent("2025-04-01T02:00:00Z", None), (LAST, LAST)),
        (sent("2024-01-01T09:00:00Z", "2024-12-30T09:00:00Z", 1), (FIRST, FIRST)),
    ],
)
def test_active_days(details: dict[str, Any] | None, expected: object) -> None:
    assert active_days(details, FIRST, LAST) == expected


def test_names_and_windows_of_odd_bodies() -> None:
    odd: dict[str, Any] = {"name": 5, "messages": ["v1"], "conversion_behaviors": {"window": 60}}
    assert campaign_name_of(odd) is None
    assert variation_names_of(odd) == {}
    assert conversion_window_days(odd) == 30
    body = {"messages": {"a": {"name": "  A "}, "b": {"name": ""}, "c": None, "cg": {"type": "control"}},
            "conversion_behaviors": [{"window": 1}, {"window": True}, {"window": "3600"}, None]}
    assert variation_names_of(body) == {"a": "A"}
    assert conversion_window_days(body) == 1  # one second is still a day
