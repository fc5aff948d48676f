"""The braze-frames command line against the sandbox.

The end-to-end tests start ``python -m braze_frames.cli`` with a clean environment (no
``BRAZE_*`` variable unless the test sets one), so what is checked is what a user sees:
exit status, one-line errors on stderr, files written, and never the key. The argument
matrix runs in-process through ``cli.run`` (the same code, without a second of interpreter
start-up per case).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import polars as pl
import pytest
import requests

import braze_frames as bf
from braze_frames import cli
from braze_frames import demo as demo_module
from braze_frames.cli import _support as cli_support
from braze_frames.sandbox import Sandbox

PROG = [sys.executable, "-m", "braze_frames.cli"]
TIMEOUT = 120


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BRAZE_") and k not in ("PYTHONWARNINGS", "COLUMNS")}
    env.update(extra)
    return env


def run(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
        prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or PROG), *args], env=dict(env) if env is not None else clean_env(),
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, check=False)


def check_error(code: int, out: str, err: str, expected: int) -> str:
    """One line on stderr, nothing on stdout, no traceback; returns the line."""
    assert code == expected, (code, out, err)
    assert "Traceback" not in err
    assert out == ""
    line = err.strip()
    assert "\n" not in line, line
    assert line.startswith("braze-frames: error: "), line
    return line


def assert_one_line_error(proc: subprocess.CompletedProcess[str], expected: int) -> str:
    return check_error(proc.returncode, proc.stdout, proc.stderr, expected)


def canary() -> str:
    return f"canary-{uuid.uuid4().hex}"


def no_sigint_inherited() -> None:
    # A shell without job control starts background jobs with SIGINT ignored; Ctrl-C must work.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=0, n_campaigns=4) as sandbox:
        yield sandbox


def days_back(sb: Sandbox, first: int, last: int) -> tuple[str, str]:
    return ((sb.today - dt.timedelta(days=first)).isoformat(),
            (sb.today - dt.timedelta(days=last)).isoformat())


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[InProcess]:
    """``cli.run`` in this process, with no BRAZE_* variable and the logger restored after."""
    for name in list(os.environ):
        if name.startswith("BRAZE_"):
            monkeypatch.delenv(name)
    logger = logging.getLogger("braze_frames")
    handlers, level = list(logger.handlers), logger.level
    yield InProcess(monkeypatch, capsys)
    logger.handlers[:] = handlers
    logger.setLevel(level)


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


# ----------------------------------------------------------------------------- help, version


def test_help_lists_every_command() -> None:
    proc = run("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("Usage: braze-frames")
    for name in ("demo", "fetch", "sync", "sandbox"):
        assert re.search(rf"^\s+{name}\s", proc.stdout, re.MULTILINE), proc.stdout
    assert "BRAZE_API_KEY" in proc.stdout


@pytest.mark.parametrize("command", ["demo", "fetch", "sync", "sandbox"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_has_help(here: InProcess, command: str, flag: str) -> None:
    code, out, err = here(command, flag)
    assert code == 0
    assert out.startswith(f"Usage: braze-frames {command}")
    assert err == ""
    assert "--api-key" not in out
    assert "--key " not in out


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"braze-frames {bf.__version__}"


def test_no_command_shows_usage_and_exits_2(here: InProcess) -> None:
    code, _, err = here()
    assert code == 2
    assert "Usage: braze-frames" in err


def test_unknown_command_exits_2(here: InProcess) -> None:
    assert "No such command" in check_error(*here("fecth"), 2)


# ----------------------------------------------------------------------------- demo


def test_demo_offline_without_a_key(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = run("demo", "--out", str(out), "--campaigns", "3", "--days", "150", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not proc.stderr  # stderr is not a terminal here: no progress bar, and no noise
    text = proc.stdout
    for heading in ("SIMULATOR", "Summary", "Rows per channel", "Best variations",
                    "Conversions by conversion date vs by send date", "Chart: "):
        assert heading in text
    # A long range is split into 100-day windows: more requests than campaigns.
    requests_made = int(re.search(r"\((\d+) requests", text).group(1))  # type: ignore[union-attr]
    assert requests_made > 3
    tidy = bf.read_parquet(out / "data_series.parquet")
    assert tidy.columns == list(bf.TIDY_COLUMNS)
    assert f"rows       {tidy.height:,}" in text
    assert bf.read_parquet(out / "dataset").height == tidy.height
    assert any((out / "dataset").glob("month=*/*.parquet"))
    for name in ("rates_weekly.parquet", "rates_total.parquet", "reconcile.parquet"):
        assert bf.read_parquet(out / name).height > 0
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_replaces_its_own_output_and_ignores_a_real_configuration(here: InProcess,
                                                                      tmp_path: Path) -> None:
    key = canary()
    code, _, err = here("demo", "--out", str(tmp_path), "--campaigns", "3", "--days", "40")
    assert code == 0, err
    assert bf.read_parquet(tmp_path / "dataset").get_column("campaign_id").n_unique() == 2
    code, out, err = here("demo", "--out", str(tmp_path), "--campaigns", "1", "--days", "40",
                          BRAZE_API_KEY=key, BRAZE_REST_ENDPOINT="https://rest.iad-03.braze.com")
    assert code == 0, err
    assert key not in out + err
    # The dataset was replaced, not mixed with the first run's partitions.
    dataset = bf.read_parquet(tmp_path / "dataset")
    assert dataset.height == bf.read_parquet(tmp_path / "data_series.parquet").height
    assert dataset.get_column("campaign_id").n_unique() == 1


def test_demo_refuses_a_dataset_directory_it_did_not_write(here: InProcess, tmp_path: Path) -> None:
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "mine.txt").write_text("keep me")
    check_error(*here("demo", "--out", str(tmp_path), "--campaigns", "1", "--days", "10"), 2)
    assert (tmp_path / "dataset" / "mine.txt").read_text() == "keep me"


def test_demo_without_matplotlib_says_so_and_carries_on(here: InProcess, tmp_path: Path) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        here.monkeypatch.delitem(sys.modules, name)
    here.monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = here("demo", "--out", str(tmp_path), "--campaigns", "1", "--days", "30")
    assert code == 0, err
    assert "matplotlib is not installed" in out
    assert (tmp_path / "data_series.parquet").exists()
    assert not (tmp_path / "chart.png").exists()


# ----------------------------------------------------------------------------- fetch


def test_fetch_parquet_matches_the_library(sb: Sandbox, tmp_path: Path) -> None:
    ids = sb.campaign_ids[:2]
    start, end = days_back(sb, 230, 1)
    out = tmp_path / "out.parquet"
    proc = run("fetch", *ids, "--start", start, "--end", end, "--rest-endpoint", sb.url,
               "-o", str(out), env=clean_env(BRAZE_API_KEY=sb.api_key))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    written = bf.read_parquet(out)
    with bf.BrazeClient(sb.api_key, sb.url) as client:
        expected = bf.fetch_data_series(ids, start=start, end=end, client=client)
    keys = list(bf.TIDY_COLUMNS[:6])
    assert written.sort(keys).equals(expected.sort(keys))
    # The second campaign (archived) sent before the range: named by what had data.
    assert proc.stdout.startswith(f"wrote {written.height:,} rows to {out}: 1 campaign with data "
                                  "of 2 asked for (Weekly Newsletter); ")
    assert f"asked {start} .. {end} (230 days); data on " in proc.stdout


def test_fetch_csv_with_length_and_endpoint_from_env(sb: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    env = clean_env(BRAZE_API_KEY=sb.api_key, BRAZE_REST_ENDPOINT=sb.url)
    ending_at = (sb.today - dt.timedelta(days=10)).isoformat()
    proc = run("fetch", sb.campaign_ids[0], "--length", "30", "--ending-at", ending_at,
               "-o", str(out), "--backend", "pandas", env=env)
    assert proc.returncode == 0, proc.stderr
    table = pl.read_csv(out, try_parse_dates=True)
    assert table.columns == list(bf.TIDY_COLUMNS)
    assert table.height > 0
    first, last = table.select(pl.col("date").min().alias("lo"), pl.col("date").max().alias("hi")).row(0)
    assert first >= sb.today - dt.timedelta(days=39)
    assert last <= sb.today - dt.timedelta(days=10)
    names = table.filter(pl.col("channel") != "all").get_column("variation_name")
    assert names.null_count() == 0  # names by default, from /campaigns/details
    assert set(table.get_column("campaign_name")) == {"Weekly Newsletter"}


def test_fetch_missing_key_is_a_configuration_error(sb: Sandbox, tmp_path: Path) -> None:
    proc = run("fetch", sb.campaign_ids[0], "--length", "3", "--rest-endpoint", sb.url,
               "-o", str(tmp_path / "x.parquet"))
    err = assert_one_line_error(proc, 2)
    assert "BRAZE_API_KEY" in err
    assert not (tmp_path / "x.parquet").exists()


def test_fetch_bad_endpoint_exits_2_without_the_key(tmp_path: Path) -> None:
    key = canary()
    proc = run("fetch", "c1", "--length", "3", "--rest-endpoint", "http://example.com",
               "-o", str(tmp_path / "x.parquet"), env=clean_env(BRAZE_API_KEY=key))
    assert "http://" in assert_one_line_error(proc, 2)
    assert key not in proc.stderr


@pytest.mark.parametrize(
    ("env", "endpoint", "needle"),
    [
        ({"BRAZE_API_KEY": ""}, "US-03", "BRAZE_API_KEY"),
        ({"BRAZE_API_KEY": "  "}, "US-03", "BRAZE_API_KEY"),
        ({"BRAZE_API_KEY": "{key}"}, None, "--rest-endpoint"),
        ({"BRAZE_API_KEY": "{key}"}, "nowhere", "nowhere"),
        ({"BRAZE_API_KEY": "{key}"}, "US-99", "US-99"),
        ({"BRAZE_API_KEY": "{key}"}, "https://dashboard-03.braze.com", "dashboard"),
        ({"BRAZE_API_KEY": "{key}"}, "https://user:pw@rest.iad-03.braze.com", "user-info"),
        ({"BRAZE_API_KEY": "{key}"}, "https://rest.iad-03.braze.com/campaigns/data_series", "path"),
        ({"BRAZE_API_KEY": "{key}", "BRAZE_REST_ENDPOINT": "ftp://x"}, None, "Invalid"),
        ({"BRAZE_API_KEY": "Bearer {key}"}, "US-03", "Bearer"),
        ({"BRAZE_API_KEY": "a'{key}"}, "US-03", "quote"),
    ],
)
def test_configuration_errors_exit_2(here: InProcess, tmp_path: Path, env: dict[str, str],
                                     endpoint: str | None, needle: str) -> None:
    key = canary()
    filled = {k: v.format(key=key) for k, v in env.items()}
    args = ["fetch", "c1", "--length", "3", "-o", str(tmp_path / "x.parquet")]
    if endpoint is not None:
        args += ["--rest-endpoint", endpoint]
    code, out, err = here(*args, **filled)
    assert needle in check_error(code, out, err, 2)
    assert key not in err
    assert "pw@" not in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["c1", "-o", "x.parquet"], "--length"),
        (["c1", "--length", "3", "--start", "2025-01-01", "-o", "x.parquet"], "--length"),
        (["c1", "--start", "2025-01-01", "--ending-at", "2025-02-01", "-o", "x.parquet"], "--ending-at"),
        (["c1", "--length", "3", "--end", "2025-02-01", "-o", "x.parquet"], "--end"),
        (["c1", "--length", "0", "-o", "x.parquet"], "--length"),
        (["c1", "--length", "many", "-o", "x.parquet"], "--length"),
        (["c1", "--start", "June 1st", "-o", "x.parquet"], "--start"),
        (["c1", "--start", "2025-02-01", "--end", "2025-01-01", "-o", "x.parquet"], "after"),
        (["c1", "--length", "3", "-o", "x.txt"], "--output"),
        (["c1", "--length", "3", "-o", "missing-dir/x.parquet"], "does not exist"),
        (["c1", "--length", "3", "-o", "."], "--output"),
        (["c1", "--length", "3"], "--output"),
        (["--length", "3", "-o", "x.parquet"], "give campaign ids, or --all"),
        (["c1", "--all", "--length", "3", "-o", "x.parquet"], "not both"),
        (["c1", "--no-include-archived", "--length", "3", "-o", "x.parquet"], "goes with --all"),
        (["c1", "--start", "2999-01-01", "-o", "x.parquet"], "--start 2999-01-01 is in the future"),
        (["  ", "--length", "3", "-o", "x.parquet"], "campaign id"),
        (["c1", "--length", "3", "-o", "x.parquet", "--backend", "spark"], "--backend"),
        (["c1", "--length", "3", "-o", "x.parquet", "--api-key", "k"], "--api-key"),
    ],
)
def test_fetch_bad_arguments_exit_2(here: InProcess, sb: Sandbox, tmp_path: Path, args: list[str],
                                    needle: str) -> None:
    here.monkeypatch.chdir(tmp_path)
    code, out, err = here("fetch", *args, BRAZE_API_KEY=sb.api_key, BRAZE_REST_ENDPOINT=sb.url)
    assert needle in check_error(code, out, err, 2)
    assert sb.api_key not in err
    assert not list(tmp_path.iterdir())


def test_bad_arguments_exit_2_in_a_real_process(sb: Sandbox, tmp_path: Path) -> None:
    env = clean_env(BRAZE_API_KEY=sb.api_key, BRAZE_REST_ENDPOINT=sb.url)
    proc = run("fetch", "c1", "--length", "3", "--start", "2025-01-01", "-o", "x.parquet",
               env=env, cwd=tmp_path)
    assert "braze-frames fetch --help" in assert_one_line_error(proc, 2)


def test_unknown_campaign_is_an_api_error(sb: Sandbox, tmp_path: Path) -> None:
    proc = run("fetch", "no-such-campaign", "--length", "5", "--rest-endpoint", sb.url,
               "-o", str(tmp_path / "x.parquet"), env=clean_env(BRAZE_API_KEY=sb.api_key))
    err = assert_one_line_error(proc, 1)
    assert "400" in err
    assert "no-such-campaign" in err
    assert sb.api_key not in err
    assert not (tmp_path / "x.parquet").exists()


def test_key_without_permission_is_an_api_error(here: InProcess, sb: Sandbox, tmp_path: Path) -> None:
    key = sb.key_with("campaigns.list")
    code, out, err = here("fetch", sb.campaign_ids[0], "--length", "5", "--rest-endpoint", sb.url,
                          "-o", str(tmp_path / "x.parquet"), BRAZE_API_KEY=key)
    line = check_error(code, out, err, 1)
    assert "403" in line
    assert "campaigns.data_series" in line
    assert key not in err


def test_invalid_key_never_appears_in_the_output(sb: Sandbox, tmp_path: Path) -> None:
    key = canary()
    proc = run("-vv", "fetch", sb.campaign_ids[0], "--length", "5", "--rest-endpoint", sb.url,
               "-o", str(tmp_path / "x.parquet"), env=clean_env(BRAZE_API_KEY=key))
    assert proc.returncode == 1
    assert "401" in proc.stderr
    assert key not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("braze-frames: error: ")


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    with Sandbox(seed=0, n_campaigns=1, latency=30.0) as slow:
        env = clean_env(BRAZE_API_KEY=slow.api_key, BRAZE_REST_ENDPOINT=slow.url)
        proc = subprocess.Popen(
            [*PROG, "fetch", slow.campaign_ids[0], "--length", "5", "-o", str(tmp_path / "x.parquet")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=no_sigint_inherited,
        )
        try:
            deadline = time.monotonic() + 60
            while slow.stats.requests == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert slow.stats.requests > 0
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "braze-frames: interrupted"
    assert not (tmp_path / "x.parquet").exists()


# ----------------------------------------------------------------------------- sync


def test_sync_builds_then_updates_a_store(sb: Sandbox, tmp_path: Path) -> None:
    store = tmp_path / "store"
    start, _ = days_back(sb, 60, 0)
    env = clean_env(BRAZE_API_KEY=sb.api_key, BRAZE_REST_ENDPOINT=sb.url)
    first = run("sync", str(store), *sb.campaign_ids[:2], "--start", start, "--lookback-days", "7", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("synced ")
    assert first.stdout.count("\n") == 1
    rows = bf.read_parquet(store).height
    assert rows > 0
    again = run("sync", str(store), *sb.campaign_ids[:2], env=env)  # start is remembered
    assert again.returncode == 0, again.stderr
    assert bf.read_parquet(store).height == rows


def test_sync_of_a_new_campaign_needs_start(here: InProcess, sb: Sandbox, tmp_path: Path) -> None:
    code, out, err = here("sync", str(tmp_path / "store"), sb.campaign_ids[0], "--rest-endpoint", sb.url,
                          BRAZE_API_KEY=sb.api_key)
    assert "start" in check_error(code, out, err, 2)


def test_sync_api_error_exits_1(here: InProcess, sb: Sandbox, tmp_path: Path) -> None:
    start, _ = days_back(sb, 10, 0)
    code, out, err = here("sync", str(tmp_path / "store"), "no-such-campaign", "--start", start,
                          "--rest-endpoint", sb.url, BRAZE_API_KEY=sb.api_key)
    assert "400" in check_error(code, out, err, 1)


def test_sync_keep_going_reports_failures_and_exits_1(here: InProcess, sb: Sandbox,
                                                      tmp_path: Path) -> None:
    start, _ = days_back(sb, 10, 0)
    code, out, err = here("sync", str(tmp_path / "store"), sb.campaign_ids[0], "no-such-campaign",
                          "--start", start, "--keep-going", "--rest-endpoint", sb.url,
                          BRAZE_API_KEY=sb.api_key)
    assert code == 1
    assert out.startswith("synced ")
    lines = err.strip().splitlines()
    assert any(line.startswith("braze-frames: failed: no-such-campaign") for line in lines)
    assert lines[-1].startswith("braze-frames: error: 1 request(s) failed")
    assert bf.read_parquet(tmp_path / "store").get_column("campaign_id").unique().to_list() == [
        sb.campaign_ids[0]
    ]


# ----------------------------------------------------------------------------- sandbox


def test_sandbox_serves_until_ctrl_c() -> None:
    proc = subprocess.Popen(
        [*PROG, "sandbox", "--campaigns", "2", "--seed", "3", "--inclusive"],
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=no_sigint_inherited,
    )
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        banner: list[str] = []
        while not banner or not banner[-1].startswith("Stop with Ctrl-C"):
            line = proc.stdout.readline()
            assert line, "the sandbox exited before its banner ended"
            banner.append(line)
        text = "".join(banner)
        assert "SIMULATOR" in text
        assert "inclusive" in text
        url = re.search(r"URL:\s+(\S+)", text).group(1)  # type: ignore[union-attr]
        key = re.search(r"API key:\s+(\S+)", text).group(1)  # type: ignore[union-attr]
        response = requests.get(f"{url}/campaigns/list", params={"include_archived": "true"},
                                headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert response.status_code == 200
        assert len(response.json()["campaigns"]) == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert err.strip() == "braze-frames: sandbox stopped"


@pytest.mark.parametrize(("args", "needle"), [(["--fault-rate", "1.5"], "--fault-rate"),
                                              (["--port", "70000"], "--port"),
                                              (["--latency", "-1"], "--latency"),
                                              (["--rate-limit", "0"], "--rate-limit")])
def test_sandbox_bad_option_exits_2(here: InProcess, args: list[str], needle: str) -> None:
    assert needle in check_error(*here("sandbox", *args), 2)


# ----------------------------------------------------------------------------- pieces


def test_warnings_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    cli_support._show_warning(bf.UnknownFieldWarning("Braze sent fields\nnew_metric"), bf.UnknownFieldWarning,
                      "x.py", 1)
    assert capsys.readouterr().err == "braze-frames: warning: Braze sent fields new_metric\n"


def test_messages_never_echo_the_environment_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = canary()
    monkeypatch.setenv("BRAZE_API_KEY", key)
    assert key not in cli_support._one_line(f"boom {key} boom")


def test_a_bug_is_one_line_unless_debugging(here: InProcess, tmp_path: Path) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("unexpected")

    here.monkeypatch.setattr(demo_module.Demo, "run", boom)
    code, _, err = here("demo", "--out", str(tmp_path))
    assert code == 1
    assert err.strip() == ("braze-frames: internal error: KeyError: 'unexpected' "
                           f"(set {cli.ENV_DEBUG}=1 for the traceback)")
    here.monkeypatch.setenv(cli.ENV_DEBUG, "1")
    with pytest.raises(KeyError):
        cli.run(["demo", "--out", str(tmp_path)])


def test_tables_are_printed_by_polars_in_ascii(capsys: pytest.CaptureFixture[str]) -> None:
    frame = pl.DataFrame({"name": ["all", "email"], "rows": [1000, 12], "rate": [0.123456, None]})
    cli_support._print_frame(frame, float_precision=2)
    assert capsys.readouterr().out.splitlines() == [
        "| name  |  rows | rate |",
        "|-------|-------|------|",
        "| all   | 1,000 | 0.12 |",
        "| email |    12 | null |",
    ]
    cli_support._print_frame(pl.DataFrame({"n": list(range(5))}), rows=2)
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "(3 more rows not shown; --rows N shows more, -o FILE writes them all)"


def test_sync_as_a_delta_table(here: InProcess, sb: Sandbox, tmp_path: Path) -> None:
    store = tmp_path / "delta"
    start, _ = days_back(sb, 30, 0)
    code, out, err = here("sync", str(store), *sb.campaign_ids[:2], "--start", start, "--format", "delta",
                          "--rest-endpoint", sb.url, BRAZE_API_KEY=sb.api_key)
    assert code == 0, err
    assert out.startswith("synced 2 campaigns")
    assert (store / "_delta_log").is_dir()
    assert bf.read_store(store).height > 0


def test_sync_storage_options_must_be_key_value(here: InProcess, sb: Sandbox, tmp_path: Path) -> None:
    code, out, err = here("sync", str(tmp_path / "store"), sb.campaign_ids[0], "--start", "2025-01-01",
                          "--storage-option", "no-equals-sign", "--rest-endpoint", sb.url,
                          BRAZE_API_KEY=sb.api_key)
    assert "KEY=VALUE" in check_error(code, out, err, 2)


def test_a_locked_store_exits_1(here: InProcess, sb: Sandbox, tmp_path: Path) -> None:
    from filelock import FileLock

    store = tmp_path / "store"
    store.mkdir()
    start, _ = days_back(sb, 10, 0)
    with FileLock(str(store / "_braze_sync.lock"), timeout=0):
        code, out, err = here("sync", str(store), sb.campaign_ids[0], "--start", start,
                              "--rest-endpoint", sb.url, BRAZE_API_KEY=sb.api_key)
    assert "sync" in check_error(code, out, err, 1).lower()
