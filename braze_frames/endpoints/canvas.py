"""Pure parser: ``/canvas/data_series`` JSON to plain columns; readers of ``/canvas/details``.

No dataframe library here. A body, as Braze documents it
(https://www.braze.com/docs/api/endpoints/export/canvas/get_canvas_analytics/)::

    {"data": {"name": "...", "stats": [{"time": "2025-06-01", "total_stats": {...},
                                        "variant_stats": {"<id>": {"name", ...}},
                                        "step_stats": {"<id>": {"name", ..., "messages": {
                                            "email": [{"sent": ..., ...}]}}}}]},
     "message": "success"}

becomes the rows of SPEC section 12, each day in this order:

===========================  =========  ======  =============================================
rows                         variant    step    channel
===========================  =========  ======  =============================================
the Canvas's totals          null       null    ``"all"``
each variant's totals        its id     null    ``"all"``
each step's totals           null       its id  ``"all"``
each step's message stats    null       its id  the channel; a later entry of one channel's
                                                list ``<channel>#2``, ``#3``... (noted)
===========================  =========  ======  =============================================

The output is :class:`CanvasColumns`, encoded as the campaign parser's (see
``endpoints._columns``): per day, the Canvas id, date and where its segments end; per
segment a shape (variant, variant name, step, step name, channel and the layout of its
metrics); per row only the value. Every value goes through the campaign parser's checks and
repairs (``endpoints._repair``; the policy table of ``endpoints.parse``): a ``null`` is no
row, a number sent as a string is converted and noted, a nested object is flattened, and
so on. Beyond that table, what Canvas bodies do:

===========================================  ==================================================
input                                        outcome
===========================================  ==================================================
``data`` a list of Canvases                  the one it holds; of several, the one whose
                                             ``canvas_id``/``id``/``api_id`` is the Canvas
                                             asked for, else ``UnexpectedResponseError``
``data.stats`` absent or ``null``            no days (no data)
``time`` with ``T00:00:00Z``                 its date
``total_stats`` ``{}``, ``null``, absent     no rows
``variant_stats``/``step_stats`` an object   keyed by id; a ``null`` value (a deleted step)
                                             gives no rows
``variant_stats``/``step_stats`` a list      each entry's id under ``api_id``, else ``id``;
                                             neither: ``#<position>`` (1-based), noted
the same id twice in one day's stats         later ones ``<id>#2``, ``#3``..., noted
a name missing from the response             ``/canvas/details``' name, when read (names=True)
``name``, ``api_id``, ``id`` in stats        identity, never a metric
several entries in one channel's list        ``<channel>#2``, ``#3``... in order, noted
a channel holding one object                 read as a one-entry list, noted
a step's message channel named ``"all"``     ``all#2`` (the step's totals are ``"all"``), noted
stats, a step or an entry of another type    ``UnexpectedResponseError`` naming it
===========================================  ==================================================

A repair of the body's structure (the rows above marked "noted") repeats on every day: it is
noted once per Canvas (and step, and channel), not once a day; a repaired value is noted
where it is.

Unknown channels and metrics (on ``"all"`` rows: anything but ``entries``, ``revenue`` and
the conversions with their ``_by_entry_time`` twins; on message rows: what the campaign
schema does not know of the channel) are kept and collected for one warning per fetch.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from .._errors import UnexpectedResponseError
from .._schema import ALL_CHANNEL, CHANNEL_SCHEMAS, schema_for
from .._tables import base_channel, is_known_canvas_channel, is_known_canvas_metric
from ._columns import EPOCH_ORDINAL, EncodedColumns
from ._repair import _id_text, _short, clean_metrics, parse_date_key, unused_key
from .details import campaign_name_of
from .parse import _tuple_getter

__all__ = [
    "CanvasColumns",
    "CanvasDays",
    "CanvasNames",
    "canvas_names_of",
    "collect_canvas_days",
    "parse_canvas_days",
]

#: Days of one Canvas keyed by date; later responses overwrite earlier ones.
CanvasDays = dict[dt.date, Mapping[str, Any]]

_NUMBERS: Final = frozenset({int, float})
#: The keys of a variant or step that identify it rather than count anything.
_ENTRY_SPECIALS: Final = ("api_id", "id", "name")
_STEP_SPECIALS: Final = ("api_id", "id", "name", "messages")
_NO_SPECIALS: Final[tuple[str, ...]] = ()
_KNOWN_CHANNELS: Final = frozenset(CHANNEL_SCHEMAS)
#: Where a list-shaped stats entry keeps its id, in order of preference.
_ID_KEYS: Final = ("api_id", "id")
#: Where a Canvas in a list-shaped ``data`` may say which Canvas it is.
_CANVAS_ID_KEYS: Final = ("canvas_id", "id", "api_id")

_ShapeKey = tuple[str, str | None, str | None, str | None, str | None, int]


@dataclass(slots=True)
class CanvasColumns(EncodedColumns):
    """Plain columns of the Canvas table, encoded as the campaign parser's (module docstring).

    Attributes:
        day_canvas_id: Per parsed day: the Canvas's id (the rest of each day, the
            segments, layouts, values and notes: see ``EncodedColumns``).
        canvas_names: Canvas id -> name, where known (the response, else ``/canvas/details``).
        shape_variant, shape_variant_name, shape_step, shape_step_name, shape_channel:
            Per shape (with ``shape_layout``).
    """

    day_canvas_id: list[str] = field(default_factory=list)
    canvas_names: dict[str, str] = field(default_factory=dict)
    shape_variant: list[str | None] = field(default_factory=list)
    shape_variant_name: list[str | None] = field(default_factory=list)
    shape_step: list[str | None] = field(default_factory=list)
    shape_step_name: list[str | None] = field(default_factory=list)
    shape_channel: list[str] = field(default_factory=list)
    # Caches of one fetch; they only make later lookups cheaper.
    _shapes: dict[_ShapeKey, int] = field(default_factory=dict, repr=False, compare=False)
    #: Per key set, its signature; per part of the body (channel, variant, step), the last
    #: signature seen there and the shape made with it.
    _signatures: dict[tuple[Any, ...], _CanvasSlot] = field(default_factory=dict, repr=False, compare=False)
    _slots: dict[tuple[str, str | None, str | None], _CanvasSlot] = field(
        default_factory=dict, repr=False, compare=False)
    #: Notes made once per Canvas, with the ``repair_count`` before each (for rollback).
    _noted: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def seg_canvas_id(self) -> list[str]:
        """Canvas id of each segment."""
        return self._per_segment(self.day_canvas_id)

    @property
    def seg_keys(self) -> list[tuple[str | None, str | None, str | None, str | None, str]]:
        """(variant, variant name, step, step name, channel) of each segment."""
        return [(self.shape_variant[s], self.shape_variant_name[s], self.shape_step[s],
                 self.shape_step_name[s], self.shape_channel[s]) for s in self.seg_shape]

    def note_once(self, message: str) -> None:
        """Note a repair that repeats on every day of a Canvas once (say it without a day)."""
        if message not in self._noted:
            self._noted[message] = self.repair_count
            self.note(message)

    def _rollback(self, mark: tuple[int, int, int, int, int]) -> None:
        EncodedColumns._rollback(self, mark)
        # A note rolled back is made again when its day is parsed again.
        self._noted = {m: n for m, n in self._noted.items() if n < self.repair_count}

    def _expected(self, channel: str) -> set[str]:
        return set(schema_for(base_channel(channel)))

    def _is_known(self, channel: str, metric: str) -> bool:
        return is_known_canvas_metric(channel, metric)

    def _day_ids(self) -> list[str]:
        return self.day_canvas_id

    def _shape(self, key: _ShapeKey) -> int:
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = len(self.shape_channel)
            self.shape_channel.append(key[0])
            self.shape_variant.append(key[1])
            self.shape_variant_name.append(key[2])
            self.shape_step.append(key[3])
            self.shape_step_name.append(key[4])
            self.shape_layout.append(key[5])
        return shape


class CanvasNames(NamedTuple):
    """What ``/canvas/details`` says of a Canvas's names and variants.

    Attributes:
        name: The Canvas's name, or None.
        variants: Variant id -> name.
        steps: Step id -> name (Braze's details may leave deleted steps out).
        controls: The ids of the variants the details mark as control groups.
    """

    name: str | None = None
    variants: Mapping[str, str] = {}
    steps: Mapping[str, str] = {}
    controls: frozenset[str] = frozenset()


def canvas_names_of(details: Mapping[str, Any] | None) -> CanvasNames:
    """Names and control variants from a ``/canvas/details`` body (anything missing: none).

    A variant is marked control by ``"type": "control"`` (as campaign details mark a
    control message) or by ``"is_control": true``.

    Examples:
        >>> names = canvas_names_of({"name": "Welcome", "variants": [
        ...     {"id": "v1", "name": "Variant 1"}, {"id": "cg", "name": "Holdout", "type": "control"}],
        ...     "steps": [{"id": "s1", "name": "Email"}, {"name": "no id"}]})
        >>> names.name, dict(names.variants), dict(names.steps), sorted(names.controls)
        ('Welcome', {'v1': 'Variant 1', 'cg': 'Holdout'}, {'s1': 'Email'}, ['cg'])
    """
    if not isinstance(details, Mapping):
        return CanvasNames()
    variants: dict[str, str] = {}
    controls: set[str] = set()
    for item in _listed(details.get("variants")):
        vid = _id_text(item.get("id")) or _id_text(item.get("api_id"))
        if vid is None:
            continue
        name = item.get("name")
        if isinstance(name, str) and name.strip():
            variants[vid] = name.strip()
        if item.get("type") == "control" or item.get("is_control") is True:
            controls.add(vid)
    steps: dict[str, str] = {}
    for item in _listed(details.get("steps")):
        sid = _id_text(item.get("id")) or _id_text(item.get("api_id"))
        name = item.get("name")
        if sid is not None and isinstance(name, str) and name.strip():
            steps[sid] = name.strip()
    return CanvasNames(campaign_name_of(details), variants, steps, frozenset(controls))


def _listed(value: object) -> Iterator[Mapping[str, Any]]:
    """The objects of a details list (or of an object keyed by id, the id put in)."""
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, Mapping))
    elif isinstance(value, Mapping):
        for key, v in value.items():
            if isinstance(v, Mapping):
                yield {"id": key, **v}


def collect_canvas_days(
    body: object,
    canvas_id: str,
    *,
    keep: tuple[dt.date, dt.date] | None = None,
    into: CanvasDays | None = None,
    parsed: EncodedColumns | None = None,
) -> tuple[CanvasDays, str | None]:
    """Check a response body whole and index its days by date.

    Args:
        body: The decoded JSON of one ``/canvas/data_series`` response.
        canvas_id: The Canvas asked for (to find it in a list-shaped ``data``).
        keep: Inclusive ``(first, last)`` dates to keep; other days are dropped (requests
            ask for a day more than needed until the server's reading of ``ending_at`` is
            known).
        into: A map to add to; a day already there is replaced by this response's.
        parsed: Where to note repairs (the same ``time`` twice in this response).

    Returns:
        The day map, and the Canvas's name as the response gives it (or None).

    Raises:
        UnexpectedResponseError: The body, ``data``, ``stats`` or a day is not shaped like
            Braze's, naming what is wrong.

    Examples:
        >>> body = {"message": "success", "data": [{"name": "Welcome", "stats": [
        ...     {"time": "2025-06-01T00:00:00Z", "total_stats": {"entries": 3}}]}]}
        >>> days, name = collect_canvas_days(body, "k1")
        >>> list(days), name
        ([datetime.date(2025, 6, 1)], 'Welcome')
    """
    days: CanvasDays = {} if into is None else into
    if not isinstance(body, Mapping):
        msg = f"the response body is a JSON {type(body).__name__}, not an object"
        raise UnexpectedResponseError(msg)
    data = _the_canvas(body, canvas_id)
    name = _id_text(data.get("name"))
    stats = data.get("stats")
    if stats is None:
        return days, name
    if not isinstance(stats, list):
        msg = f"the response's 'data.stats' is a JSON {type(stats).__name__}; expected a list of days"
        raise UnexpectedResponseError(msg, hint=_NOT_CANVAS)
    seen: set[dt.date] = set()
    first, last = keep if keep is not None else (dt.date.min, dt.date.max)
    for day in stats:
        if not isinstance(day, Mapping):
            msg = f"a day in the response is a JSON {type(day).__name__}, not an object"
            raise UnexpectedResponseError(msg)
        date = parse_date_key(day.get("time"))
        if date in seen and parsed is not None:
            parsed.note(f"Canvas {canvas_id} day {date} appears twice in one response; the last "
                        "one is kept")
        seen.add(date)
        if first <= date <= last:
            days[date] = day
    return days, name


_NOT_CANVAS: Final = "the response is not shaped like Braze's /canvas/data_series"


def _the_canvas(body: Mapping[str, Any], canvas_id: str) -> Mapping[str, Any]:
    """The body's Canvas object: ``data`` itself, or the right one of a list."""
    data = body.get("data")
    if isinstance(data, Mapping):
        return data
    if not isinstance(data, list):
        got = "no 'data' key" if "data" not in body else f"'data' of type {type(data).__name__}"
        msg = f"the response has {got}; expected the Canvas's object"
        raise UnexpectedResponseError(msg, hint=_NOT_CANVAS)
    canvases: list[Mapping[str, Any]] = []
    for item in data:
        if item is None:
            continue
        if not isinstance(item, Mapping):
            msg = f"'data' lists a JSON {type(item).__name__}; expected Canvas objects"
            raise UnexpectedResponseError(msg, hint=_NOT_CANVAS)
        canvases.append(item)
    if not canvases:
        return {}
    if len(canvases) == 1:
        return canvases[0]
    ours = [c for c in canvases if any(_id_text(c.get(k)) == canvas_id for k in _CANVAS_ID_KEYS)]
    if len(ours) == 1:
        return ours[0]
    which = "several of them say" if ours else "none of them says"
    msg = (f"'data' lists {len(canvases)} Canvases and {which} it is {_short(canvas_id)}; "
           "their numbers cannot be told apart")
    raise UnexpectedResponseError(msg, hint=_NOT_CANVAS)


def parse_canvas_days(
    canvas_id: str,
    days: CanvasDays,
    *,
    into: CanvasColumns | None = None,
    canvas_name: str | None = None,
    names: CanvasNames | None = None,
) -> CanvasColumns:
    """Turn one Canvas's days into the Canvas table's columns, in date order.

    Args:
        canvas_id: The Canvas's API id (the responses do not repeat it).
        days: Day objects keyed by date, from ``collect_canvas_days``.
        into: Columns to append to (one ``CanvasColumns`` serves a whole fetch).
        canvas_name: The Canvas's name as the response gave it; None leaves it to
            ``names``.
        names: What ``/canvas/details`` says (``canvas_names_of``): it fills the names
            the response lacks, never replaces one it gives.

    Returns:
        The columns, with unknown fields and repairs noted (the caller warns once).

    Raises:
        UnexpectedResponseError: A day holds stats, a step or an entry of another type
            than Braze sends (the columns keep what came before the bad day: roll back
            with ``_mark``/``_rollback`` to drop the Canvas).

    Examples:
        >>> body = {"data": {"name": "Welcome", "stats": [{"time": "2025-06-01",
        ...     "total_stats": {"entries": 10, "conversions": 2},
        ...     "variant_stats": [{"api_id": "v1", "name": "A", "entries": 10}],
        ...     "step_stats": {"s1": {"name": "Email", "conversions": 2,
        ...                           "messages": {"email": [{"sent": 9}, {"sent": 1}]}}}}]},
        ...     "message": "success"}
        >>> days, name = collect_canvas_days(body, "k1")
        >>> cols = parse_canvas_days("k1", days, canvas_name=name)
        >>> [(k[0], k[2], k[4]) for k in cols.seg_keys]  # doctest: +NORMALIZE_WHITESPACE
        [(None, None, 'all'), ('v1', None, 'all'), (None, 's1', 'all'), (None, 's1', 'email'),
         (None, 's1', 'email#2')]
        >>> cols.metric, cols.value, cols.repair_count
        (['entries', 'conversions', 'entries', 'conversions', 'sent', 'sent'], [10, 2, 10, 2, 9, 1], 1)
    """
    out = CanvasColumns() if into is None else into
    known = names or CanvasNames()
    name = canvas_name or known.name
    if name is not None:
        out.canvas_names[canvas_id] = name
    for date in sorted(days):
        day = days[date]
        # Where each part is, for notes and errors: made into text only when one is needed.
        at: _Where = (canvas_id, date, "")
        _segment(out, day.get("total_stats"), None, None, None, None, ALL_CHANNEL, _NO_SPECIALS,
                 (canvas_id, date, "total_stats"))
        for key, label, entry in _entries(out, day.get("variant_stats"), "variant_stats", at,
                                          known.variants):
            _segment(out, entry, key, label, None, None, ALL_CHANNEL, _ENTRY_SPECIALS,
                     (canvas_id, date, "variant", key))
        for key, label, entry in _entries(out, day.get("step_stats"), "step_stats", at, known.steps):
            step_at = (canvas_id, date, "step", key)
            _segment(out, entry, None, None, key, label, ALL_CHANNEL, _STEP_SPECIALS, step_at)
            _messages(out, entry.get("messages"), key, label, step_at)
        out.day_canvas_id.append(canvas_id)
        out.day_date.append(date.toordinal() - EPOCH_ORDINAL)
        out.day_end.append(len(out.seg_shape))
    return out


#: Where a part of a body is: (Canvas id, date, then labels such as "step", its id, a channel).
_Where = tuple[Any, ...]


def _say(where: _Where) -> str:
    """``Canvas <id> day <date> step <id> email``: a place in words (a note's or an error's)."""
    canvas_id, date, *labels = where
    return " ".join([f"Canvas {canvas_id} day {date}", *(str(x) for x in labels if x)])


def _is_object(value: object) -> bool:
    # ``type(...) is dict`` first: a Mapping check alone costs an ABC lookup per entry.
    return type(value) is dict or isinstance(value, Mapping)


def _entries(
    out: CanvasColumns, stats: object, what: str, where: _Where, known: Mapping[str, str]
) -> Iterator[tuple[str, str | None, Mapping[str, Any]]]:
    """(key, name, stats) of each variant or step, whatever the shape of ``stats``.

    Structural repairs repeat on every day of a Canvas: they are noted once per Canvas.
    """
    if stats is None:
        return
    items: Iterator[tuple[str | None, int, object]]
    if _is_object(stats):
        items = ((str(k), i, v) for i, (k, v) in enumerate(stats.items()))  # type: ignore[attr-defined]
        listed = False
    elif type(stats) is list:
        items = ((None, i, v) for i, v in enumerate(stats))
        listed = True
    else:
        msg = f"{_say(where)}: {what} is a JSON {type(stats).__name__}, not an object or a list"
        raise UnexpectedResponseError(msg, hint=_NOT_CANVAS)
    canvas_id = where[0]
    taken: set[str] = set()
    for given, index, value in items:
        if value is None:
            continue  # a deleted step, served as null: no data that day
        if not _is_object(value):
            shown = _short(given) if given is not None else f"entry {index + 1}"
            msg = f"{_say(where)}: {what} {shown} is a JSON {type(value).__name__}, not an object"
            raise UnexpectedResponseError(msg, hint=_NOT_CANVAS)
        entry: Mapping[str, Any] = value  # type: ignore[assignment]
        found = given if not listed else next(
            (t for t in map(_id_text, map(entry.get, _ID_KEYS)) if t is not None), None)
        if found is None:
            found = f"#{index + 1}"
            out.note_once(f"Canvas {canvas_id} {what}: entry {index + 1} (named "
                          f"{_short(entry.get('name'))}) has neither api_id nor id; kept as {found}")
        key = unused_key(found, taken)
        if key != found:
            out.note_once(f"Canvas {canvas_id} {what}: {_short(found)} appears more than once in a "
                          f"day; the later one is kept as {_short(key)}")
        taken.add(key)
        label = _id_text(entry.get("name")) or known.get(key)
        yield key, label, entry


def _messages(
    out: CanvasColumns, messages: object, step: str, label: str | None, where: _Where
) -> None:
    """A step's message stats, channel by channel, entry by entry."""
    if messages is None:
        return
    if not _is_object(messages):
        msg = f"{_say(where)}: 'messages' is a JSON {type(messages).__name__}, not an object"
        raise UnexpectedResponseError(msg, hint=_NOT_CANVAS)
    once = f"Canvas {where[0]} step {step}"  # structural notes: once per Canvas and step
    used = {ALL_CHANNEL}  # the step's own totals
    for channel, value in messages.items():  # type: ignore[attr-defined]
        if value is None:
            continue
        if type(value) is list:
            entries: list[Any] = value
        elif _is_object(value):
            out.note_once(f"{once} {_short(channel)}: one object instead of a list; read as a list")
            entries = [value]
        else:
            msg = (f"{_say(where)}: channel {_short(channel)} holds a JSON {type(value).__name__}, "
                   "not a list of messages")
            raise UnexpectedResponseError(msg, hint=_NOT_CANVAS)
        if channel not in _KNOWN_CHANNELS and not is_known_canvas_channel(channel):
            out.unknown_channels.add(base_channel(channel))
        if len(entries) > 1:
            out.note_once(f"{once}: several entries in its {_short(channel)} list; kept in order "
                          f"as {_short(channel)}, {_short(channel + '#2')}...")
        for index, entry in enumerate(entries):
            name = channel if index == 0 else f"{channel}#{index + 1}"
            if name in used:
                n = index + 2
                while f"{channel}#{n}" in used:
                    n += 1
                out.note_once(f"{once}: channel {_short(name)} is taken; this entry is kept as "
                              f"{_short(f'{channel}#{n}')}")
                name = f"{channel}#{n}"
            used.add(name)
            if entry is not None:
                _segment(out, entry, None, None, step, label, name, _NO_SPECIALS, (*where, name),
                         what=index + 1)


def _segment(
    out: CanvasColumns,
    obj: object,
    variant: str | None,
    variant_name: str | None,
    step: str | None,
    step_name: str | None,
    channel: str,
    specials: tuple[str, ...],
    where: _Where,
    *,
    what: int = 0,
) -> None:
    """Append one set of stats (``what``: its position in a channel's list, from 1)."""
    if obj is None:
        return
    if type(obj) is not dict and not isinstance(obj, Mapping):
        which = f"entry {what} of its list" if what else "the stats"
        msg = f"{_say(where)}: {which} is a JSON {type(obj).__name__}, not an object"
        raise UnexpectedResponseError(msg, hint=_NOT_CANVAS)
    stats: Mapping[str, Any] = obj
    # The same part of the body on the next day usually has the same keys and names: its
    # slot (what was seen there last) answers without building and hashing the key tuple or
    # the shape's key. The getter reads every key of the signature, so a hit means exactly
    # these keys.
    slot_key = (channel, variant, step)
    slot = out._slots.get(slot_key)
    vals: tuple[Any, ...] | None = None
    if slot is not None and len(stats) == slot.n:
        try:
            vals = slot.getter(stats)
        except KeyError:
            vals = None
    if slot is None or vals is None:
        sig_key = (specials, channel, tuple(stats))
        sig = out._signatures.get(sig_key)
        if sig is None:
            metrics = tuple(k for k in sig_key[2] if k not in specials)
            out._check_known(channel, metrics)
            present = tuple(k for k in sig_key[2] if k in specials)
            sig = out._signatures[sig_key] = _CanvasSlot(
                len(sig_key[2]), _tuple_getter(metrics + present), out._layout(metrics), len(metrics))
        slot = out._slots[slot_key] = _CanvasSlot(sig.n, sig.getter, sig.layout, sig.n_metrics)
        vals = slot.getter(stats)
    vals = vals[:slot.n_metrics]
    try:
        # The sum catches NaN, infinity and an int beyond float range at once.
        plain = set(map(type, vals)) <= _NUMBERS and math.isfinite(sum(vals, 0.0))
    except OverflowError:
        plain = False
    if plain:
        if not slot.n_metrics:
            return
        if slot.shape < 0 or slot.names != (variant_name, step_name):
            slot.shape = out._shape((channel, variant, variant_name, step, step_name, slot.layout))
            slot.names = (variant_name, step_name)
        out.seg_shape.append(slot.shape)
        out.values.extend(vals)
        return
    names, kept = clean_metrics(out, stats, specials, _say(where),
                                lambda key: out._check_known(channel, (key,)))
    if names:
        out.seg_shape.append(out._shape((channel, variant, variant_name, step, step_name,
                                         out._layout(names))))
        out.values.extend(kept)


class _CanvasSlot:
    """A key set's signature, and, per part of the body, the shape last made there."""

    __slots__ = ("getter", "layout", "n", "n_metrics", "names", "shape")

    def __init__(self, n: int, getter: Any, layout: int, n_metrics: int) -> None:
        self.n = n  # keys, specials included
        self.getter = getter  # the metrics' values, then the specials'
        self.layout = layout
        self.n_metrics = n_metrics
        self.names: tuple[str | None, str | None] = (None, None)
        self.shape = -1
