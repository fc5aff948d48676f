"""An independent reading of SPEC section 5, in plain Python loops, for the rate tests.

It shares nothing with the library's plan but the definitions (``RATES``, ``Rate``) and the
channel schemas: per (campaign, channel, variation, day) cells, control groups by the
SPEC's wording, then for every output group and rate the days where every term is
present. Slow and obvious on purpose; hypothesis tests hold the library to it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from braze_frames._schema import CHANNEL_SCHEMAS, CONVERSION_PATTERN
from braze_frames.verbs._rate_table import conversion_rate
from braze_frames.verbs.rates import RATES, Rate

Row = tuple[Any, ...]


def period_of(day: dt.date, period: str) -> dt.date | None:
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return None


def period_end(start: dt.date, period: str) -> dt.date:
    if period == "week":
        return start + dt.timedelta(days=6)
    nxt = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def definitions(metrics: Iterable[str]) -> list[Rate]:
    """RATES plus conversion_rate{k} / cohort_conversion_rate{k} for k >= 4 present."""
    extra = []
    for m in sorted(set(metrics)):
        found = CONVERSION_PATTERN.fullmatch(m)
        if found and int(found.group(1) or 0) >= 4:
            extra.append(conversion_rate(int(found.group(1)), cohort=found.group(2) is not None))
    return [*RATES, *extra]


def reference_rates(
    rows: Sequence[Row],
    period: str,
    by: Sequence[str],
    *,
    rates: Sequence[Rate] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[dict[str, Any]]:
    """The rate table as a list of dicts (keys as in the library's output).

    ``rows`` are tidy 7-tuples (campaign_id, date, channel, variation, variation_name,
    metric, value) or 8-tuples with campaign_name second.
    """
    full = [r if len(r) == 8 else (r[0], None, *r[1:]) for r in rows]
    cells: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
    names: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    campaign_names: dict[Any, list[str]] = defaultdict(list)
    for campaign, cname, day, channel, variation, vname, metric, value in full:
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
        key = (campaign, channel, variation, day)
        cells.setdefault(key, {})
        if value is not None:
            cells[key][metric] = cells[key].get(metric, 0.0) + value
        if vname is not None:
            names[key].append(vname)
        if cname is not None:
            campaign_names[(campaign, day, channel, variation)].append(cname)
    if not cells:
        return []
    dates = [k[3] for k in cells]
    first, last = start or min(dates), end or max(dates)

    # Control: anywhere in the frame, enrolled and none of the channel's schema metrics.
    enrolled: set[tuple[Any, ...]] = set()
    schema: set[tuple[Any, ...]] = set()
    for (campaign, channel, variation, _), metrics in cells.items():
        unit = (campaign, channel, variation)
        if "enrolled" in metrics:
            enrolled.add(unit)
        if set(metrics) & set(CHANNEL_SCHEMAS.get(channel, ())):
            schema.add(unit)
    control = {u for u in enrolled - schema if u[1] != "all"}

    present_metrics = {m for metrics in cells.values() for m in metrics}
    chosen = definitions(present_metrics) if rates is None else list(rates)
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for (campaign, channel, variation, day), metrics in cells.items():
        unit = (campaign, channel, variation)
        is_control = unit in control
        key_dict = {}
        if "campaign_id" in by:
            key_dict["campaign_id"] = campaign
        if period != "total":
            key_dict["date"] = period_of(day, period)
        if "channel" in by:
            key_dict["channel"] = channel
        if "variation" in by:
            key_dict["variation"] = variation
        full_key = tuple(key_dict.items())
        for r in chosen:
            if not r.applies_to(channel):
                continue
            # Which rows feed the rate under ``by``.
            if "variation" not in by:
                if "channel" not in by and r.channels is None:
                    if channel != "all":
                        continue
                elif is_control:
                    continue
            denominator = r.control_denominator if (is_control and r.control_denominator) else r.denominator
            has = any(m in metrics for _, m in r.numerator)
            if not has:
                continue
            g = groups.setdefault((full_key, r.name), {
                "keys": key_dict, "metric": r.name, "numerator": 0.0, "denominator": 0.0,
                "days": set(), "vnames": [], "cnames": [],
            })
            g["vnames"] += names.get((campaign, channel, variation, day), [])
            g["cnames"] += campaign_names.get((campaign, day, channel, variation), [])
            terms = {m for _, m in (*r.numerator, *denominator)}
            if all(m in metrics for m in terms):
                g["numerator"] += sum(s * metrics[m] for s, m in r.numerator)
                g["denominator"] += sum(s * metrics[m] for s, m in denominator)
                g["days"].add(day)
    # Names must come from every row of the group, not only the rows that had the rate.
    group_names: dict[tuple[Any, ...], tuple[list[str], list[str]]] = {}
    for (campaign, channel, variation, day) in cells:
        key = {}
        if "campaign_id" in by:
            key["campaign_id"] = campaign
        if period != "total":
            key["date"] = period_of(day, period)
        if "channel" in by:
            key["channel"] = channel
        if "variation" in by:
            key["variation"] = variation
        entry = group_names.setdefault(tuple(key.items()), ([], []))
        entry[0].extend(names.get((campaign, channel, variation, day), []))
    campaign_name_of: dict[Any, list[str]] = defaultdict(list)
    for (campaign, _day, _channel, _variation), found in campaign_names.items():
        campaign_name_of[campaign].extend(found)

    out = []
    for (full_key, _name), g in groups.items():
        days = len(g["days"])
        row = dict(g["keys"])
        if "campaign_id" in by:
            # The greatest name among the group's rows, as the variation's.
            within = [
                n for (c, day, ch, v), found in campaign_names.items() for n in found
                if c == row["campaign_id"]
                and (period == "total" or period_of(day, period) == row["date"])
                and ("channel" not in by or ch == row["channel"])
                and ("variation" not in by or v == row["variation"])
            ]
            row["campaign_name"] = max(within) if within else None
        if "variation" in by:
            found = group_names.get(full_key, ([], []))[0]
            row["variation_name"] = max(found) if found else None
        numerator = g["numerator"] if days else None
        denominator = g["denominator"] if days else None
        value = None
        if days and denominator != 0:
            value = numerator / denominator
        complete = True
        if period in ("week", "month"):
            complete = row["date"] >= first and period_end(row["date"], period) <= last
        row.update({"metric": g["metric"], "value": value, "numerator": numerator,
                    "denominator": denominator, "days": days, "complete": complete})
        out.append(row)
    return out
