"""The ``braze-frames`` command line: demo, fetch, sync and sandbox.

::

    braze-frames demo       the whole job offline, against the built-in simulator
    braze-frames fetch      campaigns' daily analytics into one Parquet or CSV file
    braze-frames sync       keep a hive-partitioned Parquet dataset up to date
    braze-frames sandbox    serve the simulator (for notebooks and scripts)

Conventions (SPEC section 8): ``--help`` everywhere; exit status 0 on success, 1 on an API
or data error, 2 on a usage or configuration error, 130 on Ctrl-C; an error is one line on
standard error (``braze-frames: error: ...``), never a traceback. Progress bars go to
standard error, only when it is a terminal. The API key is read from ``BRAZE_API_KEY`` and
from nowhere else: a command-line flag would be visible to every user of the machine
(``ps``), and shell history keeps it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import logging
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, TextIO

import click

from .. import __version__
from .._errors import BrazeError, ConfigError, redact
from .._schema import ALL_CHANNEL, IN_APP_CHANNELS, PUSH_CHANNELS
from ..http.config import ENV_API_KEY, ENV_REST_ENDPOINT

if TYPE_CHECKING:
    import polars as pl

    from ..http.client import BrazeClient
    from ..sandbox import Sandbox

__all__ = ["EXIT_DATA", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "cli", "main", "run"]

PROG: Final = "braze-frames"
EXIT_OK: Final = 0
#: An API error (any ``BrazeError`` but ``ConfigError``), a data error, a file that cannot be written.
EXIT_DATA: Final = 1
#: A usage error (bad flags or arguments) or a configuration error (no key, bad endpoint).
EXIT_USAGE: Final = 2
#: Ctrl-C, as shells report SIGINT (128 + 2).
EXIT_INTERRUPTED: Final = 130
#: Set to 1 to get the traceback of an unexpected error (a bug) instead of its one line.
ENV_DEBUG: Final = "BRAZE_FRAMES_DEBUG"

_OUTPUT_FORMATS: Final = (".parquet", ".csv")
_CONTEXT: Final = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# The rates the demo ranks variations by, per channel: the "open" and the "click" rate a
# marketer reads first on Braze's dashboard for that channel.
_OPEN_RATES: Final[Mapping[str, str]] = {
    "email": "unique_open_rate",
    **dict.fromkeys(sorted(PUSH_CHANNELS), "direct_open_rate"),
    "whats_app": "read_rate",
}
_CLICK_RATES: Final[Mapping[str, str]] = {
    "email": "unique_click_rate",
    "sms": "click_rate",
    "content_cards": "unique_click_rate",
    **dict.fromkeys(sorted(IN_APP_CHANNELS), "click_rate"),
}
_TOP: Final = 5
_MAX_INTERNAL: Final = 400
_NAME_WIDTH: Final = 32


# --------------------------------------------------------------------------- plumbing


class _CliError(Exception):
    """An error already worded for the user, with its exit status."""

    def __init__(self, message: str, code: int = EXIT_DATA) -> None:
        super().__init__(message)
        self.code = code


def _redact(text: str) -> str:
    # Library errors never hold the key; this guards the messages of third-party code too.
    return redact(text, os.environ.get(ENV_API_KEY))


def _one_line(text: str) -> str:
    return " ".join(_redact(str(text)).split())


def _say(message: str) -> None:
    """A one-line notice on standard error (stdout stays for results)."""
    click.echo(f"{PROG}: {_one_line(message)}", err=True)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """``warnings.showwarning`` for the command line: one line, no source excerpt."""
    _say(f"warning: {message}")


def _stderr_is_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class _Day(click.ParamType):  # type: ignore[type-arg, unused-ignore]  # generic from click 8.2
    """A day as the library takes it: ``YYYY-MM-DD`` or an ISO datetime, passed on as text."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from ..endpoints.windows import parse_day

        try:
            parse_day(value, param.name if param is not None and param.name else "date")
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a date; use YYYY-MM-DD (or an ISO datetime)", param, ctx)
        return str(value)


_DAY: Final = _Day()


