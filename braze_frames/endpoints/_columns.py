"""The encoded columns every parser fills: days, segments, layouts of metrics, values, notes.

A parser's output is dictionary- and run-length encoded, so that almost nothing is made
per row (``endpoints.parse``'s docstring has the design):

- per parsed day: the object's id (in the subclass), its date and where its segments end;
- per *segment* (one entry, or one set of totals, of one object-day): a *shape* id; a shape
  holds what a segment shares with the same entry on other days (its key columns, in the
  subclass, and its *layout*: its metric names, in order, as codes into ``metric_names``);
- per row: only the value.

``_tidy`` expands this inside polars. :class:`EncodedColumns` holds what does not depend
on the endpoint: the dates, the segments, the layouts, the values, the unknown fields and
the repair notes; ``ParsedColumns`` (campaigns) and ``CanvasColumns`` add their key columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from ._repair import _MAX_NOTES, _NOTE_CHARS

__all__ = ["EPOCH_ORDINAL", "EncodedColumns"]

#: ``date.toordinal()`` of 1970-01-01: dates travel as days since the epoch (polars' Date).
EPOCH_ORDINAL: Final = 719_163


@dataclass(slots=True)
class EncodedColumns:
    """What every parser's columns share (module docstring); subclasses add the keys.

    Attributes:
        day_date, day_end: Per parsed day: days since 1970-01-01, and the number of
            segments up to and including this day.
        seg_shape: Per segment: its shape id.
        shape_layout: Per shape: its layout.
        layout_start, layout_len: Per layout: where its codes start in ``layout_codes``
            and how many there are.
        layout_codes: Metric codes, layout after layout.
        metric_names: The metric of each code.
        values: One number per row (int or float, finite, never None or bool).
        unknown_channels: Channel keys the schema does not know.
        unknown_metrics: ``channel.metric`` names the schema does not know.
        repairs: Human-readable notes of repaired input (first few of each kind).
        repair_count: How many repairs in all.
    """

    day_date: list[int] = field(default_factory=list)
    day_end: list[int] = field(default_factory=list)
    seg_shape: list[int] = field(default_factory=list)
    shape_layout: list[int] = field(default_factory=list)
    layout_start: list[int] = field(default_factory=list)
    layout_len: list[int] = field(default_factory=list)
    layout_codes: list[int] = field(default_factory=list)
    metric_names: list[str] = field(default_factory=list)
    values: list[int | float] = field(default_factory=list)
    unknown_channels: set[str] = field(default_factory=set)
    unknown_metrics: set[str] = field(default_factory=set)
    repairs: list[str] = field(default_factory=list)
    repair_count: int = 0
    # Caches of one fetch; they only make later lookups cheaper.
    _layouts: dict[tuple[int, ...], int] = field(default_factory=dict, repr=False, compare=False)
    _codes: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    _known: dict[str, set[str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_rows(self) -> int:
        """Number of tidy rows."""
        return len(self.values)

    @property
    def value(self) -> list[int | float]:
        """One number per row (the ``values`` list itself)."""
        return self.values

    @property
    def metric(self) -> list[str]:
        """One metric name per row (built on each access)."""
        names, codes, start, length = self.metric_names, self.layout_codes, self.layout_start, self.layout_len
        out: list[str] = []
        for layout in map(self.shape_layout.__getitem__, self.seg_shape):
            first = start[layout]
            out.extend(names[c] for c in codes[first:first + length[layout]])
        return out

    @property
    def seg_count(self) -> list[int]:
        """Rows in each segment."""
        return [self.layout_len[self.shape_layout[s]] for s in self.seg_shape]

    @property
    def seg_date(self) -> list[dt.date]:
        """Date of each segment."""
        return [dt.date.fromordinal(d + EPOCH_ORDINAL) for d in self._per_segment(self.day_date)]

    def _per_segment(self, per_day: list[Any]) -> list[Any]:
        out: list[Any] = []
        begin = 0
        for item, end in zip(per_day, self.day_end, strict=True):
            out.extend([item] * (end - begin))
            begin = end
        return out

    def note(self, message: str) -> None:
        """Record a repair; keep the first few messages so a warning stays readable."""
        self.repair_count += 1
        if len(self.repairs) < _MAX_NOTES:
            if len(message) > _NOTE_CHARS:
                message = message[: _NOTE_CHARS - 3] + "..."
            self.repairs.append(message)

    # ---- dictionaries (slow path: each new key is seen once per fetch) ----------------

    def _layout(self, names: Iterable[str]) -> int:
        codes = self._codes
        key = tuple(codes[n] if n in codes else self._new_code(n) for n in names)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = len(self.layout_start)
            self.layout_start.append(len(self.layout_codes))
            self.layout_len.append(len(key))
            self.layout_codes.extend(key)
        return layout

    def _new_code(self, name: str) -> int:
        code = self._codes[name] = len(self.metric_names)
        self.metric_names.append(name)
        return code

    def _check_known(self, channel: str, keys: Iterable[str]) -> None:
        """Note the metrics of ``keys`` the endpoint does not know on ``channel``."""
        known = self._known.get(channel)
        if known is None:
            known = self._known[channel] = self._expected(channel)
        if known.issuperset(keys):
            return
        for metric in set(keys) - known:
            if not self._is_known(channel, metric) and channel not in self.unknown_channels:
                # Metrics of an unknown channel are not listed: the channel is named.
                self.unknown_metrics.add(f"{channel}.{metric}")
            known.add(metric)

    def _expected(self, channel: str) -> set[str]:
        """The keys a channel's entries carry for certain (checked by set, fast)."""
        raise NotImplementedError

    def _is_known(self, channel: str, metric: str) -> bool:
        """Whether a metric outside ``_expected`` is known (patterns, extras)."""
        raise NotImplementedError

    # ---- rollback, for a second pass --------------------------------------------------

    def _day_ids(self) -> list[str]:
        """The per-day id column of the subclass (campaign or Canvas id)."""
        raise NotImplementedError

    def _mark(self) -> tuple[int, int, int, int, int]:
        return (len(self.day_end), len(self.seg_shape), len(self.values), self.repair_count,
                len(self.repairs))

    def _rollback(self, mark: tuple[int, int, int, int, int]) -> None:
        days, segs, vals, self.repair_count, notes = mark
        for column in (self._day_ids(), self.day_date, self.day_end):
            del column[days:]
        del self.seg_shape[segs:]
        del self.values[vals:]
        del self.repairs[notes:]
