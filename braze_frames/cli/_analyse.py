"""The commands that describe campaigns and read tidy files: campaigns, rates, reconcile.

``rates`` and ``reconcile`` read a Parquet file, a partitioned dataset or a ``sync`` store,
call the verbs through ``braze_frames`` (``bf.rates``, ``bf.reconcile``) and print a table
with names where the verbs give ids. ``reconcile`` asks the API for the campaigns'
details (event names, conversion windows) when a key is configured, and reconciles
without them otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ..http.config import ENV_API_KEY, ENV_REST_ENDPOINT
from ._support import (
    _CONTEXT,
    EXIT_USAGE,
    _check_output,
    _client,
    _CliError,
    _configured,
    _print_frame,
    _save,
    _say,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = ["campaigns", "rates", "reconcile"]

_KEYS: Final = ("campaign_id", "channel", "variation")
#: Rows a table prints unless --rows says otherwise; -o writes them all.
_ROWS: Final = 40
_ROWS_HELP: Final = f"Rows to print (default {_ROWS}); -o writes every row."
_SOURCE_HELP: Final = "a Parquet file, a partitioned dataset or a store written by 'braze-frames sync'"


# ------------------------------------------------------------------------------- campaigns


@click.command(context_settings=_CONTEXT)
@click.option("--archived", is_flag=True, help="Include archived campaigns.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON array of objects instead of a table (for scripts).")
@click.option("--rest-endpoint", metavar="URL|INSTANCE",
              help=f"REST endpoint URL or instance name (US-03, EU-01...). Default: ${ENV_REST_ENDPOINT}.")
def campaigns(archived: bool, as_json: bool, rest_endpoint: str | None) -> None:
    """List the campaigns: name, id, channels, first and last sent, archived.

    Reads /campaigns/list, then each campaign's /campaigns/details (needs campaigns.list
    and campaigns.details; without the latter, names come from the list and the other
    columns stay empty, with a warning). Most recently sent first; never sent last.

    \b
    Examples:
      braze-frames campaigns
      braze-frames campaigns --archived
      braze-frames campaigns --json > campaigns.json

    The key comes from $BRAZE_API_KEY.
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    from ..fetch import _read_details, list_campaigns

    with _client(rest_endpoint, needs="campaigns.list") as client:
        listed = list_campaigns(client=client, include_archived=archived)
        ids = [str(c["id"]) for c in listed if isinstance(c.get("id"), str) and c["id"]]
        # Which are archived: the details say so; the list without archived ones tells too.
        active = ids if not archived else [
            str(c["id"]) for c in list_campaigns(client=client) if isinstance(c.get("id"), str)]
        details, errors = _read_details(client, ids)
    if errors:
        _say(f"warning: no details for {len(errors)} campaign(s) ({_why(errors)}): their "
             "channels and send dates are unknown; names come from the campaign list")
    rows = [_campaign_row(c, details.get(str(c["id"])), set(active)) for c in listed
            if isinstance(c.get("id"), str) and c["id"]]
    rows.sort(key=lambda r: (r["last_sent"] is None, _neg_date(r["last_sent"]), r["name"] or ""))
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no campaigns" + ("" if archived else " (--archived includes archived ones)"))
        return
    import polars as pl

    table = pl.DataFrame(
        [{**r, "channels": ", ".join(r["channels"])} for r in rows],
        schema={"name": pl.String, "campaign_id": pl.String, "channels": pl.String,
                "first_sent": pl.String, "last_sent": pl.String, "archived": pl.Boolean},
        orient="row",
    )
    _print_frame(table)
    n_archived = sum(bool(r["archived"]) for r in rows)
    tail = f", {n_archived} archived" if archived else " (--archived includes archived ones)"
    click.echo(f"{len(rows)} campaign{'s' * (len(rows) != 1)}{tail}")


