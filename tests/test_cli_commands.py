"""The commands for the whole job: campaigns, fetch --all, rates, reconcile; messages in CLI terms.

In-process through ``cli.run`` against a sandbox whose today is fixed (so dates are known),
checking exit status, stdout and stderr as a user sees them; a real process where the
time a user waits is the point. Expected values come from the sandbox's catalogue or
from the library's functions called directly.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import braze_frames as bf
from braze_frames import cli
from braze_frames.sandbox import Sandbox

TODAY = dt.date(2025, 6, 30)
PROG = [sys.executable, "-m", "braze_frames.cli"]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=TODAY) as sandbox:
        yield sandbox


class InProcess:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def __call__(self, *args: str, **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        self.capsys.readouterr()
        code = cli.run(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[InProcess]:
    for name in list(os.environ):
        if name.startswith("BRAZE_"):
            monkeypatch.delenv(name)
    logger = logging.getLogger("braze_frames")
    handlers, level = list(logger.handlers), logger.level
    yield InProcess(monkeypatch, capsys)
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture
def api(here: InProcess, sb: Sandbox) -> InProcess:
    here.monkeypatch.setenv("BRAZE_API_KEY", sb.api_key)
    here.monkeypatch.setenv("BRAZE_REST_ENDPOINT", sb.url)
    return here


def error_line(code: int, out: str, err: str, expected: int) -> str:
    assert code == expected, (code, out, err)
    assert out == "" and "Traceback" not in err
    line = err.strip()
    assert "\n" not in line and line.startswith("braze-frames: error: "), line
    return line


def sent_between(sb: Sandbox, first: dt.date, last: dt.date, *, archived: bool = True) -> set[str]:
    return {c.id for c in sb.catalogue if c.first_sent is not None and c.first_sent <= last
            and c.last_sent + dt.timedelta(days=c.conversion_window_days) >= first
            and (archived or not c.archived)}


@pytest.fixture(scope="module")
def tidy_file(sb: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four campaigns over 30 days, with names: a control group, an A/B test, a webhook."""
    names = ("Cart Abandonment Push", "Android Carousel Promo", "Order Confirmation Webhook",
             "Weekly Newsletter")
    ids = [c.id for c in sb.catalogue if c.name in names]
    path = tmp_path_factory.mktemp("tidy") / "last30.parquet"
    with bf.BrazeClient(sb.api_key, sb.url) as client:
        bf.write_parquet(bf.fetch_data_series(ids, length=90, ending_at=TODAY, client=client), path)
    return path


# ------------------------------------------------------------------------------------ help


@pytest.mark.parametrize("command", ["demo", "campaigns", "fetch", "sync", "rates", "reconcile",
                                     "experiment", "sandbox"])
def test_every_command_has_help_with_examples(here: InProcess, command: str) -> None:
    code, out, err = here(command, "--help")
    assert code == 0 and err == ""
    assert out.startswith(f"Usage: braze-frames {command}")
    assert "Examples" in out and f"braze-frames {command} " in out


def test_the_program_help_lists_the_new_commands(here: InProcess) -> None:
    code, out, _ = here("--help")
    assert code == 0
    for name in ("campaigns", "rates", "reconcile", "experiment"):
        assert f"  {name} " in out


# ------------------------------------------------------------------------------- campaigns


def test_campaigns_lists_names_channels_dates(api: InProcess, sb: Sandbox) -> None:
    code, out, err = api("campaigns")
    assert code == 0, err
    assert err == ""
    active = [c for c in sb.catalogue if not c.archived]
    for c in active:
        line = next(line for line in out.splitlines() if c.id in line)
        assert c.name in line and c.channels[0] in line
        shown = c.last_sent if c.details_sent_dates else None  # some details omit the dates
        assert (str(shown) if shown else "null") in line
    assert not any(c.id in out for c in sb.catalogue if c.archived)
    assert out.rstrip().endswith(f"{len(active)} campaigns (--archived includes archived ones)")


