"""Pure parser: ``/campaigns/data_series`` JSON to plain columns. No dataframe library here.

The output is dictionary- and run-length encoded, so that almost nothing is made per row:

- a *segment* is one variation entry (or a day's totals) of one campaign-day; a *shape* is
  what a segment shares with the same entry on other days: channel, variation, variation
  name and *layout* (its metric names, in order, as codes into ``metric_names``);
- per day: campaign id, date and where its segments end; per segment: a shape id; per row:
  only the value.

``_tidy.frame_from_parsed`` expands this inside polars. The ``seg_*``, ``metric`` and
``value`` views give the plain per-segment and per-row lists (for tests and debugging).

Speed (bench/bench_parse.py, bench/README.md): the entries of one campaign repeat their
keys, their ``null`` keys and their ids day after day. A *signature* holds what entries of
one kind share (keys, ``null`` keys, layout) and ``itemgetter``s that read an entry's
values while checking that every key is there. Three paths, the first that applies:

1. ``_parse_uniform``: when every day has the same structure, each (channel, position) is
   read for all days at once by C-level ``map`` calls (no Python code per entry);
2. ``_parse``: entry by entry, each (channel, position) remembering its last signature and
   variation key, so that an entry like yesterday's costs a few C calls;
3. the values of a campaign are checked in one C pass (``_plain_numbers``); if anything
   else than a finite number got in, the campaign is parsed again by ``_parse`` in careful
   mode, where every repair below is made and noted.

Within one entry, metrics come in the key order of the first entry of that signature the
parse met (``itemgetter`` order), which may differ from a later entry's own key order;
everything else keeps the response's order: days by date, then the totals, channels and
entries as listed. ``tests/test_perf_equivalence.py`` checks all paths against a plain
reference parser.

Policy for odd input (SPEC section 3, and the hostile cases it implies; the one source for
it: tests/test_hostile.py checks every row, at this level and end to end):

===================================  ===================================================
input                                outcome
===================================  ===================================================
metric ``null`` or absent            no row (never a zero)
channel absent, ``null`` or ``[]``   no rows, no warning
negative number, huge int (``1e30``) kept as sent (converted to float; beyond 2**53 it is
                                     rounded to the nearest float)
number sent as a string (``"12"``)   converted, ``DataRepairWarning``
boolean, other string                skipped, ``DataRepairWarning``
NaN, infinity, number beyond float   skipped, ``DataRepairWarning``; as literals (``NaN``,
(as a number or a string)            ``1e400``) the client's decoder reads them for this
nested object or list as a value     flattened to ``key.sub`` / ``key.0`` metrics, kept
                                     as unknown metrics (``UnknownFieldWarning``)
nested deeper than ``MAX_NESTING``   ``UnexpectedResponseError`` (never ``RecursionError``:
(32 levels)                          flattening uses a stack)
flattened name equal to a sent key   later one suffixed ``#2``, ``DataRepairWarning``
(``"a.b"`` and ``{"a": {"b": 1}}``)
unknown channel or metric            kept, one ``UnknownFieldWarning`` per fetch
same ``time`` twice in a response    last one kept, ``DataRepairWarning``
day outside the window asked for     dropped, no warning (requests ask for an extra day)
extra top-level keys                 ignored
same variation key twice             later ones suffixed ``#2``, ``#3``..., warning
entry with neither id nor name       variation ``#<position>`` (1-based), warning; an id
(absent, ``null``, ``""``, a bool,   or name that is empty or neither text nor a number
an object...)                        counts as absent (a number becomes its text)
channel holding one object           read as a one-entry list, warning
``null`` entry in a channel list     no rows
missing ``data``, a day without a    ``UnexpectedResponseError`` naming the problem; in
valid ``time``, a non-object day,    ``fetch_data_series(on_error="collect"|"warn")`` a
``messages``, channel or entry of    bad response is its window's failure and a bad day
another type                         that day's, every other day is kept
body that is not JSON, or JSON with  ``UnexpectedResponseError`` from the client (orjson
a lone UTF-16 surrogate escape       and the stdlib's refusals; nesting beyond orjson's
                                     1024 levels included)
===================================  ===================================================

Notes and error messages quote at most a few dozen characters of any value, so a 20 MB
string in a body cannot make a 20 MB warning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any, Final

import orjson

from .._errors import UnexpectedResponseError
from .._schema import ALL_CHANNEL, CHANNEL_SCHEMAS, is_known_metric, schema_for
from ._columns import EPOCH_ORDINAL, EncodedColumns
from ._repair import (
    MAX_NESTING,
    _finite_sum,
    _id_text,
    _short,
    clean_metrics,
    parse_date_key,
)

__all__ = ["MAX_NESTING", "DayMap", "ParsedColumns", "collect_days", "parse_date_key", "parse_days"]

_NUMBERS: Final = frozenset({int, float})
_ID_KEYS: Final = ("variation_api_id", "variation_name")
_DAY_KEYS: Final = ("time", "messages")
_CHANNELS: Final = frozenset(CHANNEL_SCHEMAS)
_LIST_OR_NONE: Final = frozenset({list, type(None)})
_SECOND: Final = itemgetter(1)

#: Days of one campaign keyed by date; later responses overwrite earlier ones.
DayMap = dict[dt.date, Mapping[str, Any]]



class _Signature:
    """What entries of one kind share: their keys, their ``null`` keys and their layout.

    An object ``obj`` has exactly these keys when ``len(obj) == n`` and ``values(obj)``,
    ``nulls(obj)`` and ``head(obj)`` raise no ``KeyError`` (each looks every key up).
    """

    __slots__ = ("all_shape", "count", "head", "id_getters", "layout", "mode", "n", "null_tuple", "nulls",
                 "values")

    def __init__(
        self,
        n: int,
        specials: tuple[str, ...],
        present: tuple[str, ...],
        nonnull: tuple[str, ...],
        nulls: tuple[str, ...],
        layout: int,
    ) -> None:
        self.n = n
        #: Bit 1: the first special key (``variation_api_id``, ``time``) is there; bit 2:
        #: the second one (``variation_name``, ``messages``), at ``head(obj)[-1]``.
        self.mode = sum(1 << i for i, key in enumerate(specials) if key in present)
        self.head = _tuple_getter(present, pad=True) if present else None
        self.id_getters = tuple(map(itemgetter, present))
        self.values = _tuple_getter(nonnull)
        self.count = len(nonnull)
        self.nulls = _tuple_getter(nulls, pad=True) if nulls else None
        self.null_tuple = (None,) * max(len(nulls), 2) if nulls else ()
        self.layout = layout
        self.all_shape = -1  # the shape of day totals with this signature, once made


#: The key a slot's cached head never equals: the slot must be computed again.
_STALE: Final = ("\x00stale",)


class _Slot:
    """One list position of one channel: the last signature and variation key seen there.

    ``head`` (the entry's id values), ``base`` (its variation key before any ``#n``
    suffix) and ``shape`` are valid while the list keeps its length and every earlier
    position keeps its head (``_parse`` checks this), since a key depends on the keys
    before it in the list.
    """

    __slots__ = ("base", "head", "shape", "sig")

    def __init__(self) -> None:
        self.sig: _Signature = _NO_SIGNATURE
        self.head: tuple[Any, ...] = _STALE
        self.base: str | None = None
        self.shape = -1


class _ChannelSlots:
    """The slots of one channel, and the list length and name map they were made with."""

    __slots__ = ("length", "names", "slots")

    def __init__(self) -> None:
        self.slots: list[_Slot] = []
        self.length = -1
        self.names: Mapping[str, str] | None = None


def _tuple_getter(
    keys: tuple[str, ...], *, pad: bool = False
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """An ``itemgetter`` that returns a tuple, also for one key (``pad`` repeats it)."""
    if len(keys) == 1:
        key = keys[0]
        if pad:
            return itemgetter(key, key)
        return lambda obj: (obj[key],)
    if not keys:
        return lambda obj: ()
    return itemgetter(*keys)


_NO_SIGNATURE: Final = _Signature(-1, (), (), (), (), -1)


@dataclass(slots=True)
class ParsedColumns(EncodedColumns):
    """Plain columns of a tidy table, dictionary- and run-length encoded (module docstring).

    Attributes:
        day_campaign_id: Per parsed day: campaign id (the rest of each day, the segments,
            layouts, values and notes: see ``EncodedColumns``).
        campaign_names: Campaign id -> name, where known (``/campaigns/details``).
        shape_channel, shape_variation, shape_variation_name: Per shape (with
            ``shape_layout``).
    """

    day_campaign_id: list[str] = field(default_factory=list)
    campaign_names: dict[str, str] = field(default_factory=dict)
    shape_channel: list[str] = field(default_factory=list)
    shape_variation: list[str | None] = field(default_factory=list)
    shape_variation_name: list[str | None] = field(default_factory=list)
    # Caches of one fetch; they only make later lookups cheaper.
    _shapes: dict[tuple[str, str | None, str | None, int], int] = field(
        default_factory=dict, repr=False, compare=False)
    _signatures: dict[tuple[Any, ...], _Signature] = field(default_factory=dict, repr=False, compare=False)
    _slots: dict[str, _ChannelSlots] = field(default_factory=dict, repr=False, compare=False)
    _day_slot: _Slot = field(default_factory=_Slot, repr=False, compare=False)

    @property
    def seg_channel(self) -> list[str]:
        """Channel of each segment."""
        return [self.shape_channel[s] for s in self.seg_shape]

    @property
    def seg_variation(self) -> list[str | None]:
        """Variation key of each segment."""
        return [self.shape_variation[s] for s in self.seg_shape]

    @property
    def seg_variation_name(self) -> list[str | None]:
        """Variation name of each segment."""
        return [self.shape_variation_name[s] for s in self.seg_shape]

    @property
    def seg_campaign_id(self) -> list[str]:
        """Campaign id of each segment."""
        return self._per_segment(self.day_campaign_id)

    # ---- dictionaries (slow path: each new key is seen once per fetch) ----------------

    def _shape(self, key: tuple[str, str | None, str | None, int]) -> int:
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = len(self.shape_channel)
            self.shape_channel.append(key[0])
            self.shape_variation.append(key[1])
            self.shape_variation_name.append(key[2])
            self.shape_layout.append(key[3])
        return shape

    def _expected(self, channel: str) -> set[str]:
        return set(_ID_KEYS).union(schema_for(channel))

    def _is_known(self, channel: str, metric: str) -> bool:
        return is_known_metric(channel, metric)

    def _day_ids(self) -> list[str]:
        return self.day_campaign_id

    def _signature(self, channel: str, obj: Mapping[str, Any], specials: tuple[str, ...]) -> _Signature:
        keys = tuple(obj)
        vals = tuple(obj.values())
        null_at = tuple(i for i, v in enumerate(vals) if v is None)
        cache_key = (specials, channel, keys, null_at)
        sig = self._signatures.get(cache_key)
        if sig is None:
            metrics = [k for k in keys if k not in specials]
            self._check_known(channel, metrics)
            nulls = {keys[i] for i in null_at}
            nonnull = tuple(k for k in metrics if k not in nulls)
            sig = _Signature(len(keys), specials, tuple(k for k in specials if k in obj), nonnull,
                             tuple(k for k in metrics if k in nulls), self._layout(nonnull))
            self._signatures[cache_key] = sig
        return sig


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
    first, last = keep if keep is not None else (dt.date.min, dt.date.max)
    for day in data:
        if type(day) is not dict and not isinstance(day, Mapping):
            msg = f"a day in the response is a JSON {type(day).__name__}, not an object"
            raise UnexpectedResponseError(msg)
        date = parse_date_key(day.get("time"))
        if date in seen and parsed is not None:
            parsed.note(f"day {date} appears twice in one response; the last one is kept")
        seen.add(date)
        if first <= date <= last:
            days[date] = day
    return days


def parse_days(
    campaign_id: str,
    days: DayMap,
    *,
    into: ParsedColumns | None = None,
    variation_names: Mapping[str, str] | None = None,
    campaign_name: str | None = None,
) -> ParsedColumns:
    """Turn one campaign's days into tidy columns, in date order.

    Args:
        campaign_id: The campaign's API id (the responses do not repeat it).
        days: Day objects keyed by date, from ``collect_days``.
        into: Columns to append to (one ``ParsedColumns`` serves a whole fetch).
        variation_names: ``variation_api_id -> name`` from ``/campaigns/details``; it
            overrides the response's ``variation_name`` (an id it lacks, such as a
            control group that the details describe as ``{"type": "control"}``, keeps
            the response's name).
        campaign_name: The campaign's name (``/campaigns/details``), for the
            ``campaign_name`` column; None leaves it null.

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
    if campaign_name is not None:
        out.campaign_names[campaign_id] = campaign_name
    mark = out._mark()
    if not _parse_uniform(out, campaign_id, days, variation_names):
        out._rollback(mark)
        _parse(out, campaign_id, days, variation_names, careful=False)
    if not _plain_numbers(out.values, mark[2]):
        # Something else than a finite int or float got in: redo this campaign entry by
        # entry, which repairs and notes each odd value.
        out._rollback(mark)
        _parse(out, campaign_id, days, variation_names, careful=True)
    return out