def _campaign_row(listed: Mapping[str, Any], details: Mapping[str, Any] | None,
                  active: set[str]) -> dict[str, Any]:
    from ..endpoints.details import campaign_name_of, detail_date

    cid = str(listed["id"])
    name = campaign_name_of(details) or (listed.get("name") if isinstance(listed.get("name"), str) else None)
    channels = details.get("channels") if details is not None else None
    flag = details.get("archived") if details is not None else None
    first = detail_date(details.get("first_sent")) if details is not None else None
    last = detail_date(details.get("last_sent")) if details is not None else None
    return {
        "name": name,
        "campaign_id": cid,
        "channels": [str(c) for c in channels] if isinstance(channels, list) else [],
        "first_sent": first.isoformat() if first else None,
        "last_sent": last.isoformat() if last else None,
        "archived": flag if isinstance(flag, bool) else cid not in active,
    }


def _neg_date(text: str | None) -> int:
    import datetime as dt

    return -dt.date.fromisoformat(text).toordinal() if text else 0


def _why(errors: Mapping[str, Any]) -> str:
    from .._errors import PermissionDeniedError

    if all(isinstance(e, PermissionDeniedError) for e in errors.values()):
        return "the API key lacks the campaigns.details permission"
    first = next(iter(errors.values()))
    return f"{type(first).__name__}: {getattr(first, 'message', first)}"


# ----------------------------------------------------------------------------------- rates


@click.command(context_settings=_CONTEXT)
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--period", type=click.Choice(["day", "week", "month", "total"]), default="total",
              show_default=True, help="Sum numerators and denominators over each period.")
@click.option("--by", "by", metavar="KEYS", default=",".join(_KEYS), show_default=True,
              help="Key columns to keep, comma-separated, from campaign_id, channel, variation; "
                   "the others are summed over.")
@click.option("--rate", "rate_names", metavar="NAME", multiple=True,
              help="Only this rate (repeat, or separate with commas): unique_open_rate, "
                   "click_rate, conversion_rate... Default: every rate the data allows.")
