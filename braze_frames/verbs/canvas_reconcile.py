"""``reconcile`` on a Canvas frame (SPEC section 12): conversions by entry date.

A Canvas counts each conversion on the day it happened (``conversions{k}``) and on the
day its user entered (``conversions{k}_by_entry_time``): the same identity as a
campaign's by-send-date series, with entries for sends. So the frame is read as a
campaign frame, one "variation" per variant or step (their API ids never collide),
reconciled by the campaign code, and its keys and names given back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Final

import narwhals.stable.v2 as nw

from .._tables import CAMPAIGN_TABLE, CANVAS_TABLE
from ._common import distinct, sort_keys, string_keys, tidy_lazy, wrap

__all__ = ["CANVAS_DETAIL_COLUMNS", "CANVAS_SUMMARY_COLUMNS", "canvas_reconcile"]

_HEAD: Final = (
    "canvas_id", "canvas_name", "variant", "variant_name", "step", "step_name", "channel", "event",
)
#: The detail's columns on a Canvas frame, in order.
CANVAS_DETAIL_COLUMNS: Final = (
    *_HEAD, "date", "by_conversion_date", "by_entry_date", "difference", "cumulative_difference",
)
#: The summary's columns on a Canvas frame, in order.
CANVAS_SUMMARY_COLUMNS: Final = (
    *_HEAD, "event_name", "window_days", "first_date", "last_date", "by_conversion_date",
    "by_entry_date", "gap", "gap_share", "edge_bound", "within_bound", "days_missing_a_side",
    "mean_lag_days",
)
_TEXT: Final = ("canvas_id", "canvas_name", "variant", "variant_name", "step", "step_name", "channel",
                "metric")


def canvas_reconcile(
    df: Any,
    *,
    summary: bool,
    window_days: Any,
    details: Any,
    as_of: str | dt.date | None,
    reconcile: Callable[..., Any],
) -> Any:
    """``reconcile`` of a Canvas frame; the same type back (see ``reconcile``)."""
    tidy_lazy(df, table=CANVAS_TABLE)  # the Canvas columns and dtypes, with their own message
    frame = string_keys(wrap(df), _TEXT)
    steps = distinct(frame.lazy(), "step")
    step = nw.col("step")
    shaped = frame.with_columns(
        nw.col("canvas_id").alias("campaign_id"),
        nw.col("canvas_name").alias("campaign_name"),
        nw.when(step.is_null()).then(nw.col("variant")).otherwise(step).alias("variation"),
        nw.when(step.is_null()).then(nw.col("variant_name")).otherwise(nw.col("step_name"))
        .alias("variation_name"),
        nw.col("metric").str.replace_all("_by_entry_time", "_by_send_time", literal=True),
    ).select(*CAMPAIGN_TABLE.columns)
    result = wrap(reconcile(shaped.to_native(), summary=summary, window_days=window_days,
                            details=details, as_of=as_of))
    unit = nw.col("variation")
    is_step = unit.is_in(steps) if steps else nw.lit(False)
    back = result.with_columns(
        nw.col("campaign_id").alias("canvas_id"),
        nw.col("campaign_name").alias("canvas_name"),
        nw.when(~is_step).then(unit).alias("variant"),
        nw.when(~is_step).then(nw.col("variation_name")).alias("variant_name"),
        nw.when(is_step).then(unit).alias("step"),
        nw.when(is_step).then(nw.col("variation_name")).alias("step_name"),
        nw.col("by_send_date").alias("by_entry_date"),
    ).select(*(CANVAS_SUMMARY_COLUMNS if summary else CANVAS_DETAIL_COLUMNS))
    ordered = sort_keys(back, ["canvas_id", "variant", "step", "channel", "event",
                               *([] if summary else ["date"])])
    if isinstance(ordered, nw.DataFrame):
        return nw.maybe_reset_index(ordered).to_native()
    return ordered.to_native()