def _plain_numbers(values: list[Any], start: int) -> bool:
    """Say whether ``values[start:]`` are all ints and floats that are finite as floats.

    One pass in C: ``orjson`` writes a number with digits, ``.``, ``-``, ``+`` and ``e``
    only, and everything else with a byte that no number has: ``null`` (None, NaN,
    infinities), ``true``/``false``, ``"`` (strings, keys), ``{``, or a ``[`` after the
    first byte (nested lists); it refuses ints beyond 64 bits and unknown types.
    """
    try:
        text = orjson.dumps(values[start:])
    except orjson.JSONEncodeError:
        return False
    return not (b"n" in text or b"t" in text or b"f" in text or b'"' in text or b"{" in text
                or b"[" in text[1:])


def _parse_uniform(
    out: ParsedColumns,
    campaign_id: str,
    days: DayMap,
    names: Mapping[str, str] | None,
) -> bool:
    """Parse a campaign whose days all have the same structure, a column at a time.

    Same structure: the same day keys and channel keys, every channel either empty on
    every day or a list of the same length on every day, and at each list position an
    entry with the same keys, ``null`` keys and ids on every day. Then each (channel,
    position) is read for all days at once by C-level ``map`` calls, and the rows come out
    in the same order as ``_parse`` gives. Returns False (having added no rows and made
    no note) when the structure differs anywhere, or when an entry would need a note.
    """
    dates = sorted(days)
    n_days = len(dates)
    if not n_days:
        return True
    day_list = list(map(days.__getitem__, dates))
    if set(map(type, day_list)) != {dict}:
        return False
    day_sig = out._signature(ALL_CHANNEL, day_list[0], _DAY_KEYS)
    if day_sig.mode != 3 or day_sig.head is None:  # 3: both "time" and "messages"
        return False
    try:
        if set(map(len, day_list)) != {day_sig.n}:
            return False
        totals = list(map(day_sig.values, day_list))
        nulls = day_sig.nulls
        if nulls is not None and list(map(nulls, day_list)).count(day_sig.null_tuple) != n_days:
            return False
        messages = list(map(_SECOND, map(day_sig.head, day_list)))
    except KeyError:
        return False
    if set(map(type, messages)) != {dict}:
        return False
    channel_keys = set(map(tuple, messages))
    if len(channel_keys) != 1:
        return False
    template: list[int] = []  # shape of each segment of a day
    columns: list[list[tuple[Any, ...]]] = []  # values of each segment, day by day
    if day_sig.count:
        if day_sig.all_shape < 0:
            day_sig.all_shape = out._shape((ALL_CHANNEL, None, None, day_sig.layout))
        template.append(day_sig.all_shape)
        columns.append(totals)
    for channel in channel_keys.pop():
        lists = list(map(itemgetter(channel), messages))
        types = set(map(type, lists))
        if not types <= _LIST_OR_NONE:
            return False
        if not any(lists):
            continue  # null or [] on every day: no rows
        if types != {list}:
            return False
        lengths = set(map(len, lists))
        if len(lengths) != 1:
            return False
        if channel not in _CHANNELS:
            out.unknown_channels.add(channel)
        used: set[str] = set()
        for index in range(lengths.pop()):
            entries = list(map(itemgetter(index), lists))
            if type(entries[0]) is not dict:
                return False
            sig = out._signature(channel, entries[0], _ID_KEYS)
            if not sig.mode:
                return False  # neither id nor name: noted on every day, by ``_parse``
            # No type pass: a later entry that is no mapping fails ``len`` or the getters
            # with TypeError (a Mapping that is no dict is read like one, as ``_parse`` does).
            try:
                vals = list(map(sig.values, entries))  # KeyError unless every key is there
                # ... and no entry has more keys than the signature (a plain sum, no set).
                if sum(map(len, entries)) != sig.n * n_days:
                    return False
                # Counting, not a set: a value where a null was may be unhashable (a list).
                if sig.nulls is not None and list(map(sig.nulls, entries)).count(sig.null_tuple) != n_days:
                    return False
                # The same ids on every day (one map and a count per id key: no tuples).
                head = []
                for getter in sig.id_getters:
                    ids = list(map(getter, entries))
                    if ids.count(ids[0]) != n_days:
                        return False
                    head.append(ids[0])
            except (KeyError, TypeError):
                return False
            api_id, name = _variation_ids(
                head[0] if sig.mode & 1 else None, head[-1] if sig.mode & 2 else None, names
            )
            if api_id is None and name is None:
                return False
            key = api_id or name or f"#{index + 1}"
            if key in used:
                return False  # a repeated key is renamed and noted on every day, by ``_parse``
            used.add(key)
            if sig.count:
                template.append(out._shape((channel, key, name, sig.layout)))
                columns.append(vals)
    first = len(out.seg_shape)
    width = len(template)
    if columns:
        # zip gives each day's tuple of segment values; two chains flatten it in C.
        out.values.extend(chain.from_iterable(chain.from_iterable(zip(*columns, strict=True))))
        out.seg_shape.extend(template * n_days)
    out.day_campaign_id.extend([campaign_id] * n_days)
    out.day_date.extend([d.toordinal() - EPOCH_ORDINAL for d in dates])
    out.day_end.extend(range(first + width, first + width * n_days + 1, width) if width else [first] * n_days)
    return True


