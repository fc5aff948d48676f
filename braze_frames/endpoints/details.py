"""Reading ``/campaigns/details`` bodies: names, conversion windows, the days a campaign was active.

Pure functions of the decoded JSON (no HTTP, no dataframe library). A details body, as
Braze documents it (https://www.braze.com/docs/api/endpoints/export/campaigns/get_campaign_details/),
has ``name``, ``first_sent`` and ``last_sent`` (ISO-8601 datetimes), ``messages`` keyed by
variation API id (each with ``name`` and ``channel``; a control group is
``{"type": "control"}``, without a name) and ``conversion_behaviors`` in event order, each
with a ``window`` in seconds. Any of them may be missing: real bodies lack ``first_sent``
and ``last_sent`` at times, and then nothing is assumed about when the campaign sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "NEVER_SENT",
    "active_days",
    "campaign_name_of",
    "conversion_window_days",
    "detail_date",
    "variation_names_of",
]

#: The reason given for a campaign whose details say it never sent.
NEVER_SENT: Final = "never sent"

#: Braze's longest conversion window, in days; assumed when the details give none.
MAX_WINDOW_DAYS: Final = 30

_ONE_DAY: Final = dt.timedelta(days=1)


def detail_date(value: object) -> dt.date | None:
    """The date of a details timestamp (``"2024-07-20T09:00:00+00:00"``); None when unusable.

    Examples:
        >>> detail_date("2024-07-20T09:00:00+00:00"), detail_date(None), detail_date("soon")
        (datetime.date(2024, 7, 20), None, None)
    """
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def conversion_window_days(details: Mapping[str, Any], default: int = MAX_WINDOW_DAYS) -> int:
    """The longest conversion window of a campaign, in whole days (Braze's max is 30).

    Examples:
        >>> conversion_window_days({"conversion_behaviors": [{"window": 86400}, {"window": 259200}]})
        3
        >>> conversion_window_days({})
        30
    """
    behaviors = details.get("conversion_behaviors")
    windows = [b.get("window") for b in behaviors if isinstance(b, Mapping)] \
        if isinstance(behaviors, list) else []
    seconds = [w for w in windows if isinstance(w, (int, float)) and not isinstance(w, bool)]
    if not seconds:
        return default
    return max(1, -(-int(max(seconds)) // 86_400))


def campaign_name_of(details: Mapping[str, Any] | None) -> str | None:
    """The campaign's name, or None when the body gives no usable one.

    Examples:
        >>> campaign_name_of({"name": " Welcome "}), campaign_name_of({"name": ""}), campaign_name_of(None)
        ('Welcome', None, None)
    """
    name = details.get("name") if isinstance(details, Mapping) else None
    return name.strip() or None if isinstance(name, str) else None


def variation_names_of(details: Mapping[str, Any] | None) -> dict[str, str]:
    """``variation_api_id -> name`` from a details body.

    Entries without a name (a control group is ``{"type": "control"}`` there) are left
    out, so that the response's own name ("Control Group") stays.

    Examples:
        >>> variation_names_of({"messages": {"v1": {"name": "A", "channel": "email"},
        ...                                  "cg": {"type": "control"}}})
        {'v1': 'A'}
    """
    messages = details.get("messages") if isinstance(details, Mapping) else None
    if not isinstance(messages, Mapping):
        return {}
    return {
        str(vid): msg["name"].strip()
        for vid, msg in messages.items()
        if isinstance(msg, Mapping) and isinstance(msg.get("name"), str) and msg["name"].strip()
    }


def active_days(
    details: Mapping[str, Any] | None, first: dt.date, last: dt.date
) -> tuple[dt.date, dt.date] | str:
    """The days of ``first..last`` a campaign can have data on, or why it has none.

    A campaign has data from its first send to its last send plus its longest conversion
    window (conversions keep arriving after the last send). ``first_sent``/``last_sent`` are
    UTC times while the data's days are the company's, so a day of margin is kept on each
    side. Whatever the details do not say widens the span: no details, or no usable
    ``first_sent``, starts at ``first``; no usable ``last_sent`` ends at ``last``. Only a
    body whose ``first_sent`` and ``last_sent`` are both present and null says "never sent".

    Args:
        details: The ``/campaigns/details`` body, or None when it could not be read.
        first: The first day wanted, inclusive.
        last: The last day wanted, inclusive.

    Returns:
        ``(a, b)``, the days to fetch, or a short reason why there are none.

    Examples:
        >>> day = dt.date(2025, 1, 1)
        >>> active_days({"first_sent": None, "last_sent": None}, day, day)
        'never sent'
        >>> active_days({}, day, day + dt.timedelta(days=9))
        (datetime.date(2025, 1, 1), datetime.date(2025, 1, 10))
        >>> active_days({"first_sent": "2024-01-01T09:00:00Z", "last_sent": "2024-02-01T09:00:00Z",
        ...              "conversion_behaviors": [{"window": 259200}]}, day, day)
        'last sent 2024-02-01; conversions counted until 2024-02-04, before 2025-01-01'
    """
    if details is None:
        return first, last
    if ("first_sent" in details and details["first_sent"] is None
            and "last_sent" in details and details["last_sent"] is None):
        return NEVER_SENT
    sent_first = detail_date(details.get("first_sent"))
    sent_last = detail_date(details.get("last_sent"))
    a, b = first, last
    if sent_first is not None:
        if sent_first - _ONE_DAY > last:
            return f"first sent {sent_first}, after {last}"
        a = max(first, sent_first - _ONE_DAY)
    if sent_last is not None:
        window = conversion_window_days(details)
        until = sent_last + dt.timedelta(days=window)
        if until + _ONE_DAY < first:
            return f"last sent {sent_last}; conversions counted until {until}, before {first}"
        b = min(last, until + _ONE_DAY)
    return (a, b) if a <= b else f"active {a}..{b} only"
