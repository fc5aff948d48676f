"""The A/B readout (SPEC section 11): each variation against a baseline, Braze's confidence, the winner.

The pieces exist elsewhere and are put together here:

- the numerators and denominators are ``rates(period="total")``'s, from the rate's
  definition in ``RATES`` (control groups divide conversions by ``enrolled`` there);
- which variation is a control group is read from the metrics each one carries, by
  SPEC section 5's rule (``enrolled`` and none of its channel's schema metrics);
- the statistics are ``stats.compare_proportions`` and ``stats.winner``.

Canvas frames (SPEC section 12) compare variants, with ``entries`` as the denominator, from
the variants' own rows (channel ``"all"``, no step).

The heavy part (the per-variation sums) runs where the data is; the readout itself is a few
rows per campaign, computed in polars and given back as the caller's frame type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._schema import ALL_CHANNEL, schema_for
from .._tables import CANVAS_RATES, CANVAS_TABLE, is_control_variant, table_of
from ._common import Source, plan_input, wrap
from ._rate_table import RATES, Rate, by_name, conversion_rate_of
from .stats import compare_proportions, winner

if TYPE_CHECKING:
    import polars as pl

__all__ = ["EXPERIMENT_COLUMNS", "experiment", "proportion_rate"]

#: The readout's columns, in order (SPEC section 11). Canvas readouts name their keys
#: ``canvas_id``, ``canvas_name``, ``variant`` and ``variant_name`` instead.
EXPERIMENT_COLUMNS: Final = (
    "campaign_id", "campaign_name", "channel", "variation", "variation_name", "is_control",
    "numerator", "denominator", "rate", "baseline_rate", "lift", "difference", "ci_low",
    "ci_high", "p_value", "confidence", "significant", "winner", "approximate",
)
_CANVAS_KEYS: Final = {"campaign_id": "canvas_id", "campaign_name": "canvas_name",
                       "variation": "variant", "variation_name": "variant_name"}
#: Columns that are null on the baseline's own row and on a campaign's only variation.
_TEST_COLUMNS: Final = ("lift", "difference", "ci_low", "ci_high", "p_value", "confidence", "significant")
#: Denominators that count people once per day: summed over days they count person-days.
_PER_DAY_UNIQUE: Final = frozenset({"unique_recipients", "enrolled"})
#: ``conversion_rate{k}`` and ``cohort_conversion_rate{k}``, the Canvas rates' names.
_CANVAS_RATE: Final = re.compile(r"(cohort_)?conversion_rate(\d*)")


def experiment(
    df: IntoFrameT,
    *,
    rate: str = "cohort_conversion_rate",
    baseline: str = "control",
    alpha: float = 0.05,
) -> IntoFrameT:
    """Give Braze's A/B readout: each variation against a baseline, over the whole frame.

    One row per variation of each campaign and channel, with the columns ``campaign_id``,
    ``campaign_name``, ``channel``, ``variation``, ``variation_name``, ``is_control``,
    ``numerator``, ``denominator``, ``rate`` (x / n), ``baseline_rate``, ``lift``
    (rate / baseline_rate - 1), ``difference`` (rate - baseline_rate), ``ci_low`` and
    ``ci_high`` (the difference's two-sided 1 - alpha interval, unpooled normal),
    ``p_value`` (two-sided pooled two-proportion z-test, the same number as Pearson's
    chi-squared on the 2x2 table without continuity correction), ``confidence``
    (1 - p_value, Braze's "confidence"), ``significant`` (p_value < alpha), ``winner`` and
    ``approximate``. Sorted by campaign, channel, control first, then variation.

    Rules (SPEC section 11):

    - The numerator and denominator are the rate's, from ``RATES``, summed over the days
      where both are present (as ``rates(period="total")``). Only proportion rates
      qualify (``Rate.proportion``): others are refused. A variation whose numerator
      exceeds its denominator is refused, by name. A control group's conversion
      denominator is ``enrolled``. The default attributes conversions to the send day;
      ``rate="conversion_rate"`` uses the conversion day.
    - ``baseline="control"`` compares with the campaign's (and channel's) control group;
      a variation id or name compares with that variation. Two or more variations with
      no control group and no ``baseline=`` are refused, naming the variations. A
      campaign with a single variation gets a row with null test columns. The
      baseline's own row has null ``lift``, ``difference`` and test columns, and a test
      whose two rates are both 0 or both 1 has null test columns.
    - ``confidence`` says that the rates differ, not which is better: read the direction
      from ``difference`` and ``lift``.
    - ``winner`` is true for at most one variation, and only with two or more
      non-control variations: the best rate (lowest for rates where lower is better)
      whose test against every other non-control variation has p < alpha (Braze's
      rule).
    - ``approximate`` is true when the row's denominator, or its baseline's, sums a
      count of unique people per day (``unique_*``, ``unique_recipients``,
      ``enrolled``) over more than one day: people who appear on several days are
      counted as several independent trials, so the p-value is likely too small and the
      interval too narrow (read ``significant`` and ``winner`` as optimistic).

    Email variations carry no conversions (Braze reports email conversions only in the
    day totals): a conversion readout of an email campaign is refused with a hint to use
    ``unique_click_rate``; in a frame with other campaigns, those are read out and the
    email ones named in a warning.

    Canvas frames (``fetch_canvas_series``) compare their variants, with ``entries`` as
    the denominator and ``conversion_rate{k}`` or ``cohort_conversion_rate{k}`` as the
    rate; the keys are named ``canvas_id``, ``canvas_name``, ``variant`` and
    ``variant_name``, the channel is ``"all"``, and a variant is control when its name
    is "Control" or starts with "Control ". Entries are not unique per day, so a Canvas
    readout is never ``approximate``.

    Args:
        df: A tidy campaign or Canvas frame, pandas or polars, eager or lazy.
        rate: The rate to compare: a proportion rate of ``RATES`` (its name).
        baseline: ``"control"``, or the id or name of the variation to compare with.
        alpha: The level of the tests; the intervals cover 1 - alpha.

    Returns:
        The readout, of the caller's frame type (a lazy frame stays lazy).

    Raises:
        ValueError: An unknown or non-proportion rate, an alpha outside (0, 1), a
            numerator above its denominator, no control and no baseline for two or more
            variations, a baseline that is not a variation, an email conversion readout.
        TidyFrameError: ``df`` is not a tidy frame.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> rows = []
        >>> for v, name, n, x in (("c", "Control Group", 1000, 50), ("a", "Variant A", 1000, 60),
        ...                       ("b", "Variant B", 1000, 90)):
        ...     rows.append(("k1", "2024-07-01", "ios_push", v, name, "enrolled" if v == "c"
        ...                  else "unique_recipients", n))
        ...     rows.append(("k1", "2024-07-01", "ios_push", v, name, "conversions_by_send_time", x))
        ...     if v != "c":
        ...         rows.append(("k1", "2024-07-01", "ios_push", v, name, "sent", n))
        >>> out = experiment(from_records(rows))
        >>> for r in out.select("variation_name", "rate", "lift", "p_value", "winner").rows():
        ...     print(r[0], r[1], r[2] and round(r[2], 2), r[3] and round(r[3], 4), r[4])
        Control Group 0.05 None None False
        Variant A 0.06 0.2 0.3267 False
        Variant B 0.09 0.8 0.0005 True
    """
    name = _check_arguments(rate, baseline, alpha)
    canvas = table_of(wrap(df).collect_schema().names()) is CANVAS_TABLE
    if canvas:
        frame, source = plan_input(df, table=CANVAS_TABLE)
        units = _canvas_units(frame, name)
        definitions: list[Rate] = []
    else:
        frame, source = plan_input(df)
        definitions = proportion_rate(name)
        units = _campaign_units(frame, name, definitions)
    readout = _readout(units, definitions, name, baseline, alpha)
    if canvas:
        readout = readout.rename(_CANVAS_KEYS)
    return _give_back(readout, frame, source)  # type: ignore[no-any-return]


# -- arguments ----------------------------------------------------------------------------------


def _proportion_names() -> list[str]:
    return sorted({r.name for r in RATES if r.proportion})


def _check_arguments(rate: object, baseline: object, alpha: object) -> str:
    if not isinstance(rate, str):
        msg = f"rate takes a rate's name, e.g. 'unique_click_rate', not {type(rate).__name__}"
        raise TypeError(msg)
    if not isinstance(baseline, str):
        msg = f"baseline takes 'control' or a variation's id or name, not {type(baseline).__name__}"
        raise TypeError(msg)
    if not baseline:
        msg = "baseline takes 'control' or a variation's id or name, not ''"
        raise ValueError(msg)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        msg = f"alpha must be a number between 0 and 1 (e.g. 0.05), not {alpha!r}"
        raise ValueError(msg)
    return rate


def proportion_rate(name: str) -> list[Rate]:
    """A rate's definitions in ``RATES`` (one per channel family), if it is a proportion.

    Raises:
        ValueError: An unknown rate, or one that is not a proportion; the message names
            the rates that qualify.
    """
    try:
        found = by_name(name)
    except ValueError:
        msg = (f"unknown rate {name!r}; an experiment compares a proportion rate: "
               f"{', '.join(_proportion_names())} (and cohort_conversion_rate4... by the same pattern)")
        raise ValueError(msg) from None
    if not all(r.proportion for r in found):
        msg = (f"rate {name!r} is not a proportion (its numerator is not a subset of its "
               f"denominator's units: {found[0].formula}), so no two-proportion test applies; "
               f"choose one of {', '.join(_proportion_names())}")
        raise ValueError(msg)
    return found


# -- per-variation counts -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """One variation of one campaign and channel: its sums over the whole frame."""

    campaign_id: str
    campaign_name: str | None
    channel: str
    variation: str
    variation_name: str | None
    is_control: bool
    numerator: float | None
    denominator: float | None
    approximate: bool


def _campaign_units(frame: nw.LazyFrame[Any], name: str, definitions: Sequence[Rate]) -> list[_Unit]:
    """Each variation's numerator and denominator (``rates``), control flag and ``approximate``."""
    from .rates import rates

    metrics = _variation_metrics(frame)
    numerators = {m for r in definitions for _, m in r.numerator}
    if conversion_rate_of(name) is not None:
        _check_email(metrics, numerators, name)
    # SPEC section 5's rule, as ``rates`` applies it: ``enrolled`` and none of the channel's
    # schema metrics anywhere in the frame (``rates`` keeps the flag to itself).
    control = {
        key: "enrolled" in found and not (found & set(schema_for(key[1])))
        for key, found in metrics.items()
    }
    with_rows = [key for key, found in metrics.items() if found & numerators]
    if not with_rows:
        msg = (f"no variation carries the numerator of {name!r} "
               f"({' or '.join(sorted(numerators))}): nothing to compare")
        raise ValueError(msg)
    # The email campaigns were named (or refused) above; the rest is what rates computes.
    table = rates(frame.to_native(), "total", rates=[name])
    counted = _collect(table)
    units: list[_Unit] = []
    for row in counted.iter_rows(named=True):
        if row["variation"] is None or row["channel"] == ALL_CHANNEL:
            continue
        key = (row["campaign_id"], row["channel"], row["variation"])
        is_control = control.get(key, False)
        definition = next(r for r in definitions if r.applies_to(row["channel"]))
        terms = definition.control_denominator if is_control and definition.control_denominator else (
            definition.denominator)
        per_day = any(m.startswith("unique_") or m in _PER_DAY_UNIQUE for _, m in terms)
        units.append(_Unit(
            row["campaign_id"], row["campaign_name"], row["channel"], row["variation"],
            row["variation_name"], is_control, row["numerator"], row["denominator"],
            per_day and (row["days"] or 0) > 1,
        ))
    return units


def _variation_metrics(frame: nw.LazyFrame[Any]) -> dict[tuple[str, str, str], frozenset[str]]:
    """Which metrics each (campaign, channel, variation) carries (one small query).

    A null value is no metric, as ``rates`` counts presence.
    """
    pairs = (
        frame.filter(~nw.col("variation").is_null(), nw.col("channel") != ALL_CHANNEL,
                     ~nw.col("value").is_null())
        .select(nw.col("campaign_id", "channel", "variation", "metric").cast(nw.String()))
        .unique()
    )
    found: dict[tuple[str, str, str], set[str]] = {}
    for cid, channel, variation, metric in _collect(pairs).iter_rows():
        found.setdefault((cid, channel, variation), set()).add(metric)
    return {key: frozenset(ms) for key, ms in found.items()}


def _check_email(metrics: Mapping[tuple[str, str, str], frozenset[str]], numerators: set[str],
                 name: str) -> None:
    """Refuse (or name, in a warning) the email campaigns a conversion readout cannot read."""
    import warnings

    has: dict[tuple[str, str], bool] = {}
    for (cid, channel, _), found in metrics.items():
        has[(cid, channel)] = has.get((cid, channel), False) or bool(found & numerators)
    email = sorted(cid for (cid, channel), yes in has.items() if channel == "email" and not yes)
    if not email:
        return
    text = (f"email variations carry no conversions (Braze reports email conversions only in "
            f"the day totals), so {name!r} cannot compare the email variations of campaign"
            f"{'s' * (len(email) > 1)} {', '.join(email)}: use rate='unique_click_rate' "
            "(or unique_open_rate) for an email test")
    if not any(has.values()):
        raise ValueError(text)
    warnings.warn(text, UserWarning, stacklevel=4)


def _canvas_units(frame: nw.LazyFrame[Any], name: str) -> list[_Unit]:
    """Each Canvas variant's conversions and entries over the days where both are present."""
    found = _CANVAS_RATE.fullmatch(name)
    if found is None or found.group(2).startswith("0"):
        choices = ", ".join(f"{r.name} (and {r.name}1...)" for r in CANVAS_RATES)
        msg = f"a Canvas experiment compares conversions per entry: rate takes {choices}, not {name!r}"
        raise ValueError(msg)
    import polars as pl

    from .rates import rates

    # ``rates`` on a Canvas frame: conversions over entries, per variant, over present days.
    table = _collect(rates(frame.to_native(), "total", by=("canvas_id", "variant"), rates=[name]))
    rows = table.filter(pl.col("variant").is_not_null(), pl.col("days") > 0).rename(
        {"numerator": "x", "denominator": "n"})
    if rows.is_empty():
        definition = CANVAS_RATES[1 if found.group(1) else 0]
        _, numerator, denominator = definition.for_event(int(found.group(2) or 0))
        msg = f"no Canvas variant carries both {numerator} and {denominator}: nothing to compare"
        raise ValueError(msg)
    return [
        _Unit(r["canvas_id"], r["canvas_name"], ALL_CHANNEL, r["variant"], r["variant_name"],
              is_control_variant(r["variant_name"]), r["x"], r["n"], False)
        for r in rows.iter_rows(named=True)
    ]


def _collect(frame: Any) -> pl.DataFrame:
    """A native or narwhals frame (eager or lazy, any engine) as a polars DataFrame."""
    import polars as pl

    wrapped = wrap(frame) if not isinstance(frame, (nw.DataFrame, nw.LazyFrame)) else frame
    eager = wrapped.collect() if isinstance(wrapped, nw.LazyFrame) else wrapped
    native = eager.to_native()
    if isinstance(native, pl.DataFrame):
        return native
    out = pl.from_arrow(eager.to_arrow())
    assert isinstance(out, pl.DataFrame)
    return out


# -- the readout --------------------------------------------------------------------------------


def _readout(units: Sequence[_Unit], definitions: Sequence[Rate], name: str, baseline: str,
             alpha: float) -> pl.DataFrame:
    import polars as pl

    groups: dict[tuple[str, str], list[_Unit]] = {}
    for u in units:
        groups.setdefault((u.campaign_id, u.channel), []).append(u)
    rows: list[dict[str, Any]] = []
    for (cid, channel), members in sorted(groups.items()):
        members.sort(key=lambda u: (not u.is_control, u.variation))
        for u in members:
            if u.numerator is not None and u.denominator is not None and u.numerator > u.denominator:
                msg = (f"rate {name!r}: variation {_label(u)} of campaign {_campaign(u)} ({channel}) "
                       f"has numerator {u.numerator:g} > denominator {u.denominator:g}, so it is "
                       "not a proportion there; choose another rate")
                raise ValueError(msg)
        lower = any(r.lower_is_better for r in definitions if r.applies_to(channel))
        rows.extend(_group_rows(members, baseline, alpha, lower, cid, channel))
    schema = {
        "campaign_id": pl.String, "campaign_name": pl.String, "channel": pl.String,
        "variation": pl.String, "variation_name": pl.String, "is_control": pl.Boolean,
        "numerator": pl.Float64, "denominator": pl.Float64, "rate": pl.Float64,
        "baseline_rate": pl.Float64, "lift": pl.Float64, "difference": pl.Float64,
        "ci_low": pl.Float64, "ci_high": pl.Float64, "p_value": pl.Float64,
        "confidence": pl.Float64, "significant": pl.Boolean, "winner": pl.Boolean,
        "approximate": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _group_rows(members: Sequence[_Unit], baseline: str, alpha: float, lower: bool, cid: str,
                channel: str) -> list[dict[str, Any]]:
    """The readout rows of one campaign and channel."""
    base = _baseline_of(members, baseline, cid, channel)
    counts = [(u.numerator or 0.0, u.denominator or 0.0) if _has_counts(u) else (0.0, 0.0) for u in members]
    rows = []
    for u, (x, n) in zip(members, counts, strict=True):
        row: dict[str, Any] = {
            "campaign_id": u.campaign_id, "campaign_name": u.campaign_name, "channel": u.channel,
            "variation": u.variation, "variation_name": u.variation_name, "is_control": u.is_control,
            "numerator": u.numerator, "denominator": u.denominator,
            "rate": x / n if n > 0 else None, "baseline_rate": None,
            **dict.fromkeys(_TEST_COLUMNS), "winner": False, "approximate": u.approximate,
        }
        if base is not None:
            b = members[base]
            x0, n0 = counts[base]
            row["baseline_rate"] = x0 / n0 if n0 > 0 else None
            row["approximate"] = u.approximate or b.approximate
            if u is not b:
                test = compare_proportions(x, n, x0, n0, alpha=alpha).records()[0]
                row.update({c: test[c] for c in _TEST_COLUMNS})
        rows.append(row)
    # Braze's winner: among the non-control variations that have a denominator.
    contenders = [i for i, u in enumerate(members) if not u.is_control and counts[i][1] > 0]
    if len(contenders) >= 2:
        best = winner([counts[i][0] for i in contenders], [counts[i][1] for i in contenders],
                      alpha=alpha, lower_is_better=lower)
        if best is not None:
            rows[contenders[best]]["winner"] = True
    return rows


def _has_counts(u: _Unit) -> bool:
    return (u.numerator is not None and u.denominator is not None
            and math.isfinite(u.numerator) and math.isfinite(u.denominator))


def _baseline_of(members: Sequence[_Unit], baseline: str, cid: str, channel: str) -> int | None:
    """The position of the baseline among a campaign's (and channel's) variations, or None."""
    if baseline == "control":
        found = [i for i, u in enumerate(members) if u.is_control]
        if len(found) == 1:
            return found[0]
        if len(members) < 2:
            return None
        if found:
            msg = (f"campaign {_campaign(members[0])} ({channel}) has {len(found)} control groups "
                   f"({', '.join(_label(members[i]) for i in found)}); pass baseline= one of them")
            raise ValueError(msg)
        msg = (f"campaign {_campaign(members[0])} ({channel}) has no control group; pass "
               f"baseline= one of its variations: {', '.join(_label(u) for u in members)}")
        raise ValueError(msg)
    found = [i for i, u in enumerate(members) if baseline in (u.variation, u.variation_name)]
    by_id = [i for i in found if members[i].variation == baseline]
    if len(by_id) == 1:
        return by_id[0]
    if len(found) == 1:
        return found[0]
    if len(members) < 2 and not found:
        return None
    what = "is not a variation" if not found else "names several variations"
    msg = (f"baseline {baseline!r} {what} of campaign {_campaign(members[0])} ({channel}); "
           f"choose 'control' or one of: {', '.join(_label(u) for u in members)}")
    raise ValueError(msg)


def _label(u: _Unit) -> str:
    return f"{u.variation_name!r} ({u.variation})" if u.variation_name else repr(u.variation)


def _campaign(u: _Unit) -> str:
    return f"{u.campaign_name!r} ({u.campaign_id})" if u.campaign_name else repr(u.campaign_id)


def _give_back(readout: pl.DataFrame, frame: nw.LazyFrame[Any], source: Source) -> Any:
    """The (small) polars readout as the caller's type: a plan of its engine for lazy inputs."""
    from .reconcile import _as_plan

    if source.kind == "polars":
        return readout
    if source.kind == "pandas":
        return readout.to_pandas()
    if source.lazy:
        return _as_plan(readout, frame, source).to_native()
    return nw.from_arrow(readout.to_arrow(), backend=source.implementation).to_native()
