"""``braze-frames experiment``: the A/B readout of one campaign, fetched or read from a file.

Without ``--from`` the campaign is fetched over its whole life (from its details' first
send to its last send plus its longest conversion window, up to today) unless a range is
given; with ``--from`` it is read from a Parquet file, a dataset or a ``sync`` store. The
readout is ``bf.experiment``'s, printed with names and percentages.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ..http.config import ENV_REST_ENDPOINT
from ._support import (
    _CONTEXT,
    _DAY,
    EXIT_DATA,
    EXIT_USAGE,
    _check_days,
    _check_output,
    _client,
    _CliError,
    _print_frame,
    _save,
    _say,
    _stderr_is_terminal,
    _utc_today,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = ["experiment"]

_SOURCE_HELP: Final = "a Parquet file, a partitioned dataset or a store written by 'braze-frames sync'"


@click.command(context_settings=_CONTEXT)
@click.argument("campaign_id", metavar="CAMPAIGN_ID")
@click.option("--rate", default="cohort_conversion_rate", show_default=True, metavar="NAME",
              help="The proportion rate to compare: cohort_conversion_rate (conversions credited "
                   "to the send day), conversion_rate, unique_click_rate, unique_open_rate...")
@click.option("--baseline", default="control", show_default=True, metavar="VARIATION",
              help="Compare with the control group, or with this variation (its id or name).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="The tests' level; the intervals cover 1 - alpha.")
@click.option("--from", "source", metavar="FILE_OR_STORE",
              type=click.Path(exists=True, path_type=Path),
              help=f"Read the campaign from {_SOURCE_HELP} instead of the API.")
@click.option("--length", type=click.IntRange(min=1), metavar="N",
              help="Fetch the N days ending on --ending-at instead of the campaign's whole life.")
@click.option("--ending-at", type=_DAY, metavar="DATE", help="Last day for --length. Default: today (UTC).")
@click.option("--start", type=_DAY, metavar="DATE", help="Fetch from this day, inclusive.")
@click.option("--end", type=_DAY, metavar="DATE",
              help="Last day for --start, inclusive. Default: today (UTC).")
@click.option("--rest-endpoint", metavar="URL|INSTANCE",
              help=f"REST endpoint URL or instance name (US-03, EU-01...). Default: ${ENV_REST_ENDPOINT}.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the readout, every column: .parquet or .csv.")
def experiment(campaign_id: str, rate: str, baseline: str, alpha: float, source: Path | None,
               length: int | None, ending_at: str | None, start: str | None, end: str | None,
               rest_endpoint: str | None, output: Path | None) -> None:
    """The A/B readout of a campaign: each variation against the control, Braze's confidence.

    One row per variation: its rate (numerator / denominator), the lift and difference
    against the baseline with the difference's 1 - alpha interval, the p-value of the
    two-proportion test (Pearson's chi-squared), Braze's confidence (1 - p: the rates
    differ, not which is better; the lift gives the direction), and the winner (the best
    variant, if it beats every other one). CAMPAIGN_ID is fetched over its whole life, or
    read with --from (where a campaign name also works).

    \b
    Examples:
      braze-frames experiment 0a1b2c...
      braze-frames experiment 0a1b2c... --rate unique_click_rate --baseline "Variant A"
      braze-frames experiment 0a1b2c... --from ./braze-store --alpha 0.01
      braze-frames experiment "Checkout Reminder Experiment" --from last30.parquet -o readout.csv
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    from ..verbs.experiment import experiment as readout_of
    from ..verbs.experiment import proportion_rate

    proportion_rate(rate)  # before any request: an unknown or non-proportion rate exits 2
    ranged = length is not None or start is not None or ending_at is not None or end is not None
    if source is not None and (ranged or rest_endpoint is not None):
        raise click.UsageError("--from reads a file: --length, --start, --end, --ending-at and "
                               "--rest-endpoint go with fetching")
    if length is not None and start is not None:
        raise click.UsageError("give either --length N or --start DATE [--end DATE]")
    if start is not None and ending_at is not None:
        raise click.UsageError("--ending-at goes with --length; with --start use --end")
    if length is not None and end is not None:
        raise click.UsageError("--end goes with --start; with --length use --ending-at")
    _check_days(start, end)
    if output is not None:
        _check_output(output)
    if source is not None:
        frame = _from_source(source, campaign_id)
    else:
        frame = _fetched(campaign_id, length=length, ending_at=ending_at, start=start, end=end,
                         rest_endpoint=rest_endpoint)
    table = readout_of(frame, rate=rate, baseline=baseline, alpha=alpha)
    _save(table, output)
    _print_readout(table, frame, rate=rate, baseline=baseline, alpha=alpha)


def _from_source(source: Path, campaign: str) -> pl.DataFrame:
    """The campaign's rows of a file or store, found by id or by name."""
    import polars as pl

    from ._analyse import _read_source

    frame = _read_source(source)
    ids = pl.col("campaign_id").cast(pl.String)
    rows = frame.filter(ids == campaign)
    if rows.is_empty():
        rows = frame.filter(pl.col("campaign_name").cast(pl.String) == campaign)
        found = rows.get_column("campaign_id").cast(pl.String).unique().to_list()
        if len(found) > 1:
            msg = (f"{len(found)} campaigns in {source} are named {campaign!r}; give one's id "
                   f"({', '.join(found)})")
            raise _CliError(msg, EXIT_USAGE)
    if rows.is_empty():
        held = frame.select(pl.coalesce(pl.col("campaign_name").cast(pl.String), ids)).unique()
        names = sorted(str(n) for n in held.to_series())
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        msg = (f"no campaign {campaign!r} in {source} (id or name); it holds "
               f"{', '.join(names[:5]) or 'no campaign'}{more}")
        raise _CliError(msg, EXIT_DATA)
    return rows


def _fetched(campaign_id: str, *, length: int | None, ending_at: str | None, start: str | None,
             end: str | None, rest_endpoint: str | None) -> pl.DataFrame:
    """The campaign fetched over the range asked for, else over its whole life (its details)."""
    from ..endpoints.details import active_days, detail_date
    from ..fetch import campaign_details, fetch_data_series

    today = _utc_today()
    with _client(rest_endpoint) as client:
        if length is None and start is None:
            details = campaign_details(campaign_id, client=client)
            if detail_date(details.get("first_sent")) is None:
                msg = (f"the details of campaign {campaign_id} give no first send: pass --length N "
                       "or --start DATE for the days to read")
                raise _CliError(msg, EXIT_USAGE)
            span = active_days(details, dt.date.min, today)
            if isinstance(span, str):
                msg = f"campaign {campaign_id} has no data to read out: {span}"
                raise _CliError(msg, EXIT_DATA)
            start, end = span[0].isoformat(), span[1].isoformat()
        frame: pl.DataFrame = fetch_data_series(
            campaign_id, length=length, ending_at=ending_at, start=start, end=end, client=client,
            progress=_stderr_is_terminal())
    if frame.is_empty():
        msg = f"no data for campaign {campaign_id} in the days asked for"
        raise _CliError(msg, EXIT_DATA)
    return frame


def _print_readout(table: pl.DataFrame, frame: pl.DataFrame, *, rate: str, baseline: str,
                   alpha: float) -> None:
    import polars as pl

    if table.is_empty():
        _say("no variation to read out")
        return
    first, last = frame.select(pl.col("date").min().alias("a"), pl.col("date").max().alias("b")).row(0)
    interval = f"{(1 - alpha) * 100:g}% interval (pts)"
    against = "its control group" if baseline == "control" else repr(baseline)
    for (cid, channel), group in table.group_by("campaign_id", "channel", maintain_order=True):
        name = str(group.get_column("campaign_name").drop_nulls().first() or cid)
        click.echo(f"{name} ({channel!s}), {_day(first)} .. {_day(last)}: {rate} against {against}")
        rows = [
            {
                "variation": r["variation_name"] or r["variation"],
                "control": "yes" if r["is_control"] else "",
                "numerator": _count(r["numerator"]),
                "denominator": _count(r["denominator"]),
                "rate (%)": _number(r["rate"], 100),
                "lift (%)": _number(r["lift"], 100),
                "difference (pts)": _number(r["difference"], 100, 3),
                interval: "-" if r["ci_low"] is None else
                f"{_number(r['ci_low'], 100, 3)} .. {_number(r['ci_high'], 100, 3)}",
                "p-value": "-" if r["p_value"] is None else f"{r['p_value']:.3g}",
                "confidence (%)": _number(r["confidence"], 100),
                "significant": {True: "yes", False: "no", None: "-"}[r["significant"]],
                "winner": "WINNER" if r["winner"] else "",
            }
            for r in group.iter_rows(named=True)
        ]
        _print_frame(pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String)))
        if group.get_column("approximate").any():
            click.echo("  approximate: the denominators add up people counted once per day over "
                       "several days, so the\n  p-values are likely too small and the intervals too "
                       "narrow: read them as optimistic.")
        click.echo("  confidence = 1 - p-value says the rates differ, not which is better: the lift "
                   "gives the direction.")


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}" if value == round(value) else f"{value:,.2f}"


def _number(value: float | None, scale: float, digits: int = 2) -> str:
    if value is None:
        return "-"
    text = f"{value * scale:.{digits}f}"
    return text[1:] if text.lstrip("-0.") == "" and text.startswith("-") else text  # no "-0.00"


def _day(value: Any) -> str:
    return str(value.date() if isinstance(value, dt.datetime) else value)