@click.option("--rows", type=click.IntRange(min=1), default=_ROWS, show_default=True, help=_ROWS_HELP)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the whole table: .parquet or .csv.")
def rates(source: Path, period: str, by: str, rate_names: tuple[str, ...], rows: int,
          output: Path | None) -> None:
    """Braze's rates (open, click, conversion...) from a tidy file or store.

    SOURCE is a Parquet file, a partitioned dataset, or a store written by
    'braze-frames sync'. Each rate is sum(numerator) / sum(denominator) over the period,
    as Braze's dashboard defines it; the table shows campaign and variation names.

    \b
    Examples:
      braze-frames rates last30.parquet
      braze-frames rates ./braze-store --period week --rate unique_open_rate
      braze-frames rates ./braze-store --by campaign_id --rate conversion_rate,click_rate
      braze-frames rates last30.parquet --period month -o monthly_rates.csv
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    import braze_frames as bf

    keys = _split(by)
    unknown = [k for k in keys if k not in _KEYS]
    if unknown or not keys:
        msg = f"--by takes key columns from {', '.join(_KEYS)} (comma-separated), got {by!r}"
        raise click.BadParameter(msg, param_hint="'--by'")
    wanted = [n for text in rate_names for n in _split(text)]
    known = sorted({r.name for r in bf.RATES})
    # conversion_rate4 and beyond exist when the data has conversions4...
    events = re.compile(r"(cohort_)?conversion_rate\d*")
    bad = [n for n in wanted if n not in known and not events.fullmatch(n)]
    if bad:
        msg = f"unknown rate {', '.join(bad)}; choose from {', '.join(known)}"
        raise click.BadParameter(msg, param_hint="'--rate'")
    if output is not None:
        _check_output(output)
    frame = _read_source(source)
    table = bf.rates(frame, period, keys, rates=wanted or None)  # type: ignore[arg-type]
    table = _with_names(table, frame)
    _save(table, output)
    if table.is_empty():
        _say(f"no rates: {source} holds none of the metrics these rates need"
             + (f" ({', '.join(wanted)})" if wanted else ""))
        return
    shown = _display(table, ("date", "metric", "value", "numerator", "denominator", "days", "complete"))
    _print_frame(shown, rows=rows, float_precision=4)


# ------------------------------------------------------------------------------- reconcile


@click.command(context_settings=_CONTEXT)
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--daily", is_flag=True,
              help="One row per day (with the running difference) instead of the summary.")
@click.option("--window-days", type=click.IntRange(1, 30), metavar="N",
              help="Conversion window in days, for every event. Default: each event's own, "
                   "from /campaigns/details when the API is reachable, else 30.")
@click.option("--offline", is_flag=True, help="Do not ask the API for the campaigns' details.")
@click.option("--rest-endpoint", metavar="URL|INSTANCE",
              help=f"REST endpoint URL or instance name, for the details. Default: ${ENV_REST_ENDPOINT}.")
@click.option("--rows", type=click.IntRange(min=1), default=_ROWS, show_default=True, help=_ROWS_HELP)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the whole table: .parquet or .csv.")
def reconcile(source: Path, daily: bool, window_days: int | None, offline: bool,
              rest_endpoint: str | None, rows: int, output: Path | None) -> None:
    """Conversions by conversion date vs by send date, from a tidy file or store.

    Braze counts each conversion twice: on the day it happened (conversions) and on the
    day its message was sent (conversions_by_send_time). Over a window the two differ by
    what the window's edges cut off; the summary says whether the gap is within what the
    conversion window explains, and estimates the mean lag from send to conversion.

    With $BRAZE_API_KEY set, the campaigns' details give each event its name and its own
    conversion window; --offline (or no key) reconciles without them.

    \b
    Examples:
      braze-frames reconcile last30.parquet
      braze-frames reconcile ./braze-store --daily --rows 100
      braze-frames reconcile last30.parquet --offline --window-days 3 -o gaps.csv
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    if output is not None:
        _check_output(output)
    frame = _read_source(source)
    details = None if offline else _details_for(frame, rest_endpoint)
    table = _reconcile(frame, summary=not daily, window_days=window_days, details=details)
    table = _with_names(table, frame)
    _save(table, output)
    if table.is_empty():
        _say(f"nothing to reconcile: {source} holds no conversions with their "
             "conversions_by_send_time twins")
        return
    values = (("date", "by_conversion_date", "by_send_date", "difference", "cumulative_difference")
              if daily else ("first_date", "last_date", "by_conversion_date", "by_send_date", "gap",
                             "gap_share", "edge_bound", "within_bound", "mean_lag_days"))
    _print_frame(_display(table, ("event", "event_name", *values)), rows=rows, float_precision=3)


def _reconcile(frame: pl.DataFrame, *, summary: bool, window_days: int | None,
               details: Mapping[str, Any] | None) -> pl.DataFrame:
    """``bf.reconcile`` with the campaigns' details when there are any (SPEC section 6)."""
    import braze_frames as bf

    result: pl.DataFrame = bf.reconcile(
        frame, summary=summary, window_days=window_days, details=None if details is None else dict(details)
    )
    return result


def _details_for(frame: pl.DataFrame, rest_endpoint: str | None) -> dict[str, Any] | None:
    """The campaigns' details, when the API can be reached; None (with a notice) otherwise."""
    import polars as pl

    import braze_frames as bf

    from .._errors import BrazeError, ConfigError

    if not _configured(rest_endpoint):
        _say(f"note: reconciling without the campaigns' details (set {ENV_API_KEY} and "
             f"{ENV_REST_ENDPOINT} for each event's name and conversion window)")
        return None
    ids = [str(c) for c in frame.get_column("campaign_id").cast(pl.String).unique(maintain_order=True)]
    if not ids:
        return None
    try:
        with _client(rest_endpoint, needs="campaigns.details", max_retries=2) as client:
            found: dict[str, Any] = bf.campaign_details(ids, client=client)
    except ConfigError:
        raise
    except BrazeError as exc:
        _say(f"warning: reconciling without the campaigns' details: {type(exc).__name__}: "
             f"{getattr(exc, 'message', exc)}")
        return None
    return found


