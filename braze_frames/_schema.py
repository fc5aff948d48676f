"""Definitions as data: channel schemas, known extra metrics, the tidy columns.

Code, docs and tests all read these tables; nothing else in the package spells a
channel or metric list out again. Metric names keep Braze's own spelling
(https://www.braze.com/docs/api/endpoints/export/campaigns/get_campaign_analytics/).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "ALL_CHANNEL",
    "CHANNEL_SCHEMAS",
    "CONVERSION_PATTERN",
    "DAY_LEVEL_METRICS",
    "EXTRA_METRICS",
    "IN_APP_CHANNELS",
    "KEY_COLUMNS",
    "LEGACY_PUSH_CHANNELS",
    "NAME_COLUMNS",
    "PUSH_CHANNELS",
    "PUSH_DELIVERY_METRICS",
    "PUSH_DYNAMIC_PATTERN",
    "SEND_COLUMNS",
    "SERIES_COLUMNS",
    "SERIES_KEY_COLUMNS",
    "TIDY_COLUMNS",
    "conversion_event",
    "event_name",
    "is_known_metric",
    "metric_order",
    "schema_for",
]

#: The tidy table's columns, in order (SPEC section 3).
TIDY_COLUMNS: Final = ("campaign_id", "campaign_name", "date", "channel", "variation", "variation_name",
                       "metric", "value")
#: The columns that name what a key column identifies; null where the name is unknown.
NAME_COLUMNS: Final = ("campaign_name", "variation_name")
#: The columns that identify a row; no key appears twice.
KEY_COLUMNS: Final = ("campaign_id", "date", "channel", "variation", "metric")

#: The workspace series' table (SPEC section 14), in order: one row per (metric, key,
#: app_id, date); ``key``, ``key_name`` and ``app_id`` are null where they do not apply.
SERIES_COLUMNS: Final = ("metric", "key", "key_name", "app_id", "date", "value")
#: The columns that identify a row of a series table; no key appears twice.
SERIES_KEY_COLUMNS: Final = ("metric", "key", "app_id", "date")
#: ``fetch_send_series``' table: the campaign table with ``send_id`` after ``campaign_name``.
SEND_COLUMNS: Final = (*TIDY_COLUMNS[:2], "send_id", *TIDY_COLUMNS[2:])

#: The channel value of the day-level totals.
ALL_CHANNEL: Final = "all"

_PUSH: Final = ("sent", "direct_opens", "total_opens", "bounces", "body_clicks")
_IN_APP: Final = ("impressions", "clicks", "first_button_clicks", "second_button_clicks")

#: Push channels documented today, then the legacy keys that older campaigns still return.
PUSH_CHANNELS: Final = frozenset(
    {"ios_push", "android_push", "web_push", "kindle_push",
     "apple_push", "windows_phone8_push", "windows_universal_push"}
)
LEGACY_PUSH_CHANNELS: Final = frozenset({"apple_push", "windows_phone8_push", "windows_universal_push"})
IN_APP_CHANNELS: Final = frozenset({"trigger_in_app_message", "in_app_message"})

#: Every documented channel's metrics, in Braze's order.
CHANNEL_SCHEMAS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "email": ("sent", "opens", "unique_opens", "clicks", "unique_clicks", "unsubscribes",
              "bounces", "delivered", "reported_spam"),
    "ios_push": _PUSH,
    "android_push": _PUSH,
    "web_push": _PUSH,
    "kindle_push": _PUSH,
    "apple_push": _PUSH,
    "windows_phone8_push": _PUSH,
    "windows_universal_push": _PUSH,
    "webhook": ("sent", "errors"),
    "sms": ("sent", "sent_to_carrier", "delivered", "rejected", "delivery_failed", "clicks",
            "opt_out", "help"),
    "whats_app": ("sent", "delivered", "failed", "read"),
    "content_cards": ("sent", "total_clicks", "total_dismissals", "total_impressions",
                      "unique_clicks", "unique_dismissals", "unique_impressions"),
    "trigger_in_app_message": _IN_APP,
    "in_app_message": _IN_APP,
})

#: Day-level totals, in the order a pivot shows them (conversion events follow by number).
DAY_LEVEL_METRICS: Final = ("unique_recipients", "revenue")

#: Metrics known on any channel beyond its schema (SPEC section 3).
EXTRA_METRICS: Final = ("revenue", "unique_recipients", "enrolled", "machine_open",
                        "machine_amp_open", "machine_opens", "other_opens", "amp_opens")
_EXTRA_SET: Final = frozenset(EXTRA_METRICS)

#: Push delivery counts that ``/sends/data_series`` documents and that third-party examples
#: show on push entries of ``/campaigns/data_series`` too: known on every push channel, but
#: not in its schema (Braze's campaign docs do not list them, and a control group is told
#: apart by carrying none of the schema's metrics).
PUSH_DELIVERY_METRICS: Final = ("delivered", "undelivered", "delivery_failed")

#: ``conversions``, ``conversions1``, ... and their ``_by_send_time`` twins.
CONVERSION_PATTERN: Final = re.compile(r"conversions(\d*)(_by_send_time)?")
#: Either attribution of conversions, for ordering columns: Canvas counts by entry time.
_ANY_CONVERSION: Final = re.compile(r"conversions(\d*)(_by_send_time|_by_entry_time)?")
#: Shown first among the totals of a wide table: a Canvas's entries, its denominator.
_FIRST_TOTALS: Final = ("entries",)
#: Dynamic push keys such as ``carousel_slide_1_Promo_click`` or ``notif_button_2_Buy_click``.
PUSH_DYNAMIC_PATTERN: Final = re.compile(r"(?:carousel_slide|notif_button)_.+_click")


def schema_for(channel: str) -> tuple[str, ...]:
    """Return a channel's documented metrics (empty for ``"all"`` and unknown channels)."""
    return CHANNEL_SCHEMAS.get(channel, ())