def test_campaigns_archived_and_json(api: InProcess, sb: Sandbox) -> None:
    code, out, err = api("campaigns", "--archived", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert {r["campaign_id"] for r in rows} == set(sb.campaign_ids)
    for r in rows:
        c = sb.campaign(r["campaign_id"])
        assert r["name"] == c.name and r["archived"] == c.archived
        assert r["channels"] == list(c.channels)
        dated = c.details_sent_dates  # some details omit the dates: shown as unknown
        assert r["first_sent"] == (c.first_sent.isoformat() if c.first_sent and dated else None)
        assert r["last_sent"] == (c.last_sent.isoformat() if c.last_sent and dated else None)
    # Most recently sent first, never sent last.
    last = [r["last_sent"] for r in rows]
    sent = [d for d in last if d is not None]
    assert sent == sorted(sent, reverse=True) and last[len(sent):] == [None] * (len(last) - len(sent))


def test_campaigns_without_the_details_permission(here: InProcess, sb: Sandbox) -> None:
    key = sb.key_with("campaigns.list")
    code, out, err = here("campaigns", BRAZE_API_KEY=key, BRAZE_REST_ENDPOINT=sb.url)
    assert code == 0
    assert err.count("\n") == 1 and "campaigns.details permission" in err
    assert all(c.name in out for c in sb.catalogue if not c.archived)


# ----------------------------------------------------------------------------- fetch --all


def test_fetch_all_includes_archived_campaigns_by_default(api: InProcess, sb: Sandbox,
                                                          tmp_path: Path) -> None:
    first, last = dt.date(2024, 1, 1), TODAY
    out_all, out_active = tmp_path / "all.parquet", tmp_path / "active.parquet"
    code, out, err = api("fetch", "--all", "--start", str(first), "--end", str(last), "-o", str(out_all))
    assert code == 0, err
    every = sent_between(sb, first, last)
    assert set(bf.read_parquet(out_all)["campaign_id"].cast(pl.String)) == every
    assert f"asked {first} .. {last} ({(last - first).days + 1} days)" in out
    # The campaigns left out are named, with why, on stderr.
    (warning,) = err.strip().splitlines()
    assert warning.startswith("braze-frames: warning: ") and "left out" in warning
    for c in sb.catalogue:
        if c.first_sent is None:
            assert f"{c.name} ({c.id}): never sent" in warning
    code, out, err = api("fetch", "--all", "--no-include-archived", "--start", str(first),
                         "--end", str(last), "-o", str(out_active))
    assert code == 0, err
    active = sent_between(sb, first, last, archived=False)
    assert active < every
    assert set(bf.read_parquet(out_active)["campaign_id"].cast(pl.String)) == active


def test_fetch_without_the_details_permission_keeps_every_row(here: InProcess, sb: Sandbox,
                                                               tmp_path: Path) -> None:
    key = sb.key_with("campaigns.data_series")
    out = tmp_path / "x.parquet"
    ids = [c.id for c in sb.catalogue if c.name in ("Cart Abandonment Push", "Daily Digest (API)")]
    code, stdout, err = here("fetch", *ids, "--length", "20", "--ending-at", str(TODAY),
                             "-o", str(out), BRAZE_API_KEY=key, BRAZE_REST_ENDPOINT=sb.url)
    assert code == 0, err
    (line,) = err.strip().splitlines()
    assert "no names for 2 campaign(s)" in line and "campaigns.details permission" in line
    written = bf.read_parquet(out)
    assert written["campaign_name"].null_count() == written.height > 0
    with bf.BrazeClient(sb.api_key, sb.url) as client:
        full = bf.fetch_data_series(ids, length=20, ending_at=TODAY, client=client)
    assert written.height == full.height
    assert "2 campaigns with data of 2 asked for" in stdout


# ------------------------------------------------------------------------ rates, reconcile


def test_rates_prints_names_and_writes_the_whole_table(api: InProcess, tidy_file: Path,
                                                       tmp_path: Path, sb: Sandbox) -> None:
    out = tmp_path / "rates.csv"
    code, stdout, err = api("rates", str(tidy_file), "--rate", "conversion_rate", "-o", str(out),
                            "--rows", "100")
    assert code == 0, err
    assert err.strip() == f"braze-frames: wrote {len(pl.read_csv(out)):,} rows to {out}"
    frame = bf.read_parquet(tidy_file)
    expected = bf.rates(frame, "total", rates=["conversion_rate"])
    written = pl.read_csv(out)
    assert written.height == expected.height
    assert "campaign_name" in written.columns
    cart = next(c for c in sb.catalogue if c.name == "Cart Abandonment Push")
    assert "Cart Abandonment Push" in stdout and "Control Group" in stdout
    assert cart.id not in stdout  # names where the verbs give ids
    # The control group's own rate, checked against its sums in the tidy file.
    control = next(v for v in cart.variations if v.control)
    rows = frame.filter((pl.col("campaign_id") == cart.id) & (pl.col("variation") == control.api_id))
    sums = dict(rows.group_by("metric").agg(pl.col("value").sum())
                .with_columns(pl.col("metric").cast(pl.String)).iter_rows())
    rate = sums["conversions"] / sums["enrolled"]
    line = next(line for line in stdout.splitlines()
                if "Control Group" in line and "Cart Abandonment Push" in line)
    assert f"{rate:.4f}" in line


def test_rates_by_campaign_on_a_store(api: InProcess, sb: Sandbox, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ids = sb.campaign_ids[:3]
    code, out, err = api("sync", str(store), *ids, "--start", str(TODAY - dt.timedelta(days=20)),
                         "--end", str(TODAY))
    assert code == 0, err
    code, out, err = api("rates", str(store), "--by", "campaign_id", "--period", "week")
    assert code == 0, err
    assert "Weekly Newsletter" in out and "| date " in out and "| channel" not in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--rate", "opens_per_hour"], "unknown rate opens_per_hour"),
        (["--by", "date"], "--by takes key columns"),
        (["--period", "year"], "--period"),
        (["-o", "out.txt"], "--output"),
    ],
)
def test_rates_bad_arguments_exit_2(here: InProcess, tidy_file: Path, args: list[str],
                                    needle: str) -> None:
    assert needle in error_line(*here("rates", str(tidy_file), *args), expected=2)