def _where(campaign_id: str, date: dt.date) -> str:
    return f"campaign {campaign_id} day {date}"


def _parse(
    out: ParsedColumns,
    campaign_id: str,
    days: DayMap,
    names: Mapping[str, str] | None,
    *,
    careful: bool,
) -> None:
    values_extend = out.values.extend
    seg_append = out.seg_shape.append
    new_shape = out._shape
    signature = out._signature
    slots_of = out._slots
    unknown_channels = out.unknown_channels
    day_slot = out._day_slot
    for date in sorted(days):
        day = days[date]
        # ---- the day's totals -----------------------------------------------------------
        sig = day_slot.sig
        messages: Any = None
        vals: tuple[Any, ...] = ()
        hit = False
        if type(day) is dict and len(day) == sig.n:
            try:
                vals = sig.values(day)
                if sig.nulls is None or sig.nulls(day) == sig.null_tuple:
                    head = sig.head(day) if sig.head is not None else ()
                    messages = head[-1] if sig.mode & 2 else None
                    hit = True
            except KeyError:
                pass
        if not hit:
            sig = day_slot.sig = signature(ALL_CHANNEL, day, _DAY_KEYS)
            vals = sig.values(day)
            messages = day.get("messages")
        if careful:
            _careful(out, ALL_CHANNEL, None, None, sig, vals, day, _DAY_KEYS, _where(campaign_id, date))
        elif sig.count:
            if sig.all_shape < 0:
                sig.all_shape = new_shape((ALL_CHANNEL, None, None, sig.layout))
            seg_append(sig.all_shape)
            values_extend(vals)
        # ---- its messages, channel by channel ---------------------------------------------
        if messages is not None:
            if type(messages) is not dict and not isinstance(messages, Mapping):
                msg = (f"{_where(campaign_id, date)}: 'messages' is a JSON "
                       f"{type(messages).__name__}, not an object")
                raise UnexpectedResponseError(msg)
            for channel, value in messages.items():
                if type(value) is list:
                    if not value:
                        continue
                    entries = value
                elif value is None:
                    continue
                elif isinstance(value, Mapping):
                    out.note(f"{_where(campaign_id, date)} {channel}: one object instead of a list; "
                             "read as a list")
                    entries = [value]
                else:
                    msg = (f"{_where(campaign_id, date)}: channel {_short(channel)} holds a JSON "
                           f"{type(value).__name__}, not a list of variations")
                    raise UnexpectedResponseError(msg)
                if channel not in _CHANNELS:
                    unknown_channels.add(channel)
                holder = slots_of.get(channel)
                if holder is None:
                    holder = slots_of[channel] = _ChannelSlots()
                slots = holder.slots
                n_entries = len(entries)
                if len(slots) < n_entries:
                    slots.extend(_Slot() for _ in range(n_entries - len(slots)))
                # While ``cached``, every earlier entry matched its slot, so the slot's key
                # and shape hold; ``used`` counts variation keys once that stops.
                cached = holder.length == n_entries and holder.names is names and not careful
                holder.length = n_entries if not careful else -1
                holder.names = names
                used: dict[str, int] = {}
                for index, entry in enumerate(entries):
                    slot = slots[index]
                    sig = slot.sig
                    hit = False
                    if type(entry) is dict and len(entry) == sig.n:
                        try:
                            vals = sig.values(entry)
                            if sig.nulls is None or sig.nulls(entry) == sig.null_tuple:
                                head = sig.head(entry) if sig.head is not None else ()
                                hit = True
                        except KeyError:
                            pass
                    if hit and cached and head == slot.head:
                        if sig.count:
                            seg_append(slot.shape)
                            values_extend(vals)
                        continue
                    if cached:
                        cached = False
                        for earlier in slots[:index]:
                            if earlier.base is not None:
                                used[earlier.base] = used.get(earlier.base, 0) + 1
                    slot.head = _STALE
                    slot.base = None
                    if not hit:
                        if type(entry) is dict or isinstance(entry, Mapping):
                            sig = slot.sig = signature(channel, entry, _ID_KEYS)
                        elif entry is None:
                            continue
                        else:
                            msg = (f"{_where(campaign_id, date)} {channel}: entry {index + 1} is a "
                                   f"JSON {type(entry).__name__}, not an object")
                            raise UnexpectedResponseError(msg)
                        vals = sig.values(entry)
                        head = sig.head(entry) if sig.head is not None else ()
                    mode = sig.mode
                    # ---- the variation key (SPEC section 3) ----------------------------
                    api_id, name = _variation_ids(
                        head[0] if mode & 1 else None, head[-1] if mode & 2 else None, names
                    )
                    key = base = api_id or name or f"#{index + 1}"
                    noted = api_id is None and name is None
                    if noted:
                        out.note(f"{_where(campaign_id, date)} {channel}: entry {index + 1} has "
                                 f"neither variation_api_id nor variation_name; named {key}")
                    count = used[base] = used.get(base, 0) + 1
                    if count > 1:
                        key = f"{base}#{count}"
                        noted = True
                        out.note(f"{_where(campaign_id, date)} {channel}: variation {base!r} "
                                 f"appears {count} times; this one is kept as {key!r}")
                    slot.base = base
                    if careful:
                        _careful(out, channel, key, name, sig, vals, entry, _ID_KEYS,
                                 f"{_where(campaign_id, date)} {channel} {key}")
                        continue
                    if not noted:  # an entry that needs a note is never cached: it notes each time
                        slot.head = head
                    slot.shape = new_shape((channel, key, name, sig.layout)) if sig.count else -1
                    if sig.count:
                        seg_append(slot.shape)
                        values_extend(vals)
        out.day_campaign_id.append(campaign_id)
        out.day_date.append(date.toordinal() - EPOCH_ORDINAL)
        out.day_end.append(len(out.seg_shape))


