"""Rates as data (``RATES``, Braze's dashboard definitions) and their computation.

A rate is a ratio of sums: over a period and a group of rows, sum(numerator) divided by
sum(denominator), never a mean of daily rates. Each definition (``Rate``) names the
channels it applies to and its numerator and denominator as signed metric terms, so
``(sent - bounces) / sent`` is data, not code. Users read ``RATES`` and extend it with
their own ``Rate`` objects (``rates(df, rates=[*RATES, my_rate])``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._schema import ALL_CHANNEL, IN_APP_CHANNELS, PUSH_CHANNELS, conversion_event
from .._validate import check_choice
from ._common import (
    channel_metrics,
    fill_null_key,
    finish,
    present_metrics,
    restore_null_key,
    sorted_strings,
    string_keys,
    tidy_lazy,
    widen,
)
from ._fast import polars_wide_sorted

__all__ = ["BY_KEYS", "PERIODS", "RATES", "Period", "Rate", "Term", "parse_terms", "rates"]

#: One signed term of a numerator or denominator: ``(+1, "sent")`` or ``(-1, "bounces")``.
Term = tuple[int, str]
Period = Literal["day", "week", "month", "total"]
#: The periods ``rates`` knows; weeks start on Monday (ISO).
PERIODS: Final = ("day", "week", "month", "total")
#: The key columns ``rates(by=...)`` may keep, and its default.
BY_KEYS: Final = ("campaign_id", "channel", "variation")

_TERMS: Final = re.compile(r"\s*([+-])?\s*([A-Za-z_][A-Za-z0-9_]*)")
_CONVERSION_RATE: Final = re.compile(r"conversion_rate(\d*)")


def parse_terms(text: str) -> tuple[Term, ...]:
    """Parse ``"sent - bounces"`` into ``((1, "sent"), (-1, "bounces"))``.

    Only metric names joined by ``+`` and ``-``; nothing is evaluated.

    Examples:
        >>> parse_terms("total_opens - direct_opens")
        ((1, 'total_opens'), (-1, 'direct_opens'))

    Raises:
        ValueError: For anything else (numbers, parentheses, other operators).
    """
    terms: list[Term] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TERMS.match(text, pos)
        if m is None or (terms and m.group(1) is None):
            msg = f"cannot parse {text!r}: write metric names joined by + and -"
            raise ValueError(msg)
        terms.append((-1 if m.group(1) == "-" else 1, m.group(2)))
        pos = m.end()
    if not terms:
        msg = "a numerator or denominator needs at least one metric"
        raise ValueError(msg)
    return tuple(terms)


def _format_terms(terms: Sequence[Term]) -> str:
    text = ""
    for i, (sign, metric) in enumerate(terms):
        if i == 0:
            text = metric if sign > 0 else f"-{metric}"
        else:
            text += f" {'+' if sign > 0 else '-'} {metric}"
    return f"({text})" if len(terms) > 1 else text


@dataclass(frozen=True)
class Rate:
    """One rate definition: ``name = numerator / denominator`` on some channels.

    Attributes:
        name: The rate's name, as it appears in the ``metric`` column (Braze's spelling).
        channels: The channels it applies to; None means any channel, including the
            day-level ``"all"`` rows (conversion rates, revenue per recipient).
        numerator: Signed metric terms, e.g. ``((1, "total_opens"), (-1, "direct_opens"))``.
        denominator: Signed metric terms, e.g. ``((1, "sent"), (-1, "bounces"))``.
        control_denominator: The denominator for control-group rows, recognised by
            carrying all of these metrics (``enrolled``); None when there is no such rule.
        description: One line for people.

    A rate appears for a group of rows when the group's channel is one of ``channels``
    and the group has at least one numerator metric; a term missing from the group makes
    the numerator (or denominator) null.

    Examples:
        >>> r = Rate.parse("ctr", {"email"}, "unique_clicks", "delivered - bounces")
        >>> r.formula
        'unique_clicks / (delivered - bounces)'
    """

    name: str
    channels: frozenset[str] | None
    numerator: tuple[Term, ...]
    denominator: tuple[Term, ...]
    control_denominator: tuple[Term, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            msg = f"a Rate needs a non-empty name, not {self.name!r}"
            raise ValueError(msg)
        channels: object = self.channels
        if channels is not None:
            if isinstance(channels, str):
                msg = f"Rate channels must be a set of channel names, not the string {self.channels!r}"
                raise TypeError(msg)
            object.__setattr__(self, "channels", frozenset(self.channels or ()))
        for field in ("numerator", "denominator", "control_denominator"):
            terms = getattr(self, field)
            if terms is None and field == "control_denominator":
                continue
            checked = tuple((int(s), str(m)) for s, m in terms)
            if not checked or any(s not in (1, -1) for s, _ in checked):
                msg = f"Rate {self.name!r}: {field} must be (sign, metric) pairs with sign +1 or -1"
                raise ValueError(msg)
            object.__setattr__(self, field, checked)

    @classmethod
    def parse(
        cls,
        name: str,
        channels: Iterable[str] | None,
        numerator: str,
        denominator: str,
        *,
        control_denominator: str | None = None,
        description: str = "",
    ) -> Rate:
        """Build a Rate from formulas such as ``"sent - bounces"`` (see ``parse_terms``)."""
        return cls(
            name,
            None if channels is None else frozenset(channels),
            parse_terms(numerator),
            parse_terms(denominator),
            None if control_denominator is None else parse_terms(control_denominator),
            description,
        )

    @property
    def metrics(self) -> frozenset[str]:
        """Every metric the rate reads."""
        terms = (*self.numerator, *self.denominator, *(self.control_denominator or ()))
        return frozenset(m for _, m in terms)

    @property
    def formula(self) -> str:
        """The rate as text, e.g. ``"(total_opens - direct_opens) / (sent - bounces)"``."""
        return f"{_format_terms(self.numerator)} / {_format_terms(self.denominator)}"

    def applies_to(self, channel: str) -> bool:
        """Whether the rate is defined on a channel."""
        return self.channels is None or channel in self.channels


def _conversion_rate(event: int) -> Rate:
    suffix = str(event) if event else ""
    return Rate(
        f"conversion_rate{suffix}",
        None,
        ((1, f"conversions{suffix}"),),
        ((1, "unique_recipients"),),
        ((1, "enrolled"),),
        f"conversions of event {event} per recipient (control groups: per enrolled user)",
    )


_EMAIL: Final = frozenset({"email"})
_SMS: Final = frozenset({"sms"})
_WHATS_APP: Final = frozenset({"whats_app"})
_CARDS: Final = frozenset({"content_cards"})
_WEBHOOK: Final = frozenset({"webhook"})
# Influenced opens are an iOS/Android notion (Braze counts them on the mobile SDKs); Kindle
# (Fire OS) is Android and apple_push is the legacy iOS key. web_push and the Windows
# legacy channels have no influenced opens.
_INFLUENCED: Final = frozenset({"ios_push", "android_push", "kindle_push", "apple_push"})

_TABLE: Final[tuple[tuple[str, frozenset[str] | None, str, str, str], ...]] = (
    ("delivery_rate", _EMAIL, "delivered", "sent", "emails delivered per email sent"),
    ("bounce_rate", _EMAIL, "bounces", "sent", "emails bounced per email sent"),
    ("open_rate", _EMAIL, "opens", "delivered", "opens per delivered email"),
    ("unique_open_rate", _EMAIL, "unique_opens", "delivered", "unique opens per delivered email"),
    ("click_rate", _EMAIL, "clicks", "delivered", "clicks per delivered email"),
    ("unique_click_rate", _EMAIL, "unique_clicks", "delivered", "unique clicks per delivered email"),
    ("click_to_open_rate", _EMAIL, "unique_clicks", "unique_opens", "unique clicks per unique open"),
    ("unsubscribe_rate", _EMAIL, "unsubscribes", "delivered", "unsubscribes per delivered email"),
    ("spam_rate", _EMAIL, "reported_spam", "sent", "spam reports per email sent"),
    ("bounce_rate", PUSH_CHANNELS, "bounces", "sent", "pushes bounced per push sent"),
    ("delivery_rate", PUSH_CHANNELS, "sent - bounces", "sent", "pushes delivered per push sent"),
    ("direct_open_rate", PUSH_CHANNELS, "direct_opens", "sent - bounces", "direct opens per delivered push"),
    ("total_open_rate", PUSH_CHANNELS, "total_opens", "sent - bounces", "all opens per delivered push"),
    ("influenced_open_rate", _INFLUENCED, "total_opens - direct_opens", "sent - bounces",
     "influenced (indirect) opens per delivered push"),
    ("delivery_rate", _SMS, "delivered", "sent", "messages delivered per message sent"),
    ("failure_rate", _SMS, "delivery_failed", "sent", "failed deliveries per message sent"),
    ("rejection_rate", _SMS, "rejected", "sent", "rejections per message sent"),
    ("click_rate", _SMS, "clicks", "delivered", "clicks per delivered message"),
    ("opt_out_rate", _SMS, "opt_out", "delivered", "opt-outs per delivered message"),
    ("delivery_rate", _WHATS_APP, "delivered", "sent", "messages delivered per message sent"),
    ("read_rate", _WHATS_APP, "read", "sent", "messages read per message sent"),
    ("failure_rate", _WHATS_APP, "failed", "sent", "failures per message sent"),
    ("click_rate", _CARDS, "total_clicks", "total_impressions", "clicks per impression"),
    ("unique_click_rate", _CARDS, "unique_clicks", "unique_impressions",
     "unique clicks per unique impression"),
    ("dismissal_rate", _CARDS, "total_dismissals", "total_impressions", "dismissals per impression"),
    ("unique_dismissal_rate", _CARDS, "unique_dismissals", "unique_impressions",
     "unique dismissals per unique impression"),
    ("click_rate", IN_APP_CHANNELS, "clicks", "impressions", "clicks per impression"),
    ("first_button_click_rate", IN_APP_CHANNELS, "first_button_clicks", "impressions",
     "first-button clicks per impression"),
    ("second_button_click_rate", IN_APP_CHANNELS, "second_button_clicks", "impressions",
     "second-button clicks per impression"),
    ("error_rate", _WEBHOOK, "errors", "sent", "errors per webhook sent"),
)

#: Braze's dashboard rates (SPEC section 5), as data. Conversion events past the fourth
#: (``conversions4``...) get ``conversion_rate4``... by the same pattern, automatically.
RATES: Final[tuple[Rate, ...]] = (
    *(Rate.parse(name, ch, num, den, description=d) for name, ch, num, den, d in _TABLE),
    *(_conversion_rate(k) for k in range(4)),
    Rate(
        "revenue_per_recipient",
        None,
        ((1, "revenue"),),
        ((1, "unique_recipients"),),
        ((1, "enrolled"),),
        "revenue (USD) per recipient (control groups: per enrolled user)",
    ),
)


def rates(
    df: IntoFrameT,
    period: Period = "day",
    by: Sequence[str] | str = BY_KEYS,
    *,
    rates: Iterable[str | Rate] | None = None,
) -> IntoFrameT:
    """Compute Braze's rates per period: sum(numerator) / sum(denominator).

    Output columns: the kept ``by`` columns in tidy order with ``date`` (the period's
    first day; no date column for ``"total"``) after ``campaign_id``, ``variation_name``
    when ``variation`` is kept, then ``metric`` (the rate's name), ``value`` (the ratio),
    ``numerator``, ``denominator`` and ``days`` (how many days in the period the group
    has any row, so partial periods at the edges show). Sorted by key, then rate name.

    Rules:

    - A rate over a period is a ratio of sums, never a mean of daily rates. Compound
      terms (``sent - bounces``) are formed from the sums.
    - Rates are first formed per (campaign_id, channel, variation, variation_name,
      period), then pooled into one row per (campaign_id, channel, variation, period)
      under the greatest name when a variation was renamed within a period; ``by`` then
      sums numerators and denominators over the dropped keys (same rate name; e.g.
      ``by=("campaign_id",)`` pools email and push ``delivery_rate``). If any pooled
      group lacks a term, the pooled numerator or denominator is null. When ``by`` drops
      ``channel``, the rates that apply to any row set (conversion rates,
      ``revenue_per_recipient``) come from the day-level ``"all"`` rows alone where the
      frame has them, since those already total every channel.
    - A rate appears for a group when its channel is one the rate applies to and the group
      has a numerator metric; a missing term gives a null numerator or denominator. A zero
      or null denominator gives a null ``value``, never inf.
    - Control groups (variations carrying ``enrolled``) use ``enrolled`` as the
      denominator of their conversion rates and of ``revenue_per_recipient``.
    - Every conversion event present gets its rate: ``conversions4`` gives
      ``conversion_rate4``, and so on.
    - Weeks start on Monday (ISO); months on the 1st.

    Caveat: ``unique_*`` metrics and ``unique_recipients`` count people once per *day*, so
    over a week, month or total their sums over-count people who appear on several days,
    and the rates built on them (``unique_open_rate``, ``click_to_open_rate``, conversion
    rates...) are per person-day rather than per person. A multichannel campaign counts a
    conversion once per channel, so pooling channels (``by`` without ``channel``) or the
    day-level ``"all"`` rows can give conversion rates above 1.

    Lazy frames (``polars.scan_parquet``, DuckDB relations...) stay lazy; the metric names
    present are read with one small query first.

    Args:
        df: A tidy frame of any supported backend.
        period: ``"day"``, ``"week"``, ``"month"`` or ``"total"``.
        by: Which of ``campaign_id``, ``channel``, ``variation`` to keep; the default
            keeps all three.
        rates: None for every definition in ``RATES`` (plus ``conversion_rate4``... as
            present), or names and ``Rate`` objects to compute, e.g.
            ``["open_rate", Rate.parse("ctr", {"email"}, "clicks", "opens")]``.

    Returns:
        The rate table, of the caller's frame type.

    Raises:
        ValueError: An unknown period, ``by`` key or rate name; a rate asked for by name
            whose metrics the frame lacks (``Rate`` objects are computed where their
            metrics are, as ``RATES`` is); a non-empty frame where no rate can be computed;
            two different definitions of one name on the same channel.
        TidyFrameError: ``df`` lacks a tidy column or has a wrong dtype.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> tidy = from_records([
        ...     ("c1", "2024-07-01", "webhook", "v1", "A", "sent", 10.0),
        ...     ("c1", "2024-07-01", "webhook", "v1", "A", "errors", 1.0),
        ...     ("c1", "2024-07-02", "webhook", "v1", "A", "sent", 30.0),
        ...     ("c1", "2024-07-02", "webhook", "v1", "A", "errors", 3.0),
        ... ])
        >>> rates(tidy, period="total").select("metric", "value", "numerator", "days").rows()
        [('error_rate', 0.1, 4.0, 2)]
    """
    check_choice("period", period, PERIODS)
    kept = _check_by(by)
    frame, eager = tidy_lazy(df)
    fine = ["campaign_id", "channel", "variation", "variation_name"]
    if period != "total":
        frame = with_period(frame, period, "_period")
        fine.insert(1, "_period")

    # Stage 1, on the big frame: one sum per (variation, period, metric). Key columns
    # stay as they come (categoricals group fastest) until the frames are small.
    if eager:
        # Eager frames are read once: sum every metric, then learn from the (small) sums
        # which metrics each channel has, instead of a separate pass for that.
        frame = frame.collect().lazy()
        every = _sum_metrics(frame, fine).collect().lazy()
        pairs = channel_metrics(every)
        definitions = _select(rates, pairs)
        metrics = sorted({m for r in definitions for m in r.metrics})
        sums = every.filter(nw.col("metric").is_in(metrics))
    else:
        # Lazy frames: one small query for the metric names, then a filtered plan.
        pairs = channel_metrics(frame)
        definitions = _select(rates, pairs)
        metrics = sorted({m for r in definitions for m in r.metrics})
        sums = _sum_metrics(frame.filter(nw.col("metric").is_in(metrics)), fine)

    # Stage 2, on the sums: every rate per (variation, period), in long form.
    out = [k for k in ("campaign_id", "_period", "channel", "variation") if k in kept or k == "_period"]
    if period == "total":
        out.remove("_period")
    text_keys = [k for k in out if k != "_period"]
    wide = string_keys(widen(sums, fine, metrics), ["variation_name"])
    # Eager frames keeping every key: each row of ``wide`` is one output group when no
    # variation changed its name within a period (the usual case). Then nothing needs
    # pooling, and the result's order is (row of the sorted ``wide``, rate name): an
    # integer sort instead of one on four string columns.
    ordered = None
    if eager and len(kept) == len(BY_KEYS):
        fast = polars_wide_sorted(sums, fine, metrics) if sums.implementation.is_polars() else None
        collected = (fast if fast is not None else sorted_strings(wide, text_keys, fine)).collect()
        if not collected.select(*out).is_duplicated().any():
            ordered = collected.with_row_index("_row")
            wide = ordered.lazy()
    names = sorted({r.name for r in definitions})
    pieces = [_rate_rows(wide, r, fine, names if ordered is not None else None) for r in definitions]
    if not pieces:  # an empty frame: same columns, no rows
        ordered = None
        nothing = nw.lit(None, nw.Float64())
        pieces = [
            wide.select(
                *fine,
                nw.lit("").alias("metric"),
                nothing.alias("numerator"),
                nothing.alias("denominator"),
            ).head(0)
        ]
    long = nw.concat(pieces, how="vertical")
    if "channel" not in kept and ALL_CHANNEL in pairs:
        # The day-level "all" rows already total every channel: pooling them with the
        # channel rows would count each conversion (and recipient) twice.
        anywhere = [r.name for r in definitions if r.channels is None]
        if anywhere:
            long = long.filter(~nw.col("metric").is_in(anywhere) | (nw.col("channel") == ALL_CHANNEL))

    # Stage 3: pool over the keys ``by`` drops (and over a variation's names), then divide.
    pooled = long if ordered is not None else _pool(long, out, with_name="variation" in kept)
    pooled = _with_days(string_keys(pooled, text_keys), frame, out, period)
    value = nw.when(nw.col("denominator") != 0).then(nw.col("numerator") / nw.col("denominator"))
    result = pooled.with_columns(value.alias("value"))
    result = result.rename({"_period": "date"}) if "_period" in out else result
    keys = ["date" if k == "_period" else k for k in out]
    columns = [*keys, *(["variation_name"] if "variation" in kept else [])]
    columns += ["metric", "value", "numerator", "denominator", "days"]
    casts = (
        nw.col("value", "numerator", "denominator").cast(nw.Float64()),
        nw.col("days").cast(nw.Int64()),
    )
    if ordered is not None:
        result = result.sort("_row", "_rate").select(*columns).with_columns(*casts)
        ordered_table: IntoFrameT = finish(string_keys(result, text_keys), eager)
        return ordered_table
    result = result.select(*columns).with_columns(*casts)
    table: IntoFrameT = finish(sorted_strings(result, text_keys, [*keys, "metric"]), eager)
    return table


def _sum_metrics(frame: nw.LazyFrame[Any], keys: Sequence[str]) -> nw.LazyFrame[Any]:
    """Sum ``value`` per (keys, metric); null, not 0, where a group has only nulls."""
    return (
        frame.group_by(*keys, "metric")
        .agg(nw.col("value").sum(), nw.col("value").count().alias("_n"))
        .with_columns(nw.when(nw.col("_n") > 0).then(nw.col("value")).alias("value"))
        .drop("_n")
    )


def _pool(long: nw.LazyFrame[Any], out: Sequence[str], *, with_name: bool) -> nw.LazyFrame[Any]:
    """Sum numerators and denominators per output group; a null anywhere makes it null."""
    aggs = [
        nw.col("numerator").sum(),
        nw.col("denominator").sum(),
        nw.col("numerator").count().alias("_nn"),
        nw.col("denominator").count().alias("_nd"),
        nw.len().alias("_n"),
    ]
    if with_name:
        aggs.append(nw.col("variation_name").max())
    pooled = long.group_by(*out, "metric").agg(*aggs)
    num = nw.when(nw.col("_nn") == nw.col("_n")).then(nw.col("numerator"))
    den = nw.when(nw.col("_nd") == nw.col("_n")).then(nw.col("denominator"))
    return pooled.with_columns(num.alias("numerator"), den.alias("denominator"))


def with_period(frame: nw.LazyFrame[Any], period: str, name: str) -> nw.LazyFrame[Any]:
    """Add column ``name``: the first day of each row's period (see ``period_start``)."""
    date_dtype = frame.collect_schema()["date"]
    if period == "week" and date_dtype == nw.Date and frame.implementation.is_polars():
        import polars as pl

        # Days since 1970-01-01 (a Thursday), so Mondays are the days = 4 (mod 7): integer
        # arithmetic, 15x faster than polars' offset / truncate / offset on dates.
        days = pl.col("date").to_physical()
        monday = ((days + 3) // 7 * 7 - 3).cast(pl.Date).alias(name)
        result: nw.LazyFrame[Any] = nw.from_native(frame.to_native().with_columns(monday))
        return result
    return frame.with_columns(period_start(period, date_dtype, frame.implementation).alias(name))


def period_start(period: str, date_dtype: Any, implementation: Any = None) -> nw.Expr:
    """The first day of each row's period (day, ISO week from Monday, or month).

    Args:
        period: ``"day"``, ``"week"`` or ``"month"``.
        date_dtype: The input's date dtype; the result has the same.
        implementation: The frame's narwhals ``Implementation``: polars and pandas take a
            faster path for weeks.
    """
    date = nw.col("date")
    if date_dtype == nw.Datetime:
        date = date.dt.truncate("1d")
    if period == "day":
        return date
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
    events = sorted({e[0] for m in present if (e := conversion_event(m)) and not e[1]})
    named: list[str] = []  # rates asked for by name must be computable
    if requested is None:
        chosen = [*RATES, *(_conversion_rate(k) for k in events if k >= 4)]
    else:
        items: list[object] = (
            [requested] if isinstance(requested, (str, Rate)) else list(requested)
        )
        chosen = []
        for item in items:
            if isinstance(item, Rate):
                chosen.append(item)
            elif isinstance(item, str):
                chosen.extend(_by_name(item))
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


def _by_name(name: str) -> list[Rate]:
    found = [r for r in RATES if r.name == name]
    if found:
        return found
    m = _CONVERSION_RATE.fullmatch(name)
    if m is not None and not m.group(1).startswith("0"):
        return [_conversion_rate(int(m.group(1) or 0))]
    msg = (
        f"unknown rate {name!r}; known rates: {sorted({r.name for r in RATES})}, plus "
        "conversion_rate4, conversion_rate5... (pass a Rate object for your own)"
    )
    raise ValueError(msg)


def _complete(r: Rate, pairs: Mapping[str, frozenset[str]]) -> bool:
    """Whether some channel the rate applies to has all its numerator and denominator metrics."""
    needed = {m for _, m in (*r.numerator, *r.denominator)}
    return any(r.applies_to(ch) and needed <= pairs[ch] for ch in pairs)


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


def _terms_expr(terms: Sequence[Term]) -> nw.Expr:
    (sign, metric), *rest = terms  # Rate.__post_init__ guarantees one term
    expr = nw.col(metric) if sign > 0 else -nw.col(metric)
    for sign, metric in rest:
        expr = expr + nw.col(metric) if sign > 0 else expr - nw.col(metric)
    return expr


def _rate_rows(
    wide: nw.LazyFrame[Any], rate: Rate, keys: Sequence[str], names: Sequence[str] | None
) -> nw.LazyFrame[Any]:
    """One row per (variation, period) group where the rate applies.

    With ``names`` (every rate name, sorted), the rows keep ``wide``'s ``_row`` and add
    ``_rate``, the name's position: the two give the result's order.
    """
    has_numerator = nw.any_horizontal(
        *(~nw.col(m).is_null() for _, m in rate.numerator), ignore_nulls=True
    )
    applies = has_numerator
    if rate.channels is not None:
        applies = applies & nw.col("channel").is_in(sorted(rate.channels))
    denominator = _terms_expr(rate.denominator)
    if rate.control_denominator:
        control = nw.all_horizontal(
            *(~nw.col(m).is_null() for _, m in rate.control_denominator), ignore_nulls=True
        )
        denominator = nw.when(control).then(_terms_expr(rate.control_denominator)).otherwise(
            denominator
        )
    order: list[nw.Expr | str] = []
    if names is not None:
        order = ["_row", nw.lit(names.index(rate.name)).alias("_rate")]
    return wide.filter(applies).select(
        *keys,
        *order,
        nw.lit(rate.name).alias("metric"),
        _terms_expr(rate.numerator).cast(nw.Float64()).alias("numerator"),
        denominator.cast(nw.Float64()).alias("denominator"),
    )


def _with_days(
    pooled: nw.LazyFrame[Any], frame: nw.LazyFrame[Any], out: Sequence[str], period: str
) -> nw.LazyFrame[Any]:
    """Join the number of days with any row per output group."""
    if period == "day":
        return pooled.with_columns(nw.lit(1).alias("days"))
    keys = list(out)
    if keys:
        days = frame.group_by(*keys).agg(nw.col("date").n_unique().alias("days"))
    else:
        days = frame.select(nw.col("date").n_unique().alias("days"))
    days = string_keys(days, [k for k in keys if k != "_period"])
    if not keys:
        return pooled.join(days, how="cross")
    if "variation" in keys:
        pooled, days = fill_null_key(pooled, "variation"), fill_null_key(days, "variation")
    joined = pooled.join(days, on=keys, how="left")
    return restore_null_key(joined, "variation") if "variation" in keys else joined

