"""``braze-frames demo``: the whole job, offline, against the built-in sandbox (a simulator).

Fetch several campaigns over a long range through the same code path a real key uses,
write Parquet, print a summary, the best variations by Braze's rates, the
reconciliation of conversions, the A/B readout of an experiment, one Canvas's variants,
and save a chart. Every number is
simulated.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ._schema import ALL_CHANNEL, IN_APP_CHANNELS, PUSH_CHANNELS
from .cli._support import (
    _TOP,
    EXIT_USAGE,
    _CliError,
    _fmt_bytes,
    _print_frame,
    _stderr_is_terminal,
)

if TYPE_CHECKING:
    import polars as pl

    from .http.client import BrazeClient
    from .sandbox import Sandbox

__all__ = ["Demo"]

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



class Demo:
    """The demo's steps, printing as it goes; every number comes from the sandbox."""

    def __init__(self, sb: Sandbox, *, out: Path, days: int, campaigns: int) -> None:
        self.sb = sb
        self.out = out
        self.days = days
        sent = [c for c in sb.catalogue if c.first_sent is not None]
        self.ids = [c.id for c in sent[:campaigns]]
        self.names: dict[str, str] = {}
        self.details: dict[str, Any] = {}
        self.written: list[tuple[Path, str]] = []  # (path, what it holds), for the report

    def run(self) -> None:
        """Fetch, write, print and chart, in that order."""
        from .http.client import BrazeClient

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
        self._experiment(today)
        self._canvas(first, today)
        self._chart(df)
        self._workspace(today)
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
        from .endpoints.details import campaign_name_of
        from .fetch import campaign_details, fetch_data_series

        # Names and conversion windows; the client caches them, so the fetch that follows
        # fills campaign_name and variation_name without asking again.
        self.details = campaign_details(self.ids, client=client)
        self.names = {cid: campaign_name_of(d) or cid for cid, d in self.details.items()}
        frame: pl.DataFrame = fetch_data_series(self.ids, start=first, end=last, client=client,
                                                progress=_stderr_is_terminal())
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
        per_channel = per_channel.with_columns(
            pl.when(pl.col("channel") != ALL_CHANNEL).then(pl.col("variations")))
        click.echo("\nRows per channel (channel 'all' holds the day-level totals)")
        _print_frame(per_channel)

    def _files(self, df: pl.DataFrame) -> None:
        from .storage.parquet import write_parquet
        from .verbs.rates import rates

        self.written.append((write_parquet(df, self.out / "data_series.parquet"),
                             "the tidy table, one file"))
        dataset = write_parquet(df, self.out / "dataset", partition_by=True)
        self.written.append((dataset, "the same rows, hive-partitioned by month"))
        self.written.append((write_parquet(rates(df, "week"), self.out / "rates_weekly.parquet"),
                             "rates per variation and week"))
        self.total = rates(df, "total")
        self.written.append((write_parquet(self.total, self.out / "rates_total.parquet"),
                             "rates per variation, whole period"))

    def _report_files(self) -> None:
        import polars as pl

        rows = []
        for path, what in self.written:
            if path.is_dir():
                parts = [p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_"))]
                size = sum(p.stat().st_size for p in parts)
                rows.append((f"{path.name}/", _fmt_bytes(size), f"{what} ({len(parts)} files)"))
            else:
                rows.append((path.name, _fmt_bytes(path.stat().st_size), what))
        click.echo(f"\nFiles in {self.out}/")
        _print_frame(pl.DataFrame(rows, schema=["file", "size", "what"], orient="row"))

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
            table = top.select(
                pl.col("campaign_id").cast(pl.String).replace_strict(
                    self.names, default=pl.col("campaign_id").cast(pl.String)).alias("campaign"),
                pl.col("channel").cast(pl.String),
                pl.coalesce(pl.col("variation_name").cast(pl.String),
                            pl.col("variation").cast(pl.String)).alias("variation"),
                pl.col("metric").cast(pl.String).alias("rate"),
                (pl.col("value") * 100).round(2).alias("value (%)"),
                pl.col("numerator").round(0).cast(pl.Int64),
                pl.col("denominator").round(0).cast(pl.Int64),
            )
            click.echo(f"\n{title}")
            _print_frame(table, float_precision=2)

    def _reconcile(self, df: pl.DataFrame) -> None:
        import polars as pl

        from .cli._analyse import _reconcile

        # Each campaign's own conversion window bounds what the window's edges explain.
        summary = _reconcile(df, summary=True, window_days=None, details=self.details)
        primary = (pl.col("channel") == ALL_CHANNEL) & (pl.col("event") == "conversions")
        table = summary.filter(primary)
        if table.is_empty():
            return
        from .storage.parquet import write_parquet

        self.written.append((write_parquet(table, self.out / "reconcile.parquet"),
                             "conversions reconciled per campaign (summary)"))
        order = {cid: i for i, cid in enumerate(self.ids)}
        rows = []
        for r in sorted(table.iter_rows(named=True), key=lambda r: order.get(r["campaign_id"], len(order))):
            truth = self.sb.truth(r["campaign_id"]).observed_mean_lag(0)
            rows.append((
                self.names.get(r["campaign_id"], r["campaign_id"]),
                r["by_conversion_date"], r["by_send_date"], r["gap"],
                {True: "yes", False: "NO", None: "-"}[r["within_bound"]],
                r["mean_lag_days"], truth,
            ))
        click.echo("\nConversions by conversion date vs by send date (day-level totals, primary event)")
        shown = pl.DataFrame(rows, orient="row", schema={
            "campaign": pl.String, "by conversion": pl.Float64, "by send": pl.Float64,
            "gap": pl.Float64, "edges explain it": pl.String, "mean lag (days)": pl.Float64,
            "true lag": pl.Float64})
        counts = ["by conversion", "by send", "gap"]
        _print_frame(shown.with_columns(pl.col(counts).round(0).cast(pl.Int64)), float_precision=2)
        click.echo("  The gap comes from the window's edges: conversions inside it from earlier sends,\n"
                   "  minus later conversions of sends inside it. 'true lag' is the simulator's own.")

    def _experiment(self, today: dt.date) -> None:
        """The A/B readout of the sandbox's multivariate experiment with a control group."""
        from .cli._experiment import _print_readout
        from .fetch import fetch_data_series
        from .http.client import BrazeClient
        from .verbs.experiment import experiment

        chosen = next((c for c in self.sb.catalogue if c.experiment and "multivariate" in c.tags
                       and any(v.control for v in c.variations)), None)
        if chosen is None or chosen.first_sent is None or chosen.last_sent is None:
            return
        # Its whole life, whatever --days says: first send to last send plus its window.
        end = min(today, chosen.last_sent + dt.timedelta(days=chosen.conversion_window_days))
        with BrazeClient(self.sb.api_key, self.sb.url) as client:
            frame: pl.DataFrame = fetch_data_series(chosen.id, start=chosen.first_sent, end=end,
                                                    client=client, progress=_stderr_is_terminal())
        if frame.is_empty():
            return
        truth = ", ".join(f"{v.name} {(v.conversion_probability or 0) * 100:g}%" for v in chosen.variations)
        click.echo(f"\nA/B readout (bf.experiment): each variation against the control group, "
                   f"conversions credited\nto the send day (the simulator's true rates: {truth})")
        _print_readout(experiment(frame), frame, rate="cohort_conversion_rate", baseline="control",
                       alpha=0.05)

    def _canvas(self, first: dt.date, last: dt.date) -> None:
        """One Canvas over (at most) the last 90 days: its variants, entries as the denominator."""
        import polars as pl

        from ._tables import CANVAS_RATES, is_control_variant
        from .canvas import canvas_details, fetch_canvas_series
        from .endpoints.canvas import canvas_names_of
        from .http.client import BrazeClient
        from .sandbox import CANVAS_ODDITIES
        from .storage.parquet import write_parquet

        # A Canvas with a control group whose bodies need no repair (a demo says nothing on stderr).
        noisy = {i for kind in ("multi_entry_channel", "anonymous_entry") for i in CANVAS_ODDITIES[kind]}
        chosen = next((c for i, c in enumerate(self.sb.canvases)
                       if i not in noisy and any(v.control for v in c.variants)), None)
        if chosen is None:
            return
        start = max(first, last - dt.timedelta(days=89))
        with BrazeClient(self.sb.api_key, self.sb.url) as client:
            frame: pl.DataFrame = fetch_canvas_series(chosen.id, start=start, end=last, client=client,
                                                      progress=_stderr_is_terminal())
            # The fetch read the details for names (cached): they also mark the control group.
            controls = canvas_names_of(canvas_details(chosen.id, client=client)).controls
        if frame.is_empty():
            return
        self.written.append((write_parquet(frame, self.out / "canvas.parquet"),
                             f"the Canvas {chosen.name!r}, tidy (14-day windows)"))
        (_, conversions, entries), (_, by_entry, _) = (r.for_event(0) for r in CANVAS_RATES)
        totals = frame.filter(pl.col("step").is_null(), pl.col("channel") == "all").with_columns(
            pl.col("variant", "variant_name", "metric").cast(pl.String))
        control = {v: "yes" if v in controls or is_control_variant(n) else ""
                   for v, n in totals.select("variant", "variant_name").unique().iter_rows()
                   if v is not None}
        table = (
            totals.filter(pl.col("metric").is_in([entries, conversions, by_entry]))
            .with_columns(pl.col("variant_name").fill_null("(all variants)"))
            .pivot("metric", index=["variant", "variant_name"], values="value", aggregate_function="sum")
            .with_columns(
                pl.col("variant").replace_strict(control, default="").alias("control"),
                (pl.col(conversions) / pl.col(entries) * 100).round(2).alias("conversion rate (%)"),
                (pl.col(by_entry) / pl.col(entries) * 100).round(2).alias("by entry date (%)"),
            )
            .sort(pl.col("variant").is_null(), "variant_name")
            .select(pl.col("variant_name").alias("variant"), "control",
                    pl.col(entries, conversions).cast(pl.Int64), "conversion rate (%)",
                    "by entry date (%)")
        )
        click.echo(f"\nCanvas '{chosen.name}', {start} .. {last} (conversions per entry; "
                   "'by entry date' credits each conversion to the day its user entered)")
        _print_frame(table, float_precision=2)

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
            from .charts import plot

            fig = plot(df.filter(pl.col("campaign_id") == cid), rate=rate, period=period)  # type: ignore[arg-type]
        except ImportError:
            click.echo("\nChart: skipped, matplotlib is not installed (pip install 'braze-frames[plot]').")
            return
        # plot gives the percent axis, the sorted legend and the name; say the data is simulated.
        ax = fig.axes[0]
        ax.set_title(f"{ax.get_title()}, per variation (simulated data)")
        fig.savefig(path, dpi=120)
        self.written.append((path, f"{rate} per {period}, per variation (PNG)"))
        click.echo(f"\nChart: {path} ({rate} per {period}, one line per variation of "
                   f"'{self.names.get(cid, cid)}')")


    def _workspace(self, today: dt.date) -> None:
        """DAU, MAU and stickiness of the last three months, beside the campaigns."""
        import polars as pl

        from .http.client import BrazeClient
        from .series import fetch_series
        from .storage.parquet import write_parquet
        from .verbs.series_rates import series_rates

        first = (today.replace(day=1) - dt.timedelta(days=62)).replace(day=1)
        # Up to yesterday: today's active users are still being counted.
        last = today - dt.timedelta(days=1)
        with BrazeClient(self.sb.api_key, self.sb.url) as client:
            kpis = fetch_series(["dau", "mau"], start=first, end=last, client=client,
                                progress=_stderr_is_terminal())
        self.written.append((write_parquet(kpis, self.out / "workspace.parquet"),
                             "daily and monthly active users (the workspace series)"))
        monthly = series_rates(kpis, period="month", rates=["stickiness"]).select(
            pl.when(pl.col("complete")).then(pl.col("date").dt.strftime("%Y-%m"))
            .otherwise(pl.col("date").dt.strftime("%Y-%m") + " (partial)").alias("month"),
            pl.col("numerator").round(0).cast(pl.Int64).alias("mean DAU"),
            pl.col("denominator").round(0).cast(pl.Int64).alias("mean MAU"),
            (pl.col("value") * 100).round(1).alias("stickiness (%)"), "days")
        click.echo("\nWorkspace: daily and monthly active users, every app (stickiness = DAU / MAU)")
        _print_frame(monthly, float_precision=1)


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