def _careful(
    out: ParsedColumns,
    channel: str,
    variation: str | None,
    name: str | None,
    sig: _Signature,
    vals: tuple[Any, ...],
    obj: Mapping[str, Any],
    specials: tuple[str, ...],
    where: str,
) -> None:
    """Append one entry (or a day's totals), checking and repairing each value."""
    types = set(map(type, vals))
    # The sum catches NaN, infinity and an int beyond float range (OverflowError) at once.
    if types <= _NUMBERS and _finite_sum(vals):
        layout = sig.layout
        kept: Iterable[int | float] = vals
    else:
        metric_names, numbers = clean_metrics(out, obj, specials, where,
                                              lambda key: out._check_known(channel, (key,)))
        layout = out._layout(metric_names)
        kept = numbers
    if out.layout_len[layout]:
        out.seg_shape.append(out._shape((channel, variation, name, layout)))
        out.values.extend(kept)


def _variation_ids(
    api_id: object, name: object, names: Mapping[str, str] | None
) -> tuple[str | None, str | None]:
    """An entry's variation id and name as text (an empty one is none; see ``_id_text``).

    The name comes from ``names`` (``/campaigns/details``) when it knows the id.
    """
    text_id: str | None
    text_name: str | None
    if type(api_id) is str and api_id and (name is None or (type(name) is str and name)):
        text_id, text_name = api_id, name  # the usual case, without two calls
    else:
        text_id, text_name = _id_text(api_id), _id_text(name)
    if names and text_id is not None and text_id in names:
        text_name = names[text_id]
    return text_id, text_name