def conversion_event(metric: str) -> tuple[int, bool] | None:
    """Parse a conversion metric name.

    Args:
        metric: A metric name such as ``"conversions2_by_send_time"``.

    Returns:
        ``(event number, by_send_time)``, with 0 for the primary event, or None when the
        name is not a conversion metric.

    Examples:
        >>> conversion_event("conversions2_by_send_time")
        (2, True)
        >>> conversion_event("conversions") is None
        False
        >>> conversion_event("sent") is None
        True
    """
    m = CONVERSION_PATTERN.fullmatch(metric)
    if m is None:
        return None
    return (int(m.group(1) or 0), m.group(2) is not None)


def event_name(metric: str) -> str:
    """The event a conversion metric counts, named by its by-conversion-date metric.

    Examples:
        >>> event_name("conversions2_by_send_time"), event_name("conversions")
        ('conversions2', 'conversions')
    """
    number = (conversion_event(metric) or (0, False))[0]
    return f"conversions{number or ''}"


def is_known_metric(channel: str, metric: str) -> bool:
    """Say whether a metric is expected on a channel (schema, extras or patterns).

    Examples:
        >>> is_known_metric("email", "machine_open")
        True
        >>> is_known_metric("ios_push", "carousel_slide_1_Promo_click")
        True
        >>> is_known_metric("android_push", "undelivered"), is_known_metric("webhook", "undelivered")
        (True, False)
        >>> is_known_metric("email", "brand_new_metric")
        False
    """
    if metric in _EXTRA_SET or CONVERSION_PATTERN.fullmatch(metric):
        return True
    if channel == ALL_CHANNEL:
        return False
    if metric in CHANNEL_SCHEMAS.get(channel, ()):
        return True
    return channel in PUSH_CHANNELS and (
        metric in PUSH_DELIVERY_METRICS or PUSH_DYNAMIC_PATTERN.fullmatch(metric) is not None)


def metric_order(channel: str, metrics: Iterable[str]) -> list[str]:
    """Order metrics as a wide table shows them.

    The channel's schema first (Braze's order; push delivery counts after it), then the
    extras (a Canvas's ``entries`` first), then conversion events by number with each
    ``_by_send_time`` (or Canvas ``_by_entry_time``) twin after its event, then everything
    else by name.

    Examples:
        >>> metric_order("webhook", ["conversions1", "errors", "zzz", "conversions", "sent"])
        ['sent', 'errors', 'conversions', 'conversions1', 'zzz']
        >>> metric_order("all", ["conversions_by_entry_time", "revenue", "conversions", "entries"])
        ['entries', 'revenue', 'conversions', 'conversions_by_entry_time']
    """
    own = schema_for(channel) + (PUSH_DELIVERY_METRICS if channel in PUSH_CHANNELS else ())
    schema = {m: i for i, m in enumerate(own)}
    extras = {m: i for i, m in enumerate(_FIRST_TOTALS + DAY_LEVEL_METRICS + EXTRA_METRICS)}

    def key(metric: str) -> tuple[int, int, int, str]:
        if metric in schema:
            return (0, schema[metric], 0, "")
        if metric in extras:
            return (1, extras[metric], 0, "")
        event = _ANY_CONVERSION.fullmatch(metric)
        if event is not None:
            return (2, int(event.group(1) or 0), int(event.group(2) is not None), "")
        return (3, 0, 0, metric)

    return sorted(set(metrics), key=key)