@contextlib.contextmanager
def _client(rest_endpoint: str | None) -> Iterator[BrazeClient]:
    """A client whose key comes from ``BRAZE_API_KEY`` only.

    The two settings a first run usually lacks are checked here, so that the message names
    this program's ways to give them (the library's would suggest ``api_key=``).
    """
    from ..http.client import BrazeClient

    if not os.environ.get(ENV_API_KEY, "").strip():
        msg = (f"no API key: set {ENV_API_KEY} (needs the campaigns.data_series permission); "
               "the key is read from the environment only, never from a flag")
        raise _CliError(msg, EXIT_USAGE)
    if rest_endpoint is None and not os.environ.get(ENV_REST_ENDPOINT, "").strip():
        msg = (f"no REST endpoint: pass --rest-endpoint (a URL or an instance name such as US-03) "
               f"or set {ENV_REST_ENDPOINT}")
        raise _CliError(msg, EXIT_USAGE)
    with BrazeClient(rest_endpoint=rest_endpoint) as client:
        yield client


def _rows(frame: Any) -> int:
    return len(frame)


def _fmt_int(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.0f}"


def _fmt_rate(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2%}"


def _fmt_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def _short(text: Any, width: int = _NAME_WIDTH) -> str:
    s = "-" if text is None else str(text)
    return s if len(s) <= width else s[: width - 3] + "..."


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> str:
    """A plain-text table (ASCII only, so it reads in any terminal or log)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs]
        return "  " + "  ".join(parts).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def _check_output(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _OUTPUT_FORMATS:
        msg = f"--output must end in .parquet or .csv, got {path.name!r}"
        raise click.BadParameter(msg, param_hint="'--output'")
    if path.is_dir():
        msg = f"{path} is a directory; give a file name such as {path / 'campaigns.parquet'}"
        raise click.BadParameter(msg, param_hint="'--output'")
    parent = path.parent if str(path.parent) else Path()
    if not parent.is_dir():
        msg = f"the directory {parent} does not exist; create it first"
        raise click.BadParameter(msg, param_hint="'--output'")
    return suffix


# --------------------------------------------------------------------------- the group


@click.group(context_settings=_CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name=PROG, message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True,
              help="Log retries and rate-limit waits (-v), or every request (-vv), on stderr.")
def cli(verbose: int) -> None:
    """Braze campaign analytics (GET /campaigns/data_series) as tidy tables and Parquet.

    \b
    Try it offline first:   braze-frames demo
    Real data:              export BRAZE_API_KEY=...  BRAZE_REST_ENDPOINT=US-03
                            braze-frames fetch CAMPAIGN_ID --length 30 -o out.parquet

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


# --------------------------------------------------------------------------- fetch


@cli.command(context_settings=_CONTEXT)
@click.argument("campaign_ids", metavar="CAMPAIGN_ID...", nargs=-1, required=True)
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
@click.option("--variation-names", is_flag=True,
              help="Fill variation_name from /campaigns/details (needs the campaigns.details permission).")
