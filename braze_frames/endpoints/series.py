"""The workspace series (SPEC section 14) as data, and their parser: JSON to plain columns.

Braze's other daily series (KPIs, sessions, custom events, purchases, segment sizes) all
answer ``{"data": [{"time": ..., <field>: <number>}], "message": "success"}``. What tells
them apart is data, one :class:`SeriesKind` each in :data:`SERIES_KINDS`: the endpoint, the
field holding the number, what a key is (an event name, a product, a segment id) and the
list that names every key, the filters it takes and whether it answers hours. The parser
knows no dataframe library: it yields plain columns that ``_tidy.series_frame`` builds
into the table of ``SERIES_COLUMNS``.

Policy for odd input, the campaign parser's (``endpoints.parse``) applied to these bodies
(``tests/test_series_hostile.py`` checks every row):

===================================  ===================================================
input                                outcome
===================================  ===================================================
the field ``null`` or absent         no row (never a zero); a day left out is no row
number sent as a string (``"12"``)   converted, ``DataRepairWarning``
boolean, other string, NaN,          skipped, ``DataRepairWarning``
infinity, number beyond float
another field (``"unique": 3``)      kept as metric ``<kind>.<field>`` (``events.unique``),
                                     named in one ``UnknownFieldWarning``
a nested object or list              flattened to ``<kind>.<field>.<sub>`` metrics, kept
                                     as unknown; deeper than ``MAX_NESTING``:
                                     ``UnexpectedResponseError``
a flattened name equal to a field    the later one suffixed ``#2``, ``DataRepairWarning``
same ``time`` twice in a response    the last one kept, ``DataRepairWarning``
a time outside the window asked for  dropped, no warning (requests ask for an extra one)
missing ``data``, a point that is    ``UnexpectedResponseError``: in ``on_error="collect"``
not an object or lacks a valid       or ``"warn"`` the window's failure, every other
``time``                             window kept
===================================  ===================================================

Hourly ``time`` values are ISO datetimes; one with an offset is converted to UTC, one
without is read as UTC (the planner asks in UTC).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from .._errors import UnexpectedResponseError
from ._columns import EPOCH_ORDINAL
from ._repair import _flatten, _number, _short, parse_date_key
from .catalog import ENDPOINTS, Endpoint
from .parse import ParsedColumns
from .windows import Unit

__all__ = [
    "EVENT_LIST",
    "PRODUCT_LIST",
    "SEGMENT_LIST",
    "SERIES_KINDS",
    "KeyList",
    "SeriesColumns",
    "SeriesKind",
    "list_page",
    "parse_hour_key",
    "parse_series",
    "series_days",
]

_SHAPE_HINT: Final = "the response is not shaped like Braze's data series"


@dataclass(frozen=True)
class KeyList:
    """A list endpoint that names every key of a series (events, products, segments).

    Attributes:
        endpoint: The list's endpoint (its budget paces the pages).
        field: The body's list (``"events"``, ``"products"``, ``"segments"``).
        page_size: Entries per full page when Braze documents it (250 events, 100
            segments); None when it does not (products): paging then stops on an empty
            page, or a page shorter than an earlier one, or one that names nothing new.
        what: What one entry is, for messages.
    """

    endpoint: Endpoint
    field: str
    page_size: int | None
    what: str


EVENT_LIST: Final = KeyList(ENDPOINTS["/events/list"], "events", 250, "custom event")
PRODUCT_LIST: Final = KeyList(ENDPOINTS["/purchases/product_list"], "products", None, "product")
SEGMENT_LIST: Final = KeyList(ENDPOINTS["/segments/list"], "segments", 100, "segment")


@dataclass(frozen=True)
class SeriesKind:
    """One kind of workspace series (one value of the ``metric`` column).

    Attributes:
        name: The kind (``"dau"``, ``"events"``...), the ``metric`` of its rows.
        endpoint: The endpoint answering it; its ``id_param`` is the key's parameter.
        field: The body's field holding the number (``"count"`` for events).
        lister: The list naming every key, for kinds with a key.
        total_without_key: Without a key the endpoint answers a total (purchases: every
            product), so ``keys=None`` asks for it rather than for every listed key.
        filters: The filters the endpoint takes (``app_id``, ``segment_id``).
        hourly: Whether it answers ``unit=hour``.
    """

    name: str
    endpoint: Endpoint
    field: str
    lister: KeyList | None = None
    total_without_key: bool = False
    filters: frozenset[str] = frozenset({"app_id"})
    hourly: bool = False

    @property
    def key_param(self) -> str | None:
        """The query parameter naming the key, if the kind has keys."""
        return self.endpoint.id_param


def _kind(name: str, path: str, series_field: str | None = None, **facts: Any) -> SeriesKind:
    return SeriesKind(name, ENDPOINTS[path], series_field or name, **facts)


_APP_SEGMENT: Final = frozenset({"app_id", "segment_id"})

#: Every kind ``fetch_series`` knows, in the order frames and pivots show them.
SERIES_KINDS: Final[Mapping[str, SeriesKind]] = MappingProxyType({k.name: k for k in (
    *(_kind(kpi, f"/kpi/{kpi}/data_series") for kpi in ("dau", "mau", "new_users", "uninstalls")),
    _kind("sessions", "/sessions/data_series", filters=_APP_SEGMENT, hourly=True),
    _kind("events", "/events/data_series", "count", lister=EVENT_LIST, filters=_APP_SEGMENT,
          hourly=True),
    _kind("revenue", "/purchases/revenue_series", lister=PRODUCT_LIST, total_without_key=True,
          hourly=True),
    _kind("purchase_quantity", "/purchases/quantity_series", lister=PRODUCT_LIST,
          total_without_key=True, hourly=True),
    _kind("segment_size", "/segments/data_series", "size", lister=SEGMENT_LIST,
          filters=frozenset()),
)})


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
#: Integers from here on have no float: the careful path skips them, with a note.
_FLOAT_LIMIT: Final = 2**1024
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_hour_cache: dict[str, dt.datetime] = {}
_HOUR_CACHE_MAX: Final = 8192


def parse_hour_key(value: object) -> dt.datetime:
    """Read an hourly point's ``time`` as an aware UTC datetime.

    Raises:
        UnexpectedResponseError: ``value`` is not an ISO datetime string.

    Examples:
        >>> parse_hour_key("2025-06-29T13:00:00+02:00").isoformat()
        '2025-06-29T11:00:00+00:00'
        >>> parse_hour_key("2025-06-29T13:00:00").hour
        13
    """
    if type(value) is str:
        found = _hour_cache.get(value)
        if found is not None:
            return found
        text = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
        try:
            moment = dt.datetime.fromisoformat(text) if len(text) > 10 else None
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.timezone.utc)
            moment = moment.astimezone(dt.timezone.utc)
            if len(_hour_cache) >= _HOUR_CACHE_MAX:
                _hour_cache.clear()
            _hour_cache[value] = moment
            return moment
    msg = (f"an hourly point in the response has time={_short(value)}, not an ISO datetime "
           "such as '2025-06-29T13:00:00+00:00'")
    raise UnexpectedResponseError(msg, hint=_SHAPE_HINT)


def series_days(
    body: object,
    *,
    keep: tuple[dt.date, dt.date] | None,
    unit: Unit,
    notes: ParsedColumns | None = None,
) -> dict[dt.date, Mapping[str, Any]]:
    """Check a series body whole and index its points by day (or UTC hour).

    Args:
        body: The decoded JSON of one response.
        keep: Inclusive ``(first, last)`` to keep (other points are dropped: requests ask
            for one more on purpose); None keeps every point (to learn the reading).
        unit: ``"day"`` or ``"hour"``: how to read ``time``.
        notes: Where to note repairs (the same ``time`` twice).

    Returns:
        The points kept, by day (a ``date``) or hour (an aware UTC ``datetime``).

    Raises:
        UnexpectedResponseError: ``data`` is missing or is not a list of objects with a
            valid ``time``.

    Examples:
        >>> body = {"message": "success", "data": [{"time": "2025-06-01", "dau": 5}]}
        >>> series_days(body, keep=None, unit="day")
        {datetime.date(2025, 6, 1): {'time': '2025-06-01', 'dau': 5}}
    """
    if not isinstance(body, Mapping):
        msg = f"the response body is a JSON {type(body).__name__}, not an object"
        raise UnexpectedResponseError(msg, hint=_SHAPE_HINT)
    data = body.get("data")
    if not isinstance(data, list):
        got = "no 'data' key" if "data" not in body else f"'data' of type {type(data).__name__}"
        msg = f"the response has {got}; expected a list of points"
        raise UnexpectedResponseError(msg, hint=_SHAPE_HINT)
    read = parse_hour_key if unit == "hour" else parse_date_key
    out: dict[dt.date, Mapping[str, Any]] = {}
    seen: set[dt.date] = set()
    for point in data:
        if not isinstance(point, Mapping):
            msg = f"a point in the response is a JSON {type(point).__name__}, not an object"
            raise UnexpectedResponseError(msg, hint=_SHAPE_HINT)
        moment = read(point.get("time"))
        if moment in seen and notes is not None:
            notes.note(f"time {moment} appears twice in one response; the last one is kept")
        seen.add(moment)
        if keep is None or keep[0] <= moment <= keep[1]:
            out[moment] = point
    return out


@dataclass(slots=True)
class SeriesColumns:
    """Plain columns of a series table: one entry per series, one per row.

    Attributes:
        series_metric, series_key, series_key_name: Per series (a kind and key, or an
            unknown field of it): its ``metric``, ``key`` and ``key_name``.
        row_series: Per row, its series' index.
        row_time: Per row, days since 1970-01-01 (days), or microseconds since the epoch
            in UTC (hours).
        values: Per row, the number (finite int or float).
        notes: The repairs and unknown fields met (``ParsedColumns.note``,
            ``unknown_metrics``), for the one warning of each a fetch gives.
    """

    series_metric: list[str] = field(default_factory=list)
    series_key: list[str | None] = field(default_factory=list)
    series_key_name: list[str | None] = field(default_factory=list)
    row_series: list[int] = field(default_factory=list)
    row_time: list[int] = field(default_factory=list)
    values: list[int | float] = field(default_factory=list)
    notes: ParsedColumns = field(default_factory=ParsedColumns)
    _index: dict[tuple[str, str | None], int] = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.values)

    def series(self, metric: str, key: str | None, key_name: str | None) -> int:
        """The index of a (metric, key) series, made on first use."""
        index = self._index.get((metric, key))
        if index is None:
            index = self._index[metric, key] = len(self.series_metric)
            self.series_metric.append(metric)
            self.series_key.append(key)
            self.series_key_name.append(key_name)
        return index

    def extend(self, other: SeriesColumns) -> None:
        """Append another's rows (and notes) after these."""
        for metric, key, name in zip(other.series_metric, other.series_key, other.series_key_name,
                                     strict=True):
            self.series(metric, key, name)
        remap = [self._index[metric, key] for metric, key in zip(other.series_metric, other.series_key,
                                                                  strict=True)]
        self.row_series.extend(remap[i] for i in other.row_series)
        self.row_time.extend(other.row_time)
        self.values.extend(other.values)
        self.notes.repairs.extend(other.notes.repairs[: max(0, 20 - len(self.notes.repairs))])
        self.notes.repair_count += other.notes.repair_count
        self.notes.unknown_metrics |= other.notes.unknown_metrics


