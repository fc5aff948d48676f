"""Pure parser: ``/campaigns/data_series`` JSON to plain columns. No dataframe library here.

The output is run-length encoded: the five key columns arrive once per variation entry
(a *segment*) with a row count, and only ``metric`` and ``value`` arrive once per row.
``_tidy.frame_from_parsed`` expands the keys inside polars, so no Python object is made
per row for them. The hot loop moves a whole entry at a time with C-level ``extend`` calls
and takes a slow path only for entries holding something other than numbers and nulls.

Policy for odd input (SPEC section 3, and the hostile cases it implies):

===================================  ===================================================
input                                outcome
===================================  ===================================================
metric ``null`` or absent            no row (never a zero)
channel absent, ``null`` or ``[]``   no rows, no warning
number sent as a string (``"12"``)   converted, ``DataRepairWarning``
boolean, other string                skipped, ``DataRepairWarning``
NaN, infinity, number beyond float   skipped, ``DataRepairWarning``
nested object or list as a value     flattened to ``key.sub`` / ``key.0`` metrics, kept
                                     as unknown metrics (``UnknownFieldWarning``)
unknown channel or metric            kept, one ``UnknownFieldWarning`` per fetch
same ``time`` twice in a response    last one kept, ``DataRepairWarning``
same variation key twice             later ones suffixed ``#2``, ``#3``..., warning
entry with neither id nor name       variation ``#<position>`` (1-based), warning
channel holding one object           read as a one-entry list, warning
``null`` entry in a channel list     no rows
missing ``data``, a day without a    ``UnexpectedResponseError`` naming the problem
valid ``time``, a non-object day,
channel or entry of another type
===================================  ===================================================
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ._errors import UnexpectedResponseError
from ._schema import ALL_CHANNEL, CHANNEL_SCHEMAS, is_known_metric, schema_for

__all__ = ["DayMap", "ParsedColumns", "collect_days", "parse_date_key", "parse_days"]

_NUMBERS: Final = frozenset({int, float})
_NUMBERS_OR_NONE: Final = frozenset({int, float, type(None)})
_ID_KEYS: Final = ("variation_api_id", "variation_name")
_TEXT_OR_NONE: Final = (str, type(None))
_DAY_SKIP: Final = ("time", "messages")
_MAX_NOTES: Final = 20

#: Days of one campaign keyed by date; later responses overwrite earlier ones.
DayMap = dict[dt.date, Mapping[str, Any]]


@dataclass(slots=True)
class ParsedColumns:
    """Plain columns of a tidy table, run-length encoded on the key columns.

    Attributes:
        seg_*: One item per segment (a variation entry, or a day's totals).
        seg_count: Rows in each segment.
        metric: One metric name per row.
        value: One number per row (int or float, never None).
        unknown_channels: Channel keys the schema does not know.
        unknown_metrics: ``channel.metric`` names the schema does not know.
        repairs: Human-readable notes of repaired input (first few of each kind).
        repair_count: How many repairs in all.
    """

    seg_campaign_id: list[str] = field(default_factory=list)
    seg_date: list[dt.date] = field(default_factory=list)
    seg_channel: list[str] = field(default_factory=list)
    seg_variation: list[str | None] = field(default_factory=list)
    seg_variation_name: list[str | None] = field(default_factory=list)
    seg_count: list[int] = field(default_factory=list)
    metric: list[str] = field(default_factory=list)
    value: list[int | float] = field(default_factory=list)
    unknown_channels: set[str] = field(default_factory=set)
    unknown_metrics: set[str] = field(default_factory=set)
    repairs: list[str] = field(default_factory=list)
    repair_count: int = 0

    @property
    def n_rows(self) -> int:
        """Number of tidy rows."""
        return len(self.metric)

    def note(self, message: str) -> None:
        """Record a repair; keep the first few messages so a warning stays readable."""
        self.repair_count += 1
        if len(self.repairs) < _MAX_NOTES:
            self.repairs.append(message)


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
    if isinstance(value, str) and len(value) >= 10:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    msg = f"a day in the response has time={value!r}, not an ISO date such as '2024-07-20'"
    raise UnexpectedResponseError(msg, hint="the response is not shaped like Braze's data_series")


def collect_days(
    body: object,
    *,
    keep: tuple[dt.date, dt.date] | None = None,
    into: DayMap | None = None,
    parsed: ParsedColumns | None = None,
) -> DayMap:
    """Check a response body and index its days by date.

    Args:
        body: The decoded JSON of one ``/campaigns/data_series`` response.
        keep: Inclusive ``(first, last)`` dates to keep; other days are dropped (requests
            ask for a day more than needed on purpose, see ``_windows``).
        into: A map to add to, so overlapping windows of one campaign de-duplicate; a day
            already there is replaced by this response's.
        parsed: Where to note repairs (the same ``time`` twice in this response).

    Returns:
        The day map.

    Raises:
        UnexpectedResponseError: ``data`` is missing or is not a list of day objects.
    """
    days: DayMap = {} if into is None else into
    if not isinstance(body, Mapping):
        msg = f"the response body is a JSON {type(body).__name__}, not an object"
        raise UnexpectedResponseError(msg)
    data = body.get("data")
    if not isinstance(data, list):
        got = "no 'data' key" if "data" not in body else f"'data' of type {type(data).__name__}"
        msg = f"the response has {got}; expected a list of days"
        raise UnexpectedResponseError(msg, hint="the response is not shaped like Braze's data_series")
    seen: set[dt.date] = set()
    for day in data:
        if not isinstance(day, Mapping):
            msg = f"a day in the response is a JSON {type(day).__name__}, not an object"
            raise UnexpectedResponseError(msg)
        date = parse_date_key(day.get("time"))
        if date in seen and parsed is not None:
            parsed.note(f"day {date} appears twice in one response; the last one is kept")
        seen.add(date)
        if keep is not None and not keep[0] <= date <= keep[1]:
            continue
        days[date] = day
    return days


class _Parser:
    """Per-call state: caches of known metrics, so the hot loop does set operations only."""

    __slots__ = ("_known", "out")

    def __init__(self, out: ParsedColumns) -> None:
        self.out = out
        self._known: dict[str, set[str]] = {}

    def _check_known(self, channel: str, keys: Iterable[str]) -> None:
        known = self._known.get(channel)
        if known is None:
            known = self._known[channel] = set(_ID_KEYS).union(schema_for(channel))
        if known.issuperset(keys):
            return
        extra = set(keys) - known
        for metric in extra:
            if is_known_metric(channel, metric):
                known.add(metric)
            elif channel in self.out.unknown_channels:
                known.add(metric)  # the channel is already named; do not list its metrics
            else:
                self.out.unknown_metrics.add(f"{channel}.{metric}")
                known.add(metric)

    def segment(
        self,
        campaign_id: str,
        date: dt.date,
        channel: str,
        variation: str | None,
        variation_name: str | None,
        entry: Mapping[str, Any],
    ) -> None:
        """Append one entry's metrics (``entry`` holds no id keys)."""
        out = self.out
        self._check_known(channel, entry.keys())
        types = set(map(type, entry.values()))
        if float in types and types <= _NUMBERS and not math.isfinite(sum(entry.values())):
            # NaN or an infinity is in there (or finite floats overflow the sum): slow path.
            types.add(object)
        if types <= _NUMBERS:
            out.metric.extend(entry.keys())
            out.value.extend(entry.values())
            n = len(entry)
        elif types <= _NUMBERS_OR_NONE and float not in types:
            n = 0
            for key, val in entry.items():
                if val is not None:
                    out.metric.append(key)
                    out.value.append(val)
                    n += 1
        else:
            n = self._slow(channel, entry, f"{campaign_id} {date} {channel} {variation}")
        if n:
            out.seg_campaign_id.append(campaign_id)
            out.seg_date.append(date)
            out.seg_channel.append(channel)
            out.seg_variation.append(variation)
            out.seg_variation_name.append(variation_name)
            out.seg_count.append(n)

    def _slow(self, channel: str, entry: Mapping[str, Any], where: str) -> int:
        n = 0
        out = self.out
        for key, val in _flatten(entry):
            number = self._number(val, f"{where} {key}")
            if number is None:
                continue
            if "." in key and key not in entry:
                self._check_known(channel, (key,))
            out.metric.append(key)
            out.value.append(number)
            n += 1
        return n

    def _number(self, val: object, where: str) -> int | float | None:
        if val is None:
            return None
        kind = type(val)
        if kind is int:
            if abs(val) > 1e308:  # type: ignore[arg-type]
                self.out.note(f"{where}: integer too large for a float, skipped")
                return None
            return val  # type: ignore[return-value]
        if kind is float:
            if math.isfinite(val):  # type: ignore[arg-type]
                return val  # type: ignore[return-value]
            self.out.note(f"{where}: non-finite number {val!r} skipped")
            return None
        if kind is str:
            try:
                number = float(val)  # type: ignore[arg-type]
            except ValueError:
                self.out.note(f"{where}: string {val!r} is not a number, skipped")
                return None
            if not math.isfinite(number):
                self.out.note(f"{where}: non-finite number {val!r} skipped")
                return None
            self.out.note(f"{where}: number sent as the string {val!r}, converted")
            return number
        self.out.note(f"{where}: {kind.__name__} {val!r} is not a number, skipped")
        return None


def _flatten(entry: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Yield (key, leaf) pairs; nested objects and lists become dotted keys, never lost."""
    for key, val in entry.items():
        name = f"{prefix}{key}"
        if isinstance(val, Mapping):
            yield from _flatten(val, f"{name}.")
        elif isinstance(val, list):
            yield from _flatten({str(i): v for i, v in enumerate(val)}, f"{name}.")
        else:
            yield name, val


def _variation_keys(
    channel: str,
    entries: list[Any],
    names: Mapping[str, str] | None,
    out: ParsedColumns,
    where: str,
) -> list[tuple[str, str | None, Mapping[str, Any]]]:
    """Give each entry of a channel its variation key, name and metrics-only mapping."""
    result: list[tuple[str, str | None, Mapping[str, Any]]] = []
    used: dict[str, int] = {}
    for position, entry in enumerate(entries, start=1):
        if entry is None:
            continue
        if type(entry) is not dict and not isinstance(entry, Mapping):
            msg = f"{where} {channel}: entry {position} is a JSON {type(entry).__name__}, not an object"
            raise UnexpectedResponseError(msg)
        api_id = entry.get("variation_api_id")
        name = entry.get("variation_name")
        if type(api_id) is not str or type(name) not in _TEXT_OR_NONE:
            api_id = _id_text(api_id)
            name = _id_text(name)
        metrics = dict(entry)
        metrics.pop("variation_api_id", None)
        metrics.pop("variation_name", None)
        if names and api_id is not None and api_id in names:
            name = names[api_id]
        key = api_id or name or f"#{position}"
        if api_id is None and name is None:
            out.note(f"{where} {channel}: entry {position} has neither variation_api_id nor "
                     f"variation_name; named {key}")
        count = used.get(key, 0) + 1
        used[key] = count
        if count > 1:
            new_key = f"{key}#{count}"
            out.note(f"{where} {channel}: variation {key!r} appears {count} times; "
                     f"this one is kept as {new_key!r}")
            key = new_key
        result.append((key, name, metrics))
    return result


def _id_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def parse_days(
    campaign_id: str,
    days: DayMap,
    *,
    into: ParsedColumns | None = None,
    variation_names: Mapping[str, str] | None = None,
) -> ParsedColumns:
    """Turn one campaign's days into tidy columns, in date order.

    Args:
        campaign_id: The campaign's API id (the responses do not repeat it).
        days: Day objects keyed by date, from ``collect_days``.
        into: Columns to append to (one ``ParsedColumns`` serves a whole fetch).
        variation_names: ``variation_api_id -> name`` from ``/campaigns/details``; it
            overrides the response's ``variation_name``.

    Returns:
        The columns, with unknown fields and repairs noted (the caller warns once).

    Examples:
        >>> body = {"message": "success", "data": [{"time": "2024-07-20", "revenue": 1.5,
        ...     "messages": {"webhook": [{"variation_api_id": "v1", "sent": 10, "errors": 1}],
        ...                  "sms": []}}]}
        >>> cols = parse_days("c1", collect_days(body))
        >>> list(zip(cols.seg_channel, cols.seg_variation, cols.seg_count))
        [('all', None, 1), ('webhook', 'v1', 2)]
        >>> cols.metric, cols.value
        (['revenue', 'sent', 'errors'], [1.5, 10, 1])
    """
    out = ParsedColumns() if into is None else into
    parser = _Parser(out)
    for date in sorted(days):
        day = days[date]
        where = f"campaign {campaign_id} day {date}"
        totals = {k: v for k, v in day.items() if k not in _DAY_SKIP}
        parser.segment(campaign_id, date, ALL_CHANNEL, None, None, totals)
        messages = day.get("messages")
        if messages is None:
            continue
        if not isinstance(messages, Mapping):
            msg = f"{where}: 'messages' is a JSON {type(messages).__name__}, not an object"
            raise UnexpectedResponseError(msg)
        for channel, value in messages.items():
            if value is None:
                continue
            if type(value) is list:
                entries = value
            elif isinstance(value, Mapping):
                out.note(f"{where} {channel}: one object instead of a list; read as a list")
                entries = [value]
            else:
                msg = (f"{where}: channel {channel!r} holds a JSON {type(value).__name__}, "
                       "not a list of variations")
                raise UnexpectedResponseError(msg)
            if not entries:
                continue
            if channel not in CHANNEL_SCHEMAS:
                out.unknown_channels.add(channel)
            for key, name, metrics in _variation_keys(channel, entries, variation_names, out, where):
                parser.segment(campaign_id, date, channel, key, name, metrics)
    return out

