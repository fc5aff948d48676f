"""Braze's rates per period, each a ratio of sums over the days where every term is present.

The definitions are data (``RATES``, see ``_rate_table``); this module computes them with
one plan that reads the data once, whatever the engine (SPEC sections 5 and 10):

1. **Per-day sums** (the one pass over the data): one row per (campaign, channel,
   variation, day) with the sum of each metric the rates need, and which metrics were
   present that day. Metrics that never share a channel share a column (a *slot*: email's
   ``opens`` and push's ``direct_opens`` can), and presence is counted in base-32 digits
   of one integer per ten slots, so the pass costs one aggregate per slot, not two per
   metric.
2. **Control groups**: a variation is control when, anywhere in the frame, its rows carry
   ``enrolled`` and none of its channel's schema metrics (a window over the per-day rows).
3. **Rates** from the small per-day result: for each rate, the days where every term is
   present give its numerator, denominator and days; grouped by period (and by the
   presence pattern, so that a month of identical days is one row), then turned long.

Lazy frames over weeks, months or the total skip stage 1 where they can: one group-by per
(campaign, channel, variation, period, metric), with each metric's days in the period as
the bits of a float, gives a period's pattern row directly when all its metrics share one
set of days (``_regular_patterns``); the other periods take stage 1 on their rows only.

Eager frames run the plan on polars (pandas crosses as Arrow); lazy frames (polars
``LazyFrame``, DuckDB relations, PySpark DataFrames) get a plan of their own type back and
nothing runs but one small query for the (channel, metric) pairs present.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._schema import ALL_CHANNEL, conversion_event, schema_for
from .._tables import CANVAS_TABLE
from .._validate import check_choice, check_date
from ._common import (
    all_of,
    any_of,
    computed_once,
    duckdb_query,
    fill_null_key,
    give_back,
    long_rows,
    lookups_sql,
    pairs_and_dates,
    pairs_and_dates_of,
    plan_input,
    present_metrics,
    signed_sum,
    sort_keys,
    sql_name,
    string_keys,
    table_of_frame,
    with_lookups,
)
from ._fast import rates_long_sorted
from ._rate_table import (
    RATES,
    Rate,
    RateTable,
    Term,
    by_name,
    conversion_rate,
    parse_terms,
    rates_by_name,
)
from .canvas_rates import canvas_rates
from .series import is_series

__all__ = [
    "BY_KEYS",
    "PERIODS",
    "RATES",
    "RATE_COLUMNS",
    "Period",
    "Rate",
    "RateTable",
    "Term",
    "parse_terms",
    "period_start",
    "rates",
    "with_period",
]

Period = Literal["day", "week", "month", "total"]
#: The periods ``rates`` knows; weeks start on Monday (ISO).
PERIODS: Final = ("day", "week", "month", "total")
#: The key columns ``rates(by=...)`` may keep, and its default.
BY_KEYS: Final = ("campaign_id", "channel", "variation")
#: The columns after the keys, in order.
RATE_COLUMNS: Final = ("metric", "value", "numerator", "denominator", "days", "complete")

_UNIT: Final = ("campaign_id", "channel", "variation")
#: Presence is counted per slot in base-32 digits: a metric repeated up to 31 times on one
#: (campaign, channel, variation, day) is still counted right.
_BASE: Final = 32
#: Slots per presence word: 32**10 = 2**50, exact in a float64 (PySpark floor-divides
#: through doubles), and the digits' sum stays below 2**53.
_PER_WORD: Final = 10
#: ``yh`` packs a rate's days and whether it appears: days * _HAS + (rows with a numerator).
_HAS: Final = 1 << 20


def rates(
    df: IntoFrameT,
    period: Period = "day",
    by: Sequence[str] | str = BY_KEYS,
    *,
    rates: Iterable[str | Rate] | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
) -> IntoFrameT:
    """Compute Braze's rates per period: sum(numerator) / sum(denominator) over present days.

    Output columns: the kept ``by`` keys in tidy order with ``campaign_name`` beside
    ``campaign_id``, ``date`` (the period's first day; none for ``"total"``) and
    ``variation_name`` beside ``variation``, then ``metric`` (the rate's name), ``value``
    (the ratio), ``numerator``, ``denominator``, ``days`` (the days that entered the rate)
    and ``complete`` (whether the period lies wholly inside the range). Sorted by key
    (nulls first), then rate name.

    Dates are days in the company's time zone, as Braze buckets them.

    Rules (SPEC section 5):

    - **Ratio of sums over present days.** Over a period, a rate sums its numerator and
      denominator over the rows and days where every term of the rate is present: a day
      with ``delivered`` null adds nothing to either side of ``open_rate``. A group with
      no such day has a null numerator, denominator and value, and ``days`` 0; a zero
      denominator gives a null value, never inf. Compound terms (``sent - bounces``) are
      formed from the sums. A rate appears for a group when the group has one of its
      numerator metrics on a channel it applies to.
    - **Periods.** ``"day"``, ``"week"`` (ISO weeks, from Monday), ``"month"`` or
      ``"total"``. ``complete`` is true when the period lies wholly inside the range: the
      frame's first and last dates, or ``start``/``end`` when given (always true for
      ``"day"`` and ``"total"``). A partial week or month at the edges says so instead of
      being compared silently with full ones.
    - **Control groups.** A variation is control when, anywhere in the frame, its rows
      carry ``enrolled`` and none of its channel's schema metrics (``sent``,
      ``impressions``...); its conversion rates and ``revenue_per_recipient`` divide by
      ``enrolled``. A treated variation that also carries ``enrolled`` (even 0) stays
      treated.
    - **Pooling (``by``).** ``by`` names the keys to keep; the others are pooled: the
      numerators and denominators of a rate name are summed over them, and ``days``
      counts the distinct days that entered. Control is never pooled with treatment:
      when ``by`` keeps ``variation``, each variation keeps its own rates from its own
      rows, and the day-level ``"all"`` rows are the null-variation row; pooled over the
      variations of a channel, rates come from its non-control variations; pooled over
      channels, the rates that apply to any row set (conversion rates,
      ``revenue_per_recipient``) come from the ``"all"`` rows (Braze's day totals; a
      frame without them has none of these pooled over channels), and the channel rates
      from every non-control variation. Braze's day-level totals may include control
      users: compare a control group by variation, not through the ``"all"`` rows.
    - **Conversion rates.** ``conversion_rate{k}`` = ``conversions{k} /
      unique_recipients`` counts conversions on the day they happened over recipients
      on their send day, so over days and weeks it mixes two calendars;
      ``cohort_conversion_rate{k}`` = ``conversions{k}_by_send_time /
      unique_recipients`` puts both on the send day and is the one to compare periods
      with (its latest days keep growing until the conversion window closes). Every
      event present gets both, ``conversions4`` and beyond included.

    Caveats: ``unique_*`` metrics and ``unique_recipients`` count people once per day, so
    over several days their sums over-count people who appear on several of them; a
    multichannel campaign counts a conversion once per channel, so pooled conversion
    rates can exceed 1; a rate whose formula differs by channel (``delivery_rate``,
    ``click_rate``...) adds up different quantities when pooled over channels (``RATES``
    says which). Each rate's attribution and departures from Braze's glossary are in
    ``RATES`` (print it).

    Lazy frames (``polars.scan_parquet``, DuckDB relations, PySpark DataFrames) get back a
    plan of their own type: one small query reads the (channel, metric) pairs present,
    and nothing else runs until the caller collects. The plan reads the data once. On
    polars, keeping every key over weeks, months or the total, not even that query runs
    at the call: the pairs come from the one pass, inside ``collect`` (so a rate the
    frame lacks the metrics of is refused there).

    Canvas frames (``fetch_canvas_series``; SPEC section 12) have their own keys and
    rates: ``by`` takes ``canvas_id``, ``variant``, ``step``, ``channel`` (the default
    keeps all four), and the output has ``canvas_name``, ``variant_name`` and
    ``step_name`` beside them. The Canvas's totals and each variant (a control variant
    included, on its own row) get ``conversion_rate{k}`` = conversions{k} / entries and
    ``cohort_conversion_rate{k}`` = conversions{k}_by_entry_time / entries
    (``CANVAS_RATES``); a step's totals have no entries and get none; a step's messages
    get the channel rates of ``RATES`` (``email#2`` read as email). Without ``variant``
    in ``by``, conversion rates come from the Canvas's own totals. The same present-days,
    periods and ``complete`` rules apply.

    A workspace series frame (``fetch_series``) gets ``series_rates``: DAU/MAU
    stickiness and the other workspace ratios, per ``app_id`` (``by`` is not taken).

    Args:
        df: A tidy frame of any supported backend, eager or lazy.
        period: ``"day"``, ``"week"``, ``"month"`` or ``"total"``.
        by: Which of ``campaign_id``, ``channel``, ``variation`` to keep; the default
            keeps all three (Canvas frames: see above).
        rates: None for every definition in ``RATES`` (plus the conversion events past
            the fourth, as present), or names and ``Rate`` objects, e.g.
            ``["open_rate", Rate.parse("ctr", {"email"}, "clicks", "opens")]``.
        start: The first day of the range the frame covers (a date or ISO string), for
            ``complete``; default the frame's first date. ``fetch_data_series``' default
            end is today in UTC, which can be a day off the company's today: pass the
            range you fetched when it matters.
        end: The last day of that range; default the frame's last date.

    Returns:
        The rate table, of the caller's frame type.

    Raises:
        ValueError: An unknown period, ``by`` key or rate name; a rate asked for by name
            whose metrics the frame lacks (``Rate`` objects are computed where their
            metrics are, as ``RATES`` is); a non-empty frame where no rate can be
            computed; two different definitions of one name on the same channel;
            ``start`` after ``end``.
        TidyFrameError: ``df`` lacks a tidy column or has a wrong dtype.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> tidy = from_records([
        ...     ("c1", "2024-07-01", "webhook", "v1", "A", "sent", 10.0),
        ...     ("c1", "2024-07-01", "webhook", "v1", "A", "errors", 1.0),
        ...     ("c1", "2024-07-02", "webhook", "v1", "A", "sent", 30.0),
        ...     ("c1", "2024-07-02", "webhook", "v1", "A", "errors", 3.0),
        ...     ("c1", "2024-07-03", "webhook", "v1", "A", "sent", 50.0),
        ... ])
        >>> rates(tidy, period="total").select("metric", "value", "numerator", "days").rows()
        [('error_rate', 0.1, 4.0, 2)]
    """
    check_choice("period", period, PERIODS)
    if is_series(df):
        if tuple([by] if isinstance(by, str) else by) != BY_KEYS:
            msg = "a workspace series frame has one key, app_id: call rates on it without by="
            raise ValueError(msg)
        from .series_rates import series_rates  # it builds on this module

        series: IntoFrameT = series_rates(df, period=period, rates=rates, start=start, end=end)  # type: ignore[arg-type]
        return series
    first = check_date("start", start)
    last = check_date("end", end)
    if first is not None and last is not None and first > last:
        msg = f"start ({first}) is after end ({last})"
        raise ValueError(msg)
    if table_of_frame(df) is CANVAS_TABLE:
        canvas: IntoFrameT = canvas_rates(df, period, by, rates=rates, first=first, last=last)
        return canvas
    kept = _check_by(by)
    frame, source = plan_input(df)
    if source.lazy and frame.implementation.is_polars() and len(kept) == len(BY_KEYS) and period != "day":
        table_: IntoFrameT = give_back(_deferred_rates(frame, rates, period, first, last), source)
        return table_
    # The one small query: which metrics each channel has, and the frame's date range.
    pairs, frame_first, frame_last = pairs_and_dates(frame)
    definitions = _select(rates, pairs)
    plan = _Plan(frame, pairs, definitions, period, kept, first or frame_first, last or frame_last,
                 in_memory=not source.lazy)
    table: IntoFrameT = give_back(plan.result(), source)
    return table


# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slots:
    """Which column (slot) holds each metric on the per-day rows, and which channels have it."""

    slot: Mapping[str, int]
    pairs: Mapping[str, frozenset[str]]
    values: frozenset[int]

    @property
    def count(self) -> int:
        return max(self.slot.values(), default=-1) + 1

    @property
    def words(self) -> int:
        return -(-self.count // _PER_WORD)

    def occupied(self, channel: str) -> set[int]:
        return {self.slot[m] for m in self.pairs.get(channel, ()) if m in self.slot}

    def present(self, metric: str, scope: Iterable[str]) -> nw.Expr:
        """True on the per-day rows of the ``scope`` channels where ``metric`` is present."""
        if metric not in self.slot:
            return nw.lit(False)
        k = self.slot[metric]
        bit = nw.col(f"_b{k}")
        having = sorted(c for c, ms in self.pairs.items() if metric in ms)
        # Another metric holds this slot on a channel without ``metric``: say which channels.
        shared = any(metric not in self.pairs.get(c, ()) and k in self.occupied(c) for c in scope)
        return bit & nw.col("channel").is_in(having) if shared else bit

    def value(self, metric: str) -> nw.Expr:
        if metric not in self.slot:
            return nw.lit(0.0)
        return nw.col(f"_s{self.slot[metric]}")


def _assign_slots(
    metrics: Iterable[str], pairs: Mapping[str, frozenset[str]], values: Iterable[str]
) -> _Slots:
    """Give metrics slots so that two metrics of one channel never share one (greedy colouring)."""
    wanted = set(metrics)
    conflicts: dict[str, set[str]] = {m: set() for m in wanted}
    for found in pairs.values():
        here = found & wanted
        for m in here:
            conflicts[m] |= here - {m}
    slot: dict[str, int] = {}
    for m in sorted(wanted, key=lambda m: (-len(conflicts[m]), m)):
        used = {slot[o] for o in conflicts[m] if o in slot}
        k = 0
        while k in used:
            k += 1
        slot[m] = k
    return _Slots(slot, pairs, frozenset(slot[m] for m in values if m in slot))


class _Plan:
    """The lazy plan of one ``rates`` call (see the module docstring)."""

    def __init__(
        self,
        frame: nw.LazyFrame[Any],
        pairs: Mapping[str, frozenset[str]],
        definitions: Sequence[Rate],
        period: str,
        kept: Sequence[str],
        first: dt.date | None,
        last: dt.date | None,
        *,
        in_memory: bool = False,
        per_metric: nw.LazyFrame[Any] | None = None,
    ) -> None:
        self.frame = frame
        self.in_memory = in_memory
        #: The one pass's result, when it ran already (``_deferred_rates``).
        self.per_metric = per_metric
        self.pairs = pairs
        self.names = rates_by_name(definitions)
        self.period = period
        self.kept = [k for k in BY_KEYS if k in kept]
        self.first = first
        self.last = last
        self.channels = sorted(ch for ch in pairs if ch != ALL_CHANNEL)
        read = {m for r in definitions for m in r.metrics} & present_metrics(pairs)
        schema = {m for ch in self.channels for m in schema_for(ch) if m in pairs[ch]}
        self.control_possible = "enrolled" in present_metrics(pairs) and any(
            "enrolled" in pairs[ch] for ch in self.channels
        )
        extra = {"enrolled"} if self.control_possible else set()
        self.slots = _assign_slots(read | schema | extra, pairs, read)
        self.with_campaign = "campaign_id" in self.kept
        self.with_variation = "variation" in self.kept

    # ---------------------------------------------------------------- the output's shape

    @property
    def keys(self) -> list[str]:
        """The output's key columns (``_period`` for the date), in order."""
        keys = list(self.kept)
        if self.period != "total":
            keys.insert(1 if self.with_campaign else 0, "_period")
        return keys

    @property
    def name_columns(self) -> list[str]:
        return [*(["_cn"] if self.with_campaign else []), *(["_vn"] if self.with_variation else [])]

    # ---------------------------------------------------------------------- the stages

    def result(self) -> nw.LazyFrame[Any]:
        if not self.names:
            return self._empty()
        if len(self.kept) < len(BY_KEYS):
            daily = self._per_day(self.frame)
            wide = self._pooled(self._with_control(self._with_bits(daily)))
        elif self.in_memory or self.period == "day":
            wide = self._per_unit(self._patterns(self._per_day(self.frame)))
        else:
            wide = self._per_unit(self._regular_patterns())
        wide = self._complete(wide)
        if self.in_memory:
            fast = rates_long_sorted(wide, self.keys, self.name_columns, list(self.names), _HAS,
                                     self._columns())
            if fast is not None:
                return fast
        return self._long(wide)

    def _lookups(self) -> dict[str, tuple[list[str], list[int]]]:
        """Each metric's slot (``_slot``) and its digit in its presence word (``_w{w}``)."""
        slots = self.slots
        order = sorted(slots.slot, key=lambda m: slots.slot[m])
        tables: dict[str, tuple[list[str], list[int]]] = {"_slot": (order, [slots.slot[m] for m in order])}
        for w in range(slots.words):
            inside = [m for m in order if slots.slot[m] // _PER_WORD == w]
            tables[f"_w{w}"] = (inside, [_BASE ** (slots.slot[m] % _PER_WORD) for m in inside])
        return tables

    def _per_day(self, frame: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Stage 1, the one pass: per (campaign, channel, variation, day) slot sums and presence."""
        slots = self.slots
        aggs: list[nw.Expr] = [
            *(nw.when(nw.col("_slot") == k).then(nw.col("value")).sum().alias(f"_s{k}")
              for k in sorted(slots.values)),
            *(nw.when(~nw.col("value").is_null()).then(nw.col(f"_w{w}")).sum().alias(f"_m{w}")
              for w in range(slots.words)),
        ]
        names = {alias: column for column, alias in self._name_sources}
        marked = with_lookups(frame, "metric", self._lookups())
        if names and _sorts_to_max_strings(marked):
            # PySpark takes the max of a string by sorting every row (SortAggregate): group
            # by the names first (a hash aggregate), then add the rows of a day that had two
            # names, where the sums and the digit counts of the words add up, on the result.
            split = marked.group_by(*_UNIT, "date", *names.values()).agg(*aggs)
            daily = split.group_by(*_UNIT, "date").agg(
                *(nw.col(c).sum() for c in split.collect_schema() if c.startswith(("_s", "_m"))),
                *(nw.col(column).max().alias(name) for name, column in names.items()),
            )
        else:
            aggs.extend(nw.col(column).max().alias(name) for name, column in names.items())
            daily = marked.group_by(*_UNIT, "date").agg(*aggs)
        # DuckDB sums integers into HUGEINT, where division is slow: back to Int64.
        return daily.with_columns(*(nw.col(f"_m{w}").cast(nw.Int64()) for w in range(slots.words)))

    def _with_bits(self, rows: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Add ``_b{k}``: whether slot k's metric is present (its digit in the words)."""
        bits = []
        for k in range(self.slots.count):
            word = nw.col(f"_m{k // _PER_WORD}")
            bits.append((((word // (_BASE ** (k % _PER_WORD))) % _BASE) > 0).alias(f"_b{k}"))
        return rows.with_columns(*bits)

    def _with_control(self, rows: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Add ``_ctl``: whether each row's variation is a control group (see ``_control``)."""
        if not self.control_possible:
            return rows.with_columns(nw.lit(False).alias("_ctl"))
        # The window reads the rows below it once more on some engines: compute them once.
        # polars lazy: cached too, or the window's input ran twice (3.8 s against 3.5 s).
        once = computed_once(rows, polars=not self.in_memory)
        return once.with_columns(self._control().alias("_ctl"))

    def _control(self) -> nw.Expr:
        """Stage 2: whether each per-day row's variation is a control group (a window)."""
        slots = self.slots
        channel = nw.col("channel")
        enrolled = slots.present("enrolled", self.channels)
        by_schema: dict[tuple[str, ...], list[str]] = {}
        for ch in self.channels:
            if schema_for(ch):
                by_schema.setdefault(schema_for(ch), []).append(ch)
        schema_here: nw.Expr | None = None
        for schema, chs in by_schema.items():
            found = sorted({m for ch in chs for m in schema if m in self.pairs[ch]})
            if found:
                anyone = any_of(slots.present(m, chs) for m in found)
                schema_here = nw.when(channel.is_in(chs)).then(anyone).otherwise(
                    nw.lit(False) if schema_here is None else schema_here
                )
        has_enrolled = nw.when(enrolled).then(1).otherwise(0).max().over(*_UNIT)
        control = (channel != ALL_CHANNEL) & (has_enrolled > 0)
        if schema_here is None:  # no channel of the frame reports a schema metric
            return control
        has_schema = nw.when(schema_here).then(1).otherwise(0).max().over(*_UNIT)
        return control & (has_schema == 0)

    def _rate_parts(self, name: str, count: nw.Expr) -> tuple[nw.Expr, nw.Expr, nw.Expr]:
        """A rate name's (numerator, denominator, yh) on per-day (or per-pattern) rows.

        ``count`` is how many days the row stands for. ``yh`` = present days * _HAS +
        (1 when the row has a numerator metric): summed, it gives both the days and
        whether the rate appears.
        """
        slots = self.slots
        channel = nw.col("channel")
        control = nw.col("_ctl")
        numerators: list[tuple[nw.Expr, nw.Expr]] = []
        denominators: list[tuple[nw.Expr, nw.Expr]] = []
        present_any: list[nw.Expr] = []
        has_any: list[nw.Expr] = []
        for r in self.names[name]:
            scope = [ch for ch in self.pairs if r.applies_to(ch)]
            contributes = self._source(r)
            if r.channels is not None:
                contributes = contributes & channel.is_in(sorted(r.channels))
            normal = all_of(slots.present(m, scope) for m in {m for _, m in (*r.numerator, *r.denominator)})
            denominator = _terms(r.denominator, slots)
            if r.control_denominator is not None and self.control_possible:
                as_control = all_of(
                    slots.present(m, scope) for m in {m for _, m in (*r.numerator, *r.control_denominator)}
                )
                present = nw.when(control).then(as_control).otherwise(normal)
                as_enrolled = _terms(r.control_denominator, slots)
                denominator = nw.when(control).then(as_enrolled).otherwise(denominator)
            else:
                present = normal
            ok = contributes & present
            numerators.append((ok, _terms(r.numerator, slots)))
            denominators.append((ok, denominator))
            present_any.append(ok)
            has_any.append(contributes & any_of(slots.present(m, scope) for _, m in r.numerator))
        numerator = _first_of(numerators)
        den = _first_of(denominators)
        present = any_of(present_any)
        has = any_of(has_any)
        yh = (nw.when(present).then(count).otherwise(0) * _HAS + nw.when(has).then(1).otherwise(0)).cast(
            nw.Float64()
        )
        return numerator, den, yh

    def _source(self, r: Rate) -> nw.Expr:
        """Which per-day rows feed rate ``r`` under ``by`` (control never pooled with treatment)."""
        if self.with_variation:
            return nw.lit(True)
        if "channel" not in self.kept and r.channels is None:
            return nw.col("channel") == ALL_CHANNEL
        return ~nw.col("_ctl")

    def _patterns(self, daily: nw.LazyFrame[Any], period: str | None = None) -> nw.LazyFrame[Any]:
        """Stage 3 keeping every key: group the days of a period by their presence pattern.

        One row per (campaign, channel, variation, period, presence words): the slot sums
        and ``_n``, the days the row stands for. ``period`` defaults to the plan's.
        """
        slots = self.slots
        period = period or self.period
        dated = daily if period == "total" else with_period(daily, period, "_period")
        if period == "day":
            return dated.with_columns(nw.lit(1).alias("_n"))
        group = [*_UNIT, *(["_period"] if period != "total" else []), *self._words]
        return dated.group_by(*group).agg(
            *(nw.col(f"_s{k}").sum() for k in sorted(slots.values)),
            *(nw.col(c).max() for c in self.name_columns),
            nw.len().alias("_n"),
        )

    @property
    def _words(self) -> list[str]:
        return [f"_m{w}" for w in range(self.slots.words)]

    def _regular_patterns(self) -> nw.LazyFrame[Any]:
        """``_patterns``' rows from per-metric period sums, for lazy frames over weeks and longer.

        The one pass groups by (campaign, channel, variation, period, metric), as the
        engine's own floor does, and adds a metric's day set in the period as a sum of
        powers of two (days = the bits of one float). A (campaign, channel, variation,
        period) whose metrics the rates read all have one day set, each day once, is
        *regular*: every day of it has the same presence pattern, so its pattern row is
        the metrics' sums and the set's size, with no per-day aggregate of every metric
        (which costs three times the floor on DuckDB). The others (a metric null or
        missing on some days, repeated rows, a name that changed) take the per-day path,
        on their rows only: a semi-join with their keys, whose scan DuckDB stops at once
        when there are none, and which polars runs only when there are some
        (``_when_any``). ``"total"`` is summed from months.
        """
        slots = self.slots
        sub = "month" if self.period == "total" else self.period
        frame = with_period(self.frame, sub, "_period")
        per_metric = self.per_metric
        if per_metric is None:
            per_metric = _per_metric_pass(frame, sub, [c for c, _ in self._name_sources])
        looked = with_lookups(per_metric, "metric", self._lookups()).filter(
            ~nw.col("_slot").is_null() & (nw.col("_c") > 0)
        )
        rows = computed_once(
            looked.group_by(*_UNIT, "_period").agg(
                *(nw.when(nw.col("_slot") == k).then(nw.col("_v")).sum().alias(f"_s{k}")
                  for k in sorted(slots.values)),
                *(nw.col(f"_w{w}").sum().alias(f"_m{w}") for w in range(slots.words)),
                *(nw.col(c).max().alias(alias) for c, alias in self._name_sources),
                nw.col("_k").min().alias("_lo"),
                nw.col("_k").max().alias("_hi"),
                nw.col("_c").min().alias("_clo"),
                nw.col("_c").max().alias("_n"),
            ),
            polars=True,
        )
        width = 31 if sub == "month" else 7
        bits = signed_sum([(1, str(b)) for b in range(width)],
                          lambda b: (nw.col("_hi") // (2 ** int(b))) % 2)
        regular = (nw.col("_lo") == nw.col("_hi")) & (nw.col("_clo") == nw.col("_n")) & (bits == nw.col("_n"))
        columns = [*_UNIT, "_period", *self._words, *(f"_s{k}" for k in sorted(slots.values)),
                   *self.name_columns, "_n"]
        if frame.implementation.is_duckdb():
            both = self._duckdb_union(rows.with_columns(regular.alias("_regular")), frame, columns)
            both = both.with_columns(*self._pattern_types())
        else:
            both = self._union(rows, regular, frame, columns, sub)
        if self.period != "total":
            return both
        return both.group_by(*_UNIT, *self._words).agg(
            *(nw.col(f"_s{k}").sum() for k in sorted(slots.values)),
            *(nw.col(c).max() for c in self.name_columns),
            nw.col("_n").sum(),
        )

    def _union(
        self, rows: nw.LazyFrame[Any], regular: nw.Expr, frame: nw.LazyFrame[Any], columns: list[str],
        sub: str,
    ) -> nw.LazyFrame[Any]:
        """The regular periods' pattern rows, and the per-day path's for the others."""
        typed = self._pattern_types()
        kept = rows.filter(regular).select(*columns).with_columns(*typed)
        others = rows.filter(~regular).select(*_UNIT, "_period")

        # The source's rows of the campaigns' channels with an irregular period (a
        # superset: the join keys are never null there, and no key is cast on every row),
        # then their pattern rows of the irregular (campaign, channel, variation) only.
        near = ["campaign_id", "channel", "_period"]
        keys = others.select(*near).unique()

        def per_day_path(keys: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
            ragged = frame.join(keys, on=near, how="semi").drop("_period")
            return self._patterns(self._per_day(ragged), sub).select(*columns).with_columns(*typed)

        fallback = _when_any(keys, per_day_path) if frame.implementation.is_polars() else per_day_path(keys)

        def keyed(rows: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
            # Joins never match null keys: the "all" rows' null variation is filled.
            filled: nw.LazyFrame[Any] = fill_null_key(
                rows.with_columns(nw.col("variation").cast(nw.String()).alias("_vk")), "_vk"
            )
            return filled

        on = ["campaign_id", "channel", "_vk", "_period"]
        fallback = keyed(fallback).join(keyed(others).drop("variation"), on=on, how="semi").drop("_vk")
        return nw.concat([kept, fallback], how="vertical")

    def _duckdb_union(
        self, rows: nw.LazyFrame[Any], frame: nw.LazyFrame[Any], columns: list[str]
    ) -> nw.LazyFrame[Any]:
        """``_union`` in one DuckDB statement, so that the period rows are computed once.

        DuckDB inlines a relation wherever a plan reads it, and a ``MATERIALIZED`` CTE
        only spans one statement: built as two branches, the per-metric pass ran three
        times. Here the regular rows and the per-day path of the others (``_per_day``,
        then ``_patterns``, written in SQL) read one materialised CTE. ``rows`` carries
        ``_regular``. One statement reads one relation, so the period rows and the source
        come as one union, tagged; each side's filter on the tag leaves the other out of
        its plan (a constant false, which DuckDB prunes).
        """
        slots = self.slots
        keys = ", ".join(sql_name(c) for c in (*_UNIT, "_period"))
        sums = ", ".join(
            f"sum(CASE WHEN _slot = {k} THEN value END) AS _s{k}" for k in sorted(slots.values)
        )
        words = ", ".join(
            f"sum(CASE WHEN value IS NOT NULL THEN _w{w} END)::BIGINT AS _m{w}" for w in range(slots.words)
        )
        names = ", ".join(f"max({sql_name(c)}) AS {alias}" for c, alias in self._name_sources)
        out = ", ".join(sql_name(c) for c in columns)
        word_keys = ", ".join(self._words)
        regrouped = ", ".join(
            [*(f"sum(_s{k}) AS _s{k}" for k in sorted(slots.values)),
             *(f"max({c}) AS {c}" for c in self.name_columns), "count(*) AS _n"]
        )
        per_day = ", ".join(x for x in (sums, words, names) if x)
        lookups = lookups_sql("metric", self._lookups())
        part = "_braze_part"
        tagged = nw.concat(
            [rows.with_columns(nw.lit("p").alias(part)), frame.with_columns(nw.lit("s").alias(part))],
            how="diagonal",
        )
        rows_columns = ", ".join(sql_name(c) for c in rows.collect_schema())
        source_columns = ", ".join(sql_name(c) for c in frame.collect_schema())
        # Every name is quoted or one we wrote; every value is a literal we wrote.
        sql = f"""
            WITH _p AS MATERIALIZED (SELECT {rows_columns} FROM _braze_both WHERE {part} = 'p'),
            _braze_source AS (SELECT {source_columns} FROM _braze_both WHERE {part} = 's'),
            _near AS (SELECT DISTINCT campaign_id, channel, _period FROM _p WHERE NOT _regular),
            _day AS (
                SELECT {keys}, {per_day}
                FROM (SELECT *, {lookups} FROM _braze_source
                      SEMI JOIN _near USING (campaign_id, channel, _period))
                GROUP BY {keys}, date
            ),
            _pat AS (SELECT {keys}, {word_keys}, {regrouped} FROM _day GROUP BY {keys}, {word_keys})
            SELECT {out} FROM _p WHERE _regular
            UNION ALL BY NAME
            SELECT {out} FROM _pat SEMI JOIN (SELECT {keys} FROM _p WHERE NOT _regular) AS _r
                ON _pat.campaign_id = _r.campaign_id AND _pat.channel = _r.channel
                AND _pat.variation IS NOT DISTINCT FROM _r.variation AND _pat._period = _r._period
        """  # noqa: S608
        return duckdb_query(tagged, "_braze_both", sql)

    @property
    def _name_sources(self) -> list[tuple[str, str]]:
        """The tidy name columns kept, with their names on the plan's rows."""
        return [*([("campaign_name", "_cn")] if self.with_campaign else []),
                *([("variation_name", "_vn")] if self.with_variation else [])]

    def _pattern_types(self) -> list[nw.Expr]:
        """One dtype per pattern column, so that both sources of pattern rows concatenate."""
        return [
            *(nw.col(w).cast(nw.Int64()) for w in self._words),
            *(nw.col(f"_s{k}").cast(nw.Float64()) for k in sorted(self.slots.values)),
            *(nw.col(c).cast(nw.String()) for c in self.name_columns),
            nw.col("_n").cast(nw.Int64()),
        ]

    def _per_unit(self, rows: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Stage 3's rate parts on pattern rows (``_patterns``), with the control flag.

        Control groups are found on the grouped rows (a window over a few rows per
        variation rather than over every day).
        """
        rows = self._with_control(self._with_bits(rows))
        parts = []
        for i, name in enumerate(self.names):
            numerator, denominator, yh = self._rate_parts(name, nw.col("_n"))
            parts += [numerator.alias(f"_rn{i}"), denominator.alias(f"_rd{i}"), yh.alias(f"_ry{i}")]
        return rows.select(*self.keys, *self.name_columns, *parts)

    def _pooled(self, daily: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Stage 3 pooling over keys: per-day rates first, so that ``days`` counts distinct days."""
        per_day = []
        for i, name in enumerate(self.names):
            numerator, denominator, yh = self._rate_parts(name, nw.lit(1))
            per_day += [numerator.alias(f"_rn{i}"), denominator.alias(f"_rd{i}"), yh.alias(f"_ry{i}")]
        out = list(self.kept)
        names = self.name_columns
        day_rows = daily.select(*out, "date", *names, *per_day)
        # One row per (kept keys, day): sums; a day enters once however many rows had it.
        day_rows = day_rows.group_by(*out, "date").agg(
            *(nw.col(c).max() for c in names),
            *(nw.col(f"_rn{i}").sum() for i in range(len(self.names))),
            *(nw.col(f"_rd{i}").sum() for i in range(len(self.names))),
            # max: a day is present (or has a numerator) if any of its rows is.
            *(nw.col(f"_ry{i}").max() for i in range(len(self.names))),
        )
        dated = self._dated(day_rows)
        if self.period == "day":
            return dated.select(
                *self.keys, *names,
                *(c for i in range(len(self.names)) for c in (f"_rn{i}", f"_rd{i}", f"_ry{i}")),
            )
        group = [*out, *(["_period"] if self.period != "total" else [])]
        return dated.group_by(*group).agg(
            *(nw.col(c).max() for c in names),
            *(nw.col(f"_rn{i}").sum() for i in range(len(self.names))),
            *(nw.col(f"_rd{i}").sum() for i in range(len(self.names))),
            *(nw.col(f"_ry{i}").sum() for i in range(len(self.names))),
        )

    def _dated(self, rows: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Add ``_period``, the first day of each row's period (none for ``"total"``)."""
        if self.period == "total":
            return rows
        return with_period(rows, self.period, "_period")

    def _complete(self, wide: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        return complete_flag(wide, self.period, self.first, self.last)

    def _long(self, wide: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Stage 4: one row per (group, rate), in one pass (see ``long_rows``)."""
        n = len(self.names)
        parts = [c for i in range(n) for c in (f"_rn{i}", f"_rd{i}", f"_ry{i}")]
        index = [*self.keys, *self.name_columns, "_complete"]
        if len(self.kept) == len(BY_KEYS) and self.period != "day":
            # Keeping every key, a period's days may come as several presence patterns:
            # one row per group first (days and both sides add up; the greatest names).
            wide = wide.group_by(*self.keys, "_complete").agg(
                *(nw.col(c).max() for c in self.name_columns),
                *(nw.col(c).sum() for c in parts),
            )
        present = []
        for i in range(n):
            yh = nw.col(f"_ry{i}")
            present.append(nw.when((yh % _HAS) > 0).then(yh).cast(nw.Float64()).alias(f"_ry{i}"))
        prepared = wide.with_columns(*present).select(
            *index, *(nw.col(c).cast(nw.Float64()) for c in parts)
        )
        groups = [(name, [f"_rn{i}", f"_rd{i}", f"_ry{i}"]) for i, name in enumerate(self.names)]
        long = long_rows(prepared, index, groups, ["numerator", "denominator", "_yh"],
                         label="metric", present="_yh")
        days = (nw.col("_yh") // _HAS).cast(nw.Int64())
        entered = days > 0
        out = long.with_columns(
            nw.when(entered).then(nw.col("numerator")).alias("numerator"),
            nw.when(entered).then(nw.col("denominator")).alias("denominator"),
            days.alias("days"),
        )
        ratio = nw.when(nw.col("denominator") != 0).then(nw.col("numerator") / nw.col("denominator"))
        out = out.with_columns(ratio.alias("value"))
        renamed = {"_complete": "complete"}
        if self.period != "total":
            renamed["_period"] = "date"
        if self.with_campaign:
            renamed["_cn"] = "campaign_name"
        if self.with_variation:
            renamed["_vn"] = "variation_name"
        out = out.rename(renamed)
        columns = self._columns()
        out = out.select(*columns).with_columns(
            nw.col("value", "numerator", "denominator").cast(nw.Float64()),
            nw.col("complete").cast(nw.Boolean()),
        )
        text = [c for c in ("campaign_id", "campaign_name", "channel", "variation", "variation_name")
                if c in columns]
        out = string_keys(out, [*text, "metric"])
        sort = [("date" if k == "_period" else k) for k in self.keys]
        ordered: nw.LazyFrame[Any] = sort_keys(out, [*sort, "metric"])
        return ordered

    def _columns(self) -> list[str]:
        columns: list[str] = []
        for k in self.keys:
            columns.append("date" if k == "_period" else k)
            if k == "campaign_id":
                columns.append("campaign_name")
            if k == "variation":
                columns.append("variation_name")
        return [*columns, *RATE_COLUMNS]

    def _empty(self) -> nw.LazyFrame[Any]:
        """No rate to compute (an empty frame): the columns, no rows."""
        frame = self._dated(self.frame.head(0))
        exprs: list[nw.Expr] = []
        for c in self._columns():
            if c == "date":
                exprs.append(nw.col("_period").alias("date"))
            elif c in ("value", "numerator", "denominator"):
                exprs.append(nw.lit(None, nw.Float64()).alias(c))
            elif c == "days":
                exprs.append(nw.lit(0, nw.Int64()).alias(c))
            elif c == "complete":
                exprs.append(nw.lit(True, nw.Boolean()).alias(c))
            elif c == "metric":
                exprs.append(nw.lit("", nw.String()).alias(c))
            else:
                exprs.append(nw.col(c).cast(nw.String()))
        # With only literals to select, some engines make one row: keep none.
        return frame.select(*exprs).head(0)


def _per_metric_pass(
    dated: nw.LazyFrame[Any], sub: str, names: Sequence[str], *extra: nw.Expr
) -> nw.LazyFrame[Any]:
    """The one pass of ``_Plan._regular_patterns``: per (unit, period, names, metric) sums.

    ``dated`` has ``_period`` (months or weeks: ``sub``). Each group gets the metric's
    sum (``_v``), its non-null count (``_c``) and its set of days in the period as a sum
    of powers of two (``_k``, the day's place: 0 for the 1st of a month or a Monday).
    The names are group keys, not a max: cheaper on every engine, and a name that
    changes inside a period splits its day sets, so the period is not regular.
    ``extra`` aggregations ride along.
    """
    if sub == "month":
        place = nw.col("date").dt.day() - 1
    else:
        weekday = nw.col("date").dt.weekday()
        # narwhals' PySpark weekday gives Sunday as 0, not 7 (seen with narwhals 2.29).
        place = nw.when((weekday == 7) | (weekday == 0)).then(6).otherwise(weekday - 1)
    bit = nw.when(~nw.col("value").is_null()).then(nw.lit(2.0) ** place).otherwise(nw.lit(0.0))
    return (
        dated.with_columns(bit.alias("_bit"))
        .group_by(*_UNIT, "_period", *names, "metric")
        .agg(
            nw.col("value").sum().alias("_v"),
            nw.col("value").count().alias("_c"),
            nw.col("_bit").sum().alias("_k"),
            *extra,
        )
    )


def _deferred_rates(
    frame: nw.LazyFrame[Any],
    requested: Iterable[str | Rate] | None,
    period: str,
    first: dt.date | None,
    last: dt.date | None,
) -> nw.LazyFrame[Any]:
    """On polars lazy, every key kept, weeks and longer: the whole plan waits for ``collect``.

    The plan needs the (channel, metric) pairs present, which the other engines read in
    a small query of their own: a scan of three columns, 0.45 s of polars' 3.3 s at 20M
    rows. Here nothing runs at the call; at ``collect``, the one pass runs first (with
    each group's first and last date riding along), the pairs and the date range are read
    from its 658K rows, and the rest of the plan runs on them. So a rate the frame lacks
    the metrics of is refused at ``collect``, not at the call.
    """
    import polars as pl

    sub = "month" if period == "total" else period
    empty = _Plan(frame, {}, [], period, BY_KEYS, first, last)
    one_pass = _per_metric_pass(with_period(frame, sub, "_period"), sub, [c for c, _ in empty._name_sources],
                                nw.col("date").min().alias("_first"), nw.col("date").max().alias("_last"))
    # The schema of an empty result: the same columns and dtypes as any other.
    schema = empty.result().to_native().collect_schema()

    def run() -> pl.DataFrame:
        found = one_pass.collect()
        pairs, frame_first, frame_last = pairs_and_dates_of(
            found.group_by("channel", "metric").agg(nw.col("_first").min(), nw.col("_last").max())
        )
        plan = _Plan(frame, pairs, _select(requested, pairs), period, BY_KEYS, first or frame_first,
                     last or frame_last, per_metric=found.drop("_first", "_last").lazy())
        out: pl.DataFrame = plan.result().to_native().collect()
        return out

    deferred: nw.LazyFrame[Any] = nw.from_native(pl.defer(run, schema=schema))
    return deferred


def _when_any(
    keys: nw.LazyFrame[Any], plan: Callable[[nw.LazyFrame[Any]], nw.LazyFrame[Any]]
) -> nw.LazyFrame[Any]:
    """polars: ``plan(keys)``, run at collect time only when ``keys`` has rows.

    polars starts both sides of a join together, so a semi-join with keys that turn out
    empty still scans its other side (0.45 s of 3.9 at 20M rows). Here the keys are
    computed first, inside the caller's collect, and the plan runs only if there are any.
    """
    import polars as pl

    schema = plan(keys).to_native().collect_schema()

    def run(found: pl.DataFrame) -> pl.DataFrame:
        if found.is_empty():
            return pl.DataFrame(schema=schema)
        result: pl.DataFrame = plan(nw.from_native(found.lazy())).to_native().collect()
        return result

    wrapped: nw.LazyFrame[Any] = nw.from_native(keys.to_native().map_batches(run, schema=schema))
    return wrapped


def _sorts_to_max_strings(frame: nw.LazyFrame[Any]) -> bool:
    """Whether the engine sorts every row to take the max of a string column (PySpark)."""
    impl = frame.implementation
    return bool(impl.is_pyspark() or impl.is_pyspark_connect())


def _terms(terms: Sequence[Term], slots: _Slots) -> nw.Expr:
    return signed_sum(terms, slots.value)


def _first_of(cases: Sequence[tuple[nw.Expr, nw.Expr]]) -> nw.Expr:
    """The value of the first true case, else 0 (one definition of a name per channel)."""
    (when, then), *rest = cases
    chain = nw.when(when).then(then)
    for when, then in rest:
        chain = chain.when(when).then(then)
    return chain.otherwise(nw.lit(0.0))


# -- periods ----------------------------------------------------------------------------------


def complete_flag(
    wide: nw.LazyFrame[Any], period: str, first: dt.date | None, last: dt.date | None
) -> nw.LazyFrame[Any]:
    """Add ``_complete``: whether each row's period (``_period``) lies wholly inside the range.

    The range is ``start``/``end``, else the frame's first and last dates. A period
    starting on s lies inside when s >= first and the period of the day after the last
    starts later than s.
    """
    if period in ("day", "total") or first is None or last is None:
        return wide.with_columns(nw.lit(True).alias("_complete"))
    dtype = wide.collect_schema()["_period"]
    after = last + dt.timedelta(days=1)
    if period == "week":
        after -= dt.timedelta(days=after.weekday())
    else:
        after = after.replace(day=1)
    begins = nw.col("_period")
    inside = (begins >= nw.lit(first).cast(dtype)) & (nw.lit(after).cast(dtype) > begins)
    return wide.with_columns(inside.alias("_complete"))


def with_period(frame: nw.LazyFrame[Any], period: str, name: str) -> nw.LazyFrame[Any]:
    """Add column ``name``: the first day of each row's period (see ``period_start``)."""
    date_dtype = frame.collect_schema()["date"]
    if period in ("week", "month") and date_dtype == nw.Date and frame.implementation.is_polars():
        import polars as pl

        days = pl.col("date").to_physical()
        if period == "week":
            # Days since 1970-01-01 (a Thursday), so Mondays are the days = 4 (mod 7): integer
            # arithmetic, 15x faster than polars' offset / truncate / offset on dates.
            start = ((days + 3) // 7 * 7 - 3).cast(pl.Date).alias(name)
        else:
            # The day of the month back to the 1st: 15% of a month pass, against truncate.
            start = (days - pl.col("date").dt.day() + 1).cast(pl.Date).alias(name)
        result: nw.LazyFrame[Any] = nw.from_native(frame.to_native().with_columns(start))
        return result
    return frame.with_columns(period_start(period, date_dtype, frame.implementation).alias(name))


def period_start(
    period: str, date_dtype: Any, implementation: Any = None, *, column: str = "date"
) -> nw.Expr:
    """The first day of each row's period (day, ISO week from Monday, or month).

    Args:
        period: ``"day"``, ``"week"`` or ``"month"``.
        date_dtype: The input's date dtype; the result has the same.
        implementation: The frame's narwhals ``Implementation``: polars and pandas take a
            faster path for weeks.
        column: The date column.
    """
    date = nw.col(column)
    if date_dtype == nw.Datetime:
        date = date.dt.truncate("1d")
    if period == "day":
        return date.cast(date_dtype)
    if period == "month":
        start = date.dt.truncate("1mo")
    elif implementation is not None and (
        implementation.is_polars() or implementation.is_pandas_like()
    ):
        # Their 7-day buckets start on Thursdays (1970-01-01 was one): shift by 3 days so
        # that they start on Mondays. Three vectorised steps instead of seven branches.
        start = date.dt.offset_by("3d").dt.truncate("7d").dt.offset_by("-3d")
    else:
        # narwhals has no week truncation, and SQL backends truncate by 1 unit only: step
        # back (weekday - 1) days, Monday being 1.
        weekday = date.dt.weekday()
        chain = nw.when(weekday == 1).then(date)
        for day in range(2, 8):
            # narwhals' PySpark weekday gives Sunday as 0, not 7 (seen with narwhals 2.29).
            same = (weekday == 7) | (weekday == 0) if day == 7 else weekday == day
            chain = chain.when(same).then(date.dt.offset_by(f"-{day - 1}d"))
        start = chain
    # DuckDB returns timestamps from date arithmetic; give back the input's dtype.
    return start.cast(date_dtype)


# -- choosing the definitions -------------------------------------------------------------------


def _check_by(by: Sequence[str] | str) -> list[str]:
    keys = [by] if isinstance(by, str) else list(by)
    unknown = [k for k in keys if k not in BY_KEYS]
    if unknown or len(set(keys)) != len(keys):
        msg = f"by takes distinct names from {BY_KEYS}; got {keys!r}"
        raise ValueError(msg)
    return keys


def _select(requested: Iterable[str | Rate] | None, pairs: Mapping[str, frozenset[str]]) -> list[Rate]:
    """The definitions to compute: resolve names, check conflicts and needed metrics."""
    present = present_metrics(pairs)
    named: list[str] = []  # rates asked for by name must be computable
    if requested is None:
        later = sorted({e for m in present if (e := conversion_event(m)) and e[0] >= 4})
        chosen = [*RATES, *(conversion_rate(k, cohort=send) for k, send in later)]
    else:
        items: list[object] = (
            [requested] if isinstance(requested, (str, Rate)) else list(requested)
        )
        chosen = []
        for item in items:
            if isinstance(item, Rate):
                chosen.append(item)
            elif isinstance(item, str):
                chosen.extend(by_name(item))
                named.append(item)
            else:
                msg = f"rates takes rate names and Rate objects, not {type(item).__name__}"
                raise TypeError(msg)
    chosen = list(dict.fromkeys(chosen))
    _check_conflicts(chosen)

    for name in dict.fromkeys(named):
        group = [r for r in chosen if r.name == name]
        if not any(_complete(r, pairs) for r in group):
            needs = "; or ".join(f"{r.formula} on {_channels_text(r)}" for r in group)
            msg = f"the frame lacks the metrics of rate {name!r}, which needs {needs}"
            raise ValueError(msg)
    usable = [
        r
        for r in chosen
        if any(r.applies_to(ch) and any(m in pairs[ch] for _, m in r.numerator) for ch in pairs)
    ]
    if not usable and pairs:
        msg = (
            "no rate can be computed: the frame has none of the numerator metrics of the "
            f"rates asked for (it has {sorted(present)})"
        )
        raise ValueError(msg)
    return usable


def _complete(r: Rate, pairs: Mapping[str, frozenset[str]]) -> bool:
    """Whether some channel the rate applies to has all its numerator and denominator metrics."""
    needed = {m for _, m in (*r.numerator, *r.denominator)}
    control = {m for _, m in (*r.numerator, *(r.control_denominator or ()))}
    return any(
        r.applies_to(ch) and (needed <= pairs[ch] or (bool(r.control_denominator) and control <= pairs[ch]))
        for ch in pairs
    )


def _channels_text(r: Rate) -> str:
    return "any channel" if r.channels is None else ", ".join(sorted(r.channels))


def _check_conflicts(chosen: Sequence[Rate]) -> None:
    for i, a in enumerate(chosen):
        for b in chosen[i + 1 :]:
            if a.name != b.name:
                continue
            overlap = (
                a.channels is None
                or b.channels is None
                or bool(a.channels & b.channels)
            )
            if overlap:
                msg = (
                    f"two different definitions of rate {a.name!r} apply to the same "
                    f"channels ({a.formula} and {b.formula}); give one another name"
                )
                raise ValueError(msg)