def fetch(campaign_ids: tuple[str, ...], length: int | None, ending_at: str | None, start: str | None,
          end: str | None, rest_endpoint: str | None, output: Path, backend: str,
          variation_names: bool) -> None:
    """Fetch campaigns' daily analytics into one tidy Parquet or CSV file.

    One row per (campaign_id, date, channel, variation, metric), whatever the number of
    days: ranges longer than Braze's 100 days are split into several requests.

    \b
    Examples:
      braze-frames fetch 0a1b2c... --length 30 -o last30.parquet
      braze-frames fetch ID1 ID2 --start 2025-01-01 --end 2025-06-30 -o h1.csv

    The key comes from $BRAZE_API_KEY (needs campaigns.data_series).
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    if (length is None) == (start is None):
        msg = "give either --length N (the days ending on --ending-at) or --start DATE [--end DATE]"
        raise click.UsageError(msg)
    if start is not None and ending_at is not None:
        raise click.UsageError("--ending-at goes with --length; with --start use --end")
    if length is not None and end is not None:
        raise click.UsageError("--end goes with --start; with --length use --ending-at")
    suffix = _check_output(output)

    from ..fetch import fetch_data_series
    from ..storage.parquet import write_csv, write_parquet

    with _client(rest_endpoint) as client:
        frame = fetch_data_series(
            list(campaign_ids), length=length, ending_at=ending_at, start=start, end=end,
            client=client, backend=backend,  # type: ignore[arg-type]
            variation_names=variation_names, progress=_stderr_is_terminal(),
        )
    written = write_csv(frame, output) if suffix == ".csv" else write_parquet(frame, output)
    dates = _date_range(frame)
    span = f", {dates[0]} .. {dates[1]}" if dates else ""
    n_campaigns = len(set(campaign_ids))
    click.echo(f"wrote {_rows(frame):,} rows ({n_campaigns} campaign{'s' * (n_campaigns != 1)}"
               f"{span}) to {written}")


def _date_range(frame: Any) -> tuple[dt.date, dt.date] | None:
    import narwhals.stable.v2 as nw

    df = nw.from_native(frame, eager_only=True)
    if len(df) == 0:
        return None
    low, high = df.select(nw.col("date").min().alias("lo"), nw.col("date").max().alias("hi")).row(0)
    as_date = [v.date() if isinstance(v, dt.datetime) else v for v in (low, high)]
    return as_date[0], as_date[1]


# --------------------------------------------------------------------------- sync


@cli.command(context_settings=_CONTEXT)
@click.argument("store", type=click.Path(path_type=Path, file_okay=False))
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
def sync(store: Path, campaign_ids: tuple[str, ...], start: str | None, end: str | None,
         lookback_days: int, rest_endpoint: str | None, keep_going: bool) -> None:
    """Bring a hive-partitioned Parquet dataset up to date, incrementally.

    Fetches only the days the STORE lacks, plus the last --lookback-days days again
    (conversions keep arriving for up to 30 days after a send, so Braze restates them).
    Without CAMPAIGN_IDs: every campaign /campaigns/list returns (needs campaigns.list)
    and those already in the store. The dataset is partitioned by campaign_id and month,
    readable by polars, DuckDB and Spark as it is. The key comes from $BRAZE_API_KEY.

    \b
    Example (e.g. daily from cron):
      braze-frames sync ./braze-store --start 2024-01-01
    """  # noqa: D301 - click's \b marks a paragraph it must not rewrap
    try:
        run_sync = importlib.import_module("braze_frames.storage.store").sync
    except (ImportError, AttributeError) as exc:
        if isinstance(exc, ImportError) and exc.name not in (None, "braze_frames.storage.store"):
            raise
        msg = "sync is not available in this version of braze-frames"
        raise _CliError(msg, EXIT_DATA) from None
    with _client(rest_endpoint) as client:
        report = run_sync(store, list(campaign_ids) or None, start=start, end=end,
                          lookback_days=lookback_days, client=client,
                          on_error="collect" if keep_going else "raise",
                          progress=_stderr_is_terminal())
    click.echo(_one_line(str(report)))
    failures = list(getattr(report, "failures", None) or [])
    for failure in failures[:_TOP]:
        _say(f"failed: {failure}")
    if failures:
        more = f" ({len(failures) - _TOP} more not shown)" if len(failures) > _TOP else ""
        msg = f"{len(failures)} request(s) failed{more}; their days are retried by the next sync"
        raise _CliError(msg, EXIT_DATA)


# --------------------------------------------------------------------------- sandbox


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
    """
    from ..sandbox import Sandbox

    server = Sandbox(seed, host=host, port=port, n_campaigns=campaigns, latency=latency,
                     fault_rate=fault_rate, rate_limit=rate_limit, ending_at_inclusive=inclusive)
    server.serve_forever()  # returns on Ctrl-C, the normal way to stop it
    _say("sandbox stopped")


