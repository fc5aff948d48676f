"""The ``braze-frames`` command line: demo, campaigns, fetch, sync, rates, reconcile, sandbox.

::

    braze-frames demo       the whole job offline, against the built-in simulator
    braze-frames campaigns  list the campaigns: names, channels, first and last sent, archived
    braze-frames fetch      campaigns' daily analytics into one Parquet or CSV file
    braze-frames sync       keep a hive-partitioned Parquet dataset up to date
    braze-frames rates      Braze's rates from a Parquet file or a store
    braze-frames reconcile  conversions by conversion date vs by send date, from the same
    braze-frames experiment the A/B readout of a campaign: lift, interval, confidence, winner
    braze-frames sandbox    serve the simulator (for notebooks and scripts)

The commands that read files (``rates``, ``reconcile``) live in ``_analyse``; the A/B
readout (``experiment``), which fetches or reads, in ``_experiment``.

Conventions (SPEC section 8): ``--help`` everywhere; exit status 0 on success, 1 on an API
or data error, 2 on a usage or configuration error, 130 on Ctrl-C; an error is one line on
standard error (``braze-frames: error: ...``), never a traceback. Progress bars go to
standard error, only when it is a terminal. The API key is read from ``BRAZE_API_KEY`` and
from nowhere else: a command-line flag would be visible to every user of the machine
(``ps``), and shell history keeps it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from .. import __version__
from .._errors import BrazeError, ConfigError
from ..http.config import ENV_REST_ENDPOINT
from ._support import (
    _CONTEXT,
    _DAY,
    _MAX_INTERNAL,
    _TOP,
    ENV_DEBUG,
    EXIT_DATA,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    _check_days,
    _check_output,
    _cli_terms,
    _client,
    _CliError,
    _one_line,
    _rows,
    _say,
    _show_warning,
    _stderr_is_terminal,
    _utc_today,
    _write,
)

__all__ = ["EXIT_DATA", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "cli", "main", "run"]


@click.group(context_settings=_CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name=PROG, message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True,
              help="Log retries and rate-limit waits (-v), or every request (-vv), on stderr.")
def cli(verbose: int) -> None:
    """Braze campaign analytics (GET /campaigns/data_series) as tidy tables and Parquet.

    \b
    Try it offline first:   braze-frames demo
    Real data:              export BRAZE_API_KEY=...  BRAZE_REST_ENDPOINT=US-03
                            braze-frames campaigns
                            braze-frames fetch --all --length 30 -o out.parquet
                            braze-frames rates out.parquet --period week

    The API key is read from BRAZE_API_KEY only, never from a flag (flags are visible to
    other users in the process list). Exit status: 0 success, 1 API or data error, 2 usage
    or configuration error, 130 interrupted.
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    logger = logging.getLogger("braze_frames")
    logger.setLevel(level)
    if not any(getattr(h, "_braze_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
        handler._braze_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


@cli.command(context_settings=_CONTEXT)
@click.argument("campaign_ids", metavar="[CAMPAIGN_ID...]", nargs=-1)
@click.option("--canvas", "canvas", is_flag=True,
              help="The ids are Canvas ids: fetch /canvas/data_series (needs canvas.data_series; "
                   "names from canvas.details).")
@click.option("--all", "every", is_flag=True,
              help="Every campaign whose active days overlap the range, archived ones too "
                   "(needs campaigns.list and campaigns.details).")
@click.option("--include-archived/--no-include-archived", default=True, show_default=True,
              help="With --all: include archived campaigns (they are history).")
@click.option("--length", type=click.IntRange(min=1), metavar="N",
              help="Number of days ending on --ending-at (that day included).")
@click.option("--ending-at", type=_DAY, metavar="DATE",
              help="Last day for --length: YYYY-MM-DD or an ISO datetime. Default: today (UTC).")
@click.option("--start", type=_DAY, metavar="DATE", help="First day, inclusive (instead of --length).")
@click.option("--end", type=_DAY, metavar="DATE",
              help="Last day for --start, inclusive. Default: today (UTC).")
@click.option("--rest-endpoint", metavar="URL|INSTANCE",
              help=f"REST endpoint URL or instance name (US-03, EU-01...). Default: ${ENV_REST_ENDPOINT}.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="File to write: .parquet or .csv (written atomically).")
@click.option("--backend", type=click.Choice(["polars", "pandas"]), default="polars", show_default=True,
              help="Frame library used in between (the file is the same).")
@click.option("--names/--no-names", default=True, show_default=True,
              help="Fill campaign_name and variation_name from /campaigns/details (needs "
                   "campaigns.details; without it the names stay empty, with a warning).")
@click.option("--series", metavar="KINDS",
              help="The workspace's series instead of campaigns, comma-separated: dau, mau, "
                   "new_users, uninstalls, sessions, events, revenue, purchase_quantity, "
                   "segment_size.")
@click.option("--series-key", "keys", multiple=True, metavar="KEY",
              help="With --series: an event name, product or segment id (repeat it); default "
                   "every event, every tracked segment, the purchase totals.")
@click.option("--app-id", metavar="ID", help="With --series: only this app.")
@click.option("--segment-id", metavar="ID", help="With --series: only this segment (sessions, events).")
@click.option("--unit", type=click.Choice(["day", "hour"]), default="day", show_default=True,
              help="With --series: days, or hours in UTC (sessions, events, purchases; "
                   "--length then counts hours).")
def fetch(campaign_ids: tuple[str, ...], canvas: bool, every: bool, include_archived: bool,
          length: int | None, ending_at: str | None, start: str | None, end: str | None,
          rest_endpoint: str | None, output: Path, backend: str, names: bool, series: str | None,
          keys: tuple[str, ...], app_id: str | None, segment_id: str | None, unit: str) -> None:
    """Fetch campaigns' (or Canvases', or the workspace's) daily analytics into one file.

    One row per (campaign_id, date, channel, variation, metric), with the campaign's and
    the variation's names, whatever the number of days: ranges longer than Braze's 100
    days are split into several requests. With --canvas the ids are Canvases': one row per
    (canvas_id, date, variant, step, channel, metric), in windows of 14 days. Dates are
    days in the company's time zone; the default end is today in UTC, which can be a day
    off the company's today.

    \b
    Examples:
      braze-frames fetch 0a1b2c... --length 30 -o last30.parquet
      braze-frames fetch ID1 ID2 --start 2025-01-01 --end 2025-06-30 -o h1.csv
      braze-frames fetch --all --start 2024-01-01 -o everything.parquet
      braze-frames fetch --all --no-include-archived --length 7 -o week.parquet
      braze-frames fetch --series dau,mau --length 90 -o kpis.parquet
      braze-frames fetch --series events --series-key signup --length 30 -o ev.csv
      braze-frames fetch --canvas CANVAS_ID --length 90 -o canvas.parquet

    With --all, campaigns that never sent or were active only outside the range are left
    out and named on stderr. The key comes from $BRAZE_API_KEY (needs campaigns.data_series,
    or canvas.data_series with --canvas).
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    series_only = {"--series-key": keys, "--app-id": app_id, "--segment-id": segment_id,
                   "--unit": unit != "day"}
    if series is None and any(series_only.values()):
        used = ", ".join(k for k, v in series_only.items() if v)
        raise click.UsageError(f"{used} go(es) with --series")
    if series is not None and (every or campaign_ids or canvas):
        raise click.UsageError("give campaign ids (or --all, or --canvas ids), or --series, not both")
    if series is not None:
        if (length is None) == (start is None):
            raise click.UsageError("give either --length N or --start DATE [--end DATE]")
        _check_days(start, end)
        _check_output(output)
        from ._series import fetch_series_command

        fetch_series_command(series, keys=keys, app_id=app_id, segment_id=segment_id, unit=unit,
                             length=length, ending_at=ending_at, start=start, end=end,
                             rest_endpoint=rest_endpoint, output=output, backend=backend,
                             names=names)
        return
    if canvas and (every or not include_archived):
        raise click.UsageError("--canvas takes Canvas ids; --all and --no-include-archived are for campaigns")
    if canvas and not campaign_ids:
        raise click.UsageError("--canvas needs Canvas ids (bf.list_canvases() lists them)")
    if every == bool(campaign_ids) and not canvas:
        msg = ("give campaign ids, or --all for every campaign, not both"
               if every else "give campaign ids, or --all for every campaign "
               "('braze-frames campaigns' lists them)")
        raise click.UsageError(msg)
    if not include_archived and not every:
        raise click.UsageError("--no-include-archived goes with --all")
    if (length is None) == (start is None):
        msg = "give either --length N (the days ending on --ending-at) or --start DATE [--end DATE]"
        raise click.UsageError(msg)
    if start is not None and ending_at is not None:
        raise click.UsageError("--ending-at goes with --length; with --start use --end")
    if length is not None and end is not None:
        raise click.UsageError("--end goes with --start; with --length use --ending-at")
    _check_days(start, end)
    _check_output(output)

    from ..endpoints.windows import resolve_range
    from ..fetch import NoDataWarning, fetch_data_series

    first, last = resolve_range(length=length, ending_at=ending_at, start=start, end=end,
                                today=_utc_today())
    with _client(rest_endpoint) as client, warnings.catch_warnings():
        # Said below in this program's terms, with the range asked for.
        warnings.simplefilter("ignore", NoDataWarning)
        if canvas:
            from ..canvas import fetch_canvas_series

            frame = fetch_canvas_series(
                list(campaign_ids), length=length, ending_at=ending_at, start=start, end=end,
                client=client, backend=backend, names=names,  # type: ignore[arg-type]
                progress=_stderr_is_terminal(),
            )
        else:
            frame = fetch_data_series(
                None if every else list(campaign_ids), length=length, ending_at=ending_at,
                start=start, end=end, client=client, backend=backend,  # type: ignore[arg-type]
                names=names, include_archived=include_archived, progress=_stderr_is_terminal(),
            )
    written = _write(frame, output)
    asked = (last - first).days + 1
    span = f"asked {first} .. {last} ({asked} day{'s' * (asked != 1)})"
    dates = _date_range(frame)
    kind, kinds = ("Canvas", "Canvases") if canvas else ("campaign", "campaigns")
    found = _campaigns_with_data(frame, "canvas" if canvas else "campaign")
    if dates is None:
        click.echo(f"wrote 0 rows to {written}: {span}")
        what = f"the {kinds} asked for" if not every else "any campaign"
        when = ("ran in this range (their first and last entries)" if canvas else
                "sent in this range ('braze-frames campaigns' shows first and last send dates)")
        _say(f"warning: no data for {what} from {first} to {last}: check that they {when}, and "
             "that its days have begun in the company's time zone (the default end is today in UTC)")
        return
    days_with_data = _n_dates(frame)
    named = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    of = f" of {len(set(campaign_ids))} asked for" if campaign_ids else ""
    click.echo(f"wrote {_rows(frame):,} rows to {written}: {len(found)} "
               f"{kind if len(found) == 1 else kinds} with data{of} ({named}); {span}; data on "
               f"{days_with_data} day{'s' * (days_with_data != 1)}, {dates[0]} .. {dates[1]}")


def _campaigns_with_data(frame: Any, table: str = "campaign") -> list[str]:
    """The campaigns (or Canvases) in a tidy frame, by name where known (else id), in order."""
    import narwhals.stable.v2 as nw

    df = nw.from_native(frame, eager_only=True)
    key, name = f"{table}_id", f"{table}_name"
    pairs = df.select(nw.col(key).cast(nw.String), nw.col(name).cast(nw.String))
    seen: dict[str, str] = {}
    for cid, name in pairs.unique(maintain_order=True).iter_rows():
        seen.setdefault(cid, name or cid)
    return list(seen.values())


def _n_dates(frame: Any) -> int:
    import narwhals.stable.v2 as nw

    return int(nw.from_native(frame, eager_only=True)["date"].n_unique())


def _date_range(frame: Any) -> tuple[dt.date, dt.date] | None:
    import narwhals.stable.v2 as nw

    df = nw.from_native(frame, eager_only=True)
    if len(df) == 0:
        return None
    low, high = df.select(nw.col("date").min().alias("lo"), nw.col("date").max().alias("hi")).row(0)
    as_date = [v.date() if isinstance(v, dt.datetime) else v for v in (low, high)]
    return as_date[0], as_date[1]


@cli.command(context_settings=_CONTEXT)
@click.argument("store", metavar="STORE")
@click.argument("campaign_ids", metavar="[CAMPAIGN_ID...]", nargs=-1)
@click.option("--start", type=_DAY, metavar="DATE",
              help="First day wanted; needed the first time a campaign enters the store (then remembered).")
@click.option("--end", type=_DAY, metavar="DATE", help="Last day wanted, inclusive. Default: today (UTC).")
@click.option("--lookback-days", type=click.IntRange(min=0), default=30, show_default=True,
              help="Recent days fetched again on every run, because Braze restates them.")
@click.option("--rest-endpoint", metavar="URL|INSTANCE",
              help=f"REST endpoint URL or instance name. Default: ${ENV_REST_ENDPOINT}.")
@click.option("--keep-going", is_flag=True,
              help="On a failed request, sync the rest and exit 1 at the end (the next run retries it).")
@click.option("--include-archived/--no-include-archived", default=True, show_default=True,
              help="Without CAMPAIGN_IDs: include archived campaigns (they are history).")
@click.option("--format", "store_format", type=click.Choice(["parquet", "delta"]), default="parquet",
              show_default=True, help="A month-partitioned Parquet dataset, or a Delta Lake table "
              "(pip install 'braze-frames[delta]').")
@click.option("--storage-option", "storage_options", metavar="KEY=VALUE", multiple=True,
              help="Object-store setting in polars' and deltalake's names, e.g. "
              "aws_region=eu-west-1 (repeatable); credentials come from the environment.")
@click.option("--canvases", "canvases", multiple=True, metavar="ID[,ID...]",
              help="Canvases to sync into the store's Canvas table (comma-separated or repeated; "
                   "needs canvas.data_series).")
@click.option("--series", "series", multiple=True, metavar="KIND[,KIND...]",
              help="Workspace series to sync into the store's series table, daily with every key: "
                   "dau, mau, new_users, uninstalls, sessions, events, revenue, purchase_quantity, "
                   "segment_size (comma-separated or repeated).")
def sync(store: str, campaign_ids: tuple[str, ...], start: str | None, end: str | None,
         lookback_days: int, rest_endpoint: str | None, keep_going: bool,
         include_archived: bool, store_format: str, storage_options: tuple[str, ...],
         canvases: tuple[str, ...], series: tuple[str, ...]) -> None:
    """Bring a store up to date, incrementally: a local folder or an s3://, gs://, az:// URI.

    Fetches only the days the STORE lacks, plus the last --lookback-days days again
    (conversions keep arriving for up to 30 days after a send, so Braze restates them).
    Without CAMPAIGN_IDs: every campaign active in the range, archived ones too (needs
    campaigns.list and campaigns.details), and those already in the store. --canvases keeps
    Canvases in the same store, apart (STORE/_canvas/), and --series the workspace series
    (STORE/_series/); a sync naming none of them brings every table the store holds up to
    date. The store is partitioned by
    month, readable by polars, DuckDB and Spark as it is; one sync at a time holds its lock.
    The key comes from $BRAZE_API_KEY.

    \b
    Examples (e.g. daily from cron):
      braze-frames sync ./braze-store --start 2024-01-01
      braze-frames sync ./braze-store ID1 ID2 --start 2025-01-01 --keep-going
      braze-frames sync s3://bucket/braze --start 2024-01-01 --storage-option aws_region=eu-west-1
      braze-frames sync ./braze-delta --format delta --start 2024-01-01
      braze-frames sync ./braze-store --canvases K1,K2 --start 2025-01-01
      braze-frames sync ./braze-store --series dau,mau,events --start 2025-01-01
      braze-frames rates ./braze-store --period month
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    from ..storage.store import sync as run_sync

    _check_days(start, end)
    options = _storage_options(storage_options)
    canvas_ids = [c.strip() for value in canvases for c in value.split(",") if c.strip()]
    kinds = [k.strip() for value in series for k in value.split(",") if k.strip()]
    with _client(rest_endpoint) as client:
        report = run_sync(store, list(campaign_ids) or None, start=start, end=end,
                          lookback_days=lookback_days, client=client,
                          on_error="collect" if keep_going else "raise",
                          progress=_stderr_is_terminal(), include_archived=include_archived,
                          format=store_format,  # type: ignore[arg-type]  # click checked it
                          storage_options=options, canvases=canvas_ids or None,
                          series=kinds or None)
    click.echo(_sync_line(report))
    skipped = list(report.skipped.items())
    for cid, why in skipped[:_TOP]:
        _say(f"skipped: {cid}: {why}")
    if len(skipped) > _TOP:
        _say(f"skipped: {len(skipped) - _TOP} more campaign(s) not shown (SyncReport.skipped has all)")
    failures = list(report.failures)
    for failure in failures[:_TOP]:
        _say(f"failed: {failure}")
    if failures:
        more = f" ({len(failures) - _TOP} more not shown)" if len(failures) > _TOP else ""
        msg = f"{len(failures)} request(s) failed{more}; their days are retried by the next sync"
        raise _CliError(msg, EXIT_DATA)


def _storage_options(pairs: Sequence[str]) -> dict[str, str] | None:
    """``KEY=VALUE`` flags as a mapping; a malformed one is a usage error."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            msg = f"--storage-option takes KEY=VALUE (e.g. aws_region=eu-west-1), not {pair!r}"
            raise _CliError(msg, EXIT_USAGE)
        options[key.strip()] = value.strip()
    return options or None


def _sync_line(report: Any) -> str:
    """What a sync did, in one line.

    Rows are counted as fetched, partitions as changed: a rerun that fetches the same
    numbers again leaves every file alone, which "8184 rows written, 0 partitions
    rewritten" made read like a contradiction.
    """
    changed = report.partitions_rewritten
    files = (f"{changed:,} partition{'s' * (changed != 1)} changed" if changed
             else "no partition changed (the store already held these numbers)")
    what, unit = report.tables()
    return _one_line(
        f"synced {what} into {report.store}: "
        f"{report.days_fetched:,} {unit} fetched ({report.rows_written:,} rows) in "
        f"{report.requests:,} request{'s' * (report.requests != 1)}; {files}; {report.seconds:.1f} s"
    )


@cli.command(context_settings=_CONTEXT)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to listen on; 0 picks a free one (the banner shows it).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the catalogue, data and keys.")
@click.option("--campaigns", type=click.IntRange(min=0), metavar="K",
              help="Campaigns served: fewer keeps the first ones, more adds synthetic ones. Default: 20.")
@click.option("--latency", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="S",
              help="Seconds added to every response.")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True, metavar="P",
              help="Probability that a request meets a fault (5xx, HTML page, cut body, reset...).")
@click.option("--rate-limit", type=click.IntRange(min=1), metavar="N",
              help="Requests per minute per key. Default: 50,000, Braze's.")
@click.option("--inclusive", is_flag=True,
              help="Read ending_at inclusively (D-N+1..D) instead of Braze's recorded D-N..D-1.")
def sandbox(port: int, host: str, seed: int, campaigns: int | None, latency: float, fault_rate: float,
            rate_limit: int | None, inclusive: bool) -> None:
    """Serve the sandbox, a local SIMULATOR of Braze's REST API, until Ctrl-C.

    It answers /campaigns/data_series, /campaigns/list and /campaigns/details with
    Braze's shapes, errors and rate-limit headers; its numbers are simulated, not real
    data. The banner prints its URL and a key to export for fetch, sync or a notebook.

    \b
    Examples:
      braze-frames sandbox --port 8080
      braze-frames sandbox --campaigns 200 --latency 0.05 --fault-rate 0.1
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    from ..sandbox import Sandbox

    server = Sandbox(seed, host=host, port=port, n_campaigns=campaigns, latency=latency,
                     fault_rate=fault_rate, rate_limit=rate_limit, ending_at_inclusive=inclusive)
    server.serve_forever()  # returns on Ctrl-C, the normal way to stop it
    _say("sandbox stopped")


@cli.command(context_settings=_CONTEXT)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("braze-demo"),
              show_default=True, help="Directory for the Parquet files and the chart (created).")
@click.option("--seed", type=int, default=0, show_default=True, help="The simulator's seed.")
@click.option("--days", type=click.IntRange(min=1), default=730, show_default=True, metavar="N",
              help="Days of history, ending today (windows of 100 days are split and overlap).")
@click.option("--campaigns", type=click.IntRange(min=1), default=12, show_default=True, metavar="K",
              help="How many of the simulator's campaigns (the first K that were ever sent).")
def demo(out: Path, seed: int, days: int, campaigns: int) -> None:
    """Run the whole job offline, against the built-in sandbox (a SIMULATOR).

    Starts the simulator in this process, fetches several campaigns over a long range,
    writes a tidy Parquet file and a hive-partitioned dataset, prints a summary, the best
    variations by rate and the conversion reconciliation, and saves a chart. No key or
    network needed: every number is simulated.

    \b
    Examples:
      braze-frames demo
      braze-frames demo --out /tmp/demo --days 90 --campaigns 4
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    from ..sandbox import Sandbox

    with Sandbox(seed=seed) as sb:
        from ..demo import Demo

        Demo(sb, out=out, days=days, campaigns=campaigns).run()


from ._analyse import campaigns, rates, reconcile  # noqa: E402 - after the group they join
from ._experiment import experiment  # noqa: E402 - after the group it joins

cli.add_command(campaigns)
cli.add_command(rates)
cli.add_command(reconcile)
cli.add_command(experiment)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status (``main`` exits with it).

    Args:
        argv: The arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        0 success, 1 API or data error, 2 usage or configuration error, 130 interrupted.
    """
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        # Warnings are what this program has to say besides errors: one line each, even
        # where the environment turns warnings into errors (PYTHONWARNINGS, a test runner).
        warnings.simplefilter("default", UserWarning)
        try:
            code = cli.main(args=list(argv) if argv is not None else None, prog_name=PROG,
                            standalone_mode=False)
        except (KeyboardInterrupt, click.Abort):
            _say("interrupted")
            return EXIT_INTERRUPTED
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message(), err=True)
            return EXIT_USAGE
        except click.ClickException as exc:
            hint = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                hint = f" (see '{exc.ctx.command_path} --help')"
            _say(f"error: {exc.format_message()}{hint}")
            return exc.exit_code if exc.exit_code in (EXIT_DATA, EXIT_USAGE) else EXIT_USAGE
        except _CliError as exc:
            _say(f"error: {exc}")
            return exc.code
        except ConfigError as exc:
            _say(f"error: {exc}")
            return EXIT_USAGE
        except BrazeError as exc:
            _say(f"error: {type(exc).__name__}: {exc}")
            return EXIT_DATA
        except (ValueError, TypeError, ImportError) as exc:
            if not _ours(exc):
                return _internal(exc)
            # braze_frames checks every argument before it does anything (or needs an
            # optional package, e.g. pandas for --backend pandas): a usage problem.
            _say(f"error: {_cli_terms(str(exc))}")
            return EXIT_USAGE
        except RuntimeError as exc:
            if not _ours(exc):
                return _internal(exc)
            _say(f"error: {_cli_terms(str(exc))}")  # e.g. another sync holds the store's lock
            return EXIT_DATA
        except OSError as exc:
            _say(f"error: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
            return EXIT_DATA
        except Exception as exc:  # noqa: BLE001 - reported in one line, traceback on request
            return _internal(exc)
    return code if isinstance(code, int) else EXIT_OK


def _ours(exc: BaseException) -> bool:
    """Whether an exception comes from braze_frames (or Python), not from a dataframe engine.

    A ``ValueError`` raised deep inside polars, narwhals or pyarrow is a bug to report, not
    a usage error; so is any unexpected exception.
    """
    module = type(exc).__module__.split(".", 1)[0]
    return module in {"builtins", "braze_frames", "click"}


def _internal(exc: BaseException) -> int:
    # A bug: still one line (a scheduler may read it), with the way to see more.
    if os.environ.get(ENV_DEBUG) == "1":
        raise exc
    text = _one_line(str(exc))
    if len(text) > _MAX_INTERNAL:
        text = text[: _MAX_INTERNAL - 3] + "..."
    _say(f"internal error: {type(exc).__name__}: {text} (set {ENV_DEBUG}=1 for the traceback)")
    return EXIT_DATA


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``braze-frames`` console script."""
    sys.exit(run(argv))