def _encode_time(moment: dt.date, unit: Unit) -> int:
    if unit == "hour":
        return (moment - _EPOCH) // _MICROSECOND
    return moment.toordinal() - EPOCH_ORDINAL


def parse_series(
    out: SeriesColumns,
    kind: SeriesKind,
    key: str | None,
    key_name: str | None,
    days: Mapping[dt.date, Mapping[str, Any]],
    *,
    unit: Unit = "day",
) -> None:
    """Append one series' points (from :func:`series_days`) to ``out``, in time order.

    Args:
        out: The columns to append to.
        kind: The series' kind.
        key: Its key (event name, product, segment id), or None.
        key_name: Its key's name (null when unknown).
        days: The points kept, by day or hour.
        unit: How the points are keyed.

    Examples:
        >>> cols = SeriesColumns()
        >>> body = {"data": [{"time": "2025-06-02", "count": "3"}, {"time": "2025-06-01", "count": 2}]}
        >>> parse_series(cols, SERIES_KINDS["events"], "signup", "signup",
        ...              series_days(body, keep=None, unit="day"))
        >>> cols.values, cols.series_metric, cols.notes.repair_count
        ([2, 3.0], ['events'], 1)
    """
    main = out.series(kind.name, key, key_name)
    label = kind.name if key is None else f"{kind.name} {key!r}"
    row_series, row_time, values = out.row_series, out.row_time, out.values
    own = kind.field
    for moment in sorted(days):
        point = days[moment]
        time = _encode_time(moment, unit)
        value: Any = point.get(own)
        # The usual point: its time and one number, finite as a float.
        if len(point) == 2 and "time" in point and (
                (type(value) is int and -_FLOAT_LIMIT < value < _FLOAT_LIMIT)
                or (type(value) is float and math.isfinite(value))):
            row_series.append(main)
            row_time.append(time)
            values.append(value)
            continue
        _careful(out, kind, key, key_name, point, time, f"{label} {moment}")