# ---------------------------------------------------------------------------- shared parts


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _read_source(source: Path) -> pl.DataFrame:
    """A tidy frame from a Parquet file, a dataset directory or a sync store."""
    import braze_frames as bf

    if source.is_dir():
        from ..storage import manifest

        name = getattr(manifest, "MANIFEST_NAME", "_braze_sync.json")
        if (source / name).exists():
            frame: pl.DataFrame = bf.read_store(source)
            return frame
    elif source.suffix.lower() not in (".parquet", ".pq"):
        msg = f"{source} is not a Parquet file; give {_SOURCE_HELP}"
        raise _CliError(msg, EXIT_USAGE)
    read: pl.DataFrame = bf.read_parquet(source)
    return read


def _with_names(table: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``campaign_name`` (and ``variation_name``) from the tidy frame where the verb gave none."""
    import polars as pl

    if "campaign_id" in table.columns and "campaign_name" not in table.columns:
        names = (frame.select(pl.col("campaign_id").cast(pl.String), pl.col("campaign_name").cast(pl.String))
                 .group_by("campaign_id").agg(pl.col("campaign_name").drop_nulls().max()))
        table = (table.with_columns(pl.col("campaign_id").cast(pl.String).alias("_cid"))
                 .join(names.rename({"campaign_id": "_cid"}), on="_cid", how="left").drop("_cid"))
        at = table.columns.index("campaign_id") + 1
        order = [*table.columns[:at], "campaign_name", *table.columns[at:-1]]
        table = table.select(order)
    if {"campaign_id", "variation"} <= set(table.columns) and "variation_name" not in table.columns:
        pairs = (frame.select(pl.col("campaign_id", "variation", "variation_name").cast(pl.String))
                 .drop_nulls("variation").group_by("campaign_id", "variation")
                 .agg(pl.col("variation_name").drop_nulls().max()))
        keys = table.select(pl.col("campaign_id", "variation").cast(pl.String))
        table = table.with_columns(
            keys.join(pairs, on=["campaign_id", "variation"], how="left",
                      maintain_order="left").get_column("variation_name"))
    return table


def _display(table: pl.DataFrame, values: Sequence[str]) -> pl.DataFrame:
    """The columns a person reads: names where known (ids otherwise), then ``values``."""
    import polars as pl

    shown: list[pl.Expr] = []
    if "campaign_id" in table.columns:
        name = pl.col("campaign_name") if "campaign_name" in table.columns else pl.lit(None)
        shown.append(pl.coalesce(name.cast(pl.String), pl.col("campaign_id").cast(pl.String))
                     .alias("campaign"))
    if "channel" in table.columns:
        shown.append(pl.col("channel").cast(pl.String))
    if "variation" in table.columns:
        name = pl.col("variation_name") if "variation_name" in table.columns else pl.lit(None)
        shown.append(pl.coalesce(name.cast(pl.String), pl.col("variation").cast(pl.String))
                     .alias("variation"))
    shown.extend(pl.col(c).cast(pl.String) if table.schema[c] == pl.Categorical else pl.col(c)
                 for c in values if c in table.columns)
    out = table.select(shown)
    # Counts arrive as floats (the tidy value column is Float64): shown as the integers
    # they are; "-" where a name or key is null (the day totals have no variation).
    whole = [c for c, t in out.schema.items() if t == pl.Float64 and c != "value"
             and bool((out.get_column(c) == out.get_column(c).round(0)).all())]
    return out.with_columns(pl.col(whole).cast(pl.Int64),
                            pl.col(pl.String).fill_null("-"))