def test_rates_on_a_file_that_is_not_parquet_exits_2(here: InProcess, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "not a Parquet file" in error_line(*here("rates", str(text)), expected=2)


def test_reconcile_offline_says_so(here: InProcess, tidy_file: Path, sb: Sandbox) -> None:
    code, out, err = here("reconcile", str(tidy_file), "--rows", "200")
    assert code == 0
    assert err.strip().startswith("braze-frames: note: reconciling without the campaigns' details")
    assert "Cart Abandonment Push" in out and "| within_bound |" in out


def test_reconcile_uses_each_campaigns_window_from_the_api(api: InProcess, tidy_file: Path,
                                                           sb: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "summary.parquet"
    code, _, err = api("reconcile", str(tidy_file), "-o", str(out))
    assert code == 0, err
    got = pl.read_parquet(out)
    frame = bf.read_parquet(tidy_file)
    cart = next(c for c in sb.catalogue if c.name == "Cart Abandonment Push")
    # The edge bound with the campaign's own window (the catalogue's, 1 day), not 30.
    expected = bf.reconcile(frame.filter(pl.col("campaign_id") == cart.id), summary=True,
                            window_days=cart.conversion_window_days)
    key = ["channel", "variation", "event"]
    mine = got.filter(pl.col("campaign_id").cast(pl.String) == cart.id)
    pairs = dict(zip(mine.select(pl.concat_str(pl.col(key).cast(pl.String).fill_null("-"))).to_series(),
                     mine["edge_bound"], strict=True))
    for row in expected.iter_rows(named=True):
        label = "".join("-" if row[k] is None else str(row[k]) for k in key)
        assert pairs[label] == row["edge_bound"]
    assert set(mine["campaign_name"]) == {"Cart Abandonment Push"}


# ----------------------------------------------------------------- messages (issue 11 item 7)


def test_sync_says_start_in_cli_terms(api: InProcess, sb: Sandbox, tmp_path: Path) -> None:
    line = error_line(*api("sync", str(tmp_path / "store"), sb.campaign_ids[0]), expected=2)
    assert "--start" in line
    assert "start=" not in line and "start='" not in line


def test_a_bad_request_names_no_python_attribute(api: InProcess, tmp_path: Path) -> None:
    line = error_line(*api("fetch", "no-such-campaign", "--length", "3", "--ending-at", str(TODAY),
                           "-o", str(tmp_path / "x.parquet")), expected=1)
    assert "400" in line and "braze_message" not in line and " errors" not in line


def test_a_start_in_the_future_says_so(api: InProcess, tmp_path: Path) -> None:
    for command in (["fetch", "c1", "-o", str(tmp_path / "x.parquet")], ["sync", str(tmp_path / "s")]):
        line = error_line(*api(*command, "--start", "2999-01-01"), expected=2)
        assert "--start 2999-01-01 is in the future" in line and "swap" not in line


def test_a_range_without_data_warns_with_the_range_asked_for(api: InProcess, sb: Sandbox,
                                                             tmp_path: Path) -> None:
    never = next(c for c in sb.catalogue if c.first_sent is None)
    out = tmp_path / "x.parquet"
    code, stdout, err = api("fetch", never.id, "--length", "7", "--ending-at", str(TODAY), "-o", str(out))
    assert code == 0
    first = TODAY - dt.timedelta(days=6)
    assert stdout.strip() == f"wrote 0 rows to {out}: asked {first} .. {TODAY} (7 days)"
    assert err.startswith(f"braze-frames: warning: no data for the campaigns asked for from {first} "
                          f"to {TODAY}")
    assert bf.read_parquet(out).height == 0


def test_length_shows_the_range_asked_for_and_the_days_with_data(api: InProcess, sb: Sandbox,
                                                                  tmp_path: Path) -> None:
    weekly = next(c for c in sb.catalogue if c.name == "Weekly Newsletter")
    out = tmp_path / "x.parquet"
    code, stdout, err = api("fetch", weekly.id, "--length", "30", "--ending-at", str(TODAY), "-o", str(out))
    assert code == 0, err
    frame = bf.read_parquet(out)
    days = frame["date"].n_unique()
    assert days < 30  # a weekly campaign that stopped before TODAY
    assert (f"asked {TODAY - dt.timedelta(days=29)} .. {TODAY} (30 days); data on {days} days, "
            f"{frame['date'].min()} .. {frame['date'].max()}") in stdout
    assert "(Weekly Newsletter)" in stdout


def test_an_unwritable_output_names_the_target_and_exits_2(api: InProcess, sb: Sandbox) -> None:
    target = Path("/sys/braze-frames-test.parquet")
    probe = Path("/sys")
    if os.access(probe, os.W_OK) and os.geteuid() != 0:  # pragma: no cover - depends on the host
        pytest.skip("/sys is writable here")
    line = error_line(*api("fetch", sb.campaign_ids[0], "--length", "3", "--ending-at", str(TODAY),
                           "-o", str(target)), expected=2)
    assert str(target) in line and ".tmp" not in line


def test_a_sync_rerun_reads_without_contradiction(api: InProcess, sb: Sandbox, tmp_path: Path) -> None:
    store = tmp_path / "store"
    args = ("sync", str(store), sb.campaign_ids[0], "--end", str(TODAY), "--lookback-days", "5")
    code, first, err = api(*args, "--start", str(TODAY - dt.timedelta(days=20)))
    assert code == 0, err
    assert "partition" in first and "no partition changed" not in first
    code, again, err = api(*args)
    assert code == 0, err
    assert "no partition changed (the store already held these numbers)" in again
    assert "rewritten" not in again


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dead_endpoint_fails_within_a_few_seconds(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAZE_")}
    env["BRAZE_API_KEY"] = "k-0123456789"
    started = time.monotonic()
    proc = subprocess.run([*PROG, "fetch", "c1", "--length", "3", "--rest-endpoint",
                           f"http://127.0.0.1:{free_port()}", "-o", str(tmp_path / "x.parquet")],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.monotonic() - started
    line = error_line(proc.returncode, proc.stdout, proc.stderr, 1)
    assert "BrazeConnectionError" in line and "(after 2 attempts)" in line
    assert "Nothing accepts connections" in line
    assert elapsed < 8, elapsed  # interpreter start-up included; 21 s before


# ------------------------------------------------------------------------------ experiment


def _experiment_campaign(sb: Sandbox) -> str:
    return next(c.id for c in sb.catalogue if c.name == "Checkout Reminder Experiment")


def _readout_line(out: str, variation: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(f"| {variation} "))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_experiment_fetches_the_campaigns_life_and_prints_the_readout(api: InProcess, sb: Sandbox) -> None:
    cid = _experiment_campaign(sb)
    code, out, err = api("experiment", cid)
    assert code == 0, err
    campaign = sb.campaign(cid)
    assert campaign.first_sent is not None and campaign.last_sent is not None
    # The whole life: from the first send (a day of margin) to the last send plus the window.
    with bf.BrazeClient(sb.api_key, sb.url) as client:
        frame = bf.fetch_data_series(cid, start=campaign.first_sent - dt.timedelta(days=1),
                                     end=campaign.last_sent + dt.timedelta(days=4), client=client)
    expected = {r["variation_name"]: r for r in bf.experiment(frame).iter_rows(named=True)}
    first, last = frame.get_column("date").min(), frame.get_column("date").max()
    assert out.startswith(f"Checkout Reminder Experiment (ios_push), {first} .. {last}: "
                          "cohort_conversion_rate against its control group")
    assert cid not in out
    b = _readout_line(out, "Variant B")
    want = expected["Variant B"]
    assert b[2:5] == [f"{want['numerator']:,.0f}", f"{want['denominator']:,.0f}", f"{want['rate'] * 100:.2f}"]
    assert b[-1] == "WINNER" and b[-2] == "yes"
    assert float(b[8]) == pytest.approx(want["p_value"], rel=1e-2)
    assert _readout_line(out, "Control Group")[1] == "yes"
    assert "approximate" in out and "not which is better" in out


def test_experiment_from_a_file_by_name_or_id(api: InProcess, sb: Sandbox, tmp_path: Path) -> None:
    cid = _experiment_campaign(sb)
    path = tmp_path / "exp.parquet"
    with bf.BrazeClient(sb.api_key, sb.url) as client:
        frame = bf.fetch_data_series([cid, sb.campaign_ids[0]], length=30, ending_at=TODAY, client=client)
    bf.write_parquet(frame, path)
    expected = bf.experiment(frame.filter(pl.col("campaign_id") == cid), rate="direct_open_rate",
                             baseline="Variant A", alpha=0.01)
    outs = []
    written = tmp_path / "readout.csv"
    for key in (cid, "Checkout Reminder Experiment"):
        code, out, err = api("experiment", key, "--from", str(path), "--rate", "direct_open_rate",
                             "--baseline", "Variant A", "--alpha", "0.01", "-o", str(written))
        assert code == 0, err
        assert err.strip() == f"braze-frames: wrote 2 rows to {written}"
        outs.append(out)
    assert pl.read_csv(written).columns == expected.columns
    assert outs[0] == outs[1]
    assert "99% interval (pts)" in outs[0] and "against 'Variant A'" in outs[0]
    b = expected.filter(pl.col("variation_name") == "Variant B").row(0, named=True)
    cells = _readout_line(outs[0], "Variant B")
    assert cells[7] == f"{b['ci_low'] * 100:.3f} .. {b['ci_high'] * 100:.3f}"
    assert "approximate" not in outs[0]  # sent - bounces: messages, not people per day
    code, out, err = api("experiment", "Nobody", "--from", str(path))
    assert "no campaign 'Nobody'" in error_line(code, out, err, expected=1)
    assert "Checkout Reminder Experiment" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--rate", "click_rate"], "'click_rate' is not a proportion"),
        (["--rate", "opens_per_hour"], "unknown rate 'opens_per_hour'"),
        (["--alpha", "0"], "--alpha"),
        (["--alpha", "1.5"], "--alpha"),
        (["--baseline", "Variant Z"], "baseline 'Variant Z' is not a variation"),
        (["--length", "7", "--start", "2025-06-01"], "either --length N or --start"),
        (["-o", "readout.txt"], "--output"),
    ],
)
def test_experiment_bad_arguments_exit_2(api: InProcess, sb: Sandbox, args: list[str], needle: str) -> None:
    line = error_line(*api("experiment", _experiment_campaign(sb), *args), expected=2)
    assert needle in line


def test_experiment_from_goes_without_a_range(here: InProcess, tidy_file: Path) -> None:
    line = error_line(*here("experiment", "x", "--from", str(tidy_file), "--length", "7"), expected=2)
    assert "--from reads a file" in line


def test_experiment_on_an_email_test_suggests_unique_clicks(here: InProcess, tidy_file: Path) -> None:
    line = error_line(*here("experiment", "Weekly Newsletter", "--from", str(tidy_file)), expected=2)
    assert "email variations carry no conversions" in line and "--rate unique_click_rate" in line
    code, out, err = here("experiment", "Weekly Newsletter", "--from", str(tidy_file),
                          "--rate", "unique_click_rate")
    assert code == 0, err
    assert "Weekly Newsletter (email)" in out


def test_experiment_as_a_program(tmp_path: Path) -> None:
    # A real process: the command is registered where the console script looks for it.
    proc = subprocess.run([*PROG, "experiment", "x", "--alpha", "1"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("braze-frames: error: Invalid value for '--alpha'")


def test_experiment_without_a_key_exits_2(here: InProcess, sb: Sandbox) -> None:
    line = error_line(*here("experiment", _experiment_campaign(sb)), expected=2)
    assert "BRAZE_API_KEY" in line


# ------------------------------------------------------------------------------------ demo


def test_the_demos_tables_show_campaign_and_variation_names(here: InProcess, tmp_path: Path) -> None:
    code, out, err = here("demo", "--out", str(tmp_path / "demo"), "--days", "120", "--campaigns", "4")
    assert code == 0, err
    with Sandbox(seed=0) as sb:
        shown = [c for c in sb.catalogue if c.first_sent is not None][:4]
    best = out[out.index("Best variations"):out.index("Conversions by conversion date")]
    assert "Cart Abandonment Push" in best and "Control Group" in best and "Variant 1" in best
    assert not any(c.id in out for c in shown)
    reconciled = out[out.index("Conversions by conversion date"):]
    assert "Weekly Newsletter" in reconciled
    # The experiment's readout, whatever --days: its true effect (B +0.6 point) shows.
    readout = out[out.index("A/B readout"):]
    assert "Checkout Reminder Experiment (ios_push)" in readout
    b = next(line for line in readout.splitlines() if line.startswith("| Variant B "))
    assert b.rstrip("| ").endswith("WINNER")