# --------------------------------------------------------------------------- demo


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
    """
    from ..sandbox import Sandbox

    with Sandbox(seed=seed) as sb:
        _Demo(sb, out=out, days=days, campaigns=campaigns).run()


class _Demo:
    """The demo's steps, printing as it goes; every number comes from the sandbox."""

    def __init__(self, sb: Sandbox, *, out: Path, days: int, campaigns: int) -> None:
        self.sb = sb
        self.out = out
        self.days = days
        sent = [c for c in sb.catalogue if c.first_sent is not None]
        self.ids = [c.id for c in sent[:campaigns]]
        self.names: dict[str, str] = {}
        self.windows: dict[str, int] = {}
        self.written: list[tuple[Path, str]] = []  # (path, what it holds), for the report

    def run(self) -> None:
        from ..http.client import BrazeClient

        self._prepare_out()
        today = self.sb.today
        first = today - dt.timedelta(days=self.days - 1)
        click.echo(
            f"braze-frames demo: offline, against the built-in sandbox, a local SIMULATOR of "
            f"Braze's REST API\n(seed {self.sb.seed}). Every number below is simulated, not real data.\n"
        )
        with BrazeClient(self.sb.api_key, self.sb.url) as client:
            click.echo(f"Fetching {len(self.ids)} campaigns x {self.days} days ({first} .. {today}) "
                       f"from {self.sb.url} ...")
            started = time.perf_counter()
            df = self._fetch(client, first, today)
            seconds = time.perf_counter() - started
            requests_made = client.stats.requests
        click.echo(f"Fetched {len(df):,} rows in {seconds:.1f} s ({requests_made} requests, "
                   "100-day windows).\n")
        self._summary(df, first, today)
        self._files(df)
        self._best(df)
        self._reconcile(df)
        self._chart(df)
        self._report_files()
        tidy = self.out / "data_series.parquet"
        click.echo(
            "\nNext: read the files with polars, pandas, DuckDB or Spark, e.g.\n"
            f"  python -c \"import braze_frames as bf; print(bf.read_parquet('{tidy}'))\"\n"
            "  braze-frames sandbox    # serve the simulator for the notebooks"
        )

    def _prepare_out(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        dataset = self.out / "dataset"
        if dataset.exists():
            # Only a dataset this demo wrote is replaced; anything else is the user's.
            if not (dataset / "_common_metadata").is_file():
                msg = f"{dataset} exists and was not written by braze-frames; choose another --out"
                raise _CliError(msg, EXIT_USAGE)
            shutil.rmtree(dataset)

    def _fetch(self, client: BrazeClient, first: dt.date, last: dt.date) -> pl.DataFrame:
        from ..fetch import campaign_details, fetch_data_series

        for cid in self.ids:
            details = campaign_details(cid, client=client)
            self.names[cid] = str(details.get("name") or cid)
            behaviours = details.get("conversion_behaviors") or [{}]
            seconds = behaviours[0].get("window") if isinstance(behaviours[0], dict) else None
            # Braze gives the window in seconds; a partial day still needs a whole day of margin.
            self.windows[cid] = max(1, math.ceil(seconds / 86400)) if isinstance(seconds, int | float) else 30
        frame: pl.DataFrame = fetch_data_series(self.ids, start=first, end=last, client=client,
                                                variation_names=True, progress=_stderr_is_terminal())
        return frame

    def _summary(self, df: pl.DataFrame, first: dt.date, last: dt.date) -> None:
        import polars as pl

        with_data = df.get_column("campaign_id").n_unique()
        days_with_data = df.get_column("date").n_unique()
        channels = [c for c in df.get_column("channel").cast(pl.String).unique().sort() if c != ALL_CHANNEL]
        click.echo("Summary")
        for label, text in (
            ("rows", f"{len(df):,}"),
            ("campaigns", f"{with_data} with data (of {len(self.ids)} asked)"),
            ("days", f"{days_with_data} with data, {first} .. {last}"),
            ("channels", ", ".join(channels) or "-"),
            ("metrics", f"{df.get_column('metric').n_unique()} distinct"),
        ):
            click.echo(f"  {label:<10} {text}")
        per_channel = (
            df.with_columns(pl.col("channel", "variation", "campaign_id").cast(pl.String))
            .group_by("channel")
            .agg(pl.len().alias("rows"), pl.col("campaign_id").n_unique().alias("campaigns"),
                 pl.struct("campaign_id", "variation").filter(pl.col("variation").is_not_null())
                 .n_unique().alias("variations"), pl.col("metric").n_unique().alias("metrics"))
            .sort("rows", descending=True)
        )
        rows = [[ch, f"{n:,}", str(c), "-" if ch == ALL_CHANNEL else str(v), str(m)]
                for ch, n, c, v, m in per_channel.iter_rows()]
        click.echo("\nRows per channel (channel 'all' holds the day-level totals)")
        headers = ["channel", "rows", "campaigns", "variations", "metrics"]
        click.echo(_table(headers, rows, right=(1, 2, 3, 4)))

    def _files(self, df: pl.DataFrame) -> None:
        from ..storage.parquet import write_parquet
        from ..verbs.rates import rates

        self.written.append((write_parquet(df, self.out / "data_series.parquet"),
                             "the tidy table, one file"))
        dataset = write_parquet(df, self.out / "dataset", partition_by=True)
        self.written.append((dataset, "the same rows, hive-partitioned by campaign_id and month"))
        self.written.append((write_parquet(rates(df, "week"), self.out / "rates_weekly.parquet"),
                             "rates per variation and week"))
        self.total = rates(df, "total")
        self.written.append((write_parquet(self.total, self.out / "rates_total.parquet"),
                             "rates per variation, whole period"))

    def _report_files(self) -> None:
        rows = []
        for path, what in self.written:
            if path.is_dir():
                parts = [p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_"))]
                size = sum(p.stat().st_size for p in parts)
                rows.append([f"{path.name}/", _fmt_bytes(size), f"{what} ({len(parts)} files)"])
            else:
                rows.append([path.name, _fmt_bytes(path.stat().st_size), what])
        click.echo(f"\nFiles in {self.out}/")
        click.echo(_table(["file", "size", "what"], rows, right=(1,)))

    def _best(self, df: pl.DataFrame) -> None:
        import polars as pl

        variations = self.total.filter(pl.col("variation").is_not_null() & pl.col("value").is_not_null())
        click.echo("\nBest variations over the whole period (rate = sum(numerator) / sum(denominator))")
        sections = (
            ("Opens (each channel's own open rate)", _pick(variations, _OPEN_RATES)),
            ("Clicks (each channel's own click rate)", _pick(variations, _CLICK_RATES)),
            ("Conversions (control groups: per enrolled user)",
             variations.filter(pl.col("metric") == "conversion_rate")),
        )
        for title, chosen in sections:
            top = chosen.sort(["value", "campaign_id", "variation"],
                              descending=[True, False, False]).head(_TOP)
            if top.is_empty():
                continue
            rows = [
                [_short(self.names.get(r["campaign_id"], r["campaign_id"])), r["channel"],
                 _short(r["variation_name"] or r["variation"], 16), r["metric"], _fmt_rate(r["value"]),
                 f"{_fmt_int(r['numerator'])} / {_fmt_int(r['denominator'])}"]
                for r in top.iter_rows(named=True)
            ]
            click.echo(f"\n{title}")
            headers = ["campaign", "channel", "variation", "rate", "value", "numerator / denominator"]
            click.echo(_table(headers, rows, right=(4, 5)))

    def _reconcile(self, df: pl.DataFrame) -> None:
        import polars as pl

        from ..verbs.reconcile import reconcile

        pieces = []
        for cid in self.ids:
            one = df.filter(pl.col("campaign_id") == cid)
            if one.is_empty():
                continue
            summary = reconcile(one, summary=True, window_days=self.windows.get(cid, 30))
            primary = (pl.col("channel") == ALL_CHANNEL) & (pl.col("event") == "conversions")
            pieces.append(summary.filter(primary))
        if not pieces:
            return
        table = pl.concat(pieces, how="vertical_relaxed")
        from ..storage.parquet import write_parquet

        self.written.append((write_parquet(table, self.out / "reconcile.parquet"),
                             "conversions reconciled per campaign (summary)"))
        order = {cid: i for i, cid in enumerate(self.ids)}
        rows = []
        for r in sorted(table.iter_rows(named=True), key=lambda r: order.get(r["campaign_id"], len(order))):
            truth = self.sb.truth(r["campaign_id"]).observed_mean_lag(0)
            rows.append([
                _short(self.names.get(r["campaign_id"], r["campaign_id"])),
                _fmt_int(r["by_conversion_date"]), _fmt_int(r["by_send_date"]), _fmt_int(r["gap"]),
                {True: "yes", False: "NO", None: "-"}[r["within_bound"]],
                "-" if r["mean_lag_days"] is None else f"{r['mean_lag_days']:.2f}",
                "-" if truth is None else f"{truth:.2f}",
            ])
        click.echo("\nConversions by conversion date vs by send date (day-level totals, primary event)")
        click.echo(_table(["campaign", "by conversion", "by send", "gap", "edges explain it",
                           "mean lag (days)", "true lag"], rows, right=(1, 2, 3, 5, 6)))
        click.echo("  The gap comes from the window's edges: conversions inside it from earlier sends,\n"
                   "  minus later conversions of sends inside it. 'true lag' is the simulator's own.")

    def _chart(self, df: pl.DataFrame) -> None:
        import polars as pl

        pick = _chart_choice(self.total)
        if pick is None:
            click.echo("\nChart: no variation rate to draw.")
            return
        cid, rate = pick
        period = "week" if self.days > 60 else "day"
        path = self.out / "chart.png"
        try:
            from ..charts import plot

            fig = plot(df.filter(pl.col("campaign_id") == cid), rate=rate, period=period)  # type: ignore[arg-type]
        except ImportError:
            click.echo("\nChart: skipped, matplotlib is not installed (pip install 'braze-frames[plot]').")
            return
        from matplotlib.ticker import PercentFormatter

        ax = fig.axes[0]
        ax.set_title(f"{self.names.get(cid, cid)}: {rate} per {period}, per variation (simulated data)")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        handles, labels = ax.get_legend_handles_labels()
        if len(handles) > 1:
            ordered = sorted(zip(labels, handles, strict=True), key=lambda pair: pair[0])
            ax.legend([h for _, h in ordered], [lab for lab, _ in ordered], fontsize="small")
        fig.savefig(path, dpi=120)
        self.written.append((path, f"{rate} per {period}, per variation (PNG)"))
        click.echo(f"\nChart: {path} ({rate} per {period}, one line per variation of "
                   f"'{self.names.get(cid, cid)}')")


def _pick(frame: pl.DataFrame, wanted: Mapping[str, str]) -> pl.DataFrame:
    """The rows whose rate is the one ``wanted`` names for their channel."""
    import polars as pl

    pairs = pl.DataFrame({"channel": list(wanted), "metric": list(wanted.values())})
    return frame.join(pairs, on=["channel", "metric"], how="semi")


def _chart_choice(total: pl.DataFrame) -> tuple[str, str] | None:
    """The campaign with the most variations sharing a headline rate, and that rate."""
    import polars as pl

    headline = pl.concat([_pick(total, _OPEN_RATES), _pick(total, _CLICK_RATES)])
    headline = headline.filter(pl.col("variation").is_not_null() & pl.col("value").is_not_null())
    if headline.is_empty():
        return None
    counts = (
        headline.group_by("campaign_id", "metric")
        .agg(pl.col("variation").n_unique().alias("n"), pl.col("denominator").sum().alias("volume"))
        .sort(["n", "volume", "campaign_id"], descending=[True, True, False])
    )
    cid, metric = counts.row(0)[:2]
    return str(cid), str(metric)


# --------------------------------------------------------------------------- entry point


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status (``main`` exits with it).

    Args:
        argv: The arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        0 success, 1 API or data error, 2 usage or configuration error, 130 interrupted.
    """
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
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
            _say(f"error: {exc}")
            return EXIT_USAGE
        except RuntimeError as exc:
            if not _ours(exc):
                return _internal(exc)
            _say(f"error: {exc}")  # e.g. another sync holds the store's lock
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