def _careful(out: SeriesColumns, kind: SeriesKind, key: str | None, key_name: str | None,
             point: Mapping[str, Any], time: int, where: str) -> None:
    """One point, field by field: unknown fields kept, values repaired and noted."""
    seen: set[str] = set()
    for flat, leaf in _flatten({k: v for k, v in point.items() if k != "time"}, where):
        number = _number(out.notes, leaf, f"{where} {flat}")
        if number is None:
            continue
        metric = kind.name if flat == kind.field else f"{kind.name}.{flat}"
        if metric in seen:
            n = 2
            while f"{metric}#{n}" in seen:
                n += 1
            out.notes.note(f"{where}: {_short(flat)} appears twice once nested values are "
                           f"flattened; the later one is kept as {_short(f'{metric}#{n}')}")
            metric = f"{metric}#{n}"
        seen.add(metric)
        if metric != kind.name:
            out.notes.unknown_metrics.add(metric)
        out.row_series.append(out.series(metric, key, key_name))
        out.row_time.append(time)
        out.values.append(number)


def list_page(body: object, key_list: KeyList, notes: ParsedColumns) -> list[Any]:
    """The entries of one page of a key list, checked; odd entries skipped and noted.

    Events and products are names (non-empty strings); segments are objects with a
    string ``id`` (their ``name`` and ``analytics_tracking_enabled`` are read by the
    caller).

    Raises:
        UnexpectedResponseError: The page has no list under ``key_list.field``.

    Examples:
        >>> list_page({"events": ["signup", 3, ""]}, EVENT_LIST, notes := ParsedColumns())
        ['signup']
        >>> notes.repair_count
        2
    """
    entries = body.get(key_list.field) if isinstance(body, Mapping) else None
    if not isinstance(entries, list):
        msg = f"the {key_list.endpoint.path} response has no list {key_list.field!r}"
        hint = f"the response is not shaped like Braze's {key_list.field} list"
        raise UnexpectedResponseError(msg, hint=hint)
    kept: list[Any] = []
    for entry in entries:
        if key_list is SEGMENT_LIST:
            ok = isinstance(entry, Mapping) and isinstance(entry.get("id"), str) and bool(entry["id"])
        else:
            ok = isinstance(entry, str) and bool(entry)
        if ok:
            kept.append(entry)
        else:
            notes.note(f"{key_list.endpoint.path}: entry {_short(entry)} is not a {key_list.what}; skipped")
    return kept
