"""Rates of a Canvas frame (SPEC section 12): totals, variants and step messages.

A Canvas frame holds four kinds of rows (``canvas_row_kind``): the Canvas's totals and
each variant's (channel ``"all"``), which get the conversion rates of ``CANVAS_RATES``
over ``entries``; each step's totals, which have no entries and so no rate; and each
step's message stats on a channel, which get the channel rates of ``RATES`` (SPEC
section 5) looked up by ``base_channel`` (``email#2`` is email).

The plan: one row per (unit, day) with the sum and the presence of each metric a rate
needs; each rate's terms kept on the days where all of them are present; days summed
per kept key and period; then one long row per (group, rate). Eager frames run it on
polars; lazy frames get a plan of their own type.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._schema import ALL_CHANNEL
from .._tables import CANVAS_RATES, CANVAS_TABLE, base_channel
from ._common import (
    all_of,
    any_of,
    give_back,
    pairs_and_dates,
    plan_input,
    signed_sum,
    sort_keys,
    string_keys,
)
from ._rate_table import RATES, Rate, Term

__all__ = ["CANVAS_BY_KEYS", "canvas_rates"]

#: The key columns ``rates(by=...)`` may keep on a Canvas frame, and its default.
CANVAS_BY_KEYS: Final = ("canvas_id", "variant", "step", "channel")
_NAMES: Final = {"canvas_id": "canvas_name", "variant": "variant_name", "step": "step_name"}
_EVENT: Final = re.compile(r"conversions(\d*)")


@dataclass(frozen=True)
class _Definition:
    """One rate on one kind of row: signed terms, and where it applies."""

    name: str
    kinds: frozenset[str]
    channels: frozenset[str] | None  # base channels of message rows; None: totals, variants
    numerator: tuple[Term, ...]
    denominator: tuple[Term, ...]

    @property
    def metrics(self) -> list[str]:
        return sorted({m for _, m in (*self.numerator, *self.denominator)})


def canvas_rates(
    df: IntoFrameT,
    period: str,
    by: Sequence[str] | str,
    *,
    rates: Iterable[str | Rate] | None,
    first: dt.date | None,
    last: dt.date | None,
) -> IntoFrameT:
    """``rates`` on a Canvas frame (see ``rates``' docstring, section "Canvas frames")."""
    kept = _check_by(by)
    frame, source = plan_input(df, table=CANVAS_TABLE)
    pairs, frame_first, frame_last = pairs_and_dates(frame)
    definitions = _definitions(rates, pairs)
    if "variant" not in kept:
        # Without the variant key the Canvas's own totals give its rates: pooling the
        # variants' rows too would count every entry twice.
        definitions = [
            _Definition(d.name, d.kinds - {"variant"}, d.channels, d.numerator, d.denominator)
            for d in definitions
        ]
    plan = _plan(frame, definitions, period, kept, first or frame_first, last or frame_last, list(pairs))
    table: IntoFrameT = give_back(plan, source)
    return table


def _check_by(by: Sequence[str] | str) -> list[str]:
    keys = [by] if isinstance(by, str) else list(by)
    if tuple(keys) == ("campaign_id", "channel", "variation"):
        return list(CANVAS_BY_KEYS)  # the campaigns' default: every Canvas key
    unknown = [k for k in keys if k not in CANVAS_BY_KEYS]
    if unknown or len(set(keys)) != len(keys):
        msg = f"on a Canvas frame, by takes distinct names from {CANVAS_BY_KEYS}; got {keys!r}"
        raise ValueError(msg)
    return [k for k in CANVAS_BY_KEYS if k in keys]


def _definitions(
    requested: Iterable[str | Rate] | None, pairs: dict[str, frozenset[str]]
) -> list[_Definition]:
    """The Canvas conversion rates per event present, and the channel rates of step messages."""
    events = sorted(
        int(found.group(1) or 0)
        for m in pairs.get(ALL_CHANNEL, frozenset())
        if (found := _EVENT.fullmatch(m))
    )
    conversion = [
        _Definition(name, rate.rows, None, ((1, numerator),), ((1, denominator),))
        for rate in CANVAS_RATES
        for name, numerator, denominator in (rate.for_event(k) for k in events)
    ]
    if requested is None:
        return conversion + [_message(r) for r in RATES if r.channels is not None]
    known: dict[str, list[_Definition]] = {}
    for d in [*conversion, *(_message(r) for r in RATES if r.channels is not None)]:
        known.setdefault(d.name, []).append(d)  # one name may have a definition per channel
    chosen = []
    for item in requested:
        if isinstance(item, Rate):
            if item.channels is None:
                msg = (f"Rate {item.name!r} has no channels; on a Canvas frame only step messages "
                       f"take Rate objects (the totals' and variants' rates are CANVAS_RATES)")
                raise ValueError(msg)
            chosen.append(_message(item))
        elif item in known:
            chosen += known[item]
        else:
            msg = f"unknown rate {item!r} for this Canvas frame; its rates are {sorted(known)}"
            raise ValueError(msg)
    return chosen


def _message(r: Rate) -> _Definition:
    return _Definition(r.name, frozenset({"message"}), r.channels, r.numerator, r.denominator)


def _plan(
    frame: nw.LazyFrame[Any],
    definitions: Sequence[_Definition],
    period: str,
    kept: Sequence[str],
    first: dt.date | None,
    last: dt.date | None,
    channels: Sequence[str],
) -> nw.LazyFrame[Any]:
    from .rates import complete_flag, with_period

    metrics = sorted({m for d in definitions for m in d.metrics})
    channel = nw.col("channel")
    kind = (
        nw.when(nw.col("step").is_null() & nw.col("variant").is_null()).then(nw.lit("canvas"))
        .when(nw.col("step").is_null()).then(nw.lit("variant"))
        .when(channel == ALL_CHANNEL).then(nw.lit("step"))
        .otherwise(nw.lit("message"))
    )
    rows = string_keys(frame, ["canvas_id", "canvas_name", "variant", "variant_name", "step",
                               "step_name", "channel", "metric"])
    rows = rows.filter(nw.col("metric").is_in(metrics)).with_columns(
        kind.alias("_kind"),
        *(nw.when(nw.col("metric") == m).then(nw.col("value")).otherwise(0.0).alias(f"_v{i}")
          for i, m in enumerate(metrics)),
        *(nw.when((nw.col("metric") == m) & ~nw.col("value").is_null()).then(1).otherwise(0)
          .alias(f"_p{i}") for i, m in enumerate(metrics)),
    )
    unit = ["canvas_id", "variant", "step", "channel", "_kind", "date"]
    daily = rows.group_by(*unit).agg(
        *(nw.col(c).max() for c in _NAMES.values()),
        *(nw.col(f"_v{i}").sum() for i in range(len(metrics))),
        *(nw.col(f"_p{i}").max() for i in range(len(metrics))),
    )
    slot = {m: i for i, m in enumerate(metrics)}

    def value(metric: str) -> nw.Expr:
        return nw.col(f"_v{slot[metric]}")

    def has(metric: str) -> nw.Expr:
        return nw.col(f"_p{slot[metric]}") == 1

    parts = []
    for i, d in enumerate(definitions):
        where = nw.col("_kind").is_in(sorted(d.kinds))
        if d.channels is not None:
            # ``email#2`` is read as email: the frame's channels are few, so test membership
            # in those whose base is named (no string function every engine has).
            named = sorted(c for c in channels if base_channel(c) in d.channels)
            where = where & nw.col("channel").is_in(named)
        present = where & all_of(has(m) for m in d.metrics)
        appears = where & any_of(has(m) for _, m in d.numerator)
        parts += [
            nw.when(present).then(signed_sum(d.numerator, value)).otherwise(0.0).alias(f"_n{i}"),
            nw.when(present).then(signed_sum(d.denominator, value)).otherwise(0.0).alias(f"_d{i}"),
            nw.when(present).then(1).otherwise(0).alias(f"_y{i}"),
            nw.when(appears).then(1).otherwise(0).alias(f"_h{i}"),
        ]
    daily = daily.with_columns(*parts)
    # Several units on one day (pooled steps or variants): one day, counted once.
    keys = list(kept)
    names = [_NAMES[k] for k in keys if k in _NAMES]
    sums = [c for i in range(len(definitions)) for c in (f"_n{i}", f"_d{i}")]
    flags = [c for i in range(len(definitions)) for c in (f"_y{i}", f"_h{i}")]
    by_day = daily.group_by(*keys, "date").agg(
        *(nw.col(c).max() for c in names), *(nw.col(c).sum() for c in sums), *(nw.col(c).max() for c in flags)
    )
    group = list(keys)
    if period != "total":
        by_day = with_period(by_day, period, "_period")
        group.insert(1 if "canvas_id" in keys else 0, "_period")
    grouped = by_day.group_by(*group).agg(
        *(nw.col(c).max() for c in names),
        *(nw.col(c).sum() for c in sums),
        *(nw.col(f"_y{i}").sum() for i in range(len(definitions))),
        *(nw.col(f"_h{i}").max() for i in range(len(definitions))),
    )
    grouped = complete_flag(grouped, period, first, last)
    index = [*group, *names, "_complete"]
    long = [
        grouped.filter(nw.col(f"_h{i}") == 1).select(
            *index,
            nw.lit(d.name).alias("metric"),
            nw.col(f"_n{i}").alias("_n"),
            nw.col(f"_d{i}").alias("_d"),
            nw.col(f"_y{i}").cast(nw.Int64()).alias("days"),
        )
        for i, d in enumerate(definitions)
    ]
    if long:
        out = nw.concat(long, how="vertical")
    else:
        out = grouped.select(*index).with_columns(
            nw.lit("").alias("metric"), nw.lit(0.0).alias("_n"), nw.lit(0.0).alias("_d"),
            nw.lit(0).cast(nw.Int64()).alias("days"),
        ).filter(nw.lit(False))
    counted = nw.col("days") > 0
    out = out.with_columns(
        nw.when(counted & (nw.col("_d") != 0)).then(nw.col("_n") / nw.col("_d"))
        .cast(nw.Float64()).alias("value"),
        nw.when(counted).then(nw.col("_n")).cast(nw.Float64()).alias("numerator"),
        nw.when(counted).then(nw.col("_d")).cast(nw.Float64()).alias("denominator"),
        nw.col("_complete").alias("complete"),
    )
    if period != "total":
        out = out.rename({"_period": "date"})
    columns: list[str] = []
    for k in keys:
        columns.append(k)
        if k in _NAMES:
            columns.append(_NAMES[k])
        if k == "canvas_id" and period != "total":
            columns.append("date")
    if period != "total" and "date" not in columns:
        columns.insert(0, "date")
    order = [c for c in columns if c not in _NAMES.values()]
    out = out.select(*columns, "metric", "value", "numerator", "denominator", "days", "complete")
    result: nw.LazyFrame[Any] = sort_keys(out, [*order, "metric"])
    return result
